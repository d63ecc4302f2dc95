"""The preview of made examples: read each question and answer, change them in place, delete the bad ones, and show
only those that look wrong (empty, cut off, too long, repeated) to deal with them together.

Every change is kept in the job's folder at once (made_data appends it), so nothing is lost when the window closes.
"""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...engine import made_data

QUESTION, ANSWER, SOURCE, LOOK = range(4)
FLAG_COLOR = "#b26a00"


class ExamplesTable(QWidget):
    changed = Signal()  # an example was edited or deleted

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.examples: list[made_data.Example] = []
        self.marks: dict[int, list[str]] = {}
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Question", "Answer", "From", "Worth a look"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        for column, width in ((QUESTION, 320), (SOURCE, 170), (LOOK, 120)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(ANSWER, QHeaderView.Stretch)
        self.table.itemChanged.connect(self._edited)
        self.table.itemSelectionChanged.connect(self._selection)
        self.filters = {}
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show only:"))
        for key, words in made_data.FLAGS.items():
            box = QCheckBox(words)
            box.toggled.connect(self._refilter)
            self.filters[key] = box
            bar.addWidget(box)
        bar.addStretch(1)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)
        bar.addWidget(self.delete_button)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #555;")
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.table, 1)
        column.addWidget(self.summary)
        self._selection()

    def show_folder(self, folder: Path | None) -> None:
        """Show the examples of a job's folder as they are now (called again as more arrive)."""
        self.folder = folder
        self.examples = made_data.read(folder) if folder else []
        self.marks = made_data.flags(self.examples)
        counts = {key: sum(key in marks for marks in self.marks.values()) for key in made_data.FLAGS}
        for key, box in self.filters.items():
            box.setText(f"{made_data.FLAGS[key]} ({counts[key]})")
        self._fill()

    def _shown(self) -> list[made_data.Example]:
        wanted = {key for key, box in self.filters.items() if box.isChecked()}
        return [e for e in self.examples if not wanted or wanted & set(self.marks[e.index])]

    def _fill(self) -> None:
        selected = {self.table.item(i.row(), QUESTION).data(Qt.UserRole) for i in self.table.selectedIndexes()}
        shown = self._shown()
        self.table.blockSignals(True)
        self.table.setRowCount(len(shown))
        for row, example in enumerate(shown):
            words = ", ".join(made_data.FLAGS[key] for key in self.marks[example.index])
            chat = "\n\n".join(f"{m['role']}: {m['content']}" for m in example.messages)
            cells = (example.question, example.answer, example.source or "", words)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, example.index)
                item.setToolTip(chat[:2000] if column in (QUESTION, ANSWER) else text)
                if column in (SOURCE, LOOK):
                    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                if column == LOOK and words:
                    item.setForeground(Qt.GlobalColor.darkYellow)
                self.table.setItem(row, column, item)
            if example.index in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.setColumnHidden(SOURCE, not any(e.source for e in self.examples))
        self.table.resizeRowsToContents()
        for row in range(self.table.rowCount()):
            self.table.setRowHeight(row, min(self.table.rowHeight(row), 90))
        flagged = sum(bool(m) for m in self.marks.values())
        self.summary.setText(f"{len(self.examples):,} examples" + (f", {flagged} worth a look" if flagged else "")
                             + (f"; {len(shown):,} shown" if len(shown) != len(self.examples) else "")
                             + ". Double-click a question or an answer to change it.")
        self._selection()

    def _refilter(self) -> None:
        self._fill()

    def _example(self, index: int) -> made_data.Example:
        return next(e for e in self.examples if e.index == index)

    def _edited(self, item: QTableWidgetItem) -> None:
        if item.column() not in (QUESTION, ANSWER) or self.folder is None:
            return
        example = self._example(item.data(Qt.UserRole))
        row = item.row()
        question = self.table.item(row, QUESTION).text()
        answer = self.table.item(row, ANSWER).text() if item.column() == ANSWER else example.answer
        made_data.edit(self.folder, example, question, answer)
        self.show_folder(self.folder)
        self.changed.emit()

    def _selected(self) -> list[int]:
        return sorted({self.table.item(i.row(), QUESTION).data(Qt.UserRole) for i in self.table.selectedIndexes()})

    def _selection(self) -> None:
        chosen = self._selected()
        self.delete_button.setEnabled(bool(chosen) or len(self._shown()) < len(self.examples))
        shown = len(self._shown())
        if chosen:
            self.delete_button.setText(f"Delete {len(chosen)} selected")
        else:
            self.delete_button.setText(f"Delete the {shown} shown" if shown < len(self.examples) else "Delete")

    def _delete(self) -> None:
        chosen = self._selected() or [e.index for e in self._shown()]
        if self.folder is None or not chosen:
            return
        made_data.delete(self.folder, chosen)
        self.table.clearSelection()
        self.show_folder(self.folder)
        self.changed.emit()
