"""A stop always stops: Ctrl-C while MLX's CPU backend runs its compiler check (the window's Stop too: see
tests/ui/test_bridge.py) and while the worker starts; each ends with 130 and a stopped run, saved and resumable."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from macapp import jobs
from macapp.engine import demo, runs
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
