"""The answer settings the Test step shares between both models: which adapter, sampling, system prompt.

Greedy (temperature 0) is the default, so the same question gets the same answers every time.
"""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QLineEdit, QSpinBox, QWidget

from ...engine.evaluate.sampling import Sampling
from .. import glossary


class SamplingForm(QWidget):
    """Adapter choice, temperature, top-p, max tokens, seed and system prompt; `changed` on any edit."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        limits = Sampling.LIMITS
        self.adapter = QComboBox()
        self.temperature = QDoubleSpinBox(decimals=2, singleStep=0.1, minimum=limits["temperature"][0],
                                          maximum=limits["temperature"][1])
        self.top_p = QDoubleSpinBox(decimals=2, singleStep=0.05, minimum=limits["top_p"][0],
                                    maximum=limits["top_p"][1], value=1.0)
        self.max_tokens = QSpinBox(minimum=1, maximum=limits["max_tokens"][1], value=200, singleStep=50)
        self.seed = QSpinBox(minimum=0, maximum=limits["seed"][1])
        self.system = QLineEdit(placeholderText="Optional: an instruction every answer follows (system prompt)")
        self.explanation = QLabel(wordWrap=True)
        self.explanation.setStyleSheet("color: #555;")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.top_p.setToolTip(glossary.tip("top_p"))
        self.max_tokens.setToolTip(glossary.tip("max_tokens"))
        grid.addWidget(QLabel("Your model:"), 0, 0)
        grid.addWidget(self.adapter, 0, 1, 1, 7)  # a row of its own: the adapter's name is long
        for column, (label, widget) in enumerate((("Temperature:", self.temperature),
                                                  (f"{glossary.words('top_p')}:", self.top_p),
                                                  (f"{glossary.words('max_tokens')}:", self.max_tokens),
                                                  ("Seed:", self.seed))):
            title = QLabel(label)
            title.setToolTip(widget.toolTip())
            grid.addWidget(title, 1, 2 * column)
            grid.addWidget(widget, 1, 2 * column + 1)
        grid.addWidget(QLabel("System:"), 2, 0)
        grid.addWidget(self.system, 2, 1, 1, 7)
        grid.addWidget(self.explanation, 3, 0, 1, 8)
        for spin in (self.temperature, self.top_p, self.max_tokens, self.seed):
            spin.valueChanged.connect(self._changed)
        self.adapter.currentIndexChanged.connect(self._changed)
        self._changed()

    def set_adapters(self, choices: dict[str, str]) -> None:
        """choices: key ("last", "best") -> the words shown for it."""
        current = self.adapter.currentData()
        self.adapter.blockSignals(True)
        self.adapter.clear()
        for key, words in choices.items():
            self.adapter.addItem(words, key)
        index = self.adapter.findData(current)
        self.adapter.setCurrentIndex(max(index, 0))
        self.adapter.blockSignals(False)

    def sampling(self) -> Sampling:
        return Sampling(temperature=round(self.temperature.value(), 2), top_p=round(self.top_p.value(), 2),
                        max_tokens=self.max_tokens.value(), seed=self.seed.value())

    def checkpoint(self) -> str:
        return self.adapter.currentData() or "last"

    def job_settings(self) -> dict:
        """The fields every Test job takes from this form."""
        return {"checkpoint": self.checkpoint(), "sampling": self.sampling().to_dict(),
                "system": self.system.text().strip() or None}

    def _changed(self) -> None:
        greedy = self.temperature.value() == 0
        self.top_p.setEnabled(not greedy)
        self.seed.setEnabled(not greedy)
        self.explanation.setText(f"Both models answer with the same settings: {self.sampling().describe()}.")
        self.changed.emit()
