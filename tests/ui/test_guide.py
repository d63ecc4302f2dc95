"""The Help menu's guide: docs/guide.md read in Tailor's own window, with its pictures, and the other guides it links
to opened there too (offline, as in Tailor.app); Back returns."""

from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument

from macapp.engine import bundle


def test_the_help_menu_opens_the_guide_with_its_pictures(window, qtbot):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "Help")
    assert window.guide_action in help_menu.actions()
    window.guide_action.trigger()
    guide = window.guide
    qtbot.waitUntil(guide.isVisible)
    text = guide.browser.toPlainText()
    for step in ("Check", "Data", "Train", "Test", "Export"):
        assert step in text
    document = guide.browser.document()
    pictures = [fragment for block in _blocks(document) for fragment in _images(block)]
    assert pictures, "the guide shows no picture"
    for name in pictures:
        image = document.resource(QTextDocument.ImageResource, QUrl(name))
        assert image is not None and not image.isNull(), name
    guide.follow(QUrl("troubleshooting.md"))
    assert guide.browser.source().toLocalFile() == str(bundle.docs() / "troubleshooting.md")
    assert guide.back.isEnabled()
    guide.browser.backward()
    assert guide.browser.source().toLocalFile() == str(bundle.docs() / "guide.md")


def _blocks(document):
    block = document.begin()
    while block.isValid():
        yield block
        block = block.next()


def _images(block):
    iterator = block.begin()
    while not iterator.atEnd():
        form = iterator.fragment().charFormat()
        if form.isImageFormat():
            yield form.toImageFormat().name()
        iterator += 1
