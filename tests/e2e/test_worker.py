"""The worker as a real process: JSON-lines events on stdout and in events.jsonl, graceful stop, and the Mac
kept awake while it trains, released however the run ends (finished, stopped, killed). macOS's caffeinate
cannot exist here: a stand-in script on PATH behaves like it (`-i -w PID` holds until PID exits, SIGTERM
ends it) and records its pid and arguments."""

import json
import os
import random
import signal
import subprocess
import time

import psutil
import pytest

from macapp import jobs
from macapp.engine import bundle
from macapp.engine.runs import runs
from macapp.engine.train import checkpoints, config
from tests.helpers import fake_commands, tailor

CAFFEINATE = 'echo "$$ $*" >> "$TAILOR_HOME/caffeinate.calls"\nwhile kill -0 "$3" 2>/dev/null; do sleep 0.1; done\n'


def make_run(data_dir, **overrides):
    run_dir = runs.create("worker-test")
    values = {"model": "demo", "data": str(data_dir), "iters": 10, "batch_size": 4, "steps_per_report": 5,
              "steps_per_eval": 5, "val_batches": 2, "save_every": 5, "learning_rate": 1e-3, "max_seq_length": 128,
              **overrides}
    config.from_dict(values).save(run_dir / "config.yaml")
    return run_dir


def collect(process):
    return list(jobs.events(process))


@pytest.fixture
def caffeinate(tmp_path, monkeypatch, tailor_home):
    calls = tailor_home / "caffeinate.calls"
    calls.unlink(missing_ok=True)
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", caffeinate=CAFFEINATE))
    return calls


def gone(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while runs.worker_alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def assert_kept_awake_then_released(calls, events, worker_pid):
    held = next(e["awake_pid"] for e in events if "awake_pid" in e)
    pid, *args = calls.read_text().split()
    assert int(pid) == held and args == ["-i", "-w", str(worker_pid)]
    assert gone(held), "caffeinate still running after the run ended"


def test_train_job_reports_every_event_kind(demo_data, caffeinate):
    run_dir = make_run(demo_data)
    process = jobs.start(jobs.TrainJob(run=str(run_dir)))
    events = collect(process)
    assert process.returncode == 0
    assert_kept_awake_then_released(caffeinate, events, process.pid)
    kinds = {e["type"] for e in events}
    assert {"started", "train", "val", "memory", "checkpoint", "log", "done"} <= kinds
    assert events[0]["type"] == "started" and events[-1]["type"] == "done"
    assert all(e["kind"] == "train" for e in events)
    memory = next(e for e in events if e["type"] == "memory")
    assert set(memory) >= {"active_gb", "peak_gb", "cache_gb", "rss_gb"}
    assert runs.read_events(run_dir) == events  # the same lines, in the run folder
    assert (run_dir / "adapters" / "adapters.safetensors").exists()
    assert runs.summary(run_dir)["status"] == "finished"


def test_sigint_stops_after_the_current_step_and_saves(demo_data, caffeinate):
    run_dir = make_run(demo_data, iters=100000, steps_per_report=1, steps_per_eval=100000)
    process = jobs.start(jobs.TrainJob(run=str(run_dir)))
    events = []
    for event in jobs.events(process):
        events.append(event)
        if event["type"] == "train" and event["iteration"] == 3:
            process.send_signal(signal.SIGINT)
    assert process.returncode == 130
    assert_kept_awake_then_released(caffeinate, events, process.pid)
    done = events[-1]
    assert done["type"] == "done" and done["stopped"] and done["result"]["iterations"] <= 5
    assert (run_dir / "adapters" / "adapters.safetensors").exists()
    assert runs.summary(run_dir)["status"] == "stopped"


def test_bad_data_is_an_input_error_event(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    run_dir = make_run(folder)
    process = jobs.start(jobs.TrainJob(run=str(run_dir)))
    events = collect(process)
    assert process.returncode == 2
    error = events[-1]
    assert error["type"] == "error" and error["category"] == "input"
    assert f"{folder / 'train.jsonl'}:2" in error["message"]


def test_stdout_carries_events_only_and_pytorch_is_never_loaded(demo_data, tmp_path):
    """PyTorch is installed here (the GGUF extra); transformers would load it into every worker: seconds and memory."""
    run_dir = make_run(demo_data, iters=2, steps_per_report=1)
    job_file = run_dir / "job.json"
    job_file.write_text(json.dumps({"kind": "train", "run": str(run_dir)}))
    (tmp_path / "sitecustomize.py").write_text(  # Python runs it at start-up: it writes the modules loaded at exit
        "import atexit, os, sys\natexit.register(lambda: open(os.environ['LOADED'], 'w').write(' '.join(\n"
        "    name for name, module in sys.modules.items() if module is not None)))\n")
    env = jobs.blas.environment({**os.environ, "PYTHONPATH": str(tmp_path), "LOADED": str(tmp_path / "loaded")})
    result = subprocess.run(bundle.worker(job_file), capture_output=True, text=True, env=env)
    assert result.returncode == 0
    for line in result.stdout.splitlines():
        assert "type" in json.loads(line)
    assert "train_loss" in result.stderr  # mlx-lm's own progress went to stderr
    loaded = {name.split(".")[0] for name in (tmp_path / "loaded").read_text().split()}
    assert "transformers" in loaded and "torch" not in loaded


def test_unknown_job_kind_is_refused(tmp_path):
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"kind": "bake", "run": str(tmp_path)}))
    result = subprocess.run(bundle.worker(job_file), capture_output=True, text=True)
    assert result.returncode == 2 and "unknown job kind 'bake'" in result.stderr
    job_file.write_text(json.dumps({"kind": "train", "run": str(tmp_path), "resmue": True}))
    result = subprocess.run(bundle.worker(job_file), capture_output=True, text=True)
    assert result.returncode == 2 and "a train job has no field 'resmue'" in result.stderr


