"""The Advanced section of the Train step: every knob behind the presets but the length (chosen in the How box),
in mlx-lm's own terms.

It edits a settings dict in place and emits `changed` after each edit.
"""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from .. import glossary

# key: (label, kind, minimum, maximum, tooltip); keys with a dot live in lora_parameters
FIELDS = {
    "batch_size": ("Batch size", int, 1, 512, "Examples per step. Larger uses more memory."),
    "learning_rate": ("Learning rate", float, 1e-7, 1.0, "How big each update is. Too high and the loss jumps."),
    "lora.rank": (glossary.words("rank"), int, 1, 512, glossary.tip("rank")),
    "lora.scale": (glossary.words("scale"), float, 0.1, 1000.0, glossary.tip("scale")),
    "lora.dropout": (glossary.words("dropout"), float, 0.0, 0.9, glossary.tip("dropout")),
    "num_layers": ("Layers to train", int, -1, 1000, "How many of the last layers get an adapter; 'all' trains all."),
    "max_seq_length": (glossary.words("max_seq_length"), int, 16, 131_072, glossary.tip("max_seq_length")),
    "steps_per_eval": ("Validate every (steps)", int, 1, 100_000, "How often the validation loss is measured."),
    "early_stop_patience": ("Stop early after", int, 0, 1000,
                            "Stop after this many validations without a better loss; 'off' never stops early."),
    "seed": ("Random seed", int, 0, 2**31 - 1, "The same seed and settings give the same run."),
    "beta": ("Preference strength (\u03b2)", float, 0.01, 100.0,
             "Teaching by choosing: for DPO, how far the model may move from where it started (lower moves further); "
             "for ORPO, how much the choice counts beside learning the better answers. 0.1 is usual."),
}
SWITCHES = {
    "grad_checkpoint": ("Save memory (gradient checkpointing)", "Recomputes parts of the model: less memory, "
                                                                "about a third slower."),
    "mask_prompt": ("Learn only the answers", "The loss counts only the answer tokens, not the prompt."),
    "pack": ("Pack short examples together", "Short examples of a step share a row, each seeing only itself: "
                                             "faster, and the same result."),
}


class SettingsForm(QWidget):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.settings: dict = {}
        self.inputs = {}
        form = self.rows = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for key, (label, kind, low, high, tip) in FIELDS.items():
            box = QSpinBox() if kind is int else QDoubleSpinBox()
            if kind is float:
                box.setDecimals(7 if key == "learning_rate" else 2)
                box.setSingleStep(1e-5 if key == "learning_rate" else 0.1)
            box.setRange(low, high)
            box.setToolTip(tip)
            if key == "num_layers":
                box.setSpecialValueText("all")
            if key == "early_stop_patience":
                box.setSpecialValueText("off")
                box.setSuffix(" validations")
            box.valueChanged.connect(lambda value, key=key: self._edited(key, value))
            form.addRow(label + ":", box)
            self.inputs[key] = box
        for key, (label, tip) in SWITCHES.items():
            box = QCheckBox(label)
            box.setToolTip(tip)
            box.toggled.connect(lambda value, key=key: self._edited(key, value))
            form.addRow(box)
            self.inputs[key] = box

    def show_choosing(self, shown: bool) -> None:
        """The settings of teaching by choosing are shown only for a run that does."""
        self.rows.setRowVisible(self.inputs["beta"], shown)

    def show_settings(self, settings: dict) -> None:
        self.settings = settings
        for key, box in self.inputs.items():
            box.blockSignals(True)
            value = self._value(key)
            if isinstance(box, QCheckBox):
                box.setChecked(bool(value))
            else:
                box.setValue(value if key != "num_layers" or value >= 0 else -1)
            box.blockSignals(False)

    def _value(self, key: str):
        if key.startswith("lora."):
            return self.settings["lora_parameters"][key[5:]]
        default = {"early_stop_patience": 0, "seed": 0, "grad_checkpoint": False, "mask_prompt": False, "pack": True,
                   "beta": 0.1}
        return self.settings.get(key, default.get(key))

    def _edited(self, key: str, value) -> None:
        if key.startswith("lora."):
            self.settings["lora_parameters"] = {**self.settings["lora_parameters"], key[5:]: value}
        else:
            self.settings[key] = value
            if key == "steps_per_eval":
                self.settings["save_every"] = value
        self.changed.emit()
