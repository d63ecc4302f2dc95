"""Step 5, Export: take the model out of Tailor as a standalone model, a checked GGUF, an Ollama model, a local
API, or a model shared on Hugging Face.

Every export runs in a worker, checks the free space first and writes to a temporary folder that is
renamed at the end, so a failed export leaves nothing half-written.
"""

from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from ...engine.models import demo
from ...engine.runs import runs
from ..widgets.export_cards import FuseCard, GgufCard, OllamaCard, ServeCard
from ..widgets.share_card import ShareCard
from .page import Page, note, open_path


class ExportPage(Page):
    title = "Export"
    purpose = ("Take your model out of Tailor: a standalone model, one file for llama.cpp and LM Studio, a model "
               "in Ollama, a local API for other apps, or your model shared on Hugging Face.")

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.adapter = QComboBox()
        self.open_button = QPushButton("Show in folder")
        self.open_button.clicked.connect(lambda: open_path(self.plan.run_dir / "exports", self))
        self.open_button.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("Export:"))
        top.addWidget(self.adapter)
        top.addStretch(1)
        top.addWidget(self.open_button)
        self.fuse_card, self.gguf_card, self.serve_card = FuseCard(self), GgufCard(self), ServeCard(self)
        self.ollama_card, self.share_card = OllamaCard(self), ShareCard(self)
        self.usage = QPlainTextEdit(readOnly=True, maximumHeight=80)
        cards = QWidget()
        column = QVBoxLayout(cards)
        column.setContentsMargins(0, 0, 8, 0)
        self.cards = (self.fuse_card, self.gguf_card, self.ollama_card, self.serve_card, self.share_card)
        self.shown_run = None
        for card in self.cards:
            column.addWidget(card)
        column.addWidget(note("Or use the adapter as it is, without exporting, in a terminal:"))
        column.addWidget(self.usage)
        column.addStretch(1)
        scroll = QScrollArea(widgetResizable=True, frameShape=QScrollArea.NoFrame)
        scroll.setWidget(cards)
        self.body.addLayout(top)
        self.body.addWidget(scroll, 1)

    def enter(self) -> None:
        if self.plan.run_dir is None:
            return
        current = self.adapter.currentData()
        self.adapter.clear()
        for key, words in runs.adapter_words(self.plan.run_dir).items():
            self.adapter.addItem(words, key)
        self.adapter.setCurrentIndex(max(self.adapter.findData(current), 0))
        if self.plan.run_dir != self.shown_run:  # another run: what belonged to the last one goes
            self.shown_run = self.plan.run_dir
            for card in self.cards:
                card.show_run(self.plan.run_dir.name)
        self.share_card.sign_in.refresh()
        model, adapter = self.model_and_adapter()
        shown = demo.model_folder() if model == "demo" else model
        self.usage.setPlainText(f"mlx_lm generate --model {shown} \\\n  --adapter-path {adapter} \\\n"
                                f"  --prompt \"Hello\"")

    def model_and_adapter(self):
        return runs.model_and_adapter(self.plan.run_dir, self.adapter.currentData() or "last")
