"""Which model to fine-tune: the built-in demo, a model folder on this computer, or a Hugging Face repo.

A repo is downloaded in a worker with a progress bar; `changed(name)` gives 'demo', a folder or a repo id.
"""

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from ... import jobs
from ...engine import events as ev
from ...engine import models
from ..bridge import Job
from ..feedback import problem_words
from ..pages.page import note

KINDS = ["The demo model (built in, tiny)", "A model folder on this computer", "A model from Hugging Face"]


class ModelPicker(QWidget):
    changed = Signal(str)

    def __init__(self, settings=None, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.folder = QLineEdit(readOnly=True, placeholderText="no folder chosen")
        self.browse = QPushButton("Choose\u2026")
        self.repo = QLineEdit(placeholderText="e.g. mlx-community/Qwen2.5-0.5B-Instruct-4bit")
        self.download = QPushButton("Download")
        self.progress = QProgressBar()
        self.progress.hide()
        self.message = note()
        self.job = Job(self)
        self.job.event.connect(self._progress)
        self.job.ended.connect(self._downloaded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        for row in ((self.folder, self.browse), (self.repo, self.download)):
            line = QHBoxLayout()
            line.addWidget(row[0], 1)
            line.addWidget(row[1])
            layout.addLayout(line)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.browse.clicked.connect(self._choose_folder)
        self.repo.editingFinished.connect(self._repo_entered)
        self.download.clicked.connect(self._download)
        self._kind_changed(0)

    def show_model(self, name: str) -> None:
        """Show `name` ('demo', a folder or a repo id) as the one chosen, without announcing a change."""
        self.blockSignals(True)
        if name == "demo":
            self.kind.setCurrentIndex(0)
        elif models.is_repo_id(name):
            self.repo.setText(name)
            self.kind.setCurrentIndex(2)
        else:
            self.folder.setText(name)
            self.kind.setCurrentIndex(1)
        self.blockSignals(False)

    def name(self) -> str:
        index = self.kind.currentIndex()
        return "demo" if index == 0 else self.folder.text() if index == 1 else self.repo.text().strip()

    def _kind_changed(self, index: int) -> None:
        for widget, shown in ((self.folder, 1), (self.browse, 1), (self.repo, 2), (self.download, 2)):
            widget.setVisible(index == shown)
        self._say("")
        if self.name():
            self.changed.emit(self.name())

    def _say(self, text: str, color: str = "#555") -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {color};")
        self.message.setVisible(bool(text))

    def _choose_folder(self) -> None:
        start = self.settings.last_model_folder if self.settings else ""
        path = QFileDialog.getExistingDirectory(self, "Choose the model folder (with config.json)", start)
        if path:
            self.select_folder(path)

    def select_folder(self, path: str) -> None:
        self.kind.setCurrentIndex(1)
        try:
            models.check_folder(Path(path))
        except models.ModelError as error:
            self._say(str(error), "#c62828")
            return
        self.folder.setText(path)
        self._say("")
        if self.settings:
            self.settings.last_model_folder = path
        self.changed.emit(path)

    def _repo_entered(self) -> None:
        repo = self.repo.text().strip()
        if not models.is_repo_id(repo):
            self._say("Give the model's name on Hugging Face as owner/name.", "#c62828")
            return
        here = models.config_of(repo) is not None
        self._say("Downloaded already." if here else "Press Download (or Start: it downloads first).")
        self.changed.emit(repo)

    def _download(self) -> None:
        self._repo_entered()
        if not models.is_repo_id(self.repo.text().strip()):
            return
        self.progress.setRange(0, 0)
        self.progress.show()
        self.download.setEnabled(False)
        self.job.start(jobs.DownloadJob(run=str(jobs.scratch_folder("download")), model=self.repo.text().strip()))

    def _progress(self, event: dict) -> None:
        if event.get("type") == ev.PROGRESS and event.get("total"):
            self.progress.setRange(0, event["total"])
            self.progress.setValue(event["done"])
        if event.get("message"):
            self._say(event["message"])

    def _downloaded(self, event: dict) -> None:
        self.progress.hide()
        self.download.setEnabled(True)
        ok = event["type"] == ev.DONE
        self._say("Downloaded." if ok else problem_words(event, self, "downloading"), "#2e7d32" if ok else "#c62828")
        if ok:
            self.changed.emit(self.repo.text().strip())
