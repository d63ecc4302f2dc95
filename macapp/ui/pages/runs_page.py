"""Past runs: every run with its model, data, status, best validation loss and date; pick runs to
overlay their loss curves, open one in the Train step to see its charts (or follow it, if it runs), or move runs to the
Trash.
"""

import re
import shutil
from pathlib import Path

from PySide6.QtCore import QFile, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QMessageBox, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem)

from ...engine import words
from ...engine.runs import runs
from ..widgets.series_plot import PALETTE, SeriesPlot
from .page import Page, note

COLUMNS = ["Run", "Model", "Data", "Status", "Best validation loss", "Date"]
STATUS_WORDS = {"created": "not started", "running": "training", "finished": "finished", "stopped": "stopped",
                "failed": "failed", "interrupted": "interrupted (can resume)", "damaged": "damaged (cannot be read)"}


class RunsPage(Page):
    title = "Past runs"
    purpose = ("Every fine-tune you have run. Select two or more to compare their loss curves "
               "(solid: training, dashed: validation).")
    opened = Signal(Path)
    removed = Signal(list)  # the folders of the runs moved to the Trash

    def __init__(self, plan, settings=None, parent=None):
        super().__init__(plan, settings, parent)
        self.rows: list[dict] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self._open())
        self.plot = SeriesPlot("Loss of the selected runs", "step", "loss")
        self.plot.setMinimumHeight(160)  # the table and the chart share a small screen without scrolling
        self.open_button = QPushButton("Open in the Train step")
        self.open_button.clicked.connect(self._open)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.enter)
        self.remove_button = QPushButton("Move to Trash\u2026")
        self.remove_button.clicked.connect(self.remove)
        self.status = note()
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.remove_button)
        row.addWidget(self.open_button)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        self.body.addLayout(row)
        self.body.addWidget(splitter, 1)

    def enter(self) -> None:
        self.rows = runs.list_runs()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for r, run in enumerate(self.rows):
            best = run["best_val_loss"]
            values = [re.sub(r"^\d{8}-\d{6}-", "", run["id"]), Path(run["model"] or "").name or run["model"] or "",
                      ", ".join(run["sources"]),
                      STATUS_WORDS.get(run["status"], run["status"]), f"{best:.3f}" if best is not None else "",
                      run["created"]]
            for c, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.UserRole, r)
                item.setToolTip(_outcome(run) + (f" Its folder: {run['path']}" if run["status"] == "damaged" else ""))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self._selection_changed()

    def _count_words(self) -> str:
        return f"{words.count(len(self.rows), 'run')}." if self.rows else "No runs yet: the Train step makes one."

    def selected(self) -> list[dict]:
        indexes = sorted({item.data(Qt.UserRole) for item in self.table.selectedItems()})
        return [self.rows[i] for i in indexes]

    def _selection_changed(self) -> None:
        chosen = self.selected()
        damaged = [run for run in chosen if run["status"] == "damaged"]
        self.open_button.setEnabled(len(chosen) == 1 and not damaged)
        self.remove_button.setEnabled(bool(chosen) and not any(run["pid"] for run in chosen))
        self.status.setText(" ".join(f"{run['id']}: {run['state'].outcome()} Move it to the Trash, or mend its "
                                     f"folder: {run['path']}" for run in damaged)
                            or (f"{chosen[0]['id']}: {_outcome(chosen[0])}" if len(chosen) == 1 else "")
                            or self._count_words())
        self.plot.remove_all()
        for index, run in enumerate(run for run in chosen if run not in damaged):
            color = PALETTE[index % len(PALETTE)]
            self.plot.add_series(f"{run['id']}/train", run["id"], color)
            self.plot.add_series(f"{run['id']}/val", None, color, dashed=True, dots=True)
            for step, loss, _ in run["state"].train_points:
                self.plot.add(f"{run['id']}/train", step, loss)
            for step, loss in run["state"].val_points:
                self.plot.add(f"{run['id']}/val", step, loss)
        self.plot.refresh()

    def remove(self) -> None:
        """Move the selected runs to the Trash (or, where there is none, delete them) after asking; a run that
        trains is never among them."""
        chosen = [run for run in self.selected() if not run["pid"]]
        if not chosen:
            return
        box = QMessageBox(QMessageBox.Question, "Move to Trash?",
                          f"Move {words.count(len(chosen), 'run')} to the Trash?", parent=self)
        box.setInformativeText("Its adapters, checkpoints, charts and exports go with it. You can take it back out "
                               "of the Trash." if len(chosen) == 1 else "Their adapters, checkpoints, charts and "
                               "exports go with them. You can take them back out of the Trash.")
        trash = box.addButton("Move to Trash", QMessageBox.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.Cancel))
        box.exec()
        if box.clickedButton() is not trash:
            return
        gone = [run["path"] for run in chosen if _to_trash(Path(run["path"]), self)]
        self.enter()
        if gone:
            self.status.setText(f"Moved {words.count(len(gone), 'run')} to the Trash.")
            self.removed.emit(gone)

    def _open(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1 and chosen[0]["status"] != "damaged":
            self.opened.emit(Path(chosen[0]["path"]))


def _outcome(run: dict) -> str:
    """Where a run is, with the reason and the fix of a run that failed."""
    error = run["state"].error or {}
    return run["state"].outcome() + (f" {error['fix']}" if run["status"] == "failed" and error.get("fix") else "")


def _to_trash(folder: Path, parent) -> bool:
    """Move a run's folder to the Trash; where there is none, ask before deleting it for good."""
    if QFile(str(folder)).moveToTrash():
        return True
    answer = QMessageBox.question(parent, "Delete for good?", f"{folder.name} cannot be moved to the Trash here. "
                                  "Delete it for good? This cannot be undone.",
                                  QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
    if answer != QMessageBox.Yes:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()
