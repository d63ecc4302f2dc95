"""Faults a careful person can cause — a run trained twice, resumed wrongly or damaged, a port taken, Ctrl-C in an
export, a full disk — each answered with a plain message and the promised exit code, nothing lost or half-made."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from macapp.engine.models import demo
from macapp.engine.runs import runs
from macapp.engine.train import checkpoints, training
from tests.helpers import REPO, tailor, train_settings


@pytest.fixture(scope="module")
def finished_run(demo_model):
    """A finished 12-step run made by `tailor train`, with checkpoints at steps 5 and 10."""
    result = tailor("train", "--model", "demo", "--data", demo.REPLIES, "--iters", 12, "--batch-size", 4,
                    "--save-every", 5, "--steps-per-eval", 6, "--max-seq-length", 128, "--name", "faults")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-faults")]
    return Path(run["path"])


def copy_run(run_dir: Path, name: str, interrupted: bool = False) -> Path:
    """A copy of a run (its config pointing at its own data); `interrupted`: as if killed before its last word."""
    target = run_dir.with_name(f"{run_dir.name}-{name}")
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns(".lock"))
    settings = yaml.safe_load((target / "config.yaml").read_text())
    (target / "config.yaml").write_text(yaml.safe_dump({**settings, "data": str(target / "data")}))
    if interrupted:
        lines = (target / "events.jsonl").read_text().splitlines(keepends=True)
        (target / "events.jsonl").write_text("".join(line for line in lines if '"type": "done"' not in line))
    return target


def tree(folder: Path) -> dict:
    """The run's files and their bytes (not the worker's own: its job file, log and lock)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name not in (".lock", "worker.log") and not p.name.startswith("job-")}


def test_resuming_a_finished_run_says_it_is_finished_and_changes_nothing(finished_run):
    run = copy_run(finished_run, "finished")
    before = tree(run)
    result = tailor("train", "--resume", run)
    assert result.returncode == 2 and "finished all its 12 steps; there is nothing to resume" in result.stderr
    after = tree(run)
    assert {k: v for k, v in after.items() if k != "events.jsonl"} == {k: v for k, v in before.items()
                                                                      if k != "events.jsonl"}
    added = after["events.jsonl"][len(before["events.jsonl"]):].decode().splitlines()
    assert len(added) == 1 and json.loads(added[0])["category"] == "refused"  # no session of the run
    assert runs.state(run).phase == "finished" and runs.state(run).step == 12


def test_resume_refuses_another_base_model_and_changed_data(finished_run, demo_model, tmp_path):
    run = copy_run(finished_run, "changed", interrupted=True)
    adapter_config = (run / "adapters" / "adapter_config.json").read_bytes()
    other = shutil.copytree(demo_model, tmp_path / "other-model")
    (other / "config.json").write_text(json.dumps({**json.loads((other / "config.json").read_text()),
                                                   "rope_theta": 500000.0}))
    settings = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**settings, "model": str(other)}))
    result = tailor("train", "--resume", run)
    assert result.returncode == 2 and "trained on another base model (demo)" in result.stderr
    assert "Put back model: demo" in result.stderr and "Traceback" not in result.stderr
    assert (run / "adapters" / "adapter_config.json").read_bytes() == adapter_config

    (run / "config.yaml").write_text(yaml.safe_dump(settings))
    train = run / "data" / "train.jsonl"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[1:]))
    result = tailor("train", "--resume", run)
    assert result.returncode == 2 and "training data (its data folder) changed" in result.stderr
    assert runs.state(run).phase == "failed" and runs.state(run).step == 12  # told, and nothing trained


def test_a_run_is_trained_by_one_process_at_a_time(finished_run):
    run = copy_run(finished_run, "locked", interrupted=True)
    with runs.hold(run):
        result = tailor("train", "--resume", run)
        assert result.returncode == 2 and f"being trained by another Tailor (process {os.getpid()})" in result.stderr
    assert runs.state(run).phase == "interrupted"  # the refusal is not a session of the run
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from macapp.engine.runs import runs\n"
                               f"with runs.hold({str(run)!r}): print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(runs.RunRefused):
        with runs.hold(run):
            pass
    holder.kill()
    holder.wait()
    with runs.hold(run):  # a killed holder leaves no lock behind
        pass


