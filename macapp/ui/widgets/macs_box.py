"""The Train step's "Train on several Macs" box: the other Macs to train with, and each one's check.

The check runs in a worker (it asks each Mac over SSH); Start checks them again, with the run's memory needs.
"""

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLineEdit, QPushButton, QToolButton, QVBoxLayout

from ... import jobs
from ...engine.errors import InputError
from ...group.hosts import read
from ..bridge import Job
from ..feedback import problem_words
from ..pages.page import note

HELP = "This Mac and the Macs you name each train on a share of every step."
SETUP = ("<ol style='margin-left:-20px'>"
         "<li>Install the same Tailor on each Mac, in the Applications folder.</li>"
         "<li>Connect them: the same network works; a Thunderbolt cable is faster.</li>"
         "<li>On each other Mac, turn on Remote Login: System Settings \u203a General \u203a Sharing.</li>"
         "<li>On this Mac, once, in Terminal: <tt>ssh-keygen -t ed25519</tt> (press Return at each question), then "
         "<tt>ssh-copy-id mini.local</tt> for each other Mac (it asks that Mac's password one last time; "
         "write <tt>name@mini.local</tt> if your account there has another name).</li>"
         "</ol>Then name the other Macs here, such as <tt>mini.local</tt>: its name is shown by the "
         "info button beside Remote Login.")


class MacsBox(QGroupBox):
    """Off unless ticked; `hosts()` gives the Macs named (group.hosts.read's shape), or None."""

    def __init__(self, parent=None):
        super().__init__("Train on several Macs", parent, checkable=True, checked=False)
        self.job = Job(self)
        self.job.ended.connect(self._checked)
        self.checked_names = ""
        layout = QVBoxLayout(self)
        self.help = note(HELP)
        self.setup_toggle = QToolButton(text="How to set up the other Macs", checkable=True)
        self.setup_toggle.setStyleSheet("QToolButton { border: none; color: #0b57d0; }")
        self.setup = note(SETUP)
        self.setup.setTextFormat(Qt.RichText)
        self.setup_toggle.toggled.connect(self.setup.setVisible)
        self.names = QLineEdit(placeholderText="Other Macs, such as mini.local, studio.local")
        self.names.textChanged.connect(self._edited)
        self.check_button = QPushButton("Check these Macs")
        self.check_button.clicked.connect(self.check)
        row = QHBoxLayout()
        row.addWidget(self.names, 1)
        row.addWidget(self.check_button)
        self.results = note()
        self.results.setTextFormat(Qt.RichText)
        for widget in (self.help, self.setup_toggle, self.setup):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.results)
        self.toggled.connect(self._shown)
        self._shown(False)

    def _shown(self, on: bool) -> None:
        for widget in (self.help, self.setup_toggle, self.names, self.check_button, self.results):
            widget.setVisible(on)
        self.setup.setVisible(on and self.setup_toggle.isChecked())

    def _edited(self) -> None:
        self.results.setText("")  # a check of other names

    def hosts(self) -> dict | None:
        """The Macs to train with, or None to train on this Mac alone; an InputError says what is wrong."""
        text = self.names.text().strip()
        if not self.isChecked() or not text:
            return None
        return read(text)

    def check(self) -> None:
        try:
            hosts = self.hosts()
        except InputError as error:
            self._show(f"<span style='color:#c62828'>{escape(str(error))}</span>")
            return
        if hosts is None:
            self._show("Name at least one other Mac first.")
            return
        self.check_button.setEnabled(False)
        self.checked_names = self.names.text()
        self._show("Asking each Mac\u2026")
        self.job.start(jobs.HostsJob(run=str(jobs.scratch_folder("hosts")), hosts=hosts))

    def _checked(self, event: dict) -> None:
        self.check_button.setEnabled(True)
        if self.names.text() != self.checked_names:  # names changed meanwhile: this check is not about them
            return
        if event.get("type") == "error":
            self._show(f"<span style='color:#c62828'>{escape(problem_words(event, self, 'asking the Macs'))}</span>")
            return
        lines = []
        for mac in event["result"]["macs"]:
            if mac["problems"]:
                said = " ".join(f"{p['message']} {p['fix']}" for p in mac["problems"])
                lines.append(f"<span style='color:#c62828'>\u2717 <b>{escape(mac['name'])}</b>: {escape(said)}</span>")
            else:
                lines.append(f"<span style='color:#2e7d32'>\u2713 <b>{escape(mac['name'])}</b>: ready "
                             f"({mac['memory_gb']:.0f} GB of memory)</span>")
        self._show("<br>".join(lines))

    def _show(self, html: str) -> None:
        self.results.setText(html)
