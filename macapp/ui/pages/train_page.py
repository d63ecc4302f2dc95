"""Step 3, Train: choose model, method and preset, see whether it fits in memory, then watch it train.

Training runs in a detached worker (it goes on when the window closes); the charts are fed by its
events and redrawn by a 10 Hz timer, never per event.
"""

import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QProgressBar,
                               QPushButton, QRadioButton, QScrollArea, QToolButton, QVBoxLayout, QWidget)

from ...engine.errors import ConfigError, InputError
from ...engine.runs import events as ev
from ...engine.runs import runs
from ...engine.runs.run_state import RunState, clock
from ...jobs import TrainJob
from .. import glossary
from ..bridge import Job
from ..feedback import UNEXPECTED, problem_words
from ..plan import CHOOSING, METHODS, PRESET_WORDS, PRESETS
from ..widgets.length_choice import LengthChoice
from ..widgets.macs_box import MacsBox
from ..widgets.model_picker import ModelPicker
from ..widgets.settings_form import SettingsForm
from ..widgets.training_charts import TrainingCharts
from .data_page import DATA_FILTER
from .page import Page, note

GB = 1e9
REDRAW_MS = 100
PLAN_COLORS = {"ok": "#2e7d32", "tight": "#b26a00", "too_big": "#c62828"}
PLAN_WORDS = {"ok": "fits comfortably", "tight": "fits, but only just", "too_big": "will not fit"}


