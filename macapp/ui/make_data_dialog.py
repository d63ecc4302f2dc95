"""Make data with a local model, from the Data step: say what to make and which model writes it, follow the job
(pause, resume, also after quitting, cancel), read and fix the examples, and use them as the data to train on.

The job runs in a worker that writes into its own folder; this window only starts, stops and reads it.
"""

import shutil
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QGroupBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from .. import jobs
from ..engine.data import made_data
from ..engine.data.recipe import Recipe
from ..engine.errors import InputError
from ..engine.runs import events as ev
from ..engine.runs import runs
from ..engine.runs.run_state import clock
from .bridge import Job
from .feedback import problem_words
from .pages.page import note
from .widgets.examples_table import ExamplesTable
from .widgets.model_source import ModelSource
from .widgets.recipe_form import RecipeForm

NEW = None
STAGE_WORDS = {"questions": "Writing questions", "answers": "Answering"}


def recipe_words(recipe: Recipe) -> str:
    """What a kept job makes, in one line: From a topic: “caring for houseplants”, 50 examples, with follow-ups."""
    if recipe.way == "topic":
        what = f"From a topic: \u201c{recipe.subject()}\u201d" + (f" ({recipe.kinds})" if recipe.kinds else "")
        what += f", {recipe.count:,} examples"
    elif recipe.way == "instructions":
        what = f"From your instructions in {recipe.subject()}"
    else:
        what = f"From your documents ({recipe.subject()}), {recipe.per_passage} questions on each passage"
    return what + (", each with a follow-up question" if recipe.follow_up else "") + "."


