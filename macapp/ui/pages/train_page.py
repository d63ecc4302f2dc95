"""Step 3, Train: choose model, method and preset, see whether it fits in memory, then watch it train.

Training runs in a detached worker (it goes on when the window closes); the charts are fed by its
events and redrawn by a 10 Hz timer, never per event.
"""

import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QProgressBar,
                               QPushButton, QRadioButton, QScrollArea, QToolButton, QVBoxLayout, QWidget)

from ...engine import runs
from ...engine.errors import InputError
from ...terminal import clock
from ..bridge import Job
from ..plan import METHODS, PRESET_WORDS, PRESETS
from ..tray import RunStatus
from ..widgets.model_picker import ModelPicker
from ..widgets.settings_form import SettingsForm
from ..widgets.training_charts import TrainingCharts
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

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.job = Job(self)
        self.job.event.connect(self.handle)
        self.job.ended.connect(self._ended)
        self.started_at: float | None = None
        self.last_train: dict | None = None
        self.run_status = RunStatus()  # the time left, worked out as the menu-bar item works it out
        self.outcome: dict | None = None
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
        self.picker = ModelPicker(settings)
        self.picker.show_model(self.plan.model)  # the preferred model from last time
        self.picker.changed.connect(self._model_changed)
        QVBoxLayout(model_box).addWidget(self.picker)
        how = QGroupBox("How")
        form = QFormLayout(how)
        self.method = QComboBox()
        for key, (label, _, _) in METHODS.items():
            self.method.addItem(label, key)
        self.method.currentIndexChanged.connect(self._method_changed)
        form.addRow("Method:", self.method)
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
        for widget in (model_box, how, self.advanced_toggle, self.form, self.memory_note, self.fit_button):
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
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.progress = QProgressBar(textVisible=True)
        self.status = note("Press Start training when you are ready.")
        self.charts = TrainingCharts()
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.charts, 1)
        return layout

    # settings

    def _show_settings(self) -> None:
        for button in self.presets.buttons():
            button.setChecked(button.property("preset") == self.plan.preset)
        self.method.setCurrentIndex(list(METHODS).index(self.plan.method))
        self._describe_preset()
        self.form.show_settings(self.plan.settings)
        self._show_memory()
        self._show_buttons()

    def _model_changed(self, name: str) -> None:
        was_demo = self.plan.is_demo
        self.plan.model = name
        if self.settings:
            self.settings.preferred_model = name
        if self.plan.is_demo != was_demo:  # the demo has settings of its own
            self.plan.apply_preset(self.plan.preset)
        self._show_settings()

    def _method_changed(self) -> None:
        self.plan.method = self.method.currentData()
        self._show_memory()

    def _preset_chosen(self, name: str) -> None:
        self.plan.apply_preset(name)
        self._show_settings()

    def _settings_changed(self) -> None:
        self._describe_preset()
        self._show_memory()

    def _describe_preset(self) -> None:
        self.preset_note.setText(f"{self.plan.settings['iters']} training steps: {PRESET_WORDS[self.plan.preset]}.")

    def _show_memory(self) -> None:
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
        self.plan.settings.update(self.suggestion)
        self._show_settings()

    # running

    def enter(self) -> None:
        self._show_memory()  # the data's lengths and the machine's limit may be known by now

    def start(self) -> None:
        try:
            job = self.plan.new_run()
        except InputError as error:  # settings that cannot run, said where the user can change them
            self.status.setText(f"Cannot start: {error}")
            self.status.setStyleSheet("color: #c62828;")
            return
        self.charts.clear()
        self.charts.memory.set_limit(self.plan.memory_limit)
        self._follow(lambda: self.job.start(job))

    def resume(self) -> None:
        self._follow(lambda: self.job.start({"kind": "train", "run": str(self.plan.run_dir), "resume": True}))

    def attach(self, run_dir: Path, pid: int) -> None:
        """Show a run started by an earlier window, from its first event, and follow it."""
        self.plan.run_dir = run_dir
        self.charts.clear()
        self._follow(lambda: self.job.attach(run_dir, "train", pid))

    def _follow(self, begin) -> None:
        """Reset the run's display, then `begin` the job: an attached job's earlier events arrive at once."""
        self.outcome, self.last_train, self.started_at = None, None, time.monotonic()
        self.run_status = RunStatus()
        self.status.setText("Starting\u2026")
        self.status.setStyleSheet("color: #555;")
        self.progress.setRange(0, 0)
        self.timer.start()
        begin()
        self.following.emit(self.job)
        self._show_buttons()
        self.ready_changed.emit()

    def stop(self) -> None:
        self.job.stop()
        self.status.setText("Stopping after this step and saving\u2026")
        self._show_buttons()

    def handle(self, event: dict) -> None:
        self.charts.handle(event)
        self.run_status.handle(event)
        kind = event.get("type")
        if kind == "started" and "time" in event:
            self.started_at = time.monotonic() - max(0.0, time.time() - event["time"])
        elif kind == "train":
            self.last_train = event
        elif kind in ("log", "progress") and event.get("message") and self.last_train is None:
            self.status.setText(event["message"] + "\u2026")

    def _redraw(self) -> None:
        self.charts.refresh()
        if not self.job.running and not self.charts.dirty:
            self.timer.stop()  # the run has ended and its last points are drawn
        event = self.last_train
        if event is None or not self.job.running:
            return
        done, total = event["iteration"], event["total"]
        elapsed = time.monotonic() - self.started_at
        left = self.run_status.seconds_left()
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"step {done} of {total}")
        if not self.job.stop_stage:
            self.status.setText(f"Loss {event['train_loss']:.3f} \u00b7 {event['tokens_per_second']:,.0f} tokens/s "
                                f"\u00b7 {clock(elapsed)} elapsed"
                                + (f" \u00b7 about {clock(left)} left" if left is not None else ""))

    def show_run(self, run_dir: Path) -> None:
        """Show a past run's charts and outcome; follow it when it is still training."""
        pid = runs.summary(run_dir)["pid"]
        if pid:
            self.attach(run_dir, pid)
            return
        self.plan.run_dir = run_dir
        self.charts.clear()
        events = [e for e in runs.read_events(run_dir) if e.get("kind") == "train"]
        for event in events:
            self.charts.handle(event)
        if events and events[-1].get("type") in ("done", "error"):
            self._show_outcome(events[-1])
        else:
            self.outcome = None
            self.status.setText("This run was interrupted. Press Resume to continue it from its last checkpoint.")
            self._show_buttons()
        self.charts.refresh(everything=True)
        self.ready_changed.emit()

    def _ended(self, event: dict) -> None:
        self._show_outcome(event)
        self.ready_changed.emit()

    def _show_outcome(self, event: dict) -> None:
        self.outcome = event
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if event["type"] == "done" else 0)
        if event["type"] == "done":
            result = event["result"]
            best = result.get("best_val_loss")
            how = "Stopped" if result.get("stopped") else "Finished"
            self.progress.setFormat(f"{how} at step {result['iterations']}")
            self.status.setText(f"{how} after {result['iterations']} steps in {clock(result['seconds'])}."
                                + (f" Best validation loss {best:.3f}, kept as the best adapter." if best else "")
                                + (" Press Resume to go on." if result.get("stopped") else " Press Continue."))
            self.status.setStyleSheet("color: #2e7d32; font-weight: 600;")
        else:
            self.progress.setFormat("Did not finish")
            self.status.setText(f"Training stopped: {event['message']}"
                                + (f"\nWhat to try: {event['fix']}" if event.get("fix") else ""))
            self.status.setStyleSheet("color: #c62828;")
        self._show_buttons()

    def _show_buttons(self) -> None:
        running = self.job.running
        resumable = (not running and self.plan.run_dir is not None
                     and any((Path(self.plan.run_dir) / "checkpoints").glob("0*"))
                     and not (self.outcome and self.outcome["type"] == "done"
                              and not self.outcome["result"].get("stopped")))
        self.start_button.setEnabled(not running)
        self.start_button.setText("Start again" if self.outcome else "Start training")
        self.stop_button.setEnabled(running and not self.job.stop_stage)
        self.resume_button.setVisible(resumable)

    def ready(self) -> bool:
        return (not self.job.running and self.plan.run_dir is not None
                and (Path(self.plan.run_dir) / "adapters" / "adapters.safetensors").exists())