class TrainPage(Page):
    title = "Train"
    purpose = ("Tailor teaches the model your examples. Pick how thoroughly; the charts show it learning "
               "(the loss goes down) while it trains. You can close the window meanwhile.")
    following = Signal(object)  # the job, each time it starts or follows a run
    forgot_run = Signal()  # the data or the model changed: no run of them yet
    next_data = Signal(list)  # files of pairs, for a run that goes on from the one shown by choosing

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.job = Job(self)
        self.job.ended.connect(self._ended)
        self.run = RunState()  # the run shown: the job's own state while it trains, else one read from its folder
        columns = QHBoxLayout()
        columns.addWidget(self._settings_column(settings))
        columns.addLayout(self._run_column(), 1)
        self.body.addLayout(columns, 1)
        self.timer = QTimer(self, interval=REDRAW_MS, timeout=self._redraw)
        self._show_settings()

    # the left column: what to train

    def _settings_column(self, settings) -> QWidget:
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 8, 0)
        model_box = QGroupBox("Model")
        self.picker = ModelPicker(settings, self.plan)
        self.picker.show_model(self.plan.model)  # the preferred model from last time
        self.picker.changed.connect(self._model_changed)
        QVBoxLayout(model_box).addWidget(self.picker)
        how = QGroupBox("How")
        form = QFormLayout(how)
        self.method = QComboBox(minimumContentsLength=20)  # fits the column beside the "How long:" label
        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        for key, (label, _, _) in METHODS.items():
            self.method.addItem(label, key)
        self.method.currentIndexChanged.connect(self._method_changed)
        form.addRow("Method:", self.method)
        self.choosing = QComboBox(minimumContentsLength=20)
        self.choosing.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        for key, label in CHOOSING.items():
            self.choosing.addItem(label, key)
        self.choosing.setToolTip("Your data are pairs of a better and a worse answer: the model learns to prefer the "
                                 "better one. DPO changes the model least; ORPO also learns to write the better "
                                 "answers.")
        self.choosing.currentIndexChanged.connect(self._choosing_changed)
        form.addRow("Choosing by:", self.choosing)
        self.how_form = form
        presets = QHBoxLayout()
        self.presets = QButtonGroup(self)
        for key, (label, _, _) in PRESETS.items():
            button = QRadioButton(label)
            button.setProperty("preset", key)
            self.presets.addButton(button)
            presets.addWidget(button)
        self.presets.buttonClicked.connect(lambda button: self._preset_chosen(button.property("preset")))
        form.addRow("Preset:", presets)
        self.preset_note = note()
        form.addRow(self.preset_note)
        self.length = LengthChoice(self.plan.length_in)
        self.length.chosen.connect(self._length_chosen)
        form.addRow("How long:", self.length)
        self.length_note = note()
        form.addRow(self.length_note)
        self.data_note = note(color="#b26a00")
        form.addRow(self.data_note)
        self.advanced_toggle = QToolButton(text="Advanced settings", checkable=True)
        self.advanced_toggle.setStyleSheet("QToolButton { border: none; color: #0b57d0; }")
        self.form = SettingsForm()
        self.form.changed.connect(self._settings_changed)
        self.form.hide()
        self.advanced_toggle.toggled.connect(self.form.setVisible)
        self.memory_note = note()
        self.fit_button = QPushButton("Use settings that fit")
        self.fit_button.clicked.connect(self._use_fitting)
        self.fit_button.hide()
        self.macs = MacsBox()
        for widget in (model_box, how, self.advanced_toggle, self.form, self.memory_note, self.fit_button, self.macs):
            layout.addWidget(widget)
        layout.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(column)
        scroll.setFixedWidth(380)
        scroll.setFrameShape(QScrollArea.NoFrame)
        return scroll

    # the right column: the run

    def _run_column(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        buttons = QHBoxLayout()
        self.start_button, self.stop_button = QPushButton("Start training"), QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.choose_next = QPushButton("Then teach by choosing\u2026")
        self.choose_next.setToolTip("Go on from this run with pairs of a better and a worse answer to the same "
                                    "question: the model learns to prefer the better one (DPO).")
        self.choose_next.clicked.connect(self._ask_for_pairs)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        for button in (self.start_button, self.stop_button, self.resume_button, self.choose_next):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.progress = QProgressBar(textVisible=True)
        self.status = note("Press Start training when you are ready.")
        self.warning_note = note(color="#b26a00")  # what the run itself warned of (it starts to memorize, ...)
        self.charts = TrainingCharts()
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.warning_note)
        layout.addWidget(self.charts, 1)
        return layout

    # settings

    def _show_settings(self) -> None:
        for button in self.presets.buttons():
            button.setChecked(button.property("preset") == self.plan.preset)
        self.method.setCurrentIndex(list(METHODS).index(self.plan.method))
        pairs = self.plan.pairs
        self.how_form.setRowVisible(self.choosing, pairs)
        self.form.show_choosing(pairs)
        if pairs:
            self.choosing.blockSignals(True)
            self.choosing.setCurrentIndex(list(CHOOSING).index(self.plan.train_mode))
            self.choosing.blockSignals(False)
        self.plan.fit_length()
        self.length.show_length(self.plan.length.unit, self.plan.length.amount)
        self._describe_choices()
        self.form.show_settings(self.plan.settings)
        self._show_memory()
        self._show_buttons()

    def show_plan(self) -> None:
        """Show the plan's model and settings, as when a past run is opened."""
        self.picker.show_model(self.plan.model)
        self._show_settings()

    def _model_changed(self, name: str) -> None:
        was_demo = self.plan.is_demo
        if name != self.plan.model:
            self.forget_run()
        self.plan.model = name
        if self.settings and name:
            self.settings.preferred_model = name
        if self.plan.is_demo != was_demo:  # the demo has settings of its own
            self.plan.apply_preset(self.plan.preset)
        self._show_settings()

    def _method_changed(self) -> None:
        self.plan.method = self.method.currentData()
        self.plan.fit_length()  # another method, another speed
        self._describe_choices()
        self._show_memory()

    def _choosing_changed(self) -> None:
        self.plan.settings["train_mode"] = self.choosing.currentData()
        self._describe_choices()

    def _preset_chosen(self, name: str) -> None:
        self.plan.apply_preset(name)
        self._show_settings()

    def _settings_changed(self) -> None:
        self.plan.customized = True
        self.plan.fit_length()  # a batch of another size: other steps for the same times through the data
        self._describe_choices()
        self._show_memory()

    def _length_chosen(self, unit: str, amount: float) -> None:
        self.plan.set_length(unit, amount)
        self._describe_choices()

    def _describe_choices(self) -> None:
        self.preset_note.setText(f"{PRESETS[self.plan.preset][0]}: {PRESET_WORDS[self.plan.preset]}.")
        try:
            self.length_note.setText(self.plan.length_words())
            self.length_note.setStyleSheet("color: #555;")
        except ConfigError as error:  # what the length needs is not known yet: said where the length is chosen
            self.length_note.setText(str(error))
            self.length_note.setStyleSheet("color: #b26a00;")
        said = self.plan.warnings()
        self.data_note.setText("\n".join(f"\u26a0 {line}" for line in said))
        self.data_note.setVisible(bool(said))

    def _show_memory(self) -> None:
        self.picker.fill_catalog()  # which models fit follows the method and settings
        plan = self.plan.memory_plan()
        self.fit_button.hide()
        if plan is None:
            self.memory_note.setText("Memory: known once the model is on this computer and the check has run.")
            self.memory_note.setStyleSheet("color: #555;")
            return
        status = plan["status"]
        self.memory_note.setText(f"Memory: about {plan['predicted_bytes'] / GB:.2f} GB of the "
                                 f"{plan['limit_bytes'] / GB:.1f} GB this computer can give \u2014 "
                                 f"{PLAN_WORDS[status]}.")
        self.memory_note.setStyleSheet(f"color: {PLAN_COLORS[status]}; font-weight: 600;")
        self.suggestion = plan.get("suggestion")
        self.fit_button.setVisible(self.suggestion is not None)

    def _use_fitting(self) -> None:
        self.plan.customized = True  # kept when the page is entered again
        self.plan.settings.update(self.suggestion)
        self._show_settings()

    # running

    def enter(self) -> None:
        if not self.plan.customized and not self.job.running:  # the preset, fitted to the data now known
            self.plan.apply_preset(self.plan.preset)
        self._show_settings()  # the data's size and lengths and the machine's limit may be known by now

    def start(self) -> None:
        if self.picker.job.running:  # one download of a model at a time
            self._say("The model is still downloading: wait for it to finish, or pause it, then start.", "#b26a00")
            return
        chosen = self.picker.name()
        if chosen != self.plan.model:  # a name typed but not yet confirmed with Return
            self._model_changed(chosen)
        try:
            hosts = self.macs.hosts()  # before a run is made: the Macs are checked again as it starts
            job = self.plan.new_run()
        except InputError as error:  # settings that cannot run, said where the user can change them
            self._say(f"Cannot start: {error}", "#c62828")
            return
        job.hosts = hosts
        self.charts.memory.set_limit(self.plan.memory_limit)
        self._follow(lambda: self.job.start(job))

    def resume(self) -> None:
        try:
            hosts = self.macs.hosts()
        except InputError as error:
            self._say(f"Cannot resume: {error}", "#c62828")
            return
        self._follow(lambda: self.job.start(TrainJob(run=str(self.plan.run_dir), resume=True, hosts=hosts)))

    def attach(self, run_dir: Path, pid: int) -> None:
        """Show a run started by an earlier window, from its first event, and follow it."""
        self.plan.run_dir = run_dir
        self._follow(lambda: self.job.attach(run_dir, "train", pid))

    def _follow(self, begin) -> None:
        """Begin the job and show its run: an attached job's earlier events arrive at once."""
        self.charts.clear()
        self._say("Starting\u2026")
        self.progress.setRange(0, 0)
        begin()
        self.run = self.job.state
        self.timer.start()
        self.following.emit(self.job)
        self._show_buttons()
        self.ready_changed.emit()

    def stop(self) -> None:
        self.job.stop()
        self._say("Stopping after this step and saving\u2026")
        self._show_buttons()

    def _say(self, text: str, color: str = "#555", bold: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};" + (" font-weight: 600;" if bold else ""))

    def _show_warnings(self) -> None:
        said = list(dict.fromkeys(self.run.warnings))  # a resumed run may say the same again
        self.warning_note.setText("\n".join(f"\u26a0 {line}" for line in said))
        self.warning_note.setVisible(bool(said))

    def _redraw(self) -> None:
        self.charts.take(self.run)
        self.charts.refresh()
        self._show_warnings()
        if not self.job.running:
            if not self.charts.dirty:
                self.timer.stop()  # the run has ended and its last points are drawn
            return
        run = self.run
        if run.phase == "preparing" and not self.job.stop_stage:
            self._say(run.outcome())
        if run.phase != "training":
            return
        self.progress.setRange(0, run.total)
        self.progress.setValue(run.step)
        self.progress.setFormat(f"step {run.step} of {run.total}")
        if not self.job.stop_stage:
            elapsed = time.time() - (run.started_at or time.time())
            left = run.seconds_left()
            left_words = f" \u00b7 about {clock(left)} left" if left is not None else ""
            speed = f"{run.tokens_per_second or 0:,.0f} {glossary.words('speed')}"
            self._say(f"Loss {run.loss:.3f} \u00b7 {speed} \u00b7 {clock(elapsed)} elapsed{left_words}"
                      f"{run.together_words()}")

    def show_run(self, run_dir: Path) -> None:
        """Show a past run's charts and outcome; follow it when it is still training."""
        found = runs.state(run_dir)
        if found.live:
            self.attach(run_dir, found.pid)
            return
        self.plan.run_dir, self.run = run_dir, found
        self.charts.clear()
        self.charts.take(found)
        self.charts.refresh(everything=True)
        self._show_outcome()
        self.ready_changed.emit()

    def forget_run(self) -> None:
        """The data or the model changed: the run shown no longer belongs to them (one still training goes on)."""
        if self.job.running:
            return
        self.plan.run_dir, self.run = None, RunState()
        self._show_warnings()
        self.forgot_run.emit()
        self.charts.clear()
        self.charts.refresh(everything=True)
        self.progress.reset()
        self._say("Press Start training when you are ready.")
        self._show_buttons()
        self.ready_changed.emit()

    def _ended(self, event: dict) -> None:
        if event.get("category") == ev.REFUSED:  # no session of the run began: it is as it was; say why
            self._say(event.get("message", ""), "#c62828")
            self._show_buttons()
            return
        self.run = self.job.state  # the job may end within `_follow`, before the page took its state
        self._show_outcome(just_ended=True)
        self.ready_changed.emit()

    def _show_outcome(self, just_ended: bool = False) -> None:
        run = self.run
        self._show_warnings()
        done = run.phase in ("finished", "stopped")
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if done else 0)
        best = (f" Best validation loss {run.best[1]:.3f} at step {run.best[0]}, kept as the best adapter."
                if run.best else "")
        if run.phase == "finished":
            self.progress.setFormat(f"Finished at step {run.step}")
            took = clock(run.result.get("seconds", 0))
            self._say(f"Finished after {run.step} steps in {took}.{best} Press Continue.", "#2e7d32", bold=True)
        elif run.phase == "stopped":
            self.progress.setFormat(f"Stopped at step {run.step}")
            self._say(f"Stopped at step {run.step} of {run.total or run.step}.{best}"
                      + (" Press Resume to go on." if self._resumable() else ""), "#2e7d32", bold=True)
        elif run.phase == "failed":
            error = run.error or {}
            self.progress.setFormat("Did not finish")
            if error.get("category") == UNEXPECTED and just_ended:  # a past run's failure opens no dialog
                self._say(f"Training stopped: {problem_words(error, self, 'training')}", "#c62828")
            else:
                self._say(f"Training stopped: {error.get('message', '')}"
                          + (f"\nWhat to try: {error['fix']}" if error.get("fix") else ""), "#c62828")
        else:
            self.progress.setFormat("Did not finish")
            self._say("This run was interrupted" + (": press Resume to continue it from its last checkpoint."
                                                    if self._resumable() else " before its first checkpoint: "
                                                    "press Start again."))
        self._show_buttons()

    def _resumable(self) -> bool:
        return (not self.job.running and self.plan.run_dir is not None and self.run.phase != "finished"
                and any((Path(self.plan.run_dir) / "checkpoints").glob("0*")))

    def _show_buttons(self) -> None:
        running = self.job.running
        resumable = self._resumable()
        self.start_button.setEnabled(not running)
        self.start_button.setText("Start again" if self.plan.run_dir is not None else "Start training")
        self.stop_button.setEnabled(running and not self.job.stop_stage)
        self.resume_button.setVisible(resumable)
        self.choose_next.setVisible(self.ready() and not self.plan.pairs)

    def _ask_for_pairs(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose pairs of a better and a worse answer", "", DATA_FILTER)
        if path:
            self.teach_by_choosing([path])

    def teach_by_choosing(self, sources: list[str]) -> None:
        """The next run goes on from the run shown, by choosing, on these files of pairs (read on the Data step)."""
        self.plan.continue_from(self.plan.run_dir)
        self.show_plan()
        self.next_data.emit(sources)

    def ready(self) -> bool:
        run_dir = self.plan.run_dir
        return (not self.job.running and run_dir is not None and (Path(run_dir) / "config.yaml").exists()
                and (runs.adapter_paths(run_dir)["last"] / "adapters.safetensors").exists())
