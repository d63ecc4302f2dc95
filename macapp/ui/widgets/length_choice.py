"""How long to train, in the Train step: steps, times through the person's data, or minutes, and a number.

It shows a length and emits `chosen(unit, amount)` when the person changes it; the plan turns that into steps.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QWidget

from ...engine.words import THIS_COMPUTER

# unit: (label, decimals, lowest, highest, step, amount when it cannot be said from the steps yet, what it means)
UNITS = {
    "steps": ("Steps", 0, 1, 1_000_000, 10, 200, "How many batches of examples to train on."),
    "passes": ("Times through my data", 1, 0.1, 1000, 0.5, 3,
               "How many times training goes over every one of your training examples (also called epochs). "
               "Tailor works out the steps from how many examples you have."),
    "minutes": ("Minutes", 0, 1, 100_000, 5, 20,
                "About how long to train. Tailor works out the steps from how fast your last run of this model "
                f"went on {THIS_COMPUTER}."),
}


class LengthChoice(QWidget):
    """A unit and an amount. `said_in(unit)` gives the length now set in another unit, so switching units keeps
    about the same length; None when it cannot be said yet (then the unit's usual amount is taken)."""

    chosen = Signal(str, float)

    def __init__(self, said_in, parent=None):
        super().__init__(parent)
        self.said_in = said_in
        self.unit = QComboBox(minimumContentsLength=8)  # shrinks with the settings column rather than widen it
        self.unit.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        for unit, (label, *_, meaning) in UNITS.items():
            self.unit.addItem(label, unit)
            self.unit.setItemData(self.unit.count() - 1, meaning, Qt.ToolTipRole)
        self.amount = QDoubleSpinBox()
        self.unit.currentIndexChanged.connect(self._unit_chosen)
        self.amount.valueChanged.connect(lambda amount: self.chosen.emit(self.unit.currentData(), amount))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.unit, 1)
        row.addWidget(self.amount)

    def show_length(self, unit: str, amount: float) -> None:
        _, decimals, lowest, highest, step, *_ = UNITS[unit]
        for box in (self.unit, self.amount):
            box.blockSignals(True)
        self.unit.setCurrentIndex(list(UNITS).index(unit))
        self.amount.setDecimals(decimals)
        self.amount.setRange(lowest, highest)
        self.amount.setSingleStep(step)
        self.amount.setValue(amount)
        self.unit.setToolTip(UNITS[unit][-1])
        for box in (self.unit, self.amount):
            box.blockSignals(False)

    def _unit_chosen(self) -> None:
        unit = self.unit.currentData()
        said = self.said_in(unit)
        self.show_length(unit, said if said is not None else UNITS[unit][5])
        self.chosen.emit(unit, self.amount.value())