@pytest.mark.parametrize("damaged", ["adapters.safetensors", "optimizer.safetensors", "state.json", "state's shape"])
def test_a_damaged_newest_checkpoint_gives_way_to_the_one_before(damaged, demo_data, tmp_path):
    settings = train_settings(demo_data, iters=12, save_every=5)
    training.train(settings, tmp_path / "adapters", checkpoint_dir=tmp_path / "checkpoints")
    newest = tmp_path / "checkpoints" / "0000010" / damaged
    if damaged == "state's shape":  # JSON still, but not a checkpoint's
        damaged, newest = "state.json", newest.with_name("state.json")
        newest.write_text(json.dumps({**json.loads(newest.read_text()), "files": None, "batches": [1]}))
    else:
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    events = []
    result = training.train(settings, tmp_path / "adapters", events.append, checkpoint_dir=tmp_path / "checkpoints",
                            resume=True)
    assert result["resumed_from"] == 5 and result["iterations"] == 12
    (warning,) = [e["message"] for e in events if e.get("level") == "warning" and "damaged" in e["message"]]
    assert "step 10" in warning and damaged in warning and "goes on from the checkpoint of step 5" in warning
    assert [p.name for p in checkpoints.complete(tmp_path / "checkpoints")] == ["0000005", "0000010"]
    assert (tmp_path / "checkpoints" / ".damaged-0000010").is_dir()  # set aside, not deleted


def test_ctrl_c_stops_an_export_and_replaces_nothing(finished_run):
    earlier = finished_run / "exports" / "fused"
    earlier.mkdir(parents=True)
    (earlier / "kept.txt").write_text("the earlier export")
    process = subprocess.Popen([sys.executable, "-m", "macapp", "fuse", "--run", str(finished_run), "--overwrite"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=REPO)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Loading" in line or "Fusing" in line:
            os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
            break
    seen += process.stderr.readlines()
    assert process.wait(timeout=120) == 130, "".join(seen)
    assert sorted(p.name for p in earlier.iterdir()) == ["kept.txt"]
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["fused"]  # no half-written scratch folder


def test_damaged_run_folders_are_listed_as_damaged_and_hide_no_other(finished_run, tmp_path, monkeypatch, capsys):
    from macapp.cli import main

    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    good = copy_run(finished_run, "good")
    shutil.move(good, runs.runs_root() / "20260101-000000-good")
    bad_manifest = runs.runs_root() / "20260106-000000-manifest"
    shutil.copytree(runs.runs_root() / "20260101-000000-good", bad_manifest)
    (bad_manifest / "data" / "manifest.json").write_text('{"sources": 5}')
    for name, config, events in (("20260102-000000-list", "- not\n- settings\n", b""),
                                 ("20260103-000000-bytes", "model: demo\n",
                                  b'{"type": "started", "pid": 4000000}\n\xff\xfe\n{]'),
                                 ("20260104-000000-yaml", "model: [demo\n", b""),
                                 ("20260105-000000-events", "model: demo\n", b'{"type": "train"}\n[1, 2]\n')):
        folder = runs.runs_root() / name
        folder.mkdir()
        (folder / "config.yaml").write_text(config)
        (folder / "events.jsonl").write_bytes(events)
    assert main(["runs"]) == 0
    shown = capsys.readouterr().out
    assert "20260101-000000-good" in shown and "20260106-000000-manifest" in shown and "finished" in shown
    damaged = {line.split()[0]: line for line in shown.splitlines() if line.split()[1] == "damaged"}
    assert sorted(damaged) == ["20260102-000000-list", "20260104-000000-yaml"]
    assert "config.yaml holds no settings" in damaged["20260102-000000-list"]
    assert "config.yaml cannot be read" in damaged["20260104-000000-yaml"]
    assert {r["id"]: r["status"] for r in runs.list_runs()}["20260103-000000-bytes"] == "interrupted"


def test_a_cut_events_line_does_not_swallow_the_next_event(tmp_path):
    (tmp_path / "events.jsonl").write_bytes(b'{"type": "started", "pid": 1}\n{"type": "tra')
    runs.append_event(tmp_path, {"type": "log", "message": "next"})
    assert runs.read_events(tmp_path)[-1] == {"type": "log", "message": "next"}


def test_run_names_keep_letters_of_every_script():
    folder = runs.create("Café crème — 日本語 données")
    assert folder.name.endswith("-café-crème-日本語-données")
    folder.rmdir()


def test_a_second_server_on_a_taken_port_is_refused_at_once(finished_run):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = tailor("serve", "--run", finished_run, "--port", port)
        assert result.returncode == 2 and f"Port {port} is already in use" in result.stderr
        assert f"--port {port + 1}" in result.stderr and time.monotonic() - started < 60
    elsewhere = tailor("serve", "--run", finished_run, "--host", "192.0.2.1", "--allow-remote")  # not this Mac's
    assert elsewhere.returncode == 2 and "Cannot serve on 192.0.2.1" in elsewhere.stderr


def test_the_server_that_answers_must_be_this_one(demo_model):
    """Another server on the port answers /health too: without this start's token it is not taken for ours."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from macapp.engine.export import serve

    class Other(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    server = serve.Server(demo_model)
    other = ThreadingHTTPServer(("127.0.0.1", server.port), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        assert not server._answers()
    finally:
        other.shutdown()
        other.server_close()
