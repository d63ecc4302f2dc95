"""Step 4, Test: ask the base model and the fine-tuned one the same question and read both answers.

Both answers come from one worker that loads the model once and toggles the adapter (greedy, so repeatable).
"""

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton

from ...engine import demo
from ..bridge import Job
from .page import Page, note


class TestPage(Page):
    title = "Test"
    purpose = "See what fine-tuning changed: the same question goes to the original model and to yours."

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.job = Job(self)
        self.job.event.connect(self._progress)
        self.job.ended.connect(self._ended)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Write a question or a message for the model")
        self.prompt.setMaximumHeight(90)
        self.ask = QPushButton("Ask both models")
        self.ask.setDefault(True)
        self.ask.clicked.connect(self.ask_both)
        self.status = note()
        self.base, self.tuned = QPlainTextEdit(readOnly=True), QPlainTextEdit(readOnly=True)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.ask)
        answers = QGridLayout()
        for column, (title, box) in enumerate((("Original model", self.base), ("Your fine-tuned model", self.tuned))):
            label = QLabel(title)
            label.setStyleSheet("font-weight: 600;")
            answers.addWidget(label, 0, column)
            answers.addWidget(box, 1, column)
        self.body.addWidget(QLabel("Question:"))
        self.body.addWidget(self.prompt)
        self.body.addLayout(row)
        self.body.addLayout(answers, 1)

    def enter(self) -> None:
        if not self.prompt.toPlainText() and self.plan.is_demo:
            self.prompt.setPlainText(demo.held_out_comments()[0])

    def ask_both(self) -> None:
        text = self.prompt.toPlainText().strip()
        if not text or self.plan.run_dir is None:
            self.status.setText("Write a question first." if not text else "Train a model first.")
            return
        self.ask.setEnabled(False)
        self.base.clear()
        self.tuned.clear()
        self.status.setText("Loading the model\u2026")
        self.job.start({"kind": "compare", "run": str(self.plan.run_dir), "prompts": [text], "ending": "",
                        "max_tokens": 120})

    def busy(self) -> bool:
        return self.job.running

    def _progress(self, event: dict) -> None:
        if event.get("type") == "progress":
            self.status.setText("The original model has answered; now yours\u2026" if event["stage"] == "base"
                                else "Both have answered.")

    def _ended(self, event: dict) -> None:
        self.ask.setEnabled(True)
        if event["type"] != "done":
            self.status.setText(f"Could not answer: {event['message']}")
            return
        result = event["result"]
        self.base.setPlainText(result["base"]["answers"][0])
        self.tuned.setPlainText(result["tuned"]["answers"][0])
        self.status.setText("Both answers use greedy decoding: the same question gives the same answers.")
