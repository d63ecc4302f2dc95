"""Step 1, Check: is this computer ready to fine-tune? Each problem comes with its fix in plain words.

The checks run in a worker (they load MLX); the page shows them with a status mark and a button
where the app can help, such as opening a download page.
"""

import re

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from ... import jobs
from ...engine.runs import events as ev
from ...engine.words import THIS_COMPUTER
from ..bridge import Job
from ..feedback import problem_words
from .page import Page, note

MARKS = {"ok": ("\u2713", "#2e7d32"), "warning": ("!", "#b26a00"), "problem": ("\u2717", "#c62828")}


class CheckPage(Page):
    title = "Check this computer"
    purpose = "First, Tailor makes sure this computer can fine-tune a model, and says how to fix anything missing."

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.checks: list[dict] | None = None
        self.job = Job(self)
        self.job.ended.connect(self._ended)
        self.status = note("Checking\u2026")
        self.grid = QGridLayout()
        self.grid.setColumnStretch(2, 1)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(10)
        self.again = QPushButton("Check again")
        self.again.clicked.connect(self.run_checks)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.again)
        self.body.addLayout(row)
        self.body.addLayout(self.grid)
        self.body.addStretch(1)

    def enter(self) -> None:
        if self.checks is None and not self.job.running:
            self.run_checks()

    def run_checks(self) -> None:
        self.checks = None
        self.again.setEnabled(False)
        self.status.setText("Checking this computer\u2026 (a few seconds)")
        self.job.start(jobs.CheckJob(run=str(jobs.scratch_folder("check"))))
        self.ready_changed.emit()

    def ready(self) -> bool:
        return self.checks is not None and not any(c["status"] == "problem" for c in self.checks)

    def _ended(self, event: dict) -> None:
        self.again.setEnabled(True)
        if event["type"] != ev.DONE:
            self.status.setText(f"The check could not run: {problem_words(event, self, 'checking ' + THIS_COMPUTER)}")
            self.status.setStyleSheet("color: #c62828;")
            return
        result = event["result"]
        self.checks, self.plan.memory_limit = result["checks"], result["memory_limit"]
        self.plan.gpu = result.get("gpu")
        self._show(self.checks)
        problems = sum(c["status"] == "problem" for c in self.checks)
        self.status.setText(f"{problems} problem{'s' * (problems != 1)} to fix before you go on." if problems
                            else "This computer is ready. Press Continue.")
        self.status.setStyleSheet(f"color: {'#c62828' if problems else '#2e7d32'}; font-weight: 600;")
        self.ready_changed.emit()

    def _show(self, checks: list[dict]) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        for row, check in enumerate(checks):
            mark, color = MARKS[check["status"]]
            icon = QLabel(mark)
            icon.setStyleSheet(f"color: {color}; font-size: 18px; font-weight: 700;")
            name = QLabel(check["name"])
            name.setStyleSheet("font-weight: 600;")
            text = check["detail"] + (f"<br><span style='color:{color}'>{check['fix']}</span>" if check["fix"] else "")
            detail = note(text, "#222")
            for label in (name, detail):
                label.setToolTip(check.get("technical", ""))  # the technical name, for the curious
            self.grid.addWidget(icon, row, 0)
            self.grid.addWidget(name, row, 1)
            self.grid.addWidget(detail, row, 2)
            link = re.search(r"https?://\S+[\w/]", check["fix"] or "")
            if link and check["status"] != "ok":
                button = QPushButton("Open download page")
                button.clicked.connect(lambda _=False, url=link.group(0): QDesktopServices.openUrl(QUrl(url)))
                self.grid.addWidget(button, row, 3)
            else:
                self.grid.addWidget(QWidget(), row, 3)
