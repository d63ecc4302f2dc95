"""Score both models on a set of prompts and judge which answers are better: the summary, every prompt with both
answers, the judge's verdicts, the person's own picks, and the report.

Scoring and judging run in a worker with progress and can be stopped; the report (HTML and JSON) lands in the run
folder, and the verdicts and picks beside it.
"""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

from ... import jobs
from ...engine.errors import InputError
from ...engine.evaluate import report as reports
from ...engine.evaluate.general_scores import GeneralCheck, general_rows
from ...engine.evaluate.judge_choice import CRITERIA
from ...engine.evaluate.scores import change_text, figure, summary_rows
from ...engine.runs import events as ev
from ..bridge import Job
from ..feedback import failure_words
from ..pages.page import note, open_path
from .model_source import ModelSource
from .scored_list import ScoredList

CHECKS = (("No check", None), ("Answer ends with", "ends_with"), ("Answer matches the pattern", "regex"))


class ScorePanel(QWidget):
    changed = Signal()  # new scores, verdicts or picks: the verdict card is built again

    def __init__(self, form, parent=None):
        super().__init__(parent)
        self.form = form
        self.run_dir = None
        self.prompts: str | None = None
        self.given: str | None = None  # the prompts the task brings (the demo's comments), unless the person chose
        self.report_path: str | None = None
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.source = QLabel()
        choose = QPushButton("Choose a file\u2026")
        choose.clicked.connect(self._choose)
        self.use_test = QPushButton("Use the test split")
        self.use_test.clicked.connect(lambda: self.set_prompts(None))
        self.check = QComboBox()
        for words, kind in CHECKS:
            self.check.addItem(words, kind)
        self.check_text = QLineEdit(placeholderText="text or pattern")
        self.check_text.setMinimumWidth(260)
        self.check.currentIndexChanged.connect(lambda: self.check_text.setEnabled(bool(self.check.currentData())))
        self.check_text.setEnabled(False)
        self.score_button = QPushButton("Score both models")
        self.score_button.clicked.connect(self.score)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.job.stop)
        self.stop_button.hide()
        self.report_button = QPushButton("Open the report")
        self.report_button.clicked.connect(self._open_report)
        self.report_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = note()
        self.summary = QTableWidget(0, 3)
        self.summary.setHorizontalHeaderLabels(["Original", "Fine-tuned", "Change"])
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.summary.setEditTriggers(QTableWidget.NoEditTriggers)
        self.summary.verticalHeader().setDefaultSectionSize(24)
        self.items = ScoredList()
        self.items.picked.connect(self._picked)
        self.judged = QCheckBox("Judge which answers are better, with")
        self.judged.clicked.connect(lambda: setattr(self, "judge_touched", True))
        self.judge_touched = False  # the person chose whether to judge: a look for servers does not change it
        self.judge = ModelSource(role="judges the answers")
        self.judge.found.connect(self._judges_found)
        self.criteria = QLineEdit(CRITERIA)
        self.criteria.setToolTip("What the judge looks for in a better answer, in your words.")
        self.judged.toggled.connect(self._judging)
        self._judging(False)
        sets = GeneralCheck()
        self.general = QCheckBox("Also check general knowledge (a few minutes)")
        self.general.setToolTip(f"Both models answer {sets.limit} questions of each of two standard sets of "
                                f"grade-school science ({sets.names}, of lm-evaluation-harness), to see whether "
                                "fine-tuning cost general ability. The questions are downloaded from Hugging Face the "
                                "first time; the original model's answers are kept, so it is asked once.")
        source_row = QHBoxLayout()
        for widget in (QLabel("Prompts:"), self.source, choose, self.use_test):
            source_row.addWidget(widget)
        source_row.addStretch(1)
        check_row = QHBoxLayout()
        for widget in (QLabel("Check:"), self.check, self.check_text):
            check_row.addWidget(widget)
        check_row.addSpacing(16)
        check_row.addWidget(self.general)
        check_row.addStretch(1)
        judge_row = QHBoxLayout()
        judge_row.addWidget(self.judged, 0, Qt.AlignTop)
        judge_row.addWidget(self.judge, 1)
        criteria_row = QHBoxLayout()
        criteria_row.addWidget(QLabel("What matters:"))
        criteria_row.addWidget(self.criteria, 1)
        for widget in (self.score_button, self.stop_button, self.report_button):
            criteria_row.addWidget(widget)
        # every question first: the verdict card above already sums the scores up
        self.tables = QTabWidget()
        self.tables.addTab(self.items, "Every question")
        self.tables.addTab(self.summary, "Scores")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(source_row)
        layout.addLayout(check_row)
        layout.addLayout(judge_row)
        layout.addLayout(criteria_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.tables, 1)

    def set_run(self, run_dir, prompts: str | None = None, check: dict | None = None) -> None:
        """Score this run; the demo brings its own prompts and check. Another run's scores are never shown for it:
        its own last scores, if it has some, or nothing. The prompts, check and judge of its last scoring are chosen
        again; what the person chooses stays chosen while the run is shown."""
        run_dir = Path(run_dir) if run_dir else None
        if run_dir is not None and not self.judge.options and self.judge.again.isEnabled():
            self.judge.look()
        if run_dir == self.run_dir:
            if self.prompts == self.given:  # not chosen by the person: the task's own prompts, as they are now
                self.set_prompts(prompts)
            self.given = prompts
            return
        self.given = prompts
        if self.job.running:
            self.job.cancel()  # scores of the run shown before are no longer wanted
            self._busy(False)
            self.progress.hide()
        self.run_dir = run_dir
        saved = self._show_report(run_dir) or {}
        self._restore(saved)
        self.use_test.setVisible(bool(run_dir and (run_dir / "data" / "test.jsonl").exists()))
        kept = saved.get("prompts")
        self.set_prompts(kept if kept and Path(kept).is_file() else prompts)
        check = saved.get("check") if saved else check
        self.check.setCurrentIndex(max(self.check.findData(check["kind"] if check else None), 0))
        self.check_text.setText(check["value"] if check else "")

    def _restore(self, saved: dict) -> None:
        """The judge and what matters of the run's last scoring, so scoring again judges as it did."""
        judged = (saved.get("judge") or {}).get("choice")
        if judged:
            self.judge.choose(judged)
            self.criteria.setText(judged.get("criteria") or CRITERIA)
        if saved:  # the person chose whether to judge when they last scored this run
            self.judged.setChecked(bool(judged))
            self.judge_touched = True
        self.general.setChecked(bool(saved.get("general")))

    def set_prompts(self, prompts: str | None) -> None:
        self.prompts = prompts
        if prompts:
            self.source.setText(Path(prompts).name)
        elif self.run_dir and (self.run_dir / "data" / "test.jsonl").exists():
            self.source.setText("the run's test split")
        else:
            self.source.setText("none yet: this run has no test split, choose a file")

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file of prompts", str(Path.home()),
                                              "Prompts (*.jsonl *.json *.csv *.tsv *.parquet *.txt)")
        if path:
            self.set_prompts(path)

    def score(self) -> None:
        if self.run_dir is None or self.job.running:
            return
        kind, text = self.check.currentData(), self.check_text.text()
        if kind and not text:
            self.status.setText("Write the text the answers should end with or match, or choose \u201cNo check\u201d.")
            return
        try:
            judge = {**self.judge.choice(), "criteria": self.criteria.text()} if self.judged.isChecked() else None
        except InputError as error:
            self.status.setText(str(error))
            return
        self.status.setText("Loading the model\u2026")
        self.progress.setRange(0, 0)
        self.progress.show()
        self._busy(True)
        self.job.start(jobs.EvaluateJob(run=str(jobs.scratch_folder("evaluate")), source=str(self.run_dir),
                                        prompts=self.prompts, check={"kind": kind, "value": text} if kind else None,
                                        judge=judge, general=GeneralCheck().to_dict() if self.general.isChecked()
                                        else None, **self.form.job_settings()))

    def _judging(self, on: bool) -> None:
        self.judge.choices.setEnabled(on)
        self.judge.address.setEnabled(on)
        self.criteria.setEnabled(on)

    def _judges_found(self, servers: list) -> None:
        """Judge by default when a model server runs on this Mac (a capable judge is one a person already runs)."""
        if servers and not self.judge_touched:
            self.judged.setChecked(True)

    def _picked(self) -> None:
        if self.run_dir is not None:
            reports.refresh(self.run_dir)  # the page in the browser shows the new agreement too
        self.changed.emit()

    def _event(self, event: dict) -> None:
        if event.get("type") == ev.PROGRESS:
            self.progress.setRange(0, event["total"])
            self.progress.setValue(event["done"])
            self.status.setText(event["message"])

    def _ended(self, event: dict) -> None:
        self._busy(False)
        self.progress.hide()
        if event["type"] != ev.DONE:
            problems = "\n".join(event.get("problems", [])[:5])
            words = failure_words("Could not score", event, self, "scoring")
            self.status.setText(words + (f"\n{problems}" if problems and problems not in words else ""))
            self._show_report(self.run_dir, keep_status=True)  # the answers and verdicts kept so far
            return
        if event.get("stopped"):
            self.status.setText("Stopped. What was scored and judged so far is kept: score again to go on.")
            self._show_report(self.run_dir, keep_status=True)
            return
        self._show_report(self.run_dir, keep_status=True)
        self.status.setText(f"Done. The report is saved in the run folder: {self.report_path}")

    def _show_report(self, run_dir: Path | None, keep_status: bool = False) -> dict | None:
        """Show the run's last scores and verdicts; the report they come from, or None."""
        self.report_path = None
        self.report_button.hide()
        self.summary.setRowCount(0)
        self.items.show_items(run_dir, [])
        if not keep_status:
            self.status.setText("")
        saved = reports.read(run_dir) if run_dir else None
        self.changed.emit()
        if saved is None:
            return None
        try:
            self.show_summary(saved["summary"], saved.get("check"), saved.get("general"))
            self.items.show_items(run_dir, saved["items"])
        except (KeyError, TypeError):
            return None  # an unreadable report is as good as none: scoring again writes a new one
        self.report_path = str(run_dir / "report.html")
        self.report_button.show()
        if not keep_status:
            self.status.setText(f"The scores of this run from {saved.get('created', 'earlier')}. Score again to "
                                "replace them.")
        return saved

    def show_summary(self, summary: dict, check: dict | None, general: dict | None = None) -> None:
        """The scores' table: each measure of the answers, then each general knowledge set when it was checked."""
        rows = [(label, figure(key, summary["base"][key]), figure(key, summary["tuned"][key]),
                 change_text(key, summary["difference"][key])) for key, label, _ in summary_rows(summary, check)]
        rows += general_rows(general) if general else []
        self.summary.setRowCount(len(rows))
        for row, (label, *texts) in enumerate(rows):
            self.summary.setVerticalHeaderItem(row, QTableWidgetItem(label))
            for column, text in enumerate(texts):
                cell = QTableWidgetItem(text)
                cell.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.summary.setItem(row, column, cell)

    def _open_report(self) -> None:
        if self.report_path:
            open_path(Path(self.report_path), self)

    def _busy(self, busy: bool) -> None:
        self.score_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
