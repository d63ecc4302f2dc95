"""The guide the Help menu opens: docs/guide.md and the other guides it links to, with their pictures, read in a window
of their own, offline (Tailor.app carries them); web links open in the browser.
"""

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QTextBrowser, QVBoxLayout

from ..engine import bundle

GUIDE = "guide.md"
PICTURE_WIDTH = 720  # pixels: a screenshot shown whole in the reader's width, without scrolling sideways


class Reader(QTextBrowser):
    """A text browser that shows each picture scaled down to the reader's width."""

    def loadResource(self, kind, url):
        found = super().loadResource(kind, url)
        if kind != QTextDocument.ImageResource or found is None:
            return found
        image = found if isinstance(found, QImage) else QImage.fromData(found)
        if image.width() <= PICTURE_WIDTH:
            return image
        return image.scaledToWidth(PICTURE_WIDTH, Qt.SmoothTransformation)


class GuideWindow(QDialog):
    """A reader for Tailor's guides: Back and Forward between them, as in a browser."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Tailor Guide")
        self.resize(PICTURE_WIDTH + 80, 680)
        self.browser = Reader()
        self.browser.setOpenLinks(False)  # a guide opens here, a web page in the browser
        self.browser.anchorClicked.connect(self.follow)
        self.browser.historyChanged.connect(self._update_buttons)
        self.back, self.forward = QPushButton("Back"), QPushButton("Forward")
        self.back.clicked.connect(self.browser.backward)
        self.forward.clicked.connect(self.browser.forward)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back)
        buttons.addWidget(self.forward)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.browser)
        self.open_guide(GUIDE)

    def open_guide(self, name: str) -> None:
        self.browser.setSource(QUrl.fromLocalFile(str(bundle.docs() / name)), QTextDocument.MarkdownResource)

    def follow(self, url: QUrl) -> None:
        if url.isLocalFile() or url.isRelative():
            target = self.browser.source().resolved(url)
            if target.path().endswith(".md"):  # another guide, or a place in this one
                self.browser.setSource(target, QTextDocument.MarkdownResource)
                return
            url = target
        QDesktopServices.openUrl(url)

    def _update_buttons(self) -> None:
        self.back.setEnabled(self.browser.isBackwardAvailable())
        self.forward.setEnabled(self.browser.isForwardAvailable())
