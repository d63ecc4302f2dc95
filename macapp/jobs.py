"""Start a worker process for a job and read its events; shared by the CLI and the app.

The worker gets the system OpenBLAS preloaded on Linux, and its stderr goes to the run's worker.log.
"""

import json
import subprocess
import sys
from pathlib import Path

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
