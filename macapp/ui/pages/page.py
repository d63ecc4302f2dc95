"""What every step page has: a title, one sentence on what the step is for, and whether it is ready.
"""

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class Page(QWidget):
    """A step of the wizard. Subclasses fill `self.body` and call `self.ready_changed.emit()` when
    `ready()` may have changed. `enter()` runs each time the page is shown."""

    title = ""
    purpose = ""
    ready_changed = Signal()

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(parent)
        self.plan, self.settings = plan, settings
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 8)
        heading = QLabel(self.title)
        heading.setStyleSheet("font-size: 20px; font-weight: 600;")
        purpose = QLabel(self.purpose)
        purpose.setWordWrap(True)
        purpose.setStyleSheet("color: #555; font-size: 13px; margin-bottom: 8px;")
        outer.addWidget(heading)
        outer.addWidget(purpose)
        self.body = QVBoxLayout()
        outer.addLayout(self.body, 1)

    def ready(self) -> bool:
        return True

    def busy(self) -> bool:
        """True while any worker this page (or a part of it) started is running."""
        from ..bridge import Job

        return any(job.running for job in self.findChildren(Job))

    def enter(self) -> None:
        pass


def note(text: str = "", color: str = "#555") -> QLabel:
    """A wrapped label for status lines and explanations."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setStyleSheet(f"color: {color};")
    return label


def open_folder(path: Path) -> None:
    """Show a folder in Finder (the file manager elsewhere)."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
