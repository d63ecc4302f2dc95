"""The main window: the five steps down the side, the current step's page, and Back / Continue.

Pages are built when first shown, so the window opens before the charting library loads. A run still
going from an earlier window is found at start and followed in the Train step. With a menu-bar item,
closing the window during a run only hides it; quitting asks first when a run is going.
"""

import importlib
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QMainWindow, QMessageBox, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from ..engine.words import THIS_COMPUTER
from .bridge import Job, running_training
from .guide import GuideWindow
from .pages.page import note, open_path
from .plan import Plan
from .settings import Settings
from .widgets.step_list import StepList

STEPS = ["Check", "Data", "Train", "Test", "Export"]
DATA, TRAIN, TEST, RUNS = 1, 2, 3, 5
# Work that quitting would cut short, as the question before quitting names it.
LASTING = {"fuse": "a model is being exported", "gguf": "a GGUF file is being made",
           "ollama": "a model is being added to Ollama", "serve": "the local API is serving",
           "install_export": "the export tools are being installed", "upload": "a model is being shared",
           "download": "a model is downloading"}

PAGES = ["check_page.CheckPage", "data_page.DataPage", "train_page.TrainPage", "test_page.TestPage",
         "export_page.ExportPage", "runs_page.RunsPage"]


def _page_class(index: int):
    """A page's class, imported on first use: the charting library loads with the first page that draws."""
    module, name = PAGES[index].split(".")
    return getattr(importlib.import_module(f"{__package__}.pages.{module}"), name)


