"""Run a job in a worker process from a terminal: its progress shown as it goes, Ctrl-C asking it to stop and save
(a third Ctrl-C ends it at once).

Returns the exit code the README promises (0 done, 1 failed, 2 bad input, 130 stopped) and the job's result.
"""

import contextlib
import os
import signal
import sys
from pathlib import Path

from .. import exitcodes, jobs
from ..engine.runs import events as ev
from .progress import ProgressView

FORCE_AFTER = 3  # Ctrl-Cs: the third ends the worker without its save at the stop


def run_job(job: jobs.Job, title: str, secrets: dict | None = None) -> tuple[int, dict | None]:
    """Run a job in a worker, showing its progress; returns (exit code, result). `secrets` go to jobs.start."""
    view, result, presses = ProgressView(title), None, 0
    process = jobs.start(job, secrets=secrets)
    events = jobs.events(process)
    while True:
        try:
            for event in events:
                view.handle(event)
                if event.get("type") == ev.DONE:
                    result = event.get("result")
            break
        except KeyboardInterrupt:  # asked through a file the worker watches: a signal alone can be lost
            presses += 1
            if presses == 1:
                jobs.ask_to_stop(job.run, process.pid)
            elif presses < FORCE_AFTER:
                view.line("Stopping: the worker saves what was done first. Press Ctrl-C again to end it at once.")
            else:  # the worker leads a process group of its own (jobs.start): its children end with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM if presses == FORCE_AFTER else signal.SIGKILL)
                view.line("Ending at once; the last checkpoint is kept.")
            events = jobs.events(process)
    view.finish()
    if presses >= FORCE_AFTER or (presses and process.returncode == -signal.SIGINT):  # ended before it could say so
        return exitcodes.STOPPED, None
    explanation = jobs.unexpected_end(process.returncode, Path(job.run), view.error is not None)
    if explanation:
        print(f"{title}: {explanation}", file=sys.stderr)
        return exitcodes.FAILED, None
    return process.returncode, result
