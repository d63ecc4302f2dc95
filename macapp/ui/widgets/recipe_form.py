"""What data to make, as a person says it: from a topic (and the kind of questions), from their list of
instructions, or from their documents; with a follow-up turn or not. `recipe()` gives the checked Recipe.
"""

from pathlib import Path

from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QRadioButton, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from ...engine.data import documents, workbooks
from ...engine.data.recipe import MOST_EXAMPLES, MOST_PER_PASSAGE, WAYS, Recipe
from ..pages.page import note

WAY_WORDS = {
    "topic": ("From a topic", "Describe a topic; the model writes varied questions about it and answers each."),
    "instructions": ("From my list of instructions", "A text file with one instruction or question per line "
                                                     "(or a JSON list); the model answers each."),
    "documents": ("From my documents", "PDF, Word, Markdown, text or web pages: the model writes questions each "
                                       "passage answers, and answers them from the passage."),
}
DOCUMENTS_FILTER = f"Documents ({' '.join('*' + suffix for suffix in documents.SUFFIXES)});;All files (*)"
DEFAULT = Recipe()


def _paths_words(paths: list[str]) -> str:
    names = [Path(p).name + ("/" if Path(p).is_dir() else "") for p in paths]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "") if names else \
        "Nothing chosen yet."


class RecipeForm(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.ways = QButtonGroup(self)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        choice = QHBoxLayout()
        for number, way in enumerate(WAYS):
            title, words = WAY_WORDS[way]
            button = QRadioButton(title)
            button.setToolTip(words)
            self.ways.addButton(button, number)
            choice.addWidget(button)
        choice.addStretch(1)
        column.addLayout(choice)
        self.way_note = note()
        column.addWidget(self.way_note)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._topic_page())
        self.pages.addWidget(self._instructions_page())
        self.pages.addWidget(self._documents_page())
        column.addWidget(self.pages)
        self.follow_up = QCheckBox("Add a follow-up question, and its answer, to each conversation")
        column.addWidget(self.follow_up)
        self.ways.idToggled.connect(self._way_chosen)
        self.ways.button(0).setChecked(True)

    def _topic_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.topic = QLineEdit(placeholderText="e.g. caring for houseplants")
        self.kinds = QLineEdit(placeholderText="optional, e.g. from beginners, about problems they run into")
        self.count = QSpinBox(minimum=1, maximum=MOST_EXAMPLES, value=DEFAULT.count, suffix=" examples",
                              maximumWidth=160)
        form.addRow("What are the examples about?", self.topic)
        form.addRow("What kind of questions?", self.kinds)
        form.addRow("How many?", self.count)
        return page

    def _instructions_page(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        self.instructions = QLabel("Nothing chosen yet.")
        self.instructions.setWordWrap(True)
        choose = QPushButton("Choose file\u2026")
        choose.clicked.connect(self._choose_instructions)
        row.addWidget(self.instructions, 1)
        row.addWidget(choose)
        self.instructions_path: str | None = None
        return page

    def _documents_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.documents_label = QLabel("Nothing chosen yet.")
        self.documents_label.setWordWrap(True)
        files, folder = QPushButton("Choose files\u2026"), QPushButton("Choose folder\u2026")
        files.clicked.connect(self._choose_documents)
        folder.clicked.connect(self._choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.documents_label, 1)
        row.addWidget(files)
        row.addWidget(folder)
        self.per_passage = QSpinBox(minimum=1, maximum=MOST_PER_PASSAGE, value=DEFAULT.per_passage,
                                    suffix=" questions", maximumWidth=160)
        form.addRow(row)
        form.addRow("On each passage:", self.per_passage)
        self.document_paths: list[str] = []
        return page

    def _way_chosen(self, number: int, on: bool) -> None:
        if on:
            self.pages.setCurrentIndex(number)
            self.way_note.setText(WAY_WORDS[WAYS[number]][1])

    def _choose_instructions(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose your instructions", str(Path.home()),
                                              f"Text, JSON or a spreadsheet (*.txt *.json *.csv *.tsv "
                                              f"{' '.join('*' + s for s in workbooks.SUFFIXES)});;All files (*)")
        if path:
            self.set_instructions(path)

    def set_instructions(self, path: str) -> None:
        self.instructions_path = path
        self.instructions.setText(Path(path).name)
        self.instructions.setToolTip(path)

    def _choose_documents(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose your documents", str(Path.home()), DOCUMENTS_FILTER)
        if paths:
            self.set_documents(paths)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose the folder with your documents", str(Path.home()))
        if path:
            self.set_documents([path])

    def set_documents(self, paths: list[str]) -> None:
        self.document_paths = list(paths)  # a file Tailor cannot read is said when making starts, with what to do
        self.documents_label.setText(_paths_words(self.document_paths))
        self.documents_label.setToolTip("\n".join(self.document_paths))

    def way(self) -> str:
        return WAYS[self.ways.checkedId()]

    def recipe(self, model: dict) -> Recipe:
        """The checked Recipe for what is filled in and the model chosen; an InputError says what is missing."""
        return Recipe(way=self.way(), topic=self.topic.text().strip(), kinds=self.kinds.text().strip(),
                      count=self.count.value(), instructions=self.instructions_path, documents=self.document_paths,
                      per_passage=self.per_passage.value(), follow_up=self.follow_up.isChecked(), **model).check()
