"""Make data with a local model, from the Data step: say what to make and which model writes it, follow the job
(pause, resume, also after quitting, cancel), read and fix the examples, and use them as the data to train on.

The job runs in a worker that writes into its own folder; this window only starts, stops and reads it.
"""

import shutil
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QGroupBox, QHBoxLayout, QMessageBox, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from .. import jobs
from ..engine import events as ev
from ..engine import made_data, runs
from ..engine.errors import InputError
from ..engine.run_state import clock
from .bridge import Job
from .feedback import problem_words
from .pages.page import note
from .widgets.examples_table import ExamplesTable
from .widgets.model_source import ModelSource
from .widgets.recipe_form import RecipeForm

NEW = None
STAGE_WORDS = {"questions": "Writing questions", "answers": "Answering"}


class MakeDataDialog(QDialog):
    use = Signal(str)  # the dataset file to train on

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Make data with a local model")
        self.resize(1000, 760)
        self.folder: Path | None = None
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.earlier = QComboBox()
        self.earlier.activated.connect(self._earlier_chosen)
        self.form = RecipeForm()
        self.source = ModelSource()
        self.progress = QProgressBar(textVisible=False, maximumHeight=10)
        self.status = note()
        self.start_button, self.pause_button = QPushButton("Start making"), QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel and throw away")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.job.stop)
        self.cancel_button.clicked.connect(self._cancel)
        self.table = ExamplesTable()
        self.use_button = QPushButton("Use these examples")
        self.use_button.clicked.connect(self._use)
        self.refresh = QTimer(self, interval=1000, timeout=self._show_examples)
        self._lay_out()
        self._fill_earlier()
        self._show_state()
        self.source.look()

    def _lay_out(self) -> None:
        top = QWidget()
        column = QVBoxLayout(top)
        row = QHBoxLayout()
        row.addWidget(note("Examples:"))
        row.addWidget(self.earlier, 1)
        column.addLayout(row)
        what = QGroupBox("What to make")
        QVBoxLayout(what).addWidget(self.form)
        who = QGroupBox("The model that writes them")
        QVBoxLayout(who).addWidget(self.source)
        column.addWidget(what)
        column.addWidget(who)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for button in (self.cancel_button, self.pause_button, self.start_button):
            buttons.addWidget(button)
        column.addWidget(self.progress)
        column.addLayout(buttons)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(1, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(note("Every change here is kept as you make it."), 1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom.addWidget(close)
        bottom.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    # which examples

    def _fill_earlier(self) -> None:
        self.earlier.clear()
        self.earlier.addItem("New examples", NEW)
        for made in made_data.made_so_far():
            self.earlier.addItem(made.words(), str(made.folder))

    def _earlier_chosen(self) -> None:
        folder = self.earlier.currentData()
        self.open_folder(Path(folder) if folder else None)

    def open_folder(self, folder: Path | None) -> None:
        """Show a kept job (following it when it is still making), or a blank form for new examples."""
        if self.job.running:
            return
        self.folder = folder
        if folder is not None:
            recipe = made_data.read_recipe(folder)
            self.form.show_recipe(recipe)
            self.source.choose(recipe)
            state = runs.state(folder, "synth")
            if state.phase == "preparing" and state.pid:
                self.job.attach(folder, "synth", state.pid)
                self.refresh.start()
        self._show_examples()
        self._show_state()

    # the job

    def start(self) -> None:
        """Start making (or go on with the examples shown), with what the form says."""
        try:
            recipe = self.form.recipe(self.source.choice())
        except InputError as error:
            self._say(str(error), "#c62828")
            return
        if self.folder is None:
            self.folder = made_data.new_folder(recipe.topic or Path(recipe.instructions or
                                                                   (recipe.documents or ["documents"])[0]).stem)
        self.job.start(jobs.SynthJob(run=str(self.folder), recipe=recipe.to_dict()))
        self.refresh.start()
        self._say("Starting\u2026")
        self._show_state()

    def _event(self, event: dict) -> None:
        if not self.job.ours or event.get("type") != ev.PROGRESS:
            return
        done, total = event["done"], max(event["total"], 1)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        words = f"{event.get('message') or STAGE_WORDS.get(event.get('stage'), 'Making')}: {done:,} of {event['total']:,}"
        if event.get("per_minute"):
            words += f" \u00b7 {event['per_minute']:g} examples a minute \u00b7 about {clock(event['eta_seconds'])} left"
        self._say(words)

    def _ended(self, event: dict) -> None:
        self.refresh.stop()
        self._show_examples()
        if event["type"] == ev.ERROR:
            self._say(problem_words(event, self, "making data"), "#c62828")
        elif event.get("stopped"):
            self._say(f"Paused with {len(self.table.examples):,} examples. Resume goes on from here, also after "
                      "Tailor was closed.")
        else:
            result = event["result"]
            self._say(" ".join(filter(None, (f"Done: {result['examples']:,} examples.", result.get("fewer"),
                                              "Read them below, fix or delete any that are wrong, then press Use "
                                              "these examples."))), "#2e7d32")
        self._fill_earlier()
        self.earlier.setCurrentIndex(max(self.earlier.findData(str(self.folder)), 0))
        self._show_state()

    def _cancel(self) -> None:
        if self.folder is None:
            return
        made = len(self.table.examples)
        answer = QMessageBox.question(self, "Throw these examples away?",
                                      f"The {made:,} examples made so far will be deleted." if made else
                                      "Nothing has been made yet.",
                                      QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Cancel)
        if answer != QMessageBox.Discard:
            return
        self.job.cancel()
        self.refresh.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        self._fill_earlier()
        self._show_examples()
        self._say("Thrown away.")
        self._show_state()

    # showing

    def _say(self, text: str, color: str = "#555") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};")

    def _show_examples(self) -> None:
        self.table.show_folder(self.folder)
        self.use_button.setEnabled(bool(self.table.examples) and not self.job.running)

    def _show_state(self) -> None:
        running = self.job.running
        phase = runs.state(self.folder, "synth").phase if self.folder and not running else None
        self.form.setEnabled(self.folder is None and not running)
        self.source.setEnabled(not running and phase != "finished")
        self.earlier.setEnabled(not running)
        self.start_button.setVisible(not running and phase != "finished")
        self.start_button.setText("Resume" if self.folder is not None else "Start making")
        self.pause_button.setVisible(running)
        self.cancel_button.setVisible(self.folder is not None)
        self.progress.setVisible(running)
        self.use_button.setEnabled(bool(self.table.examples) and not running)

    def _use(self) -> None:
        path, count = made_data.save_dataset(self.folder)
        self.use.emit(str(path))
        self.accept()

    def closeEvent(self, event) -> None:
        self.refresh.stop()  # a job that is making goes on; opening this window again follows it
        super().closeEvent(event)
