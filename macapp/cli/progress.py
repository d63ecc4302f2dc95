"""Show a worker's events in a terminal: a progress bar with loss and ETA, logs and errors.

On a terminal the bar redraws in place; in a log file each report is one line.
"""

import sys
import time

from ..engine.runs import events as ev
from ..engine.runs.run_state import RunState, clock

BAR_WIDTH = 24


class ProgressView:
    """Renders events of one job; `handle(event)` for each, `finish()` at the end."""

    def __init__(self, title: str, stream=None):
        self.title, self.stream = title, stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.run = RunState()  # a training job's run, as every other view of it reads it
        self.bar_shown = False
        self.last_done = 0
        self.error = None

    def line(self, text: str) -> None:
        """One line of text, below the progress bar if one is shown."""
        if self.bar_shown:
            self.stream.write("\n")
            self.bar_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _bar(self, done: int, total: int, details: str, eta: float | None = None, counts: bool = True) -> None:
        """One line of progress; the time left is `eta` ("..." until it is known) when given, else the pace so far.
        Without `counts` (bytes), the details say how far it is."""
        filled = int(BAR_WIDTH * done / max(total, 1))
        elapsed = time.monotonic() - self.started
        left = clock(eta) if eta is not None else "..."
        text = (f"{self.title} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {f'{done}/{total}  ' * counts}{details}"
                f"  {clock(elapsed)} elapsed, ETA {left if done < total else clock(0)}")
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self.bar_shown = True
        elif done == total or int(10 * done / max(total, 1)) != int(10 * self.last_done / max(total, 1)):
            self.line(text)  # in a log, one line per tenth of the way
        self.last_done = done

    def handle(self, event: dict) -> None:
        kind = event.get("type")
        run = self.run.apply(event)
        if kind == ev.STARTED:
            self.started = time.monotonic()
        elif kind == ev.TRAIN:
            val = f"  val {run.val_loss:.3f}" if run.val_loss is not None else ""
            self._bar(run.step, run.total, f"loss {run.loss:.3f}{val}  {run.tokens_per_second or 0:,.0f} tok/s",
                      run.seconds_left())
        elif kind == ev.PROGRESS:
            elapsed = time.monotonic() - self.started
            pace = elapsed / event["done"] * (event["total"] - event["done"]) if event["done"] else None
            in_bytes = "bytes_per_second" in event  # a download: its message has the sizes and the speed
            self._bar(event["done"], event["total"], event["message"] if in_bytes else event.get("stage", ""),
                      event.get("eta_seconds", pace), counts=not in_bytes)
        elif kind == ev.PLAN:
            GB = 1e9
            self.line(f"  Predicted peak memory {event['predicted_bytes'] / GB:.2f} GB of "
                       f"{event['limit_bytes'] / GB:.0f} GB this machine can give ({event['status']})")
            if event.get("suggestion"):
                self.line(f"  Settings that fit: {event['suggestion']}")
        elif kind == ev.LOG:
            self.line(f"  {event['message']}")
        elif kind == ev.ERROR:
            self.error = event
            self.line(f"Error: {event['message']}")
            if event.get("fix"):
                self.line(f"  Try: {event['fix']}")
        elif kind == ev.STOPPING:
            self.line(f"{self.title}: stopping; saving what was done\u2026")
        elif kind == ev.DONE and event.get("stopped"):
            self.line(f"{self.title}: stopped; what was done so far is saved.")
        elif kind == ev.DONE and run.phase == "finished":
            self.line(f"{self.title}: {run.outcome()}")

    def finish(self) -> None:
        if self.bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self.bar_shown = False
