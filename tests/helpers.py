"""Helpers the tests share: run the real `tailor` command (to the end, or until its first checkpoint), find a run and
its losses, write data files, make past runs of recorded events.

Kept apart from conftest so test modules can import them.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "tests" / "runs"  # events.jsonl of real demo runs (tests/runs/record.py)


def tailor(*args, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `tailor` command in its own process."""
    return subprocess.run([sys.executable, "-m", "macapp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=kwargs.pop("cwd", REPO), **kwargs)


def run_folder(name: str) -> Path:
    """The folder of the run named `name` (`tailor train --name NAME`)."""
    from macapp.engine.runs import runs

    return Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(f"-{name}")))


def losses(folder: Path) -> dict[int, float]:
    """Each step's training loss in a run's events."""
    from macapp.engine.runs import runs

    return {e["iteration"]: e["train_loss"] for e in runs.read_events(folder) if e["type"] == "train"}


def train_until_checkpoint(name: str, *args, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """`tailor train --name NAME ARGS` started, once its first checkpoint is saved: the process and the run folder."""
    import time

    from macapp.engine.runs import runs

    training = subprocess.Popen([sys.executable, "-m", "macapp", "train", "--name", name, *map(str, args)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (
            (found := [r for r in runs.list_runs() if r["id"].endswith(f"-{name}")])
            and any(e["type"] == "checkpoint" for e in runs.read_events(Path(found[0]["path"])))):
        time.sleep(0.2)
    return training, run_folder(name)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def train_settings(data, **overrides):
    """Settings of a short LoRA run on the demo model (12 steps), as a TrainConfig."""
    from macapp.engine.train import config

    values = {"model": "demo", "data": str(data), "iters": 12, "batch_size": 4, "learning_rate": 1e-3,
              "steps_per_report": 4, "steps_per_eval": 6, "val_batches": 2, "save_every": 5,
              "max_seq_length": 128, "lora_parameters": {"scale": 10.0}, **overrides}
    return config.from_dict(values)


def fake_commands(folder: Path, **scripts: str) -> str:
    """Write stand-in commands (shell scripts) for tools that cannot exist here; returns a PATH with them first."""
    import os
    import stat

    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def past_run(name: str, recorded: str = "finished", model: str = "demo", method: str = "lora", batch_size: int = 4,
             faster: float = 1.0) -> Path:
    """A run folder holding a recorded run's events (its speeds times `faster`) and the spec of what it trained."""
    import shutil

    from macapp.engine.runs import runs
    from macapp.engine.train.run_spec import RunSpec

    folder = runs.runs_root() / name
    folder.mkdir()
    shutil.copy(RECORDED / f"{recorded}.jsonl", folder / "events.jsonl")
    if faster != 1.0:
        events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        for event in events:
            for key in ("tokens_per_second", "iterations_per_second"):
                if key in event:
                    event[key] *= faster
        (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    RunSpec(model, ["replies.jsonl"], {"batch_size": batch_size}, method=method).save(folder)
    return folder


@contextlib.contextmanager
def local_server(handler):
    """An HTTP server of the test's own on 127.0.0.1, answering with `handler` (a BaseHTTPRequestHandler) in a thread;
    yields its "127.0.0.1:port"."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """A stand-in server's handler that answers JSON and logs nothing."""

    def answer(self, value, status: int = 200) -> None:
        body = json.dumps(value).encode() if not isinstance(value, bytes) else value
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


SLOW_COMPILER = """#!/bin/sh
# Stands in for g++: MLX's CPU backend runs `g++ --version` through system(), which ignores SIGINT in the caller while
# it runs. This one says when it starts, and takes its time, ignoring SIGINT as a real one that was quick enough would
# never see it.
if [ "$1" = "--version" ]; then
    trap '' INT
    echo started >> "$MARKER"
    sleep 3
fi
exec {real} "$@"
"""


def slow_compiler_env(tmp_path: Path) -> tuple[dict, Path]:
    """An environment whose `g++` is the slow one above; and the file it writes when it starts."""
    folder = tmp_path / "bin"
    folder.mkdir()
    real = subprocess.run(["sh", "-c", "command -v g++"], capture_output=True, text=True).stdout.strip()
    (folder / "g++").write_text(SLOW_COMPILER.format(real=real))
    (folder / "g++").chmod(0o755)
    marker = tmp_path / "compiler-started"
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "MARKER": str(marker)}, marker


@contextlib.contextmanager
def mlx_lm_server(model):
    """`mlx_lm server` serving `model` on 127.0.0.1, ready when it says so: its /v1 URL; stopped at the end."""
    import socket

    from macapp.engine.check import blas

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "mlx_lm", "server", "--model", str(model),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stderr=subprocess.PIPE, text=True, env=blas.environment())
    ready, log = threading.Event(), []

    def drain():
        for line in process.stderr:
            log.append(line)
            if "Starting httpd" in line:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert ready.wait(120), "".join(log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(30)
