"""The app's side of a worker process: start it, turn its JSON-lines events into Qt signals, stop it.

The worker runs in its own session and appends its events to its folder's events.jsonl; the bridge
reads that file on a timer, so a window opened later can re-attach to a run that is still going.
"""

import os
import signal
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from .. import jobs
from ..engine.runs import events as ev
from ..engine.runs import runs
from ..engine.runs.run_state import RunState

POLL_MS = 100
STOP_GRACE_MS = 30_000  # for the worker to say it heard the stop
SAVE_GRACE_MS = 180_000  # once it did: a step of a big model and its save can take minutes on a small Mac
TERMINATE_GRACE_MS = 5_000


class Job(QObject):
    """One worker process and its events. `event` carries each event; `ended` the last one.

    `ended` always comes exactly once: with the worker's `done` or `error` event, or, when the worker
    died without one, with an `error` event of category "killed" that says what happened and what to try.
    `state` is the run's RunState, fed with every event before it is passed on: the one account of a
    training run that the Train step and the menu-bar item both read.
    """

    event = Signal(dict)
    ended = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.kind = ""
        self.process = None  # the Popen of a worker we started; None when attached to an earlier one
        self.pid = None
        self.offset = 0
        self.partial = b""
        self.last: dict | None = None
        self.running = False
        self.timer = QTimer(self, interval=POLL_MS, timeout=self._poll)
        self.stop_timer = QTimer(self, singleShot=True, timeout=self._escalate)
        self.stop_stage = 0
        self.state = RunState()
        self.ours = False  # whether the events read now come from the worker this job follows

    def start(self, job: jobs.Job, secrets: dict | None = None) -> None:
        """Start a worker on `job` (its "run" names the folder; jobs.scratch_folder() gives one); `secrets` reach
        it through its environment only.

        The folder's earlier events pass through first (a resumed run's whole history, for its state and
        charts); the job ends with the end of the worker started here."""
        self.folder, self.kind = Path(job.run), job.kind
        self.offset = 0
        self._reset()
        self.process = jobs.start(job, detached=True, secrets=secrets)
        self.pid = self.process.pid
        self.timer.start()

    def attach(self, folder: Path, kind: str, pid: int) -> None:
        """Follow a worker started by an earlier window: its folder's events from the first, then live ones.

        Earlier sessions of the run (stopped, then resumed) pass through too, but the job ends only with the
        end of the session of worker `pid`."""
        self.folder, self.kind, self.pid, self.process = Path(folder), kind, pid, None
        self.offset = 0
        self._reset()
        self.timer.start()
        self._poll()

    def _reset(self) -> None:
        self.partial, self.last, self.running, self.stop_stage = b"", None, True, 0
        self.state, self.ours = RunState(), False
        self.stop_timer.stop()

    def cancel(self) -> None:
        """End the worker at once and forget it, without `ended`: for work whose answer is no longer wanted."""
        if self.running:
            self._signal(signal.SIGTERM)
            self.running = False
            self.timer.stop()
            self._reap()

    def stop(self) -> None:
        """Ask the worker to stop after its current step and save; terminate it if it does not in time."""
        if not self.running or self.stop_stage:
            return
        self.stop_stage = 1
        jobs.ask_to_stop(self.folder, self.pid)
        self.stop_timer.start(STOP_GRACE_MS)

    def _escalate(self) -> None:
        if not self.running:
            return
        self.stop_stage += 1
        self._signal(signal.SIGTERM if self.stop_stage == 2 else signal.SIGKILL)
        if self.stop_stage == 2:
            self.stop_timer.start(TERMINATE_GRACE_MS)

    def _signal(self, which) -> None:
        try:
            os.killpg(self.pid, which)  # the worker leads its own session: this reaches its children too
        except (ProcessLookupError, PermissionError):
            pass

    def _alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return runs.worker_alive(self.pid)

    def _read(self) -> list[dict]:
        path = self.folder / "events.jsonl"
        try:
            with open(path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        found = []
        for line in lines:
            event = runs.parse_event(line)
            if event is not None and event.get("kind", self.kind) == self.kind:
                found.append(event)
        return found

    def _poll(self) -> None:
        alive = self._alive()  # before reading, so nothing written just before the exit is missed
        for event in self._read():
            if event.get("category") == ev.REFUSED and event.get("pid") != self.pid:
                continue  # another worker that would not begin: the run this job follows goes on
            self.last = event
            self.state.apply(event)
            # its session, or its refusal or failure to begin one (a group's launcher, before the group starts)
            self.ours = self.ours or (event.get("pid") == self.pid and event.get("type") in (ev.STARTED, *ev.ENDS))
            if event.get("type") == ev.STOPPING and self.ours and self.stop_stage == 1:
                self.stop_timer.start(SAVE_GRACE_MS)
            self.event.emit(event)
            if event.get("type") in ev.ENDS and self.ours:
                self._end(event)
                return
        if not alive and self.running:
            self._end(self._death_event())

    def _death_event(self) -> dict:
        code = self.process.returncode if self.process is not None else None  # unknown for an attached worker
        if self.stop_stage:
            message = "the worker did not stop in time and was ended; the last checkpoint is kept."
        else:
            message = (code is not None and jobs.unexpected_end(code, self.folder, reported_error=False)) or (
                "the worker process ended without saying why, most often because the computer ran out of memory. "
                f"Its log: {self.folder / 'worker.log'}")
        return {"type": ev.ERROR, "category": "killed", "kind": self.kind, "message": message,
                "fix": "Lower the batch size or the sequence length, or turn on gradient checkpointing, "
                       "then press Resume."}

    def _end(self, event: dict) -> None:
        if event is not self.last:  # the worker's death, told by the bridge: the run's state hears it too
            self.state.apply(event)
        self.running = False
        self.timer.stop()
        self.stop_timer.stop()
        self.ended.emit(event)
        self._reap()

    def _reap(self) -> None:
        # The worker may take a moment to exit after its last event; waiting for it would freeze the window.
        if self.process is not None and self.process.poll() is None:
            QTimer.singleShot(500, self._reap)


def running_training() -> tuple[Path, int] | None:
    """A training run still going from an earlier window, as (run folder, worker pid), if any."""
    for summary in runs.list_runs():
        if summary["pid"]:
            return Path(summary["path"]), summary["pid"]
    return None
