"""The menu-bar item: its state machine over a run's events, its glyphs, and its menu in each state while
real runs train, are hidden with the window, stop, finish, or are quit. Offscreen there is no system
tray to show the item in, so these tests read its menu and notices; the screenshot script shows it in one.
"""

import re

import pytest
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMessageBox

from macapp.engine.runs.run_state import RunState
from macapp.ui import icons
from macapp.ui.app import stay_in_menu_bar
from macapp.ui.tray import RunStatus
from tests.ui.test_wizard import LONG, set_advanced, start_long_run

IDLE_MENU = [("Not training", False), ("Show Tailor", True), ("Stop training", False), ("Open run folder", False),
             ("Quit Tailor", True)]


def memory(step, peak):
    return {"type": "memory", "iteration": step, "active_gb": peak, "peak_gb": peak, "rss_gb": peak}


def test_status_words_the_runs_state(tmp_path):
    status = RunStatus()
    assert (status.state, status.line()) == ("idle", "Not training")
    run = RunState()
    status.follow(tmp_path / "20261122-193000-demo", run)
    run.apply({"type": "started", "pid": 1, "time": 990.0}).apply({"type": "log", "message": "Loading demo"})
    assert (status.state, status.line()) == ("training", "demo: Loading demo\u2026")
    run.apply({"type": "plan", "predicted_bytes": 1_000_000_000})
    run.apply({"type": "train", "iteration": 10, "total": 100, "train_loss": 2.0, "time": 1000.0})
    run.apply({"type": "train", "iteration": 20, "total": 100, "train_loss": 1.5, "time": 1010.0})
    for loss in (1.8, 1.6, 1.7):
        run.apply({"type": "val", "iteration": 20, "val_loss": loss})
    assert status.line() == "demo: Step 20 of 100 \u00b7 loss 1.500 \u00b7 about 1:20 left"
    assert status.progress == 0.2 and run.best_val_loss == 1.6
    assert status.memory_notice() is None
    run.apply(memory(20, 1.05))
    assert status.memory_notice() is None  # within the prediction's own error
    run.apply(memory(20, 1.3))
    warning = status.memory_notice()
    assert warning.warning and "1.3 GB, more than the 1.0 GB predicted" in warning.text
    assert status.memory_notice() is None  # said once a run
    status.stopping = True
    assert status.line() == "demo: stopping after this step and saving\u2026"

    run.apply({"type": "done", "result": {"stopped": True, "iterations": 20}})
    stopped = status.end_notice()
    assert status.state == "stopped" and stopped.title == "Fine-tuning stopped"
    assert stopped.text == ("\u201cdemo\u201d stopped at step 20 of 100; best validation loss 1.600 at step 20. "
                            "Resume it in Tailor.")
    assert status.line() == "demo: Stopped at step 20 of 100; best validation loss 1.600 at step 20."
    run.apply({"type": "started", "pid": 2, "time": 90000.0})
    run.apply({"type": "done", "result": {"iterations": 100, "seconds": 75}})
    finished = status.end_notice()
    assert status.state == "finished"
    assert finished.text == "\u201cdemo\u201d trained 100 steps in 1:15; best validation loss 1.600 at step 20."
    run.apply({"type": "error", "message": "the worker process was killed.", "fix": "Lower the batch."})
    failed = status.end_notice()
    assert status.state == "failed" and failed.warning and failed.text.endswith("killed. Lower the batch.")


def test_glyphs_are_black_templates_that_differ_by_state(qtbot):
    images = {state: icons.tray_pixmap(state, 36, 0.5).toImage() for state in icons.STATES}
    for state, image in images.items():
        colors = {image.pixelColor(x, y).name() for x in range(36) for y in range(36) if image.pixelColor(x, y).alpha()}
        assert colors == {"#000000"}, state  # ink only: macOS tints a template in the menu bar's colour
        assert image.pixelColor(0, 0) == QColor(0, 0, 0, 0)
    assert len({image.bits().tobytes() for image in images.values()}) == len(icons.STATES)

    def ink(progress):
        image = icons.tray_pixmap("training", 36, progress).toImage()
        return sum(image.pixelColor(x, y).alpha() > 128 for x in range(36) for y in range(36))

    assert ink(0.1) < ink(0.5) < ink(0.9)  # the ring fills as the run goes on
    assert icons.tray_icon("idle").isMask()
    assert icons.icns_bytes()[:4] == b"icns"


