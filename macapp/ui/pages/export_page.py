"""Step 5, Export: turn the adapter into a model of its own that other apps can use.

Fusing runs in a worker and writes to a temporary folder first, so a failed export leaves nothing half-written.
"""

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QProgressBar, QPushButton

from ...engine import config, demo
from ..bridge import Job
from .page import Page, note


class ExportPage(Page):
    title = "Export"
    purpose = ("Take your model out of Tailor: merge what it learned into a standalone model folder, "
               "or use the adapter as it is with mlx-lm.")

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.job = Job(self)
        self.job.event.connect(lambda e: e.get("message") and self.status.setText(e["message"]))
        self.job.ended.connect(self._ended)
        self.fuse_button = QPushButton("Make a standalone model")
        self.fuse_button.clicked.connect(self.fuse)
        self.open_button = QPushButton("Show in folder")
        self.open_button.clicked.connect(self._open)
        self.open_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = note()
        self.usage = QPlainTextEdit(readOnly=True)
        self.usage.setMaximumHeight(110)
        row = QHBoxLayout()
        row.addWidget(self.fuse_button)
        row.addWidget(self.open_button)
        row.addStretch(1)
        self.body.addLayout(row)
        self.body.addWidget(self.progress)
        self.body.addWidget(self.status)
        self.body.addWidget(note("To use the adapter without exporting, run in a terminal:"))
        self.body.addWidget(self.usage)
        self.body.addStretch(1)
        self.out: Path | None = None

    def enter(self) -> None:
        if self.plan.run_dir is None:
            return
        settings = config.load(Path(self.plan.run_dir) / "config.yaml")
        model = demo.model_folder() if settings.model == "demo" else settings.model
        self.usage.setPlainText(f"mlx_lm generate --model {model} \\\n"
                                f"  --adapter-path {Path(self.plan.run_dir) / settings.adapter_path} \\\n"
                                f"  --prompt \"Hello\"")

    def fuse(self) -> None:
        self.out = Path(self.plan.run_dir) / "exports" / "fused"
        self.fuse_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Merging the adapter into the model\u2026")
        self.job.start({"kind": "fuse", "run": str(self.plan.run_dir), "out": str(self.out)})

    def busy(self) -> bool:
        return self.job.running

    def _ended(self, event: dict) -> None:
        self.fuse_button.setEnabled(True)
        self.progress.hide()
        if event["type"] == "done":
            self.status.setText(f"Saved the standalone model to {event['result']['path']}")
            self.status.setStyleSheet("color: #2e7d32; font-weight: 600;")
            self.open_button.show()
        else:
            self.status.setText(f"Export failed: {event['message']}")
            self.status.setStyleSheet("color: #c62828;")

    def _open(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out)))
