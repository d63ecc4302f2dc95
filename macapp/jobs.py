"""Start a worker process for a job and read its events; shared by the CLI and the app.

The worker gets the system OpenBLAS preloaded on Linux, and its stderr goes to the run's worker.log.
"""

import json
import signal
import subprocess
import sys
from pathlib import Path

from . import exitcodes
from .engine import blas
from .engine.files import write_json_atomic


def worker_command(job_file: Path) -> list[str]:
    return [sys.executable, "-m", "macapp.worker", str(job_file)]


def start(job: dict) -> subprocess.Popen:
    """Write the job spec into its run folder and start the worker on it."""
    run_dir = Path(job["run"])
    job_file = run_dir / f"job-{job['kind']}.json"
    write_json_atomic(job_file, job)
    log = open(run_dir / "worker.log", "ab")
    try:
        return subprocess.Popen(worker_command(job_file), stdout=subprocess.PIPE, stderr=log,
                                env=blas.environment(), text=True, bufsize=1)
    finally:
        log.close()


def events(process: subprocess.Popen):
    """The worker's events as dicts, until it exits."""
    for line in process.stdout:
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield {"type": "log", "message": line.rstrip()}
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
    how = f"by signal {-returncode}" if returncode < 0 else f"with exit code {returncode}"
    return f"the worker process ended unexpectedly ({how}). Its log: {log}"
