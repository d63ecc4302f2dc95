"""Run a job in a worker process from a terminal: its progress shown as it goes, Ctrl-C asking it to stop and save.

Returns the exit code the README promises (0 done, 1 failed, 2 bad input, 130 stopped) and the job's result.
"""

import signal
import sys
from pathlib import Path

from .. import exitcodes, jobs
from ..engine import events as ev
from .progress import ProgressView


def run_job(job: jobs.Job, title: str, secrets: dict | None = None) -> tuple[int, dict | None]:
    """Run a job in a worker, showing its progress; returns (exit code, result). `secrets` go to jobs.start."""
    view, result = ProgressView(title), None
    process = jobs.start(job, secrets=secrets)
    try:
        for event in jobs.events(process):
            view.handle(event)
            if event.get("type") == ev.DONE:
                result = event.get("result")
    except KeyboardInterrupt:  # ask the worker to stop (a terminal's Ctrl-C reaches it too), let it save
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        process.send_signal(signal.SIGINT)
        for event in jobs.events(process):
            view.handle(event)
    view.finish()
    explanation = jobs.unexpected_end(process.returncode, Path(job.run), view.error is not None)
    if explanation:
        print(f"{title}: {explanation}", file=sys.stderr)
        return exitcodes.FAILED, None
    return process.returncode, result
