"""Token lengths of a dataset as bars, with the longest sequence training keeps as a line.
"""

import pyqtgraph as pg

from .series_plot import PALETTE


class HistogramPlot(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Length of the examples", size="11pt")
        self.setLabel("bottom", "tokens")
        self.setLabel("left", "examples")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumHeight(150)
        self.bars = None
        self.cut = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", style=pg.QtCore.Qt.DashLine),
                                   label="cut", labelOpts={"position": 0.9, "color": "#d62728"})
        self.addItem(self.cut, ignoreBounds=True)
        self.cut.hide()

    def show_histogram(self, bins: list, max_seq_length: int | None = None) -> None:
        """bins: [low, high, count] rows, as the engine's report gives them."""
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        if not bins:
            return
        self.bars = pg.BarGraphItem(x0=[b[0] for b in bins], x1=[b[1] for b in bins], height=[b[2] for b in bins],
                                    brush=PALETTE[0], pen=pg.mkPen("w"))
        self.addItem(self.bars)
        if max_seq_length and max_seq_length < bins[-1][1]:
            self.cut.setValue(max_seq_length)
            self.cut.label.setFormat(f"cut at {max_seq_length}")
            self.cut.show()
        else:
            self.cut.hide()