class MakeDataDialog(QDialog):
    use = Signal(str)  # the dataset file to train on
    dataset_changed = Signal(str)  # examples of a dataset already written were changed: it was written again

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Make data with a local model")
        room = QGuiApplication.primaryScreen().availableGeometry()  # a small screen keeps the dialog on it
        self.resize(min(1000, room.width() - 40), min(760, room.height() - 60))
        self.folder: Path | None = None
        self.made_before = 0  # examples there were when this session of the job began
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.earlier = QComboBox()
        self.earlier.activated.connect(self._earlier_chosen)
        self.form = RecipeForm()
        self.summary = QLabel(wordWrap=True)
        self.source = ModelSource()
        self.progress = QProgressBar(textVisible=False, maximumHeight=10)
        self.status = note()
        self.start_button, self.pause_button = QPushButton("Start making"), QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel and throw away")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self._pause)
        self.cancel_button.clicked.connect(self._cancel)
        self.table = ExamplesTable()
        self.table.changed.connect(self._examples_changed)
        self.use_button = QPushButton("Use these examples")
        self.use_button.clicked.connect(self._use)
        self.refresh = QTimer(self, interval=1000, timeout=self.table.refresh)
        self._lay_out()
        self._show_examples()
        self._show_state()

    def _lay_out(self) -> None:
        top = QWidget()
        column = QVBoxLayout(top)
        row = QHBoxLayout()
        row.addWidget(note("Examples:"))
        row.addWidget(self.earlier, 1)
        column.addLayout(row)
        self.what = QGroupBox("What to make")
        QVBoxLayout(self.what).addWidget(self.form)
        who = QGroupBox("The model that writes them")
        QVBoxLayout(who).addWidget(self.source)
        column.addWidget(self.what)
        column.addWidget(self.summary)
        column.addWidget(who)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for button in (self.cancel_button, self.pause_button, self.start_button):
            buttons.addWidget(button)
        column.addWidget(self.progress)
        column.addLayout(buttons)
        self.splitter = splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        self.top = top
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
        """The jobs kept so far, as they stand now, with the one shown chosen."""
        self.earlier.clear()
        self.earlier.addItem("New examples", NEW)
        for made in made_data.made_so_far():
            self.earlier.addItem(made.words(), str(made.folder))
        self.earlier.setCurrentIndex(max(self.earlier.findData(str(self.folder) if self.folder else NEW), 0))

    def _earlier_chosen(self) -> None:
        folder = self.earlier.currentData()
        self.open_folder(Path(folder) if folder else None)

    def open_folder(self, folder: Path | None) -> None:
        """Show a kept job (following it when it is still making), or a blank form for new examples."""
        if self.job.running:
            return
        self.folder = folder
        self._say("")
        if folder is not None:
            recipe = made_data.read_recipe(folder)
            self.summary.setText(recipe_words(Recipe.from_dict(recipe)))
            self.source.choose(recipe)
            state = runs.state(folder, "synth")
            if state.phase == "preparing" and state.pid:
                self.job.attach(folder, "synth", state.pid)
                self.refresh.start()
        self._show_examples()
        if folder is not None and not self.job.running:
            self._say_phase(state)
        self._show_state()

    def _say_phase(self, state) -> None:
        made = len(self.table.examples)
        if state.phase == "failed":
            self._say(f"Stopped by a problem after {made:,} examples: {(state.error or {}).get('message', '')} "
                      "Press Resume to try again.", "#c62828")
        elif state.phase in ("stopped", "interrupted"):
            self._say(f"Paused with {made_data.made_words(self.folder)}. Press Resume to go on from there.")
        elif state.phase == "finished":
            self._say(f"{made:,} examples, done. Read them below, then press Use these examples.", "#2e7d32")

    # the job

    def start(self) -> None:
        """Start making (or go on with the examples shown), with what the form says."""
        try:
            model = self.source.choice()
            recipe = self.form.recipe(model) if self.folder is None else \
                Recipe.from_dict({**made_data.read_recipe(self.folder), **model}).check()
        except InputError as error:
            self._say(str(error), "#c62828")
            return
        if self.folder is None:
            self.folder = made_data.new_folder(recipe.topic or Path(recipe.instructions or
                                                                   (recipe.documents or ["documents"])[0]).stem)
        self.job.start(jobs.SynthJob(run=str(self.folder), recipe=recipe.to_dict()))
        self.made_before = len(self.table.examples)
        self.summary.setText(recipe_words(recipe))
        self.refresh.start()
        self._say("Starting\u2026")
        self._show_state()

    def _pause(self) -> None:
        self.job.stop()
        self.pause_button.setEnabled(False)
        self._say("Pausing\u2026 the example being written now is made again on Resume.")

    def _event(self, event: dict) -> None:
        if not self.job.ours or event.get("type") != ev.PROGRESS:
            return
        done, total = event["done"], max(event["total"], 1)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        doing = event.get("message") or STAGE_WORDS.get(event.get("stage"), "Making")
        words = f"{doing}: {done:,} of {event['total']:,}"
        if event.get("per_minute"):
            words += (f" \u00b7 {event['per_minute']:g} examples a minute \u00b7 about "
                      f"{clock(event['eta_seconds'])} left")
        self._say(words)

    def _ended(self, event: dict) -> None:
        self.refresh.stop()
        self._show_examples()
        if event["type"] == ev.ERROR and not self.made_before and not made_data.has_made(self.folder):
            self._discard()  # nothing was made: the person fixes what was asked and starts again
            self._say(problem_words(event, self, "making data"), "#c62828")
            return
        if event["type"] == ev.ERROR:
            self._say(problem_words(event, self, "making data") + " Press Resume to try again.", "#c62828")
        elif event.get("stopped"):
            self._say(f"Paused with {made_data.made_words(self.folder)}. Resume goes on from here, also after "
                      "Tailor was closed.")
        else:
            result = event["result"]
            self._say(" ".join(filter(None, (f"Done: {result['examples']:,} examples.", result.get("fewer"),
                                              "Read them below, fix or delete any that are wrong, then press Use "
                                              "these examples."))), "#2e7d32")
        self._fill_earlier()
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
        self._discard()
        self._say("Thrown away.")

    def _discard(self) -> None:
        """Forget the job and delete its folder (moved aside first: its worker may still be ending)."""
        self.job.cancel()
        self.refresh.stop()
        aside = self.folder.with_name(f".deleted-{self.folder.name}")
        self.folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
        self.folder = None
        self._fill_earlier()
        self._show_examples()
        self._show_state()

    # showing

    def _say(self, text: str, color: str = "#555") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};")

    def _show_examples(self) -> None:
        self.table.show_folder(self.folder)

    def _examples_changed(self) -> None:
        """Keep the list's counts and a dataset already in use up to date with what was changed."""
        self._fill_earlier()
        if (self.folder / made_data.DATASET).exists() and not self.job.running:
            self.dataset_changed.emit(str(made_data.save_dataset(self.folder)[0]))

    def _show_state(self) -> None:
        running = self.job.running
        phase = runs.state(self.folder, "synth").phase if self.folder and not running else None
        if self.what.isHidden() != (self.folder is not None):  # the form folds into a line: the examples get the room
            self.what.setVisible(self.folder is None)
            self.summary.setVisible(self.folder is not None)
            top = self.top.sizeHint().height()
            self.splitter.setSizes([top, max(self.splitter.height() - top, 200)])
        self.source.setEnabled(not running and phase != "finished")
        self.earlier.setEnabled(not running)
        self.start_button.setVisible(not running and phase != "finished")
        self.start_button.setText("Resume" if self.folder is not None else "Start making")
        self.pause_button.setVisible(running)
        self.pause_button.setEnabled(running and not self.job.stop_stage)
        self.cancel_button.setVisible(self.folder is not None)
        self.progress.setVisible(running)
        self.use_button.setEnabled(bool(self.table.examples) and not running)

    def _use(self) -> None:
        self.use.emit(str(made_data.save_dataset(self.folder)[0]))
        self.accept()

    def showEvent(self, event) -> None:
        """Each time the window opens: the jobs kept so far, and the servers running now."""
        if not self.job.running:
            self._fill_earlier()
        self.source.look()
        super().showEvent(event)

    def done(self, result: int) -> None:
        self.refresh.stop()  # a job that is making goes on; opening this window again follows it
        self.job.timer.stop()
        super().done(result)
