"""Past runs: a failed run says why, and runs go to the Trash after asking, the shown one forgotten by every step."""

import shutil

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from macapp.engine.runs import runs
from tests.runs import record


def answer_boxes(button_text: str) -> list[str]:
    """Press `button_text` in the question that opens next, as a person would (in the box's own event loop); any
    other question that opens is answered with Cancel, so a test can fail but never wait forever. Returns the texts
    of the questions asked, as they come."""
    asked = []

    def press(looks_left: int):
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            wanted = [b for b in box.buttons() if b.text() == button_text and len(asked) == 1]
            (wanted or [box.button(QMessageBox.Cancel)])[0].click()
            looks_left = min(looks_left, 100)  # a little longer, for a question that should not come
        if looks_left:
            QTimer.singleShot(20, lambda: press(looks_left - 1))

    QTimer.singleShot(0, lambda: press(3000))
    return asked


def failed_run(app_home):
    """A run folder as a run that failed leaves it: its settings and its recorded events."""
    folder = runs.create("emails")
    (folder / "config.yaml").write_text("model: demo\ndata: data\n")
    shutil.copy(record.HERE / "failed.jsonl", folder / "events.jsonl")
    return folder


def test_a_failed_run_says_why_and_runs_go_to_the_trash_after_asking(qtbot, window, run_copy, app_home, tmp_path,
                                                                      monkeypatch):
    (tmp_path / "desktop").mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "desktop"))  # the Trash of this test's own
    failed = failed_run(app_home)
    window.open_run(run_copy)
    assert window.plan.run_dir == run_copy
    window.go(5)
    page = window.page(5)
    rows = {run["path"]: index for index, run in enumerate(page.rows)}
    page.table.selectRow(rows[str(failed)])
    said = page.status.text()
    assert said.startswith(f"{failed.name}: Failed: ") and page.remove_button.isEnabled()
    assert page.table.item(rows[str(failed)], 3).toolTip().startswith("Failed: ")

    asked = answer_boxes("Cancel")
    page.remove()
    assert failed.exists() and asked == ["Move 1 run to the Trash?"]
    page.table.selectAll()
    asked = answer_boxes("Move to Trash")
    page.remove()
    assert asked == ["Move 2 runs to the Trash?"]
    assert not failed.exists() and not run_copy.exists() and page.rows == []
    trashed = sorted(p.name for p in (tmp_path / "desktop" / "Trash" / "files").iterdir())
    assert trashed == sorted([failed.name, run_copy.name]) and page.status.text() == "Moved 2 runs to the Trash."
    assert window.plan.run_dir is None and window.reached <= 2  # the run shown is forgotten by every step
