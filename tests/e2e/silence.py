"""What the tests of silent servers share: how long they let a job take to end, and a job stopped while its server
says nothing.
"""

import signal
import time

from macapp import exitcodes, jobs

PATIENCE = 90  # seconds a test lets a stop, or a limit of a few seconds, take to end a job on a busy machine


def stopped_while_silent(job, fell_silent) -> None:
    """Start `job` in a worker, send it Ctrl-C (as Pause in the window does) once its server fell silent, and check it
    ends as stopped within PATIENCE."""
    process = jobs.start(job)
    assert fell_silent.wait(PATIENCE), "the server was never asked"
    asked = time.monotonic()
    process.send_signal(signal.SIGINT)
    events = list(jobs.events(process))
    assert process.returncode == exitcodes.STOPPED, events[-3:]
    assert time.monotonic() - asked < PATIENCE
