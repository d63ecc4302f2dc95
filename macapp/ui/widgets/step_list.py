"""The five steps down the side of the window: done, current or not yet, and clickable once reached.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem

MARKS = {"done": "\u2713", "current": "\u25cf", "todo": "\u25cb"}
COLORS = {"done": "#2e7d32", "current": "#0b57d0", "todo": "#9e9e9e"}


class StepList(QListWidget):
    """Emits `chosen(index)` when the user clicks a step already reached."""

    chosen = Signal(int)

    def __init__(self, titles: list[str], parent=None):
        super().__init__(parent)
        self.titles = titles
        self.reached, self.current = 0, 0
        self.setFixedWidth(170)
        self.setFocusPolicy(Qt.NoFocus)
        self.setStyleSheet("QListWidget { border: none; background: #f3f4f6; padding-top: 12px; }"
                           "QListWidget::item { padding: 10px 12px; }"
                           "QListWidget::item:selected { background: #dde7fb; color: black; }")
        for _ in titles:
            self.addItem(QListWidgetItem())
        self.itemClicked.connect(lambda item: self._clicked(self.row(item)))
        self.show_state(0, 0)

    def state(self, index: int) -> str:
        if index == self.current:
            return "current"
        return "done" if index < self.reached or index < self.current else "todo"

    def show_state(self, current: int, reached: int) -> None:
        self.current, self.reached = current, max(reached, current)
        for index, title in enumerate(self.titles):
            item, state = self.item(index), self.state(index)
            item.setText(f"{MARKS[state]}  {index + 1}. {title}")
            item.setForeground(QColor(COLORS[state]))
            font = QFont(item.font())
            font.setBold(state == "current")
            item.setFont(font)
            enabled = index <= self.reached
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable if enabled else Qt.NoItemFlags)
            item.setToolTip("" if enabled else "Finish the steps before this one first")
        self.setCurrentRow(current)

    def _clicked(self, index: int) -> None:
        if index <= self.reached and index != self.current:
            self.chosen.emit(index)
