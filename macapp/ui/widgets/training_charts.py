"""The live charts of a training run: loss, tokens per second, memory against the machine's limit, and for a run
taught by choosing, how often it prefers the better answer.

TrainingCharts takes the new points of a run's RunState (live, or read from a past run's folder) and
redraws only when refresh() is called, from its page's 10 Hz timer.
"""

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from ...engine.runs.run_state import RunState
from .. import glossary
from .series_plot import PALETTE, SeriesPlot

GB = 1e9


def show_macs(plot: SeriesPlot, names: list[str], label: str, first: int = 0) -> None:
    """A curve `mac<i>` for each Mac (or process) training together from the `first`, labelled `label` with its name."""
    for i, name in enumerate(names[first:], first):
        if f"mac{i}" not in plot.series:
            plot.add_series(f"mac{i}", label.format(name), PALETTE[(5 + i) % len(PALETTE)], dashed=True)


def forget_macs(plot: SeriesPlot) -> None:
    for name in [name for name in plot.series if name.startswith("mac")]:
        plot.removeItem(plot.curves.pop(name))
        del plot.series[name]


class LossPlot(SeriesPlot):
    def __init__(self, parent=None):
        super().__init__("Loss (lower is better)", "step", "loss", parent)
        self.add_series("train", "training", PALETTE[0])
        self.add_series("val", "validation", PALETTE[1], dots=True)


class ChoicePlot(SeriesPlot):
    """The share of pairs whose better answer the model prefers (more than the model it started from, for DPO), of
    the training pairs and of the held-out ones."""

    def __init__(self, parent=None):
        super().__init__("Picks the better answer", "step", "% of pairs", parent)
        self.add_series("train", "training pairs", PALETTE[0])
        self.add_series("val", "held-out pairs", PALETTE[1], dots=True)
        self.setToolTip("How often the model now prefers the better answer of a pair: of the pairs it trains on, and "
                        "of the held-out pairs it never sees. At the start it is about half, by chance.")


class SpeedPlot(SeriesPlot):
    def __init__(self, parent=None):
        super().__init__("Speed", "step", glossary.words("speed"), parent)
        self.add_series("speed", glossary.words("speed"), PALETTE[2])
        self.setToolTip(glossary.tip("speed"))


class MemoryPlot(SeriesPlot):
    """The memory training holds now and at most (MLX's active and peak) and the whole process's; the machine's limit
    as a line once in view."""

    def __init__(self, parent=None):
        super().__init__("Memory", "step", "GB", parent)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.add_series("active", glossary.words("memory_used"), PALETTE[4])
        self.add_series("peak", glossary.words("memory_most"), PALETTE[3])
        self.add_series("rss", glossary.words("memory_all"), PALETTE[5], dashed=True)
        self.setToolTip("\n".join(glossary.tip(key) for key in ("memory_used", "memory_most", "memory_all")))
        self.limit_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d62728", width=1, style=pg.QtCore.Qt.DotLine),
                                          label="limit", labelOpts={"position": 0.05, "color": "#d62728"})
        self.addItem(self.limit_line, ignoreBounds=True)
        self.limit_line.hide()

    def set_limit(self, limit_bytes: int | None) -> None:
        if limit_bytes:
            self.limit_line.setValue(limit_bytes / GB)
            self.limit_line.label.setFormat(f"limit {limit_bytes / GB:.1f} GB")
            self.setTitle("Memory", size="11pt")
            self.limit_line.show()


class TrainingCharts(QWidget):
    """The charts of one run, fed with events: loss, speed and memory, and the choice chart for a run taught by
    choosing."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss, self.speed, self.memory, self.choice = LossPlot(), SpeedPlot(), MemoryPlot(), ChoicePlot()
        self.turn, self.total, self.drawn = 0, None, (-1, 0, 0, 0, 0, 0, 0)  # (revision, points drawn of each kind)
        self.grid = layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.speed, 1, 0)
        layout.addWidget(self.memory, 1, 1)
        self._show_choice(False)
        layout.setRowStretch(0, 3)
        layout.setRowStretch(1, 2)

    @property
    def plots(self) -> tuple:
        return self.loss, self.speed, self.memory, self.choice

    def _show_choice(self, shown: bool) -> None:
        """The choice chart beside the loss for a run taught by choosing; the loss across the top otherwise."""
        self.choosing = shown
        self.grid.addWidget(self.loss, 0, 0, 1, 1 if shown else 2)
        if shown:
            self.grid.addWidget(self.choice, 0, 1)
        self.choice.setVisible(shown)

    def clear(self) -> None:
        self.total, self.drawn = None, (-1, 0, 0, 0, 0, 0, 0)
        self._show_choice(False)
        forget_macs(self.memory)
        forget_macs(self.speed)
        for plot in self.plots:
            plot.clear_points()
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # none of the last run's ranges stays
            plot.enableAutoRange()

    def _span(self, total: int) -> None:
        # The whole run's steps from the start: the step axis is drawn once, not again with every point.
        self.total = total
        for plot in self.plots:
            plot.setXRange(0, total, padding=0.02)

    def take(self, run: RunState) -> None:
        """Take the run's points that are new since the last call; all of them again when a resume rewrote them."""
        if run.total and run.total != self.total:
            self._span(run.total)
        if run.limit_bytes:
            self.memory.set_limit(run.limit_bytes)
        if run.revision != self.drawn[0]:
            for plot in self.plots:
                plot.clear_points()
            self.drawn = (run.revision, 0, 0, 0, 0, 0, 0)
        _, trains, vals, memories, macs, choices, val_choices = self.drawn
        for step, loss, speed in run.train_points[trains:]:
            self.loss.add("train", step, loss)
            self.speed.add("speed", step, speed or 0)
        for step, loss in run.val_points[vals:]:
            self.loss.add("val", step, loss)
        for step, active, peak, rss in run.memory_points[memories:]:
            self.memory.add("active", step, active)
            self.memory.add("peak", step, peak)
            self.memory.add("rss", step, rss)
        show_macs(self.memory, run.macs, "peak on {}", first=1)  # the first Mac's is this one's own, drawn above
        show_macs(self.speed, run.macs, "on {}")
        for (step, *peaks), (_, *speeds) in zip(run.macs_memory_points[macs:], run.macs_speed_points[macs:]):
            for i in range(1, len(peaks)):
                self.memory.add(f"mac{i}", step, peaks[i])
            for i, speed in enumerate(speeds):
                self.speed.add(f"mac{i}", step, speed)
        for name, points, done in (("train", run.choice_points, choices), ("val", run.val_choice_points, val_choices)):
            for step, share in points[done:]:
                self.choice.add(name, step, 100 * share)
        if bool(run.choice_points or run.val_choice_points) != self.choosing:
            self._show_choice(not self.choosing)
        self.drawn = (run.revision, len(run.train_points), len(run.val_points), len(run.memory_points),
                      len(run.macs_memory_points), len(run.choice_points), len(run.val_choice_points))

    @property
    def dirty(self) -> bool:
        return any(plot.dirty for plot in self.plots)

    def refresh(self, everything: bool = False) -> None:
        """Redraw charts that have new points: one per call while a run streams, since each redraw holds
        the GUI thread for about 10 ms and three at once would stall it; all of them when asked."""
        plots = self.plots
        for offset in range(len(plots)):
            plot = plots[(self.turn + offset) % len(plots)]
            if plot.dirty:
                plot.refresh()
                if not everything:
                    self.turn = (self.turn + offset + 1) % len(plots)
                    return
