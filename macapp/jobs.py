"""Start a worker process for a job and read its events; shared by the CLI and the app.

The worker gets the system OpenBLAS preloaded on Linux, and its stderr goes to the job folder's worker.log.
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import exitcodes
from .engine import blas, bundle
from .engine import events as ev
from .engine.files import data_home, write_json_atomic


_serial = itertools.count()


def scratch_folder(kind: str) -> Path:
    """A folder for a job that belongs to no run (check, inspect, download); the newest few are kept."""
    root = data_home() / "jobs"
    root.mkdir(parents=True, exist_ok=True)
    for old in sorted(root.iterdir())[:-20]:
        shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{os.getpid()}-{next(_serial)}"
    folder.mkdir()
    return folder


def start(job: dict, detached: bool = False) -> subprocess.Popen:
    """Write the job spec into its folder (job["run"]) and start the worker on it.

    Attached, the worker's events come through its stdout; detached (the app), it runs in its own
    session, so it outlives the window, and its events are read from the folder's events.jsonl.
    """
    run_dir = Path(job["run"])
    job_file = run_dir / f"job-{job['kind']}.json"
    write_json_atomic(job_file, job)
    log = open(run_dir / "worker.log", "ab")
    try:
        if detached:
            return subprocess.Popen(bundle.worker(job_file), stdout=subprocess.DEVNULL, stderr=log,
                                    stdin=subprocess.DEVNULL, env=blas.environment(), start_new_session=True)
        return subprocess.Popen(bundle.worker(job_file), stdout=subprocess.PIPE, stderr=log,
                                env=blas.environment(), text=True, bufsize=1)
    finally:
        log.close()


def events(process: subprocess.Popen):
    """The worker's events as dicts, until it exits."""
    for line in process.stdout:
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield {"type": ev.LOG, "message": line.rstrip()}
    process.wait()


def unexpected_end(returncode: int, run_dir: Path, reported_error: bool) -> str | None:
    """What to tell the user when a worker ended without saying why (killed, crashed), else None."""
    if returncode in (exitcodes.DONE, exitcodes.BAD_INPUT, exitcodes.STOPPED) or (returncode > 0 and reported_error):
        return None
    log = Path(run_dir) / "worker.log"
    if returncode == -signal.SIGKILL:
        return ("the worker process was killed, most often because the Mac ran out of memory. Lower the batch "
                "size or max_seq_length, train fewer layers, or turn on gradient checkpointing; then continue "
                f"with `tailor train --resume {Path(run_dir).name}`. Its log: {log}")
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0  # 143: SIGTERM, handled
    how = f"by signal {signum}" if signum else f"with exit code {returncode}"
    return f"the worker process ended unexpectedly ({how}). Its log: {log}"