class MainWindow(QMainWindow):
    training_followed = Signal(object)  # the Train step's Job, each time it starts or follows a run
    hidden_while_training = Signal()
    quit_requested = Signal()

    def __init__(self, settings: Settings | None = None, plan: Plan | None = None):
        super().__init__()
        self.stays_in_menu_bar = False  # set when a menu-bar item can bring the window back
        self.quitting = False
        self.settings = settings or Settings()
        self.plan = plan or Plan(model=self.settings.preferred_model)
        self.setWindowTitle(f"Tailor \u2014 fine-tune a language model on {THIS_COMPUTER}")
        self.pages: list = [None] * (len(STEPS) + 1)
        self.current, self.reached = 0, 0
        self.steps = StepList(STEPS)
        self.steps.chosen.connect(self.go)
        self.runs_button = QPushButton("Past runs")
        self.runs_button.setCheckable(True)
        self.runs_button.clicked.connect(lambda: self.go(RUNS))
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 8)
        side.addWidget(self.steps, 1)
        side.addWidget(self.runs_button)
        self.stack = QStackedWidget()
        self.back, self.next = QPushButton("Back"), QPushButton("Continue")
        self.next.setDefault(True)
        self.back.clicked.connect(lambda: self.go(self.current - 1 if self.current != RUNS else self.reached))
        self.next.clicked.connect(lambda: self.go(self.current + 1))
        self.hint = note()
        footer = QHBoxLayout()
        footer.setContentsMargins(24, 6, 24, 14)
        footer.addWidget(self.back)
        footer.addWidget(self.hint, 1)
        footer.addWidget(self.next)
        main = QVBoxLayout()
        main.setContentsMargins(0, 0, 0, 0)
        main.addWidget(self.stack, 1)
        main.addLayout(footer)
        outer = QHBoxLayout()
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addLayout(side)
        outer.addLayout(main, 1)
        central = QWidget()
        central.setLayout(outer)
        self.setCentralWidget(central)
        self._add_menus()
        self.resize(1180, 780)
        # Tab reaches every control, buttons too (a Mac's default reaches only text fields and lists unless Full
        # Keyboard Access is on), and the one it reaches shows the system's focus ring.
        QApplication.styleHints().setTabFocusBehavior(Qt.TabFocusAllControls)
        if not self.settings.geometry.isEmpty():
            self.restoreGeometry(self.settings.geometry)
        self.go(0)
        QTimer.singleShot(0, self._follow_running_run)

    def page(self, index: int):
        if self.pages[index] is None:
            page = _page_class(index)(self.plan, self.settings)
            page.ready_changed.connect(self._update_buttons)
            if index == RUNS:
                page.opened.connect(self.open_run)
                page.removed.connect(lambda paths: str(self.plan.run_dir) in paths and self._forget_shown_run())
            if index == TRAIN:
                page.following.connect(self.training_followed)
                page.forgot_run.connect(self._run_forgotten)
                page.next_data.connect(self._data_for_next_run)
            if index == DATA:
                page.data_changed.connect(self._forget_shown_run)
            if index == TEST:
                page.teach.connect(lambda sources: self.page(TRAIN).teach_by_choosing(sources))
            self.pages[index] = page
            self.stack.addWidget(page)
        return self.pages[index]

    def go(self, index: int) -> None:
        if index < 0 or index > RUNS or (index < RUNS and index > self.reached + 1):
            return
        if index < RUNS and index == self.reached + 1 and not self.page(self.current).ready():
            return
        if index < RUNS:
            self.reached = max(self.reached, index)
        self.current = index
        page = self.page(index)
        self.stack.setCurrentWidget(page)
        page.enter()
        self.runs_button.setChecked(index == RUNS)
        self.steps.show_state(index if index < RUNS else -1, self.reached)
        self._update_buttons()

    def _update_buttons(self) -> None:
        page = self.page(self.current)
        last = self.current >= len(STEPS) - 1
        self.back.setEnabled(self.current > 0)
        self.next.setVisible(not last)
        ready = page.ready()
        self.next.setEnabled(ready)
        self.hint.setText("" if ready or last else self._waiting_for())

    def _waiting_for(self) -> str:
        return {0: "Waiting for the check to finish.",
                1: "Choose data Tailor can use (see what it says above) to go on.",
                2: "Train a model to go on."}.get(self.current, "")

    def _data_for_next_run(self, sources: list[str]) -> None:
        """Teaching by choosing after a run: its pairs are read on the Data step, then trained from there."""
        self.go(DATA)
        self.page(DATA).set_sources(sources, None)

    def open_run(self, run_dir: Path) -> None:
        """A past run, opened from the list: its data, model and settings become the window's, so each step
        shows that run and "Start again" trains what it trained."""
        train = self.page(TRAIN)
        if train.job.running and Path(run_dir) != train.job.folder:
            self.page(RUNS).status.setText("A run is training: open other runs once it has finished or stopped. "
                                           "Its own row opens it in the Train step.")
            return
        if not train.job.running:
            self._take_run(run_dir)
        self.reached = max(self.reached, TRAIN)
        self.go(TRAIN)
        train.show_run(run_dir)
        self.reached = max(self.reached, len(STEPS) - 1 if self.page(TRAIN).ready() else TRAIN)
        self.steps.show_state(TRAIN, self.reached)

    def _take_run(self, run_dir: Path) -> None:
        """The run's own choices (data, columns, split, model, settings) become the plan's, on every step."""
        self.plan.open_run(run_dir)
        if self.pages[DATA] is not None:
            self.pages[DATA].show_plan()
        self.page(TRAIN).show_plan()

    def _forget_shown_run(self) -> None:
        """Other data chosen, or the run shown moved to the Trash: the steps after Train no longer show it."""
        if self.pages[TRAIN] is not None:
            self.pages[TRAIN].forget_run()
        elif self.training() is None:
            self.plan.run_dir = None
            self._run_forgotten()

    def _run_forgotten(self) -> None:
        """Other data or another model: the steps after Train wait for a run of them."""
        self.reached = min(self.reached, TRAIN)
        self.steps.show_state(self.current if self.current < RUNS else -1, self.reached)
        self._update_buttons()

    def _follow_running_run(self) -> None:
        found = running_training()
        if found:
            self._take_run(found[0])  # reopened while it trains: every step shows that run, not the demo
            self.reached = TRAIN
            self.go(TRAIN)
            self.page(TRAIN).attach(*found)

    # the run and the app, for the menu bar and the menu-bar item

    def _add_menus(self) -> None:
        run = self.menuBar().addMenu("Run")
        self.stop_action = QAction("Stop training", self, shortcut=QKeySequence("Ctrl+."),
                                   triggered=self.stop_training)
        self.folder_action = QAction("Open run folder", self, triggered=self.open_run_folder)
        quit_action = QAction("Quit Tailor", self, shortcut=QKeySequence.Quit, triggered=self.request_quit,
                              menuRole=QAction.QuitRole)
        run.addActions([self.stop_action, self.folder_action])
        run.addSeparator()
        run.addAction(quit_action)
        run.aboutToShow.connect(self._update_menus)
        help_menu = self.menuBar().addMenu("Help")  # on a Mac, the menu where the system puts its search field
        self.guide_action = QAction("Tailor Guide", self, shortcut=QKeySequence.HelpContents, triggered=self.show_guide)
        help_menu.addAction(self.guide_action)
        self.guide = None

    def show_guide(self) -> None:
        if self.guide is None:
            self.guide = GuideWindow(self)
        self.guide.show()
        self.guide.raise_()

    def _update_menus(self) -> None:
        self.stop_action.setEnabled(self.training() is not None)
        self.folder_action.setEnabled(self.plan.run_dir is not None)

    def training(self) -> Job | None:
        """The Train step's job while it trains."""
        page = self.pages[TRAIN]
        return page.job if page is not None and page.job.running else None

    def stop_training(self) -> None:
        if self.training():
            self.page(TRAIN).stop()

    def open_run_folder(self) -> None:
        if self.plan.run_dir is not None:
            open_path(self.plan.run_dir, self)

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def request_quit(self) -> bool:
        """Quit, after asking what becomes of a run that is going; False when the user cancels."""
        if self.training():
            box = QMessageBox(QMessageBox.Question, "Quit Tailor?", "A model is training.", parent=self)
            box.setInformativeText("It can go on without Tailor open: open Tailor again to see it. "
                                   "Or stop it now; it saves first, and you can resume it later.")
            keep = box.addButton("Quit, keep training", QMessageBox.AcceptRole)
            stop = box.addButton("Stop training and quit", QMessageBox.DestructiveRole)
            box.setDefaultButton(box.addButton(QMessageBox.Cancel))
            box.exec()
            if box.clickedButton() not in (keep, stop):
                return False
            if box.clickedButton() is stop:
                self.stop_training()
        if not self._may_end_lasting_work():
            return False
        self._end_other_jobs()
        self._save_geometry()
        self.quitting = True
        self.quit_requested.emit()
        return True

    def _may_end_lasting_work(self) -> bool:
        """An export, upload, download or the local API still going: quitting ends it, so ask first."""
        going = {job.kind for job in self.findChildren(Job) if job.running and job.kind in LASTING}
        if not going:
            return True
        what = " and ".join(LASTING[kind] for kind in sorted(going))
        box = QMessageBox(QMessageBox.Question, "Quit Tailor?", f"{what[0].upper()}{what[1:]}.", parent=self)
        box.setInformativeText("Quitting stops it. An export or download can be started again later.")
        quit_button = box.addButton("Stop it and quit", QMessageBox.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.Cancel))
        box.exec()
        return box.clickedButton() is quit_button

    def keyPressEvent(self, event) -> None:
        """Return or Enter, where the focused control has no use for it, presses Continue, as a default button does."""
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.next.isVisible() and self.next.isEnabled():
            self.next.animateClick()
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched, event) -> bool:
        """Installed on the app with a menu-bar item: a Quit from outside (the Dock, logging out) asks first."""
        if event.type() == QEvent.Quit and not self.quitting:
            self.request_quit()
            return True
        return super().eventFilter(watched, event)

    def _end_other_jobs(self) -> None:
        """Every worker but training's (answers, scoring, exports, the local API) ends with the app."""
        training = self.training()
        for job in self.findChildren(Job):
            if job.running and job is not training:
                job.cancel()

    def _save_geometry(self) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self._save_geometry()
        if self.stays_in_menu_bar and self.training() and not self.quitting:
            event.ignore()
            self.hide()
            self.hidden_while_training.emit()
            return
        self._end_other_jobs()
        super().closeEvent(event)
        if self.stays_in_menu_bar and not self.quitting:  # Qt quits on the last close only without a menu-bar item
            self.quitting = True
            self.quit_requested.emit()
