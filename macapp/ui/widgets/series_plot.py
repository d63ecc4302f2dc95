"""A chart of growing series: points go into numpy buffers at any rate, the curves redraw on refresh().

Downsampling and clipping to the view keep it smooth with hundreds of thousands of points; so do thin
pens (an antialiased pen wider than 1 px made a 100,000-point redraw 40 times slower) and no grid (it
tripled the cost of each redraw); bench/app_latency.py measures both.
"""

import numpy as np
import pyqtgraph as pg

pg.setConfigOptions(antialias=True, background="w", foreground="#333")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


class Series:
    """x and y values in buffers that double when full."""

    def __init__(self):
        self.x, self.y, self.n, self.dirty = np.empty(256), np.empty(256), 0, False

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x, self.y = np.resize(self.x, 2 * self.n), np.resize(self.y, 2 * self.n)
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1
        self.dirty = True

    def extend(self, xs, ys) -> None:
        for x, y in zip(xs, ys):
            self.append(x, y)


class SeriesPlot(pg.PlotWidget):
    """Named curves that refresh() redraws when they have new points."""

    def __init__(self, title: str, x_label: str, y_label: str, parent=None):
        super().__init__(parent)
        self.setTitle(title, size="11pt")
        self.setLabel("bottom", x_label)
        self.setLabel("left", y_label)
        self.setMinimumHeight(160)
        self.setMenuEnabled(False)
        self.addLegend(offset=(-10, 10))
        self.plotItem.setDownsampling(auto=True, mode="mean")
        self.plotItem.setClipToView(True)
        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}

    def add_series(self, name: str, label: str | None, color: str, dashed: bool = False, dots: bool = False) -> None:
        """A curve; a label of None keeps it out of the legend."""
        pen = pg.mkPen(color, width=1, style=pg.QtCore.Qt.DashLine if dashed else pg.QtCore.Qt.SolidLine)
        options = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if dots else {}
        self.series[name] = Series()
        self.curves[name] = self.plot([], [], pen=pen, name=label, **options)

    def add(self, name: str, x: float, y: float) -> None:
        self.series[name].append(x, y)

    def count(self, name: str) -> int:
        return self.series[name].n

    def clear_points(self) -> None:
        for series in self.series.values():
            series.n, series.dirty = 0, True

    def remove_all(self) -> None:
        for curve in self.curves.values():
            self.removeItem(curve)
        self.series.clear()
        self.curves.clear()

    @property
    def dirty(self) -> bool:
        return any(series.dirty for series in self.series.values())

    def refresh(self) -> None:
        for name, series in self.series.items():
            if series.dirty:
                self.curves[name].setData(series.x[:series.n], series.y[:series.n])
                series.dirty = False
