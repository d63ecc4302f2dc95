"""A multi-turn chat with the fine-tuned model, each answer streamed in as it is written.

Every turn is a worker job given the whole conversation so far; Stop ends the answer and keeps what was said.
Until the first words come the panel says it is thinking; a message written meanwhile waits its turn, visibly.
"""

import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from ... import jobs
from ...engine.runs import events as ev
from ..bridge import Job
from ..feedback import failure_words
from ..pages.page import note


class ChatPanel(QWidget):
    def __init__(self, form, parent=None):
        super().__init__(parent)
        self.form = form
        self.run_dir = None
        self.messages: list[dict] = []
        self.answer = ""
        self.waiting: str | None = None  # a message written while the model answers, sent when it is done
        self.asked_at = 0.0
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.transcript = QTextBrowser()
        self.transcript.setPlaceholderText("Your conversation with the fine-tuned model appears here.")
        self.entry = QLineEdit(placeholderText="Write a message and press Return")
        self.entry.returnPressed.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.job.stop)
        self.stop_button.hide()
        self.new_button = QPushButton("New chat")
        self.new_button.clicked.connect(self.reset)
        self.activity = note()
        self.activity.hide()
        self.ticker = QTimer(self, interval=1000, timeout=self._show_activity)
        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        for button in (self.send_button, self.stop_button, self.new_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.activity)
        layout.addLayout(row)

    def reset(self) -> None:
        if not self.job.running:
            self.messages, self.waiting = [], None
            self.transcript.clear()
            self._show_activity()

    def send(self) -> None:
        text = self.entry.text().strip()
        if not text or self.run_dir is None:
            return
        self.entry.clear()
        if self.job.running:
            self.waiting = f"{self.waiting}\n{text}" if self.waiting else text
            self._show_activity()
            return
        self._ask(text)

    def _ask(self, text: str) -> None:
        self.asked_at = time.monotonic()
        self.messages.append({"role": "user", "content": text})
        self._block("You", text)
        self._block("Model", "")
        self.answer = ""
        self.job.start(jobs.AnswerJob(run=str(jobs.scratch_folder("chat")), source=str(self.run_dir),
                                      messages=self.messages, sides=["tuned"], **self.form.job_settings()))
        self._busy(True)

    def _block(self, who: str, text: str) -> None:
        """A new paragraph: the speaker in bold, then their words; the answer streams in after it."""
        cursor = self._end()
        if not self.transcript.document().isEmpty():
            spaced = QTextBlockFormat()
            spaced.setTopMargin(10 if who == "You" else 2)
            cursor.insertBlock(spaced)
        bold = QTextCharFormat()
        bold.setFontWeight(QFont.Bold)
        cursor.insertText(f"{who}: ", bold)
        cursor.insertText(text, QTextCharFormat())

    def _write(self, text: str, italic: bool = False) -> None:
        style = QTextCharFormat()
        style.setFontItalic(italic)
        self._end().insertText(text, style)
        self.transcript.ensureCursorVisible()

    def _end(self) -> QTextCursor:
        self.transcript.moveCursor(QTextCursor.End)
        return self.transcript.textCursor()

    def _show_activity(self) -> None:
        """"Thinking… 6 s" until the first words, and a message that waits its turn."""
        lines = []
        if self.job.running and not self.answer:
            lines.append(f"Thinking\u2026 {time.monotonic() - self.asked_at:.0f} s (the model is loaded for each "
                         "answer: the first words can take a few seconds)")
        if self.waiting:
            lines.append(f"Waiting to be sent when this answer ends: \u201c{self.waiting}\u201d")
        self.activity.setText("\n".join(lines))
        self.activity.setVisible(bool(lines))

    def _event(self, event: dict) -> None:
        if event.get("type") == ev.TOKEN:
            self.answer += event["text"]
            self._write(event["text"])
            if len(self.answer) == len(event["text"]):
                self._show_activity()

    def _ended(self, event: dict) -> None:
        self._busy(False)
        if event["type"] == ev.DONE:
            self.messages.append({"role": "assistant", "content": self.answer.strip()})
            if event.get("stopped"):
                self._write(" (stopped)", italic=True)
        else:
            self.messages.pop()  # the question stays on screen; it was not answered
            self._write(failure_words("Could not answer", event, self, "answering"), italic=True)
        if self.waiting:
            text, self.waiting = self.waiting, None
            self._ask(text)
        self._show_activity()

    def _busy(self, busy: bool) -> None:
        if busy:
            self.ticker.start()
        else:
            self.ticker.stop()
        self._show_activity()
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        self.new_button.setEnabled(not busy)
