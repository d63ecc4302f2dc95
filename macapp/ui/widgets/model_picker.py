"""Which model to fine-tune: one from the catalog (with what it is good at, its size, licence and whether training it
fits this Mac), the built-in demo, a model folder on this computer, or any Hugging Face repository.

A model not yet here downloads in a worker with its bytes, speed and time left; Pause keeps what came, Resume goes
on from there (also after Tailor was closed), Cancel throws it away. `changed(name)` gives 'demo', a folder or a repo.
"""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from ... import jobs
from ...engine import disk
from ...engine.models import catalog, model_places, models
from ...engine.runs import events as ev
from ...engine.words import THIS_COMPUTER
from ..bridge import Job
from ..feedback import problem_words
from ..pages.page import note
from .hub_sign_in import SignInButton

KINDS = ["A model for your Mac", "The demo model (built in, tiny)", "A model folder on this computer",
         "A model from Hugging Face"]
CATALOG, DEMO, FOLDER, HUB = range(4)
FIT_WORDS = {"ok": f"Training fits {THIS_COMPUTER}", "tight": f"Training fits {THIS_COMPUTER}, but only just",
             "too_big": f"Training does not fit {THIS_COMPUTER}"}
FIT_COLORS = {"ok": "#2e7d32", "tight": "#b26a00", "too_big": "#c62828", None: "#777"}


