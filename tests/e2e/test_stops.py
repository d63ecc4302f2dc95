"""A stop always stops: Ctrl-C while MLX's CPU backend runs its compiler check (the window's Stop too: see
tests/ui/test_bridge.py) and while the worker starts; each ends with 130 and a stopped run, saved and resumable. A stop
while the GGUF tools are built ends the build; while pip puts them in place, it waits for it and says so."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from macapp import jobs
from macapp.engine.errors import Stopped
from macapp.engine.models import demo
from macapp.engine.runs import runs
from tests.helpers import slow_compiler_env, train_until_checkpoint, write_jsonl


def test_ctrl_c_while_mlx_checks_its_compiler_stops_the_run(demo_model, tmp_path):
    """The first Ctrl-C lands while the worker ignores SIGINT (inside system()): the stop still arrives, through the
    stop file the CLI writes, and the run is saved at the stop."""
    env, marker = slow_compiler_env(tmp_path)
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    process = subprocess.Popen([sys.executable, "-m", "macapp", "train", "--model", "demo", "--data", str(source),
                                "--iters", "100000", "--batch-size", "2", "--name", "compiling"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(process.stderr), daemon=True)
    reader.start()
    while not marker.exists() and process.poll() is None:  # the worker prints nothing while the check runs
        time.sleep(0.02)
    assert marker.exists(), "MLX never ran its compiler check: " + "".join(seen)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C, to the whole group, while the check runs
    assert process.wait(timeout=120) == 130, "".join(seen)
    reader.join(timeout=10)
    assert "Traceback" not in "".join(seen)
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-compiling")]
    assert run["status"] == "stopped"
    assert (Path(run["path"]) / "adapters" / "adapters.safetensors").exists()
    assert any(e["type"] == "stopping" for e in runs.read_events(Path(run["path"])))


def test_a_stop_while_the_worker_starts_is_kept(demo_model, tmp_path):
    """A stop asked before the worker has even loaded Python's modules: SIGINT is held until its handler is there,
    and the file says it too. The worker says it stopped; no traceback, no crash."""
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    folder = tmp_path / "job"
    folder.mkdir()
    job = jobs.InspectJob(run=str(folder), sources=[str(source)])
    process = jobs.start(job)
    jobs.ask_to_stop(folder, process.pid)  # at once: the worker is still starting
    events = list(jobs.events(process))
    assert process.returncode == 130, events
    assert events[-1]["type"] == "done" and events[-1]["stopped"]
    assert "Traceback" not in (folder / "worker.log").read_text()


def test_a_stop_file_of_an_earlier_session_is_not_this_ones(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    jobs.ask_to_stop(folder, 2 ** 22 + 1)  # no such process: the file alone
    assert jobs.stop_asked(folder, 2 ** 22 + 1)
    assert not jobs.stop_asked(folder, os.getpid())



def test_a_stop_during_the_demo_models_first_build_is_heard(tmp_path, monkeypatch):
    """The demo model is built on first use, in the worker that needs it (a minute of pre-training): a stop
    meanwhile ends the build at its next step, keeps nothing half built, and the job says it stopped."""
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "fresh"))  # no demo model built yet
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    folder = tmp_path / "job"
    folder.mkdir()
    process = jobs.start(jobs.InspectJob(run=str(folder), sources=[str(source)], model="demo"))
    events = []
    for event in jobs.events(process):
        events.append(event)
        if "Pre-training the demo model" in event.get("message", ""):
            jobs.ask_to_stop(folder, process.pid)
    assert process.returncode == 130, events
    assert events[-1]["type"] == "done" and events[-1]["stopped"]
    built = list((tmp_path / "fresh" / "models").glob("demo-*"))
    assert all(not (path / "config.json").exists() for path in built), built


def test_a_training_command_killed_in_its_terminal_takes_its_worker_with_it(demo_model, tmp_path):
    """`tailor train` killed outright (SIGKILL, as a closed terminal window may do): its worker sees its command gone,
    stops at the step, saves and ends; no worker goes on training unseen, holding the run."""
    import psutil

    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    command, run_dir = train_until_checkpoint("orphaned", "--model", "demo", "--data", source, "--iters", 100000,
                                              "--batch-size", 2, "--save-every", 5)
    worker = psutil.Process(next(e["pid"] for e in runs.read_events(run_dir) if e["type"] == "started"))
    command.kill()
    command.wait(timeout=30)
    worker.wait(timeout=120)
    assert runs.summary(run_dir)["status"] == "stopped"
    assert any(e["type"] == "stopping" for e in runs.read_events(run_dir))
    assert (run_dir / "adapters" / "adapters.safetensors").exists()


FAKE_PIP = """
import subprocess, sys, time
from pathlib import Path
here = Path(sys.argv[1])
if sys.argv[2] == "build":
    compiler = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (here / "compiler").write_text(str(compiler.pid))
    print("Building wheel for llama-cpp-python (pyproject.toml): started", flush=True)
    compiler.wait()