def test_killed_worker_resumes_to_the_same_loss(demo_data, caffeinate):
    values = {"iters": 40, "steps_per_report": 1, "steps_per_eval": 20, "save_every": 10}
    straight = make_run(demo_data, **values)
    collect(jobs.start(jobs.TrainJob(run=str(straight))))
    kill_at = random.Random().randint(11, 38)  # any step after the first checkpoint
    run_dir = make_run(demo_data, **values)
    caffeinate.unlink()  # the uninterrupted run's assertion is not this one's
    process = jobs.start(jobs.TrainJob(run=str(run_dir)))
    events = []
    for event in jobs.events(process):
        events.append(event)
        if event["type"] == "train" and event["iteration"] >= kill_at:
            process.send_signal(signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert_kept_awake_then_released(caffeinate, events, process.pid)  # caffeinate watched the killed worker
    assert runs.summary(run_dir)["status"] == "interrupted"
    last_checkpoint = int(checkpoints.latest(run_dir / "checkpoints").name)
    result = tailor("train", "--resume", run_dir.name)
    assert result.returncode == 0, result.stderr
    done = runs.read_events(run_dir)[-1]
    assert done["type"] == "done" and done["result"]["resumed_from"] == last_checkpoint
    resumed = {e["iteration"]: e["train_loss"] for e in runs.read_events(run_dir)[-60:] if e["type"] == "train"}
    expected = {e["iteration"]: e["train_loss"] for e in runs.read_events(straight) if e["type"] == "train"}
    assert resumed[40] == pytest.approx(expected[40], rel=1e-3), f"killed at step {kill_at}"
    for step, loss in resumed.items():  # the whole curve after the checkpoint, within float noise
        assert loss == pytest.approx(expected[step], rel=1e-3), (step, kill_at)


def test_sigterm_ends_a_job_through_its_clean_up(demo_run):
    """SIGTERM (a cancel, or `kill`) to the worker alone still ends the server it started."""
    _, run_dir = demo_run
    model, adapter = runs.model_and_adapter(run_dir, "last")
    process = jobs.start(jobs.ServeJob(run=str(jobs.scratch_folder("serve")), model=str(model), adapter=str(adapter)))
    for event in jobs.events(process):
        if event["type"] == "ready":
            (server,) = psutil.Process(process.pid).children()
            process.send_signal(signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM
    server.wait(timeout=15)


def test_a_failure_during_a_stop_is_said_as_it_is(tmp_path, monkeypatch):
    """Stop was asked, then the save at the stop filled the disk: that is a full disk (exit 1), not a plain stop."""
    import io

    from macapp import worker
    from macapp.engine import disk

    asked = []

    def fills_the_disk(job, run_dir, emit, should_stop):
        asked.append(True)  # the stop comes while the job works
        raise disk.full("the checkpoint of step 3", run_dir, 1_000_000, "resume the run")

    monkeypatch.setitem(worker.JOBS, "check", fills_the_disk)
    stream = io.StringIO()
    code = worker._run(jobs.CheckJob(run=str(tmp_path)), tmp_path, worker.Events(stream, tmp_path, "check"),
                       should_stop=lambda: bool(asked))
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert code == 1 and last["category"] == "disk" and "The disk is full" in last["message"]
