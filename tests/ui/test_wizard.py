"""The window driven through all five steps on the demo with real workers, as a person would click it.
"""

import os
import signal
from pathlib import Path

from PySide6.QtCore import Qt

from macapp.engine.runs import runs

LONG = 120_000  # ms; waits end as soon as their signal comes


def continue_to(qtbot, window, index):
    qtbot.waitUntil(window.next.isEnabled, timeout=LONG)
    qtbot.mouseClick(window.next, Qt.LeftButton)
    assert window.current == index


def set_advanced(page, iters=None, **values):
    """Settings typed in as a person would: the steps in the How box's length row, the others under Advanced."""
    if iters is not None:
        page.length.unit.setCurrentIndex(0)  # Steps
        page.length.amount.setValue(iters)
    for key, value in values.items():
        page.form.inputs[key].setValue(value)


def test_continue_through_every_step_trains_tests_and_exports_the_demo(qtbot, window):
    check = window.page(0)
    assert window.current == 0 and not window.next.isEnabled() or check.ready()
    qtbot.waitUntil(check.ready, timeout=LONG)
    assert {c["name"] for c in check.checks} >= {"Memory", "Disk", "Training engine"}
    assert window.plan.memory_limit > 0

    continue_to(qtbot, window, 1)
    data = window.page(1)
    qtbot.waitUntil(data.ready, timeout=LONG)
    report = window.plan.inspection["report"]
    assert report["format"] == "chat" and report["count"] == 340
    assert data.table.rowCount() == 20 and "assistant:" in data.table.item(0, 1).text()
    assert report["token_stats"]["max"] > report["token_stats"]["min"] > 0
    assert "Training 269" in data.split_box.note.text()  # 3 of the demo's comments repeat others: kept once

    continue_to(qtbot, window, 2)
    train = window.page(2)
    assert "fits comfortably" in train.memory_note.text()
    set_advanced(train, iters=40, steps_per_eval=20)
    assert window.plan.settings["iters"] == 40 and window.plan.settings["save_every"] == 20
    assert not window.next.isEnabled()  # nothing trained yet
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(train.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: train.job.running and train.stop_button.isEnabled(), timeout=5_000)
    assert ended.args[0]["type"] == "done", ended.args[0]
    assert ended.args[0]["result"]["iterations"] == 40
    charts = train.charts
    assert charts.loss.count("train") == 4 and charts.loss.count("val") == 3
    assert charts.speed.count("speed") == 4 and charts.memory.count("peak") == 4
    qtbot.waitUntil(lambda: not charts.dirty and not train.timer.isActive())  # the last points drawn, then idle
    assert charts.loss.curves["train"].xData[-1] == 40
    assert "Finished after 40 steps" in train.status.text()
    run_dir = window.plan.run_dir
    assert (run_dir / "data" / "test.jsonl").exists() and (run_dir / "adapters" / "best").is_dir()

    continue_to(qtbot, window, 3)
    test = window.page(3)
    assert test.prompt.toPlainText()  # a held-out demo comment, ready to ask
    with qtbot.waitSignal(test.job.ended, timeout=LONG):
        qtbot.mouseClick(test.ask, Qt.LeftButton)
    base, tuned = (test.panes[side].toPlainText() for side in ("base", "tuned"))
    assert base and tuned and base != tuned

    continue_to(qtbot, window, 4)
    export = window.page(4)
    assert str(run_dir) in export.usage.toPlainText()
    with qtbot.waitSignal(export.fuse_card.job.ended, timeout=LONG):
        qtbot.mouseClick(export.fuse_card.button, Qt.LeftButton)
    assert (run_dir / "exports" / "fused" / "config.json").exists()
    assert "Saved the standalone model" in export.fuse_card.status.text()
    assert not window.next.isVisible()

    qtbot.mouseClick(window.runs_button, Qt.LeftButton)
    listed = window.page(5)
    assert listed.table.rowCount() == 1
    row = [listed.table.item(0, c).text() for c in range(listed.table.columnCount())]
    assert row[0] == "demo" and row[2] == "replies.jsonl" and row[3] == "finished" and float(row[4]) > 0

    window.steps.chosen.emit(1)  # any step already reached can be revisited
    assert window.current == 1


def start_long_run(qtbot, window, iters=2000):
    window.plan.memory_limit = 8e9
    window.reached = 2
    window.go(2)
    train = window.page(2)
    set_advanced(train, iters=iters, steps_per_eval=50)
    train.start()
    qtbot.waitUntil(lambda: train.charts.loss.count("train") >= 2, timeout=LONG)
    return train


def test_stop_saves_the_run_and_offers_resume(qtbot, window):
    train = start_long_run(qtbot, window)
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(train.stop_button, Qt.LeftButton)
        assert not train.stop_button.isEnabled()
    event = ended.args[0]
    assert event["type"] == "done" and event["result"]["stopped"]
    assert event["result"]["iterations"] < 2000
    assert train.resume_button.isVisible() and train.ready()  # the adapter so far is usable
    (summary,) = runs.list_runs()
    assert summary["status"] == "stopped"

    with qtbot.waitSignal(train.job.ended, timeout=LONG) as resumed:
        qtbot.mouseClick(train.resume_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: train.run.phase == "training", timeout=LONG)
        train.stop()
    assert resumed.args[0]["result"]["resumed_from"] == event["result"]["iterations"]
    assert train.run.sessions == 2 and train.run.train_points[0][0] < event["result"]["iterations"]  # all of it
    assert train.charts.loss.count("train") == len(train.run.train_points)

    window.go(5)  # the run, reopened from the list of past runs, shows its charts again
    listed = window.page(5)
    listed.table.selectRow(0)
    train.charts.clear()
    qtbot.mouseClick(listed.open_button, Qt.LeftButton)
    assert window.current == 2 and train.charts.loss.count("train") >= 3
    assert train.charts.loss.curves["train"].xData is not None and train.resume_button.isVisible()


def test_a_killed_worker_is_explained_and_the_run_stays_listed(qtbot, window):
    from macapp.ui.tray import Tray

    tray = Tray(window)
    train = start_long_run(qtbot, window)
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        os.kill(train.job.pid, signal.SIGKILL)
    event = ended.args[0]
    assert event["type"] == "error" and event["category"] == "killed"
    assert "out of memory" in event["message"] and "batch size" in event["fix"]
    assert "What to try" in train.status.text()
    assert tray.status.state == "failed" and tray.notices[-1].title == "Fine-tuning failed"
    (summary,) = runs.list_runs()
    assert summary["status"] == "interrupted"
    assert train.resume_button.isVisible() or not any((Path(summary["path"]) / "checkpoints").glob("0*"))
