"""How the Data step keeps examples apart for checking: the validation and test shares, what is done with repeated
examples, and, for very few examples, training on all of them with nothing held out.

It reads and sets the plan's ratios and repeats, and says in words what the split will be, as prepare() will make it.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSlider

from ...engine import words
from ...engine.data.datasets import DEFAULT_RATIOS, MIN_TO_SPLIT, NO_SPLIT, can_split, report_split
from ...engine.errors import InputError
from ..pages.page import note


class SplitBox(QGroupBox):
    changed = Signal()  # the ratios or the handling of repeats changed

    def __init__(self, plan, parent=None):
        super().__init__("Keeping examples apart for checking", parent)
        self.plan = plan
        self.report: dict | None = None
        form = QFormLayout(self)
        self.valid_slider, self.test_slider = QSlider(Qt.Horizontal), QSlider(Qt.Horizontal)
        for slider in (self.valid_slider, self.test_slider):
            slider.setRange(0, 30)
            slider.valueChanged.connect(self._shares_moved)
        self.valid_slider.setToolTip("Validation: examples the model never trains on, checked during training to "
                                     "see whether it is still learning or only memorising.")
        self.test_slider.setToolTip("Test: examples kept for the Test step, to compare the tuned model with the "
                                    "original on questions neither trained on.")
        self.rows = []  # each share's slider, the share in words, and its row's label
        for title, slider in (("Checked while training:", self.valid_slider),
                              ("Kept for the Test step:", self.test_slider)):
            share = QLabel(minimumWidth=40)
            slider.valueChanged.connect(lambda value, share=share: share.setText(f"{value}%"))
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(share)
            form.addRow(title, row)
            self.rows.append((slider, share, form.labelForField(row)))
        self.repeats = QCheckBox("Keep repeated examples, in training only")
        self.repeats.setToolTip("Repeats are never both trained on and checked. Left out, each counts once; kept, "
                                "every copy is trained on, so it weighs more, and none is used for checking.")
        self.repeats.toggled.connect(self._repeats_toggled)
        self.no_split = QCheckBox()
        self.no_split.toggled.connect(self._no_split_toggled)
        form.addRow(self.repeats)
        form.addRow(self.no_split)
        self.note = note()
        form.addRow(self.note)
        self.show_plan()

    def show_plan(self) -> None:
        """The plan's split on the controls, as when a past run is opened."""
        held_out = tuple(self.plan.ratios) != NO_SPLIT
        ratios = self.plan.ratios if held_out else DEFAULT_RATIOS
        for (slider, share, _), value in zip(self.rows, ratios[1:]):
            slider.blockSignals(True)
            slider.setValue(round(value * 100))
            slider.setEnabled(held_out)
            slider.blockSignals(False)
            share.setText(f"{slider.value()}%")
        for box, on in ((self.repeats, self.plan.repeats == "train"), (self.no_split, not held_out)):
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        self.show_report(self.report)

    def _shares_moved(self) -> None:
        valid, test = self.valid_slider.value() / 100, self.test_slider.value() / 100
        self.plan.ratios = (round(1 - valid - test, 2), valid, test)
        self.show_report(self.report)
        self.changed.emit()

    def _repeats_toggled(self, on: bool) -> None:
        self.plan.repeats = "train" if on else "drop"
        self.show_report(self.report)
        self.changed.emit()

    def _no_split_toggled(self, on: bool) -> None:
        for slider in (self.valid_slider, self.test_slider):
            slider.setEnabled(not on)
        if on:
            self.plan.ratios = NO_SPLIT
            self.show_report(self.report)
            self.changed.emit()
        else:
            self._shares_moved()

    def sizes(self) -> tuple[int, int, int] | None:
        """(train, valid, test) of the checked data as it will be split; None before it is read or when it cannot be
        split so."""
        if not self.report or not self.report["count"]:
            return None
        try:
            return report_split(self.report, self.plan.ratios, self.plan.repeats)
        except InputError:
            return None

    def show_report(self, report: dict | None) -> None:
        """Say what the split of this checked data will be, and offer what its size and repeats call for."""
        self.report = report
        own = bool(report) and "all" not in report["splits"] and bool(report["splits"])
        repeated = report["duplicates"] if report else 0
        self.repeats.setVisible(bool(repeated))
        distinct = report["count"] - repeated if report else 0
        too_few = bool(report) and not own and report["count"] > 0 and self._too_few(report)
        self.no_split.setVisible(too_few or tuple(self.plan.ratios) == NO_SPLIT)
        self.no_split.setText(f"Train on all {words.count(distinct, 'example')}, with none kept apart")
        self.no_split.setToolTip("Nothing then checks whether the model learned or only memorised, and the Test "
                                 "step has no questions it never saw.")
        for row in self.rows:
            for widget in row:
                widget.setVisible(not own)
        self.note.setStyleSheet("color: #555;")
        if not report or not report["count"]:
            ratios = self.plan.ratios
            self.note.setText(f"Training {ratios[0]:.0%}, checked while training {ratios[1]:.0%}, kept for the Test "
                              f"step {ratios[2]:.0%}.")
            return
        try:
            train, valid, test = report_split(report, self.plan.ratios, self.plan.repeats)
        except InputError as error:
            self.note.setText(f"Only {words.count(distinct, 'different example')}: too few to keep some apart for "
                              f"checking. Add examples ({MIN_TO_SPLIT} or more), or tick the box above to train on "
                              "all of them." if too_few else error.problems[0].message[0].upper()
                              + error.problems[0].message[1:] + ". " + error.problems[0].fix)
            self.note.setStyleSheet("color: #c62828;")
            return
        said = ("Your data is split already. " if own else "") + (
            f"Training {train:,} \u00b7 checked while training {valid:,} \u00b7 kept for the Test step {test:,}.")
        if tuple(self.plan.ratios) == NO_SPLIT:
            said += (" Nothing checks whether it learned or only memorised, and the Test step has no questions it "
                     "never saw.")
        elif not valid:
            said += " With none checked while training, there is no validation curve and no best adapter."
        if repeated:
            copies = repeated + report["repeat_groups"]
            said += (f" {words.count(repeated, 'example')} repeat another"
                     + (f" ({report['near']} only in case, spaces or punctuation)" if report["near"] else "")
                     + (f": all {copies:,} copies are trained on, none is checked." if self.plan.repeats == "train"
                        else ": each is kept once."))
        if report.get("asked_again") and not own:
            said += (f" {words.count(report['questions_asked_again'], 'question')} of yours "
                     f"{'is' if report['questions_asked_again'] == 1 else 'are'} asked more than once with different "
                     f"answers ({report['asked_again']:,} examples, see Problems): all of them are trained on and none "
                     "is kept for the Test step, so it never asks a question that training answered.")
        if report.get("overlap"):
            said += (f" {words.count(report['overlap'], 'example')} of your checking parts are also in training: "
                     "left out of them (see Problems).")
        self.note.setText(said)

    def _too_few(self, report: dict) -> bool:
        return not can_split(report, DEFAULT_RATIOS if tuple(self.plan.ratios) == NO_SPLIT else self.plan.ratios,
                             self.plan.repeats)
