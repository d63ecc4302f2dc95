"""What every step page has: a title, one sentence on what the step is for, and whether it is ready.
"""

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QMessageBox, QScrollArea, QVBoxLayout, QWidget


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
        content = _Content()
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.NoFrame)  # a small screen scrolls the step
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)

    def ready(self) -> bool:
        return True

    def busy(self) -> bool:
        """True while any worker this page (or a part of it) started is running."""
        from ..bridge import Job

        return any(job.running for job in self.findChildren(Job))

    def enter(self) -> None:
        pass


class _Content(QWidget):
    """A step's body in its scroll area, which scrolls only once the body cannot shrink further: a scroll area asks
    a body with wrapped text for its height at a width, and a plain widget answers with the height it would like."""

    def heightForWidth(self, width: int) -> int:
        return self.layout().minimumHeightForWidth(width)


def note(text: str = "", color: str = "#555") -> QLabel:
    """A wrapped label for status lines and explanations."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setStyleSheet(f"color: {color};")
    return label


def open_path(path: Path, parent: QWidget | None = None) -> bool:
    """Show a folder in Finder, or a file in the app that opens it; when nothing here can, say so and copy
    where it is, so the person can still get to it."""
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        return True
    QApplication.clipboard().setText(str(path))
    box = QMessageBox(QMessageBox.Information, "Tailor could not open it",
                      f"Nothing on this computer opened \u201c{Path(path).name}\u201d.", parent=parent)
    box.setInformativeText(f"It is here: {path}\n\nThis location is copied: in Finder, choose Go \u2192 Go to "
                           "Folder and paste it.")
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()  # not modal to the whole app: a run's progress goes on behind it
    return False
