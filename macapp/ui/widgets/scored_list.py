"""Every scored prompt with both answers, the judge's verdict and reason, and the person's own pick of the better one.

Blind by default: until a row is picked its answers are "A" and "B" in an order fixed per pair, and the judge's verdict
and the scores that would tell which is which wait. The chosen row's answers show in full below the list, beside the
pick bar. Picks go straight to the run's picks file.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...engine.evaluate import picks
from ...engine.evaluate.scores import SHORT_LABELS, item_keys, pair
from ...engine.evaluate.verdict import NOT_JUDGED, OUTCOME_ORDER, OUTCOME_WORDS, pick_words
from .pick_bar import PickBar

SIDE_WORDS = {"base": "Original", "tuned": "Fine-tuned"}
WAITS = "\u2013"
HIDDEN = "Hidden until you pick"
ROW_MOST = 66  # pixels: about three lines of an answer; the chosen row's answers show in full below


class Number(QTableWidgetItem):
    """A cell that sorts by its number, not its text."""

    def __init__(self, text: str, value: float):
        super().__init__(text)
        self.value = value

    def __lt__(self, other):
        return self.value < getattr(other, "value", 0)


class ScoredList(QWidget):
    picked = Signal()  # a pick was kept

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir = None
        self.items: list[dict] = []
        self.picks: dict = {}
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setWordWrap(True)
        self.table.itemSelectionChanged.connect(self._selected)
        self.table.setMinimumHeight(200)
        self.blind = QCheckBox("Hide which answer is which until I pick")
        self.blind.setChecked(True)
        self.blind.toggled.connect(self._fill)
        self.bar = PickBar(self.table, "Show which is which on every row")
        self.bar.picked.connect(self._pick)
        self.bar.reveal.connect(lambda: self.blind.setChecked(False))
        self.titles = [QLabel("Answer A"), QLabel("Answer B")]
        self.full = [QPlainTextEdit(readOnly=True), QPlainTextEdit(readOnly=True)]
        answers = QGridLayout()
        for column, (title, text) in enumerate(zip(self.titles, self.full)):
            title.setStyleSheet("font-weight: 600;")
            text.setMaximumHeight(110)
            answers.addWidget(title, 0, column)
            answers.addWidget(text, 1, column)
        top = QHBoxLayout()
        top.addWidget(self.blind)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.bar)
        layout.addLayout(answers)

    def show_items(self, run_dir, items: list[dict]) -> None:
        self.run_dir, self.items = run_dir, items
        self.picks = picks.read(run_dir)
        self._fill()

    def _order(self, item: dict) -> tuple[str, str]:
        """The sides in the columns A, B: blind until picked, else original then fine-tuned."""
        if self.blind.isChecked() and item.get("key") and item["key"] not in self.picks:
            return picks.blind_order(item["key"])
        return "base", "tuned"

    def _hidden(self, item: dict) -> bool:
        return self.blind.isChecked() and item.get("key") not in self.picks

    def _fill(self) -> None:
        blind = self.blind.isChecked()
        keys = item_keys(self.items)
        answers = ("Answer A", "Answer B") if blind else ("Original answer", "Fine-tuned answer")
        columns = ["Prompt", "Expected", *answers, "Judge", "Your pick", *(SHORT_LABELS[k] for k in keys)]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(self.items))
        for row, item in enumerate(self.items):
            order, hidden = self._order(item), self._hidden(item)
            texts = [item["prompt"], item["expected"] or ""]
            named = blind and not hidden  # picked: each answer says whose it is
            texts += [(f"[{SIDE_WORDS[side]}] " if named else "") + item[side]["answer"] for side in order]
            for column, text in enumerate(texts):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.UserRole, row)
                self.table.setItem(row, column, cell)
            self.table.setItem(row, 4, self._judge_cell(item, hidden))
            self.table.setItem(row, 5, self._pick_cell(item))
            for offset, key in enumerate(keys):
                shown = None if hidden else pair(item, key)
                self.table.setItem(row, 6 + offset, Number(*shown) if shown else Number(WAITS, 0))
        header = self.table.horizontalHeader()
        for column in range(4):
            header.resizeSection(column, 190)
        header.resizeSection(4, 220)
        self.table.resizeRowsToContents()
        for row in range(self.table.rowCount()):
            self.table.setRowHeight(row, min(self.table.rowHeight(row), ROW_MOST))
        self.table.setSortingEnabled(True)
        self._selected()

    def _judge_cell(self, item: dict, hidden: bool) -> QTableWidgetItem:
        judged = item.get("judge")
        if not judged:
            return Number(NOT_JUDGED if item.get("in_training") else WAITS, -3)
        if hidden:  # the judge's verdict would tell which answer is which, and sway the pick
            return Number(HIDDEN, -2.5)
        outcome = judged["outcome"]
        cell = Number(f"{OUTCOME_WORDS[outcome]}: {judged.get('reason', '')}", OUTCOME_ORDER[outcome])
        cell.setToolTip(judged.get("reason", ""))
        return cell

    def _pick_cell(self, item: dict) -> QTableWidgetItem:
        pick = self.picks.get(item.get("key"))
        if not pick:
            return Number(WAITS, -3)
        return Number(*pick_words(pick))

    def _current(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        cell = self.table.item(rows[0].row(), 0) if rows else None
        return self.items[cell.data(Qt.UserRole)] if cell is not None else None

    def _selected(self) -> None:
        item = self._current()
        picked = sum(item.get("key") in self.picks for item in self.items)
        said = f"{picked} of {len(self.items)} picked." if self.items else ""
        self.bar.set_enabled(item is not None and bool(item.get("key")),
                             said if item is not None else f"Choose a row to pick its better answer. {said}")
        order = self._order(item) if item else ("base", "tuned")
        named = item is not None and not self._hidden(item)
        for letter, title, text, side in zip("AB", self.titles, self.full, order):
            title.setText(f"Answer {letter}" + (f": {SIDE_WORDS[side].lower()} model" if named else ""))
            text.setPlainText(item[side]["answer"] if item else "")

    def _pick(self, choice: str) -> None:
        item = self._current()
        if item is None or self.run_dir is None or not item.get("key"):
            return
        answers = {side: item[side]["answer"] for side in ("base", "tuned")}
        picks.add(self.run_dir, picks.record(item["prompt"], answers, self._order(item), choice, item["expected"]))
        self.picks = picks.read(self.run_dir)
        following = next((i for i, other in enumerate(self.items)
                          if other.get("key") not in self.picks and self.items.index(item) < i), None)
        self._fill()
        if following is not None:
            self.table.selectRow(self._row_of(following))
        self.picked.emit()

    def _row_of(self, index: int) -> int:
        return next(row for row in range(self.table.rowCount()) if self.table.item(row, 0).data(Qt.UserRole) == index)
