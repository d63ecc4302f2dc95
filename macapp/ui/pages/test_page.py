"""Step 4, Test: the original and the fine-tuned model side by side, a chat, and scores on a prompt set.

Answers stream in from a worker that loads the base once and switches the adapter on and off; both
models share the sampling settings shown at the top (greedy by default, so answers repeat).
"""

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout,
                               QWidget)

from ... import jobs
from ...engine.models import demo
from ...engine.runs import events as ev
from ...engine.runs import runs
from ..bridge import Job
from ..feedback import failure_words
from ..widgets.chat_panel import ChatPanel
from ..widgets.sampling_form import SamplingForm
from ..widgets.score_panel import ScorePanel
from .page import Page, note

SIDE_TITLES = {"base": "Original model", "tuned": "Your fine-tuned model"}


class TestPage(Page):
    title = "Test"
    purpose = ("See what fine-tuning changed: ask both models the same question, chat with yours, "
               "or score both on a set of prompts.")

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.form = SamplingForm()
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Write a question or a message for both models")
        self.prompt.setMaximumHeight(80)
        self.ask = QPushButton("Ask both models")
        self.ask.setDefault(True)
        self.ask.clicked.connect(self.ask_both)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.job.stop)
        self.stop_button.hide()
        self.status = note()
        self.panes = {side: QPlainTextEdit(readOnly=True) for side in SIDE_TITLES}
        self.chat = ChatPanel(self.form)
        self.scores = ScorePanel(self.form)
        tabs = QTabWidget()
        tabs.addTab(self._side_by_side(), "Side by side")
        tabs.addTab(self.chat, "Chat")
        tabs.addTab(self.scores, "Score a prompt set")
        self.tabs = tabs
        self.body.addWidget(self.form)
        self.body.addWidget(tabs, 1)

    def _side_by_side(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 6, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.ask)
        row.addWidget(self.stop_button)
        answers = QGridLayout()
        for column, (side, title) in enumerate(SIDE_TITLES.items()):
            label = QLabel(title)
            label.setStyleSheet("font-weight: 600;")
            answers.addWidget(label, 0, column)
            answers.addWidget(self.panes[side], 1, column)
        layout.addWidget(self.prompt)
        layout.addLayout(row)
        layout.addLayout(answers, 1)
        return tab

    def enter(self) -> None:
        run_dir = self.plan.run_dir
        self.chat.run_dir = run_dir
        if run_dir is None or not (run_dir / "config.yaml").exists():
            self.status.setText("Train a model first (step 3); then ask it here.")
            self.form.set_adapters({"last": "Last adapter"})
            self.scores.set_run(None)
            return
        self.form.set_adapters(runs.adapter_words(run_dir))
        if self.plan.is_demo_task:
            settings = demo.eval_settings()
            self.scores.set_run(run_dir, settings["prompts"], settings["check"])
            if not self.prompt.toPlainText():
                self.prompt.setPlainText(demo.held_out_comments()[0])
        else:
            self.scores.set_run(run_dir)

    def ask_both(self) -> None:
        text = self.prompt.toPlainText().strip()
        if not text or self.plan.run_dir is None:
            self.status.setText("Write a question first." if not text else "Train a model first.")
            return
        for pane in self.panes.values():
            pane.clear()
        self.ask.hide()
        self.stop_button.show()
        self.status.setText("Loading the model\u2026")
        self.job.start(jobs.AnswerJob(run=str(jobs.scratch_folder("answer")), source=str(self.plan.run_dir),
                                      messages=[{"role": "user", "content": text}], **self.form.job_settings()))

    def _event(self, event: dict) -> None:
        if event.get("type") == ev.TOKEN:
            pane = self.panes[event["side"]]
            pane.moveCursor(QTextCursor.End)
            pane.insertPlainText(event["text"])
            self.status.setText("Both models are answering\u2026")

    def _ended(self, event: dict) -> None:
        self.ask.show()
        self.stop_button.hide()
        if event["type"] != ev.DONE:
            self.status.setText(failure_words("Could not answer", event, self, "answering"))
        elif event.get("stopped"):
            self.status.setText("Stopped. The answers so far are shown.")
        else:
            self.status.setText("Both have answered, with the same settings.")