else:
    print("Installing collected packages: llama-cpp-python", flush=True)
    for _ in range(1200):
        if (here / "go-on").exists():
            break
        time.sleep(0.1)
    print("Successfully installed llama-cpp-python", flush=True)
"""


def ended(pid: int, within: float = 15.0) -> bool:
    """Whether process `pid` is gone (or gone but for its exit status, which only its parent can collect) within
    `within` seconds: a process sent its signal takes a moment to go, longer on a busy machine."""
    deadline = time.monotonic() + within
    while True:
        try:
            if Path(f"/proc/{pid}/status").read_text().count("zombie") > 0:
                return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def fake_pip(tmp_path, monkeypatch, phase: str):
    """The gguf_tools module, with pip replaced by FAKE_PIP at `phase` ("build" or "install")."""
    from macapp.engine.export import gguf_tools

    script = tmp_path / "pip.py"
    script.write_text(FAKE_PIP)
    monkeypatch.setattr(gguf_tools, "install_command", lambda: [sys.executable, str(script), str(tmp_path), phase])
    return gguf_tools


def listener(said: list, reactions: dict):
    """A report that keeps each message in `said` and calls reactions[prefix]() for a message that starts with it."""
    def report(event):
        said.append(event["message"])
        for prefix, react in reactions.items():
            if event["message"].startswith(prefix):
                react()
    return report


def test_a_stop_while_the_gguf_tools_are_built_ends_the_build_and_installs_nothing(tmp_path, monkeypatch):
    """pip stands in for itself here (the real build takes ten minutes): a script that says it builds and runs a
    'compiler' of its own, which the stop must end too."""
    gguf_tools, building, said = fake_pip(tmp_path, monkeypatch, "build"), threading.Event(), []
    with pytest.raises(Stopped) as stop:
        gguf_tools.install(listener(said, {"Building": building.set}), building.is_set)
    assert str(stop.value) == "Stopped while the GGUF tools were built; nothing was installed."
    assert ended(int((tmp_path / "compiler").read_text()))
    assert not any(line.startswith("Successfully") for line in said)


def test_a_stop_while_pip_puts_the_gguf_tools_in_place_waits_for_it(tmp_path, monkeypatch):
    """Stopping pip while it installs could leave the tools half installed: the stop is said and waits."""
    gguf_tools, installing, said = fake_pip(tmp_path, monkeypatch, "install"), threading.Event(), []
    report = listener(said, {"Installing collected": installing.set,
                             "Stopping once the GGUF tools are in place": (tmp_path / "go-on").touch})
    assert gguf_tools.install(report, installing.is_set) == {"installed": gguf_tools.export_requirements()}
    assert said[-1] == "Successfully installed llama-cpp-python"
    assert any(line.startswith("Stopping once") for line in said)
