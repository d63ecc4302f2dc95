"""The menu-bar item: a glyph that shows whether a run trains (and how far), finished, stopped or failed;
a menu, rebuilt each time it opens, with the run's status line, Show Tailor, Stop training, Open run
folder and Quit; and notifications when a run ends or uses more memory than predicted.

`RunStatus` words the run's RunState (its one state, kept by the training job); `Tray` draws it and sends notices.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ..engine.runs.run_state import RunState, clock
from . import icons
from .pages.page import open_path

ICON_STEPS = 24  # the training glyph is redrawn when the run moves on by a 24th, not with every step
GLYPHS = {"created": "training", "preparing": "training", "training": "training", "finished": "finished",
          "stopped": "stopped", "failed": "failed", "interrupted": "failed"}


@dataclass
class Notice:
    title: str
    text: str
    warning: bool = False


class RunStatus:
    """What the menu-bar item says about the run it follows: words and a glyph over the run's RunState."""

    def __init__(self):
        self.follow(None)

    def follow(self, folder: Path | None, run: RunState | None = None) -> None:
        self.folder = Path(folder) if folder else None
        self.run = run if run is not None else RunState()
        self.stopping = False
        self.memory_warned = False

    @property
    def name(self) -> str:
        """The run's name without the date and time its folder starts with: "demo", "support-chats"."""
        return re.sub(r"^\d{8}-\d{6}-", "", self.folder.name) if self.folder else ""

    @property
    def quoted(self) -> str:
        return f"\u201c{self.name}\u201d"

    @property
    def state(self) -> str:
        """The glyph to draw: idle, training, finished, stopped or failed."""
        return GLYPHS[self.run.phase] if self.folder else "idle"

    @property
    def progress(self) -> float:
        return self.run.progress

    def memory_notice(self) -> Notice | None:
        """Once a run, when its memory goes beyond the prediction and the prediction's own error."""
        over = self.run.memory_over()
        if not over or self.memory_warned:
            return None
        self.memory_warned = True
        used, predicted = over
        return Notice("Training uses more memory than predicted",
                      f"{self.quoted} uses {used / 1e9:.1f} GB, more than the {predicted / 1e9:.1f} GB predicted. "
                      "If the Mac slows down, stop it and lower the batch size.", warning=True)

    def end_notice(self) -> Notice:
        """The notice that says how the run ended."""
        run = self.run
        best = f"; {run.best_words()}" if run.best else ""
        if run.phase == "finished":
            took = clock(run.result.get("seconds", 0))
            return Notice("Fine-tuning finished", f"{self.quoted} trained {run.step} steps in {took}{best}.")
        if run.phase == "stopped":
            return Notice("Fine-tuning stopped", f"{self.quoted} stopped at step {run.step} of "
                                                 f"{run.total or run.step}{best}. Resume it in Tailor.")
        error = run.error or {}
        return Notice("Fine-tuning failed", f"{self.quoted}: {error.get('message', '')} "
                                            f"{error.get('fix', '')}".strip(), warning=True)

    def line(self) -> str:
        """The menu's status line, e.g. "demo: Step 120 of 1000 · loss 1.234 · about 4:10 left"."""
        if self.folder is None:
            return "Not training"
        if self.stopping and self.run.live:
            return f"{self.name}: stopping after this step and saving\u2026"
        return f"{self.name}: {self.run.outcome()}"


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
        self.status.follow(job.folder, job.state)
        self._redraw()

    def _event(self, event: dict) -> None:
        notice = self.status.memory_notice()
        if notice:
            self.notify(notice)
        self._redraw()

    def _ended(self, event: dict) -> None:
        self.notify(self.status.end_notice())
        self._redraw()

    def _redraw(self) -> None:
        self.status.stopping = bool(self.job and self.job.stop_stage) or self.status.run.stopping
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
        stop.setEnabled(self.status.run.live and not self.status.stopping)
        folder = self.menu.addAction("Open run folder", lambda: open_path(self.status.folder, self.window))
        folder.setEnabled(self.status.folder is not None)
        self.menu.addSeparator()
        self.menu.addAction("Quit Tailor", self.window.request_quit)

    def items(self) -> list[tuple[str, bool]]:
        """The menu's entries as (text, enabled), separators left out."""
        return [(a.text(), a.isEnabled()) for a in self.menu.actions() if not a.isSeparator()]
