"""Step 2, Data: choose or drop a file or folder, see what Tailor found in it, and how it will be split.

Inspection runs in a worker; the page shows the format, the first examples, every problem with its
file and line (click one to see that line), the token lengths, the column mapping and the split.
"""

from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ... import jobs
from ...engine import words
from ...engine.data import made_data
from ...engine.data.datasets import DEFAULT_RATIOS, NO_SPLIT
from ...engine.data.formats import Mapping, guess_mapping
from ...engine.data.readers import SUFFIXES
from ...engine.models import demo
from ...engine.runs import events as ev
from ..bridge import Job
from ..feedback import failure_words
from ..make_data_dialog import MakeDataDialog
from ..widgets.histogram_plot import HistogramPlot
from ..widgets.split_box import SplitBox
from .data_text import CELL_CHARS, cell_text, column_words, problem_text, read_line, where_words
from .page import Page, note

DATA_FILTER = f"Data files ({' '.join('*' + s for s in SUFFIXES)});;All files (*)"
SEVERITY = {"error": ("\u2717", "#c62828"), "fixable": ("\u2692", "#b26a00"), "warning": ("!", "#b26a00")}


class DataPage(Page):
    data_changed = Signal()  # other files or other columns were chosen
    title = "Bring your data"
    purpose = ("Choose the examples the model should learn from: a spreadsheet (Excel, Numbers, Google Sheets or "
               "CSV), a JSONL file, or a folder. Tailor checks every example and keeps some apart for checking.")

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.job = Job(self)
        self.maker: MakeDataDialog | None = None
        self.job.event.connect(self._progress)
        self.job.ended.connect(self._ended)
        self.setAcceptDrops(True)
        self.path = QLabel(wordWrap=True)
        self.path.setStyleSheet("font-weight: 600;")
        choose_file, choose_folder = QPushButton("Choose file\u2026"), QPushButton("Choose folder\u2026")
        self.use_demo = QPushButton("Use the demo data")
        choose_file.clicked.connect(self._choose_file)
        choose_folder.clicked.connect(self._choose_folder)
        self.use_demo.clicked.connect(lambda: self.set_sources([str(demo.REPLIES)], None))
        make = QPushButton("Make data with a local model\u2026")
        make.clicked.connect(self.make_data)
        top = QHBoxLayout()
        top.addWidget(self.path, 1)
        for button in (choose_file, choose_folder, make, self.use_demo):
            top.addWidget(button)
        self.body.addLayout(top)
        self.status = note()
        self.skip_broken = QCheckBox()
        self.skip_broken.toggled.connect(lambda on: self.set_sources(self.plan.sources, self.plan.mapping, on))
        self.skip_broken.hide()
        self.sheet = QComboBox()
        self.sheet.activated.connect(self._sheet_chosen)
        self.sheet_row = QWidget()
        sheet_row = QHBoxLayout(self.sheet_row)
        sheet_row.setContentsMargins(0, 0, 0, 0)
        sheet_row.addWidget(QLabel("Sheet:"))
        sheet_row.addWidget(self.sheet)
        sheet_row.addStretch(1)
        self.sheet_row.hide()
        self.body.addWidget(self.status)
        self.body.addWidget(self.sheet_row)
        self.body.addWidget(self.skip_broken)
        self.body.addWidget(self._mapping_box())
        self.tabs = QTabWidget()
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()  # the first column says where each row is
        self.table.horizontalHeader().setStretchLastSection(True)
        self.tabs.addTab(self.table, "Examples")
        self.tabs.addTab(self._problems_tab(), "Problems")
        self.tabs.addTab(self._lengths_tab(), "Lengths")
        self.body.addWidget(self.tabs, 1)
        self.split_box = SplitBox(self.plan)
        self.split_box.changed.connect(self._split_changed)
        self.body.addWidget(self.split_box)
        self._show_path()

    # building blocks

    def _mapping_box(self) -> QGroupBox:
        """What each column holds, in a sentence; the choice of columns opens where Tailor cannot tell, or when
        asked."""
        self.mapping_box = QGroupBox("Which columns hold what")
        box = QVBoxLayout(self.mapping_box)
        self.mapping_note = note()
        self.change_columns = QPushButton("Choose other columns\u2026")
        self.change_columns.clicked.connect(lambda: (self.mapping_form.show(), self.change_columns.hide()))
        line = QHBoxLayout()
        line.addWidget(self.mapping_note, 1)
        line.addWidget(self.change_columns)
        box.addLayout(line)
        self.mapping_form = QWidget()
        box.addWidget(self.mapping_form)
        form = QFormLayout(self.mapping_form)
        form.setContentsMargins(0, 0, 0, 0)
        self.prompt_column, self.answer_column, self.text_column = QComboBox(), QComboBox(), QComboBox()
        self.chosen_column, self.rejected_column = QComboBox(), QComboBox()
        self.system_prompt = QLineEdit()
        self.system_prompt.setPlaceholderText("optional: an instruction given before every example")
        form.addRow("Question or prompt:", self.prompt_column)
        form.addRow("Answer:", self.answer_column)
        form.addRow("Or one column of text:", self.text_column)
        form.addRow("Or a better answer:", self.chosen_column)
        form.addRow("and a worse answer:", self.rejected_column)
        form.addRow("Instruction before every example:", self.system_prompt)
        apply = QPushButton("Use these columns", objectName="use_columns")
        apply.clicked.connect(self._apply_mapping)
        form.addRow("", apply)
        self.mapping_box.hide()
        return self.mapping_box

    def _problems_tab(self) -> QWidget:
        self.problems = QListWidget(wordWrap=True)
        self.problems.currentItemChanged.connect(self._show_problem)
        self.line_view = QPlainTextEdit(readOnly=True)
        self.line_view.setPlaceholderText("Click a problem to see where it is and how to fix it.")
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.problems)
        splitter.addWidget(self.line_view)
        return splitter

    def _lengths_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.histogram = HistogramPlot()
        self.histogram.setMinimumHeight(120)  # the page fits a small screen: the split below stays in view
        self.length_note = note()
        layout.addWidget(self.histogram, 1)
        layout.addWidget(self.length_note)
        return tab

    # choosing data

    def enter(self) -> None:
        if self.plan.inspection is None and not self.job.running:
            self.inspect()

    def _choose_file(self) -> None:
        start = self._settings_value()
        path, _ = QFileDialog.getOpenFileName(self, "Choose your data", start, DATA_FILTER)
        if path:
            self._remember(Path(path).parent)
            self.set_sources([path], self._remembered([path]))

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose the folder with your data", self._settings_value())
        if path:
            self._remember(Path(path))
            self.set_sources([path], self._remembered([path]))

    def make_data(self) -> MakeDataDialog:
        """Open the window that makes examples with a local model (the same one each time); the examples it gives
        become the data, and changes to them later are read again."""
        if self.maker is None:
            self.maker = MakeDataDialog(self)
            self.maker.use.connect(lambda path: self.set_sources([path], None))
            self.maker.dataset_changed.connect(lambda path: self.plan.sources == [path] and self.inspect())
        self.maker.show()
        self.maker.raise_()
        return self.maker

    def _settings_value(self) -> str:
        return self.settings.data_folder if self.settings else str(Path.home())

    def _remembered(self, sources: list[str]) -> dict | None:
        return self.settings.mapping_for(sources) if self.settings else None

    def _remember(self, folder: Path) -> None:
        if self.settings:
            self.settings.last_data_folder = str(folder)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.set_sources(paths, self._remembered(paths))

    def set_sources(self, sources: list[str], mapping: dict | None, skip_broken: bool = False) -> None:
        if sources != self.plan.sources and tuple(self.plan.ratios) == NO_SPLIT:  # chosen for other, fewer examples
            self.plan.ratios = DEFAULT_RATIOS
            self.split_box.show_plan()
        self.plan.sources, self.plan.mapping, self.plan.skip_broken = sources, mapping, skip_broken
        self.data_changed.emit()
        self._show_path()
        self.inspect()

    def show_plan(self) -> None:
        """Show the plan's data, as when a past run is opened; it is read again when the page is next shown."""
        self.job.cancel()  # a reading of the data chosen before must not land in the opened run's plan
        self.plan.inspection = None
        self._show_path()
        self.split_box.report = None
        self.split_box.show_plan()

    def _show_path(self) -> None:
        sources = self.plan.sources
        demo_data = sources == [str(demo.REPLIES)]
        made = made_data.made_from(sources[0]) if len(sources) == 1 else None
        self.path.setText("The demo data: 340 comments on cooking videos, each answered briefly and signed"
                          if demo_data else f"Made with a local model: {made.words()}" if made else
                          ", ".join(Path(s).name for s in sources))
        self.path.setToolTip("\n".join(sources))
        self.use_demo.setVisible(not demo_data)

    # inspection

    def inspect(self) -> None:
        self.plan.inspection = None
        self.ready_changed.emit()
        self.job.cancel()  # an inspection of the data chosen before
        self.status.setText("Reading and checking every example\u2026")
        self.status.setStyleSheet("color: #555;")
        self.job.start(jobs.InspectJob(run=str(jobs.scratch_folder("inspect")), sources=self.plan.sources,
                                       mapping=self.plan.mapping, model=self.plan.model,
                                       max_seq_length=int(self.plan.settings["max_seq_length"]),
                                       skip_broken=self.plan.skip_broken))  # the batch follows the data, on Train

    def _progress(self, event: dict) -> None:
        if event.get("type") in (ev.LOG, ev.PROGRESS) and event.get("message"):
            self.status.setText(event["message"] + "\u2026")

    def _ended(self, event: dict) -> None:
        if event["type"] != ev.DONE:
            self.status.setText(failure_words("Could not read the data", event, self, "reading the data"))
            self.status.setStyleSheet("color: #c62828;")
            return
        self.plan.inspection = event["result"]
        report, preview = event["result"]["report"], event["result"]["preview"]
        self.split_box.show_report(report)
        self._show_summary(report)
        self._show_preview(preview, report)
        self._show_problems(report)
        self._show_lengths(report)
        self._offer_mapping(report, preview)
        self._offer_skipping(report)
        self._offer_sheets(report)
        self.split_box.show_report(report)  # again: the columns and sheet now chosen are the plan's
        self.ready_changed.emit()

    def _show_summary(self, report: dict) -> None:
        errors = sum(p["severity"] == "error" for p in report["problems"])
        kinds = {"chat": "conversations", "completions": "questions with answers", "text": "plain text",
                 "preference": "questions with a better and a worse answer, which teach by choosing"}
        noun = "pair" if report["format"] == "preference" else "example"
        found = f"{words.count(report['count'], noun)} of {kinds.get(report['format'], 'unknown format')}"
        if errors:
            text = f"{found}. {words.count(errors, 'problem')} must be fixed first: see Problems."
            color = "#c62828"
        elif report["count"] and self.split_box.sizes() is None:
            text, color = f"{found}: too few to keep some apart for checking. See below.", "#c62828"
        else:
            others = len(report["problems"]) + report["unlisted"]
            text = found + (f". {words.count(others, 'thing')} worth a look under Problems; training can go ahead."
                            if others else ". No problems found.")
            color = "#2e7d32"
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color}; font-weight: 600;")

    def _show_preview(self, preview: dict, report: dict) -> None:
        chosen = self.plan.mapping or report.get("guessed") or {}
        if report.get("format") == "preference":  # a pair's question, then its two answers side by side
            chosen = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", **chosen}
        roles = {chosen.get(key): words for key, words in (("prompt", "Question"), ("completion", "Answer"),
                                                           ("chosen", "Better answer"), ("rejected", "Worse answer"))}
        first = [c for c in roles if c in preview["columns"]]
        columns = first + [c for c in preview["columns"] if c not in first]  # the question and answers first
        self.table.clear()
        self.table.setColumnCount(len(columns) + 1)
        self.table.setHorizontalHeaderLabels(["where", *(f"{roles[c]} (\u201c{c}\u201d)" if c in roles and
                                                         roles[c].lower() != str(c).lower() else str(c)
                                                         for c in columns)])
        self.table.setRowCount(len(preview["rows"]))
        for r, row in enumerate(preview["rows"]):
            where = where_words(row["file"], row["line"], row["unit"])
            self.table.setItem(r, 0, QTableWidgetItem(where if len(report["files"]) > 1 else  # else the file is named
                                                      where.split(", ")[-1]))  # above: its line or row
            for c, column in enumerate(columns, start=1):
                value = row["record"].get(column)
                item = QTableWidgetItem("" if value is None else cell_text(value))
                item.setToolTip(cell_text(value)[:CELL_CHARS * 4] if value is not None else "")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        widest = 240 if report.get("format") == "preference" else 300  # a question and its two answers side by side
        for c in range(self.table.columnCount()):
            self.table.setColumnWidth(c, min(self.table.columnWidth(c), widest))

    def _show_problems(self, report: dict) -> None:
        self.problems.clear()
        for problem in report["problems"]:
            mark, color = SEVERITY[problem["severity"]]
            where = where_words(problem["file"], problem["line"], problem["unit"])
            item = QListWidgetItem(f"{mark}  {where}: {problem_text(problem)}")
            item.setForeground(Qt.GlobalColor.black if problem["severity"] == "warning" else Qt.GlobalColor.red)
            item.setData(Qt.UserRole, problem)
            self.problems.addItem(item)
        if report["unlisted"]:
            self.problems.addItem(f"\u2026 and {report['unlisted']:,} more of the same kinds")
        shown = len(report["problems"]) + report["unlisted"]
        self.tabs.setTabText(1, f"Problems ({shown:,})" if shown else "Problems (none)")
        if any(p["severity"] == "error" for p in report["problems"]):
            self.tabs.setCurrentIndex(1)
            self.problems.setCurrentRow(0)

    def _show_problem(self, item) -> None:
        problem = item.data(Qt.UserRole) if item else None
        if not problem:
            self.line_view.clear()
            return
        text = f"{where_words(problem['file'], problem['line'], problem['unit'])}\n{problem_text(problem)}\n"
        if problem["fix"]:
            text += (problem["fix"] if problem["fix"].startswith("Nothing to do") else
                     f"How to fix it: {problem['fix']}") + "\n"
        if problem["line"] and problem["unit"] == "line":
            text += f"\nLine {problem['line']}:\n{read_line(problem['file'], problem['line'])}"
        self.line_view.setPlainText(text)

    def _show_lengths(self, report: dict) -> None:
        stats = report["token_stats"]
        self.histogram.show_histogram(report["histogram"], int(self.plan.settings["max_seq_length"]))
        self.length_note.setText(
            f"Shortest {stats['min']}, typical {stats['median']}, longest {stats['max']} tokens." if stats
            else "Token lengths appear once the model's tokenizer can be read.")

    def _offer_mapping(self, report: dict, preview: dict) -> None:
        """The columns Tailor read from their names, shown to be confirmed or changed; or, when the names do not
        tell, the choice of columns."""
        guessed = report.get("guessed")
        if guessed and Mapping.from_dict(self.plan.mapping or {"style": "keep"}).format is None:
            self.plan.mapping = {**(self.plan.mapping or {}), **guessed}  # what the run is prepared with, as checked
        guessed = guessed or asdict(guess_mapping(preview["columns"]) or Mapping())  # still the names' reading
        unknown = any("cannot tell which column" in p["message"] for p in report["problems"])
        self.mapping_box.setVisible(bool(unknown or self.plan.mapping))
        mapping = self.plan.mapping or {}
        choices = ["(none)", *preview["columns"]]
        for combo, key in ((self.prompt_column, "prompt"), (self.answer_column, "completion"),
                           (self.text_column, "text"), (self.chosen_column, "chosen"),
                           (self.rejected_column, "rejected")):
            current = mapping.get(key) or combo.currentText()
            combo.clear()
            combo.addItems(choices)
            combo.setCurrentText(current if current in choices else "(none)")
        self.mapping_form.setVisible(unknown)
        self.change_columns.setVisible(not unknown)
        if unknown:
            self.mapping_note.setText("Tailor cannot tell from the column names which one holds the question and "
                                      "which the answer. Choose them, then press Use these columns.")
        elif guessed.get("chosen") and all(mapping.get(key) == guessed[key] for key in ("prompt", "chosen",
                                                                                          "rejected")):
            self.mapping_note.setText(f"Tailor reads {column_words(guessed['prompt'])} as the question, "
                                      f"\u201c{guessed['chosen']}\u201d as the better answer and "
                                      f"\u201c{guessed['rejected']}\u201d as the worse one.")
        elif guessed["prompt"] and (mapping.get("prompt"), mapping.get("completion")) == (guessed["prompt"],
                                                                                            guessed["completion"]):
            self.mapping_note.setText(f"Tailor reads {column_words(guessed['prompt'])} as the question and "
                                      f"\u201c{guessed['completion']}\u201d as the answer.")
        else:
            self.mapping_note.setText("These are the columns you chose; Tailor remembers them for this file.")

    def _offer_skipping(self, report: dict) -> None:
        broken = report.get("broken", 0)
        self.skip_broken.blockSignals(True)
        self.skip_broken.setChecked(self.plan.skip_broken)
        self.skip_broken.blockSignals(False)
        self.skip_broken.setVisible(broken > 0)
        good = report["count"]
        self.skip_broken.setText(f"Leave out the {broken} broken line{'s' * (broken != 1)} and train on the "
                                 f"{good:,} good example{'s' * (good != 1)}" if not self.plan.skip_broken else
                                 f"{broken} broken line{'s are' if broken != 1 else ' is'} left out "
                                 f"(untick to see {'them' if broken != 1 else 'it'} as a problem again)")

    def _apply_mapping(self) -> None:
        def chosen(combo):
            return None if combo.currentIndex() <= 0 else combo.currentText()

        mapping = {"prompt": chosen(self.prompt_column), "completion": chosen(self.answer_column),
                   "text": chosen(self.text_column), "chosen": chosen(self.chosen_column),
                   "rejected": chosen(self.rejected_column), "system": self.system_prompt.text().strip() or None}
        if (self.plan.mapping or {}).get("sheet"):
            mapping["sheet"] = self.plan.mapping["sheet"]
        if self.settings:
            self.settings.remember_mapping(self.plan.sources, mapping)
        self.set_sources(self.plan.sources, mapping, self.plan.skip_broken)

    def _offer_sheets(self, report: dict) -> None:
        """A workbook of several sheets: the one read, and the others by name."""
        sheets = report.get("sheets") or {}
        self.sheet_row.setVisible(len(sheets.get("names", [])) > 1)
        self.sheet.clear()
        self.sheet.addItems(sheets.get("names", []))
        self.sheet.setCurrentText(sheets.get("chosen") or "")
        if sheets.get("chosen") and self.plan.mapping is not None:
            self.plan.mapping["sheet"] = sheets["chosen"]  # the run reads the sheet that was checked

    def _sheet_chosen(self) -> None:
        sheet = self.sheet.currentText()
        if sheet and sheet != ((self.plan.inspection or {}).get("report", {}).get("sheets") or {}).get("chosen"):
            self.set_sources(self.plan.sources, {"sheet": sheet}, self.plan.skip_broken)  # its own columns, read anew

    # split

    def _split_changed(self) -> None:
        self.data_changed.emit()
        self.ready_changed.emit()

    def ready(self) -> bool:
        result = self.plan.inspection
        if not result or any(p["severity"] == "error" for p in result["report"]["problems"]):
            return False
        return self.split_box.sizes() is not None