def answer_quit(choice: str) -> None:
    """Press a button of the Quit question once it is open."""
    def press():
        box = QApplication.activeModalWidget()
        button = box.button(QMessageBox.Cancel) if choice == "Cancel" else next(
            b for b in box.buttons() if b.text() == choice)
        button.click()

    QTimer.singleShot(300, press)


@pytest.fixture
def tray(window):
    """The menu-bar item as the app sets it up."""
    app = QApplication.instance()
    tray = stay_in_menu_bar(app, window)
    yield tray
    app.removeEventFilter(window)
    app.setQuitOnLastWindowClosed(True)
    tray.deleteLater()


def menu(tray):
    tray.menu.aboutToShow.emit()  # as when the user opens it
    return tray.items()


def test_the_menu_follows_a_run_while_the_window_is_closed(qtbot, window, tray):
    assert menu(tray) == IDLE_MENU
    train = start_long_run(qtbot, window)
    qtbot.waitUntil(lambda: "Step" in menu(tray)[0][0], timeout=LONG)
    items = menu(tray)
    assert re.fullmatch(r"demo: Step \d+ of 2000 \u00b7 loss \d\.\d{3}( \u00b7 about \d+:\d\d left)?",
                        items[0][0])
    assert items[1:] == [("Show Tailor", True), ("Stop training", True), ("Open run folder", True),
                         ("Quit Tailor", True)]
    assert tray.status.state == "training" and tray.drawn[0] == "training"

    window.close()  # hidden, not quit: the run and the window's charts go on
    assert window.isHidden() and train.job.running
    assert tray.notices[-1].title == "Tailor goes on training"
    points = train.charts.loss.count("train")
    qtbot.waitUntil(lambda: train.charts.loss.count("train") > points + 1, timeout=LONG)
    next(a for a in tray.menu.actions() if a.text() == "Show Tailor").trigger()
    assert window.isVisible() and window.current == 2

    quits = []
    window.quit_requested.connect(lambda: quits.append(True))
    answer_quit("Cancel")
    assert not window.request_quit() and train.job.running and not quits
    answer_quit("Cancel")  # a Quit from outside (the Dock, logging out) asks the same
    QApplication.sendEvent(QApplication.instance(), QEvent(QEvent.Quit))
    assert train.job.running and window.isVisible() and not quits and not window.quitting

    next(a for a in tray.menu.actions() if a.text() == "Stop training").trigger()
    assert "stopping after this step" in menu(tray)[0][0] and ("Stop training", False) in menu(tray)
    with qtbot.waitSignal(train.job.ended, timeout=LONG):
        pass
    assert tray.status.state == "stopped" and tray.notices[-1].title == "Fine-tuning stopped"
    assert f"Stopped at step {train.run.step} of 2000" in menu(tray)[0][0]
    assert window.request_quit() and quits == [True]  # no question once nothing trains


def test_quit_can_stop_the_run_and_a_finished_run_is_told(qtbot, window, tray):
    window.plan.memory_limit = 8e9
    window.reached = 2
    window.go(2)
    train = window.page(2)
    set_advanced(train, iters=20, steps_per_eval=10)
    with qtbot.waitSignal(train.job.ended, timeout=LONG):
        train.start()
    assert tray.status.state == "finished" and tray.drawn[0] == "finished"
    notice = tray.notices[-1]
    assert notice.title == "Fine-tuning finished" and "trained 20 steps" in notice.text
    assert re.search(r"best validation loss \d\.\d{3} at step (0|10|20)\.$", notice.text)
    assert menu(tray)[2] == ("Stop training", False)

    start_long_run(qtbot, window)
    quits = []
    window.quit_requested.connect(lambda: quits.append(True))
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        answer_quit("Stop training and quit")
        assert window.request_quit() and quits == [True]
    assert ended.args[0]["result"]["stopped"] and tray.status.state == "stopped"