def dot(color: str) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ModelPicker(QWidget):
    changed = Signal(str)

    def __init__(self, settings=None, plan=None, parent=None):
        super().__init__(parent)
        self.settings, self.plan = settings, plan
        self.fetching = ""  # the model being downloaded, whatever is chosen meanwhile
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.entries = QComboBox()  # the catalog, each with whether it fits
        for combo in (self.kind, self.entries):  # as wide as the column, whatever the longest name
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)
        self.card = note()  # the chosen catalog model: what it is good at, size, licence, fit
        self.card.setTextFormat(Qt.RichText)
        self.folder = QLineEdit(readOnly=True, placeholderText="no folder chosen")
        self.browse = QPushButton("Choose\u2026")
        self.repo = QLineEdit(placeholderText="e.g. mlx-community/Qwen2.5-0.5B-Instruct-4bit")
        self.download = QPushButton("Download")
        self.pause = QPushButton("Pause")
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar(textVisible=False)
        self.progress.hide()
        self.message = note()
        self.sign_in = SignInButton(
            "Some models (Llama and Gemma from their makers) ask you to accept their licence on Hugging Face first. "
            "Then make an access token at huggingface.co/settings/tokens (Read is enough) and paste it here. Tailor "
            "keeps it in your Keychain.",
            "For models whose makers ask you to accept their licence first (Llama and Gemma from Meta and Google); "
            "the token is kept in your Keychain.")
        self.job = Job(self)
        self.job.event.connect(self._progress)
        self.job.ended.connect(self._downloaded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.entries)
        layout.addWidget(self.card)
        for row in ((self.folder, self.browse), (self.repo,)):
            line = QHBoxLayout()
            for index, widget in enumerate(row):
                line.addWidget(widget, 1 - index)
            layout.addLayout(line)
        buttons = QHBoxLayout()
        for button in (self.download, self.pause, self.cancel):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.sign_in, 0, Qt.AlignLeft)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.entries.currentIndexChanged.connect(self._entry_chosen)
        self.browse.clicked.connect(self._choose_folder)
        self.repo.editingFinished.connect(self._repo_entered)
        self.download.clicked.connect(self._download)
        self.pause.clicked.connect(self.job.stop)
        self.cancel.clicked.connect(self._cancel)
        self.sign_in.problem.connect(lambda text: self._say(text, "#c62828"))
        self.fill_catalog()
        self._kind_changed(CATALOG)

    # what is chosen

    def show_model(self, name: str) -> None:
        """Show `name` ('demo', a folder, a catalog repository or another one) as chosen, without announcing it."""
        self.blockSignals(True)
        known = catalog.find(name) if models.is_repo_id(name) else None
        if name == "demo":
            self.kind.setCurrentIndex(DEMO)
        elif known:
            self._select_entry(known[0], name)
            self.kind.setCurrentIndex(CATALOG)
        elif models.is_repo_id(name):
            self.repo.setText(name)
            self.kind.setCurrentIndex(HUB)
        else:
            self.folder.setText(name)
            self.kind.setCurrentIndex(FOLDER)
        self.blockSignals(False)
        self._show_state()

    def name(self) -> str:
        index = self.kind.currentIndex()
        if index == CATALOG:
            return self.entries.currentData() or ""
        return "demo" if index == DEMO else self.folder.text() if index == FOLDER else self.repo.text().strip()

    def _kind_changed(self, index: int) -> None:
        for widget, shown in ((self.entries, CATALOG), (self.card, CATALOG), (self.folder, FOLDER),
                              (self.browse, FOLDER), (self.repo, HUB)):
            widget.setVisible(index == shown)
        self._show_state()
        if self.name():
            self.changed.emit(self.name())

    # the catalog

    def fill_catalog(self) -> None:
        """List the catalog, each in the form that fits best with the plan's method and settings (best first)."""
        chosen = self.entries.currentData()
        self.entries.blockSignals(True)
        self.entries.clear()
        for row in self._judged():
            entry, form = row["entry"], row["form"] or next(iter(row["entry"].forms))
            words = {"ok": "fits", "tight": "tight", "too_big": "too big", None: ""}[row["status"]]
            self.entries.addItem(dot(FIT_COLORS[row["status"]]), f"{entry.name} \u00b7 {entry.parameters / 1e9:.1f}B"
                                 + (f" \u2014 {words}" if words else ""), entry.forms[form])
        found = self.entries.findData(chosen) if chosen else -1
        self.entries.setCurrentIndex(max(found, 0))
        self.entries.blockSignals(False)
        if chosen and found < 0 and catalog.find(chosen):  # now judged best in another form: still the one chosen
            self._select_entry(catalog.find(chosen)[0], chosen)
        self._describe_entry()

    def _judged(self) -> list[dict]:
        """The catalog with each entry's fit, when the plan and this Mac's limit are known; else unjudged."""
        if self.plan is None or not self.plan.memory_limit:
            return [{"entry": entry, "form": None, "status": None, "suggestion": None,
                     "download_bytes": entry.download_bytes(next(iter(entry.forms)))} for entry in catalog.entries()]
        from ...engine.train.presets import METHODS

        return catalog.table(self.plan.train_config(), self.plan.seq_length(), self.plan.memory_limit,
                             METHODS[self.plan.method][2])

    def _fit(self, entry, form: str) -> dict:
        """memory.plan of training this form with the plan's settings; {} while this Mac's limit is not known."""
        if self.plan is None or not self.plan.memory_limit:
            return {}
        from ...engine.train.presets import METHODS

        if self.plan.method == "full" and catalog.BITS[form]:
            return {"status": "too_big", "why": "A full fine-tune needs the model in full precision, which the list "
                                                "does not offer for this one: choose LoRA or QLoRA."}
        return catalog.fit_form(entry, form, self.plan.train_config(), self.plan.seq_length(), self.plan.memory_limit,
                                METHODS[self.plan.method][2])

    def _select_entry(self, entry, repo: str) -> None:
        index = self.entries.findData(repo)
        if index < 0:  # another form of the entry than the one judged best: shown as chosen all the same
            self.entries.addItem(entry.name, repo)
            index = self.entries.count() - 1
        self.entries.blockSignals(True)
        self.entries.setCurrentIndex(index)
        self.entries.blockSignals(False)
        self._describe_entry()

    def _entry_chosen(self) -> None:
        self._describe_entry()
        self._show_state()
        if self.kind.currentIndex() == CATALOG and self.name():
            self.changed.emit(self.name())

    def _describe_entry(self) -> None:
        repo = self.entries.currentData()
        known = catalog.find(repo) if repo else None
        if not known:
            self.card.setText("")
            return
        entry, form = known
        row = self._fit(entry, form)
        status = row.get("status")
        licence = f'<a href="{entry.licence_url}">{entry.licence}</a>'
        lines = [f"{entry.good_at}",
                 f"{entry.parameters / 1e9:.1f} billion parameters \u00b7 {catalog.FORM_WORDS[form]} \u00b7 "
                 f"{disk.size_words(entry.download_bytes(form))} to download \u00b7 {licence}"
                 + (" (accept it on Hugging Face first)" if form in entry.gated else "")]
        if status:
            fit = row.get("why") or FIT_WORDS[status]
            if status == "too_big" and row.get("suggestion"):
                fit += " as set; it fits with " + _setting_words(row["suggestion"])
            elif self.plan.gpu is False and catalog.slow_without_gpu(entry):
                fit, status = catalog.SLOW_WITHOUT_GPU, "tight"
            lines.append(f'<span style="color:{FIT_COLORS[status]}; font-weight:600">\u25cf {fit}</span>')
        self.card.setText("<br>".join(lines))
        self.card.setOpenExternalLinks(True)

    # where the model is: here, half-downloaded, or not yet

    def _show_state(self) -> None:
        """The download buttons and message for the chosen model, as it is on this computer now."""
        name, downloading = self.name(), self.job.running
        remote = self.kind.currentIndex() in (CATALOG, HUB) and models.is_repo_id(name)
        here = model_places.find(name) if remote else None
        held = model_places.bytes_held(name) if remote and not here else 0
        self.download.setVisible(remote and not here and not downloading)
        self.download.setText("Resume download" if held else "Download")
        self.pause.setVisible(downloading)
        self.cancel.setVisible(remote and (downloading or bool(held)))
        self.progress.setVisible(downloading)
        self.sign_in.setVisible(self.kind.currentIndex() in (CATALOG, HUB))
        if downloading:
            return
        if here:
            self._say(f"On {THIS_COMPUTER} ({model_places.place_of(here)}).", "#2e7d32")
        elif held:
            self._say(f"Paused after {disk.size_words(held)}. Resume goes on from there.")
        elif remote:
            self._say(f"Not on {THIS_COMPUTER} yet: press Download, or Start training, which downloads it first.")
        else:
            self._say("")

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
        self.kind.setCurrentIndex(FOLDER)
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
        self._show_state()
        self.changed.emit(repo)

    # downloading

    def _download(self) -> None:
        if self.kind.currentIndex() == HUB:
            self._repo_entered()
        name = self.name()
        if not models.is_repo_id(name):
            return
        self.progress.setRange(0, 0)
        self.fetching = name
        self.job.start(jobs.DownloadJob(run=str(jobs.scratch_folder("download")), model=name))
        self._show_state()
        self._say(f"Looking up {name} on Hugging Face\u2026")

    def _progress(self, event: dict) -> None:
        if event.get("type") == ev.PROGRESS and event.get("total"):
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * event["done"] / event["total"]))
        if event.get("message"):
            self._say(event["message"])

    def _downloaded(self, event: dict) -> None:
        self._show_state()
        if event["type"] == ev.DONE and event.get("stopped"):
            return  # paused: _show_state says how far it came
        if event["type"] != ev.DONE:
            self._say(problem_words(event, self, "downloading"), "#c62828")
            return
        self._say(f"Downloaded: on {THIS_COMPUTER} now.", "#2e7d32")
        if self.fetching == self.name():
            self.changed.emit(self.name())

    def _cancel(self) -> None:
        if self.job.running:
            self.job.ended.connect(self._discard, Qt.SingleShotConnection)
            self.job.stop()
        else:
            self._discard()

    def _discard(self, *_) -> None:
        model_places.discard(self.fetching or self.name())
        self.fetching = ""
        self._show_state()
        self._say("Download cancelled; what had arrived was deleted.")


def _setting_words(suggestion: dict) -> str:
    parts = [f"a batch of {suggestion['batch_size']}"]
    if suggestion["grad_checkpoint"]:
        parts.append("memory saving on")
    parts.append(f"examples of up to {suggestion['max_seq_length']:,} tokens")
    return ", ".join(parts)
