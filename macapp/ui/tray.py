"""The menu-bar item: a glyph that shows whether a run trains (and how far), finished, stopped or failed;
a menu, rebuilt each time it opens, with the run's status line, Show Tailor, Stop training, Open run
folder and Quit; and notifications when a run ends or uses more memory than predicted.

`RunStatus` is the state machine over the training job's events; `Tray` draws it and sends notices.
"""

import re
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ..terminal import clock
from . import icons
from .pages.page import open_folder

MEMORY_MARGIN = 1.10  # the prediction's own error is within about 10%: warn only beyond it
ICON_STEPS = 24  # the training glyph is redrawn when the run moves on by a 24th, not with every step


@dataclass
class Notice:
    title: str
    text: str
    warning: bool = False


def _loss(value: float | None) -> str:
    return f"; best validation loss {value:.3f}" if value is not None else ""


class RunStatus:
    """What the menu-bar item says about the run it follows, from the run's events."""

    def __init__(self):
        self.follow(None)

    def follow(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self.state = "training" if folder else "idle"
        self.stopping = False
        self.step = self.total = self.loss = self.best = self.predicted = None
        self.first: tuple | None = None  # (step, time) of the first report, for the time left
        self.latest_time = None
        self.message = "Preparing the run"
        self.memory_warned = False
        self.outcome = ""

    @property
    def name(self) -> str:
        """The run's name without the date and time its folder starts with: "demo", "support-chats"."""
        return re.sub(r"^\d{8}-\d{6}-", "", self.folder.name) if self.folder else ""

    @property
    def quoted(self) -> str:
        return f"\u201c{self.name}\u201d"

    @property
    def progress(self) -> float:
        return self.step / self.total if self.step and self.total else 0.0

    def seconds_left(self) -> float | None:
        if not self.first or self.step is None or self.step <= self.first[0]:
            return None
        rate = (self.latest_time - self.first[1]) / (self.step - self.first[0])
        return rate * (self.total - self.step)

    def handle(self, event: dict) -> Notice | None:
        """Take one event of the run; returns a notice when one is due (memory beyond the prediction)."""
        kind = event.get("type")
        if kind == "started":  # a resumed run's earlier sessions do not count towards its speed
            self.first = None
        elif kind == "train":
            self.step, self.total, self.loss = event["iteration"], event["total"], event["train_loss"]
            self.latest_time = event.get("time", time.time())
            self.first = self.first or (self.step, self.latest_time)
        elif kind == "val":
            self.best = min(event["val_loss"], self.best if self.best is not None else float("inf"))
        elif kind == "plan":
            self.predicted = event.get("predicted_bytes")
        elif kind in ("log", "progress") and event.get("message") and self.step is None:
            self.message = event["message"]
        elif kind == "memory" and self.predicted and not self.memory_warned:
            used = event["peak_gb"] * 1e9
            if used > self.predicted * MEMORY_MARGIN:
                self.memory_warned = True
                return Notice("Training uses more memory than predicted",
                              f"{self.quoted} uses {used / 1e9:.1f} GB, more than the {self.predicted / 1e9:.1f} GB "
                              "predicted. If the Mac slows down, stop it and lower the batch size.", warning=True)
        return None

    def end(self, event: dict) -> Notice:
        """The run ended (done, stopped or failed): the state it leaves and the notice that says so."""
        if event["type"] == "done":
            result = event["result"]
            best = result.get("best_val_loss", self.best)
            steps = result.get("iterations", self.step)
            if result.get("stopped"):
                self.state = "stopped"
                self.outcome = f"Stopped at step {steps}{_loss(best)}"
                return Notice("Fine-tuning stopped", f"{self.quoted} stopped at step {steps} of {self.total or steps}"
                                                     f"{_loss(best)}. Resume it in Tailor.")
            self.state = "finished"
            self.outcome = f"Finished {steps} steps{_loss(best)}"
            return Notice("Fine-tuning finished", f"{self.quoted} trained {steps} steps in "
                                                  f"{clock(result.get('seconds', 0))}{_loss(best)}.")
        self.state = "failed"
        self.outcome = f"Failed: {event.get('message', 'the run ended unexpectedly')}"
        return Notice("Fine-tuning failed", f"{self.quoted}: {event.get('message', '')} "
                                            f"{event.get('fix', '')}".strip(), warning=True)

    def line(self) -> str:
        """The menu's status line, e.g. "demo: step 120 of 1000 · loss 1.234 · about 4:10 left"."""
        if self.state == "idle":
            return "Not training"
        if self.state != "training":
            return f"{self.name}: {self.outcome}"
        if self.stopping:
            return f"{self.name}: stopping after this step and saving\u2026"
        if self.step is None:
            return f"{self.name}: {self.message}\u2026"
        left = self.seconds_left()
        return (f"{self.name}: step {self.step} of {self.total} \u00b7 loss {self.loss:.3f}"
                + (f" \u00b7 about {clock(left)} left" if left is not None else ""))


class Tray(QObject):
    """The menu-bar item of one window: follows the window's training job, acts through the window."""

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.status = RunStatus()
        self.job = None
        self.notices: list[Notice] = []
        self.drawn: tuple | None = None
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon.setContextMenu(self.menu)
        window.training_followed.connect(self.follow)
        window.hidden_while_training.connect(lambda: self.notify(Notice(
            "Tailor goes on training", "Follow the run and stop it from Tailor's menu-bar item.")))
        self.rebuild()
        self._redraw()

    def follow(self, job) -> None:
        if job is not self.job:
            job.event.connect(self._event)
            job.ended.connect(self._ended)
            self.job = job
        self.status.follow(job.folder)
        self._redraw()

    def _event(self, event: dict) -> None:
        notice = self.status.handle(event)
        if notice:
            self.notify(notice)
        self._redraw()

    def _ended(self, event: dict) -> None:
        self.notify(self.status.end(event))
        self._redraw()

    def _redraw(self) -> None:
        self.status.stopping = bool(self.job and self.job.stop_stage)
        shown = (self.status.state, int(self.status.progress * ICON_STEPS))
        if shown != self.drawn:
            self.icon.setIcon(icons.tray_icon(self.status.state, self.status.progress))
            self.drawn = shown
        self.icon.setToolTip(f"Tailor \u2014 {self.status.line()}")

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)
        if self.icon.isVisible() and self.icon.supportsMessages():
            kind = QSystemTrayIcon.Warning if notice.warning else QSystemTrayIcon.Information
            self.icon.showMessage(notice.title, notice.text, kind, 10_000)

    def rebuild(self) -> None:
        """The menu as of now; it is rebuilt each time it opens, so its status line is live."""
        self._redraw()
        self.menu.clear()
        line = self.menu.addAction(self.status.line())
        line.setEnabled(False)
        self.menu.addSeparator()
        self.menu.addAction("Show Tailor", self.window.show_window)
        stop = self.menu.addAction("Stop training", self.window.stop_training)
        stop.setEnabled(self.status.state == "training" and not self.status.stopping)
        folder = self.menu.addAction("Open run folder", lambda: open_folder(self.status.folder))
        folder.setEnabled(self.status.folder is not None)
        self.menu.addSeparator()
        self.menu.addAction("Quit Tailor", self.window.request_quit)

    def items(self) -> list[tuple[str, bool]]:
        """The menu's entries as (text, enabled), separators left out."""
        return [(a.text(), a.isEnabled()) for a in self.menu.actions() if not a.isSeparator()]
