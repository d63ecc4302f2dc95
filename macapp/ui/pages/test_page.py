"""Step 4, Test: the verdict first, then the original and the fine-tuned model side by side (blind until the person
picks the better answer), a chat, and scores and a judge's verdicts on a prompt set.

Answers stream in from a worker that loads the base once and switches the adapter on and off; both
models share the sampling settings shown at the top (greedy by default, so answers repeat).
"""

import random

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout,
                               QWidget)

from ... import jobs
from ...engine.evaluate import picks, report, verdict
from ...engine.models import demo
from ...engine.runs import events as ev
from ...engine.runs import runs
from ..bridge import Job
from ..feedback import failure_words
from ..widgets.chat_panel import ChatPanel
from ..widgets.pick_bar import PickBar
from ..widgets.sampling_form import SamplingForm
from ..widgets.score_panel import ScorePanel
from ..widgets.verdict_card import VerdictCard
from .page import Page, note

SIDE_TITLES = {"base": "Original model", "tuned": "Your fine-tuned model"}
LETTERS = ("Answer A", "Answer B")


class TestPage(Page):
    title = "Test"
    purpose = ("Did fine-tuning help? The verdict comes first; ask both models the same question, chat with yours, "
               "or score and judge both on your held-out questions.")

    teach = Signal(list)  # the person's picks as a file of pairs, to go on from this run by choosing

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
        self.titles = [QLabel(title) for title in LETTERS]
        self.order = ("base", "tuned")  # the sides in the columns A and B of the last question
        self.answers: dict | None = None  # both answers, once both are in, until picked
        self.chat = ChatPanel(self.form)
        self.scores = ScorePanel(self.form)
        self.scores.changed.connect(self.show_verdict)
        self.card = VerdictCard()
        self.teach_picks = QPushButton()
        self.teach_picks.setToolTip("Go on from this run, teaching it to prefer the answers you picked over the "
                                    "ones you did not (DPO).")
        self.teach_picks.clicked.connect(self._teach_picks)
        self.teach_picks.hide()
        tabs = QTabWidget()
        tabs.addTab(self._side_by_side(), "Side by side")
        tabs.addTab(self.chat, "Chat")
        tabs.addTab(self.scores, "Score and judge")
        self.tabs = tabs
        self.body.addWidget(self.card)
        line = QHBoxLayout()
        line.addStretch(1)
        line.addWidget(self.teach_picks)
        self.body.addLayout(line)
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
        answers_box = QWidget()
        answers = QGridLayout(answers_box)
        answers.setContentsMargins(0, 0, 0, 0)
        for column, label in enumerate(self.titles):
            label.setStyleSheet("font-weight: 600;")
            answers.addWidget(label, 0, column)
        self.answers_grid = answers
        self._place_panes()
        self.pick = PickBar(answers_box)
        self.pick.picked.connect(self._pick)
        self.pick.reveal.connect(self._reveal)
        self.pick.set_enabled(False)
        layout.addWidget(self.prompt)
        layout.addLayout(row)
        layout.addWidget(self.pick)  # above the answers: always in sight, however long they are
        layout.addWidget(answers_box, 1)
        return tab

    def _place_panes(self) -> None:
        """The two answers in the columns A and B, in this question's order."""
        for column, side in enumerate(self.order):
            self.answers_grid.addWidget(self.panes[side], 1, column)

    def show_verdict(self) -> None:
        run_dir = self.plan.run_dir
        self.card.show_card(verdict.card(report.read(run_dir) if run_dir else None, picks.read(run_dir)))
        chosen = len(picks.preference_pairs(run_dir)) if run_dir else 0
        self.teach_picks.setText(f"Teach it your {chosen} picks\u2026")
        self.teach_picks.setVisible(chosen >= picks.FEWEST_TO_TEACH)

    def _teach_picks(self) -> None:
        self.teach.emit([str(picks.write_pairs(self.plan.run_dir))])

    def enter(self) -> None:
        run_dir = self.plan.run_dir
        self.chat.run_dir = run_dir
        self.show_verdict()
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
        self.order = tuple(random.sample(tuple(SIDE_TITLES), 2))  # blind: which answer is A is not told
        self._place_panes()
        for label, title in zip(self.titles, LETTERS):
            label.setText(title)
        self.answers = None
        self.pick.set_enabled(False)
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
            self.answers = event["result"]["answers"]
            self.pick.set_enabled(True, "Your pick is kept with the run.")

    def _reveal(self) -> None:
        for label, title, side in zip(self.titles, LETTERS, self.order):
            label.setText(f"{title}: {SIDE_TITLES[side].lower()}")

    def _pick(self, choice: str) -> None:
        if not self.answers or self.plan.run_dir is None:
            return
        prompt = self.prompt.toPlainText().strip()
        picks.add(self.plan.run_dir, picks.record(prompt, self.answers, self.order, choice, where="side_by_side"))
        self._reveal()
        self.answers = None
        self.pick.set_enabled(False, f"Kept: {picks.CHOICES[choice]}.")
        self.show_verdict()
