""""Which answer is better? A / B / Same / Both bad": the person's own pick of two answers shown blind, with keys
1 to 4, and a way to see which answer is which without picking.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ...engine.evaluate.picks import CHOICES


class PickBar(QWidget):
    picked = Signal(str)  # a key of picks.CHOICES
    reveal = Signal()

    def __init__(self, scope: QWidget, reveal_words: str = "Show which is which", parent=None):
        """Keys 1 to 4 pick while the focus is within `scope` (the answers shown, not a box being typed in)."""
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.question = QLabel("Which answer is better?", wordWrap=True)
        self.question.setStyleSheet("font-weight: 600;")
        row.addWidget(self.question)
        self.buttons = {}
        for number, (choice, words) in enumerate(CHOICES.items(), start=1):
            button = QPushButton(words)
            button.setToolTip(f"Key {number}" + (": neither is good (counted as as good when compared with the judge)"
                                                  if choice == "both_bad" else ""))
            button.clicked.connect(lambda _=False, c=choice: self.picked.emit(c))
            QShortcut(QKeySequence(str(number)), scope, activated=button.click, context=Qt.WidgetWithChildrenShortcut)
            row.addWidget(button)
            self.buttons[choice] = button
        self.show_sides = QLabel(f"<a href=\"reveal\">{reveal_words}</a>", wordWrap=True)  # a link wraps; a button not
        self.show_sides.linkActivated.connect(lambda _link: self.reveal.emit())
        row.addWidget(self.show_sides)
        self.said = QLabel(wordWrap=True)  # wraps rather than widen the window
        self.said.setMinimumWidth(80)
        self.said.setStyleSheet("color: #6e6e73;")
        row.addWidget(self.said, 1)

    def set_enabled(self, enabled: bool, said: str = "") -> None:
        for button in (*self.buttons.values(), self.show_sides):
            button.setEnabled(enabled)
        self.said.setText(said)
