"""The bridge with real workers: events become signals, `ended` comes once, and a worker that does not
stop when asked is ended after the grace period.
"""

import signal

from macapp import jobs
from macapp.engine.runs import runs
from macapp.engine.train import config
from macapp.ui import bridge
from tests.bad_inputs import LINE
from tests.helpers import slow_compiler_env, write_jsonl


def test_a_short_job_reports_its_events_and_ends_once(qtbot, app_home):
    job, events, ends = bridge.Job(), [], []
    job.event.connect(events.append)
    job.ended.connect(ends.append)
    with qtbot.waitSignal(job.ended, timeout=60_000):
        job.start(jobs.CheckJob(run=str(jobs.scratch_folder("check"))))
    assert [e["type"] for e in events][0] == "started" and events[-1]["type"] == "done"
    assert ends == [events[-1]] and not job.running
    qtbot.wait(300)
    assert len(ends) == 1
    qtbot.waitUntil(lambda: job.process.poll() is not None, timeout=5_000)  # reaped, no zombie left


def test_a_worker_that_does_not_stop_when_asked_is_ended(qtbot, app_home, tmp_path, monkeypatch):
    monkeypatch.setattr(bridge, "STOP_GRACE_MS", 500)
    big = write_jsonl(tmp_path / "big.jsonl", [LINE.decode().replace("Hi", f"Hi {i}") for i in range(200_000)])
    job = bridge.Job()
    job.start(jobs.InspectJob(run=str(jobs.scratch_folder("inspect")), sources=[str(big)],
                              model="demo"))  # reading data does not look at stop requests
    qtbot.waitUntil(lambda: job.last is not None, timeout=60_000)
    with qtbot.waitSignal(job.ended, timeout=30_000) as ended:
        job.stop()
    event = ended.args[0]
    assert event["type"] == "error" and event["category"] == "killed"
    assert "did not stop in time" in event["message"]
    # ended by the SIGTERM stage (the worker exits through its clean-up), or by SIGKILL 5 s later
    assert job.process.wait(timeout=10) in (128 + signal.SIGTERM, -signal.SIGKILL)


def test_a_worker_refused_a_run_ends_the_job_and_leaves_the_run_as_it_was(qtbot, app_home, tmp_path):
    """Another process trains the run: the window's worker says so and begins no session of it."""
    from macapp.engine.runs import runs

    runs.append_event(tmp_path, {"type": "started", "pid": 1, "kind": "train"})
    runs.append_event(tmp_path, {"type": "train", "iteration": 3, "total": 9, "train_loss": 1.5, "kind": "train"})
    job = bridge.Job()
    with runs.hold(tmp_path), qtbot.waitSignal(job.ended, timeout=60_000) as ended:
        job.start(jobs.TrainJob(run=str(tmp_path), resume=True))
    assert ended.args[0]["category"] == "refused" and "being trained by another Tailor" in ended.args[0]["message"]
    assert (job.state.phase, job.state.step) == ("training", 3) and job.process.wait(timeout=10) == 2


def test_another_workers_refusal_does_not_end_the_run_a_job_follows(qtbot, app_home, tmp_path):
    import os

    from macapp.engine.runs import runs

    runs.append_event(tmp_path, {"type": "started", "pid": os.getpid(), "kind": "train"})
    job = bridge.Job()
    job.attach(tmp_path, "train", os.getpid())  # this very process stands for the worker that trains the run
    runs.append_event(tmp_path, {"type": "error", "category": "refused", "pid": 1, "message": "no", "kind": "train"})
    qtbot.wait(600)
    assert job.running and job.state.phase == "preparing"
    job.timer.stop()  # nothing to end: the "worker" is the test itself


def test_pausing_a_data_making_job_whose_server_is_silent_stops_it_cleanly(qtbot, app_home, tmp_path, monkeypatch):
    """The model server is busy (loading a model, reading a long passage) and says nothing: Pause still stops the
    worker itself, long before the terminate stage, with nothing half-made."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from macapp.engine.data.recipe import Recipe

    monkeypatch.setattr(bridge, "STOP_GRACE_MS", 600_000)  # only the worker's own stop can end it in this test
    asked, release = threading.Event(), threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self):
            asked.set()
            release.wait(120)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    (tmp_path / "instructions.txt").write_text("How do I water a fern?\n")
    folder = tmp_path / "made"
    folder.mkdir()
    recipe = Recipe(instructions=str(tmp_path / "instructions.txt"), endpoint=f"127.0.0.1:{server.server_address[1]}")
    job = bridge.Job()
    try:
        job.start(jobs.SynthJob(run=str(folder), recipe=recipe.to_dict()))
        qtbot.waitUntil(asked.is_set, timeout=60_000)
        with qtbot.waitSignal(job.ended, timeout=60_000) as ended:
            job.stop()
        assert ended.args[0]["type"] == "done" and ended.args[0]["stopped"], ended.args[0]
        assert job.process.wait(timeout=10) == 130 and not (folder / "examples.jsonl").exists()
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_the_windows_stop_while_mlx_checks_its_compiler_saves_the_run(qtbot, app_home, demo_data, tmp_path,
                                                                     monkeypatch):
    """The window's Stop lands while the worker ignores SIGINT: the worker hears it from the stop file, says it is
    stopping, and saves; it is never ended by the grace period's SIGTERM."""
    env, marker = slow_compiler_env(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("MARKER", env["MARKER"])
    run_dir = runs.create("window-stop")
    config.from_dict({"model": "demo", "data": str(demo_data), "iters": 100000, "batch_size": 2,
                      "steps_per_eval": 100000, "learning_rate": 1e-3, "max_seq_length": 128}
                     ).save(run_dir / "config.yaml")
    job, events = bridge.Job(), []
    job.event.connect(events.append)
    job.start(jobs.TrainJob(run=str(run_dir)))
    qtbot.waitUntil(marker.exists, timeout=300_000)
    with qtbot.waitSignal(job.ended, timeout=300_000) as ended:
        job.stop()
    assert ended.args[0]["type"] == "done" and ended.args[0]["stopped"], ended.args[0]
    assert any(e["type"] == "stopping" for e in events)
    assert job.process.wait(timeout=30) == 130
    assert runs.summary(run_dir)["status"] == "stopped"
    assert (run_dir / "adapters" / "adapters.safetensors").exists()
