"""Keep the Mac from sleeping while a run trains: macOS's `caffeinate -i -w PID` holds an idle-sleep
assertion for as long as process PID lives, and Tailor ends it when the run ends, however it ends.

A run that finishes or is stopped ends the assertion in `kept_awake`'s exit; a worker that is killed
takes it along, since caffeinate watches the worker's pid (and the app's stop reaches the worker's group).
"""

import os
import shutil
import subprocess
from contextlib import contextmanager

from ..runs import events as ev


def hold(pid: int) -> subprocess.Popen | None:
    """Start the assertion process for as long as `pid` lives; None where there is no caffeinate (Linux)."""
    tool = shutil.which("caffeinate")
    if tool is None:
        return None
    try:
        return subprocess.Popen([tool, "-i", "-w", str(pid)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return None


def release(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def kept_awake(report=lambda event: None):
    """The computer stays awake inside the block (this process's lifetime at most)."""
    process = hold(os.getpid())
    if process is not None:
        report({"type": ev.LOG, "message": "Keeping the Mac awake while it trains", "awake_pid": process.pid})
    try:
        yield process
    finally:
        release(process)
