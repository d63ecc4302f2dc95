"""A multi-turn chat with the fine-tuned model, each answer streamed in as it is written.

Every turn is a worker job given the whole conversation so far; Stop ends the answer and keeps what was said.
"""

from PySide6.QtGui import QFont, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from ... import jobs
from ..bridge import Job


class ChatPanel(QWidget):
    def __init__(self, form, parent=None):
        super().__init__(parent)
        self.form = form
        self.run_dir = None
        self.messages: list[dict] = []
        self.answer = ""
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
        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        for button in (self.send_button, self.stop_button, self.new_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)

    def reset(self) -> None:
        if not self.job.running:
            self.messages = []
            self.transcript.clear()

    def send(self) -> None:
        text = self.entry.text().strip()
        if not text or self.job.running or self.run_dir is None:
            return
        self.entry.clear()
        self.messages.append({"role": "user", "content": text})
        self._block("You", text)
        self._block("Model", "")
        self.answer = ""
        self._busy(True)
        self.job.start({"kind": "answer", "run": str(jobs.scratch_folder("chat")), "source": str(self.run_dir),
                        "messages": self.messages, "sides": ["tuned"], **self.form.job_settings()})

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

    def _event(self, event: dict) -> None:
        if event.get("type") == "token":
            self.answer += event["text"]
            self._write(event["text"])

    def _ended(self, event: dict) -> None:
        self._busy(False)
        if event["type"] == "done":
            self.messages.append({"role": "assistant", "content": self.answer.strip()})
            if event.get("stopped"):
                self._write(" (stopped)", italic=True)
        else:
            self.messages.pop()  # the question stays on screen; it was not answered
            self._write(f"Could not answer: {event['message']}", italic=True)

    def _busy(self, busy: bool) -> None:
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        self.new_button.setEnabled(not busy)
