"""The preview of made examples: a list to read through, the whole conversation of the one selected to read and
change, deleting the bad ones, and showing only those that look wrong (empty, cut off, too long, repeated).

Every change is kept in the job's folder at once (made_data appends it), so nothing is lost when the window closes.
"""

from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                               QPushButton, QScrollArea, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from ...engine.data import made_data

QUESTION, ANSWER, SOURCE, LOOK = range(4)
ROW_HEIGHT = 44  # two lines: rows are not measured one by one, so a long list redraws at once
ROLE_WORDS = {"system": "Instruction given first", "user": "Question", "assistant": "Answer"}


class Conversation(QWidget):
    """The selected example's messages, each in a box of its own to change; Save keeps the changes."""

    saved = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.example: made_data.Example | None = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.boxes: list[QPlainTextEdit] = []
        self.inner = QWidget()
        self.messages = QVBoxLayout(self.inner)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.inner)
        self.save_button, self.undo_button = QPushButton("Save changes"), QPushButton("Undo changes")
        self.save_button.clicked.connect(self._save)
        self.undo_button.clicked.connect(lambda: self.show_example(self.folder, self.example))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.save_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.title)
        column.addWidget(scroll, 1)
        column.addLayout(buttons)
        self.show_example(None, None)

    @property
    def changed(self) -> bool:
        return self.example is not None and any(
            box.toPlainText() != message["content"] for box, message in zip(self.boxes, self.example.messages))

    def show_example(self, folder: Path | None, example: made_data.Example | None) -> None:
        self.folder, self.example = folder, example
        for box in self.boxes:
            box.deleteLater()
        while self.messages.count():
            self.messages.takeAt(0)
        self.boxes = []
        self.title.setText("Select an example to read all of it and change it." if example is None else
                           "From " + example.source if example.source else "The whole conversation:")
        asked = 0
        for message in example.messages if example else []:
            asked += message["role"] == "user"
            words = ROLE_WORDS[message["role"]]
            label = QLabel(f"Follow-up {words.lower()}" if asked > 1 and message["role"] != "system" else words)
            label.setStyleSheet("color: #555; font-weight: 600;")
            box = QPlainTextEdit(message["content"])
            box.textChanged.connect(self._modified)
            self.messages.addWidget(label)
            self.messages.addWidget(box, 1)
            self.boxes.append(box)
        self.messages.addStretch(0)
        self._modified()

    def _modified(self) -> None:
        self.save_button.setEnabled(self.changed)
        self.undo_button.setEnabled(self.changed)

    def _save(self) -> None:
        self.example = made_data.edit(self.folder, self.example, [box.toPlainText() for box in self.boxes])
        self.show_example(self.folder, self.example)
        self.saved.emit()


class ExamplesTable(QWidget):
    changed = Signal()  # an example was edited or deleted

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.seen = -1  # the size of the examples' log when last read: the list is read again only when it grew
        self.examples: list[made_data.Example] = []
        self.marks: dict[int, list[str]] = {}
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Question", "Answer", "From", "Worth a look"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        header = self.table.horizontalHeader()
        for column, width in ((QUESTION, 260), (SOURCE, 150), (LOOK, 110)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(ANSWER, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selection)
        self.conversation = Conversation()
        self.conversation.saved.connect(self._saved)
        self.filters = {}
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show only:"))
        for key, words in made_data.FLAGS.items():
            box = QCheckBox(words)
            box.toggled.connect(self._fill)
            self.filters[key] = box
            bar.addWidget(box)
        bar.addStretch(1)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)
        bar.addWidget(self.delete_button)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #555;")
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.conversation)
        split.setSizes([620, 360])
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(split, 1)
        column.addWidget(self.summary)
        self._selection()

    def show_folder(self, folder: Path | None) -> None:
        """Show the examples of a job's folder as they are now."""
        self.folder, self.seen = folder, -1
        self.conversation.show_example(None, None)
        self.refresh()

    def refresh(self) -> None:
        """Read the examples again when more have come (or were changed elsewhere)."""
        try:
            size = (self.folder / made_data.EXAMPLES).stat().st_size if self.folder else 0
        except FileNotFoundError:
            size = 0
        if size == self.seen:
            return
        self.seen = size
        self.examples = made_data.read(self.folder) if self.folder else []
        self.marks = made_data.flags(self.examples)
        counts = {key: sum(key in marks for marks in self.marks.values()) for key in made_data.FLAGS}
        for key, box in self.filters.items():
            box.setText(f"{made_data.FLAGS[key]} ({counts[key]})")
        self._fill()

    def _shown(self) -> list[made_data.Example]:
        wanted = {key for key, box in self.filters.items() if box.isChecked()}
        return [e for e in self.examples if not wanted or wanted & set(self.marks[e.index])]

    def _fill(self) -> None:
        selected = set(self._selected())
        shown = self._shown()
        self.table.blockSignals(True)
        self.table.setRowCount(len(shown))
        keep = QItemSelection()
        for row, example in enumerate(shown):
            words = ", ".join(made_data.FLAGS[key] for key in self.marks[example.index])
            more = f"  (+{example.turns - 1} follow-up)" if example.turns > 1 else ""
            for column, text in enumerate((example.question + more, example.answer, example.source or "", words)):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, example.index)
                if column == LOOK and words:
                    item.setForeground(Qt.GlobalColor.darkYellow)
                self.table.setItem(row, column, item)
            if example.index in selected:
                keep.select(self.table.model().index(row, 0), self.table.model().index(row, LOOK))
        self.table.selectionModel().select(keep, QItemSelectionModel.ClearAndSelect)
        self.table.blockSignals(False)
        self.table.setColumnHidden(SOURCE, not any(e.source for e in self.examples))
        flagged = sum(bool(m) for m in self.marks.values())
        self.summary.setText(f"{len(self.examples):,} examples" + (f", {flagged} worth a look" if flagged else "")
                             + (f"; {len(shown):,} shown" if len(shown) != len(self.examples) else "") + ".")
        self._selection()

    def _selected(self) -> list[int]:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return sorted(self.table.item(row, QUESTION).data(Qt.UserRole) for row in rows)

    def _selection(self) -> None:
        chosen = self._selected()
        shown = len(self._shown())
        filtered = 0 < shown < len(self.examples)
        self.delete_button.setEnabled(bool(chosen) or filtered)
        self.delete_button.setText(f"Delete {len(chosen)} selected" if chosen else
                                   f"Delete the {shown} shown" if filtered else "Delete")
        single = next((e for e in self.examples if e.index == chosen[0]), None) if len(chosen) == 1 else None
        if not self.conversation.changed and single != self.conversation.example:
            self.conversation.show_example(self.folder, single)

    def _saved(self) -> None:
        self.refresh()
        self.changed.emit()

    def _delete(self) -> None:
        chosen = self._selected() or [e.index for e in self._shown()]
        if self.folder is None or not chosen:
            return
        made_data.delete(self.folder, chosen)
        self.table.clearSelection()
        self.conversation.show_example(None, None)
        self.refresh()
        self.changed.emit()
