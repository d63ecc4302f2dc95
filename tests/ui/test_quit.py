"""Work that quitting would cut short is asked about first, an export can be cancelled, and Return presses Continue.
Real workers on the demo model."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from macapp.engine.runs import events as ev
from tests.ui.test_runs_page import answer_boxes
from tests.ui.test_wizard import LONG


def test_quit_asks_while_the_local_api_serves_and_stops_it_only_when_told(qtbot, window, run_copy):
    window.open_run(run_copy)
    window.reached = 4
    window.go(4)
    card = window.page(4).serve_card
    card.start()
    assert card.stop_button.isVisible() and card.stop_button.text() == "Stop the server"
    qtbot.waitUntil(card.copy_button.isVisible, timeout=LONG)  # serving
    asked = answer_boxes("Cancel")
    assert not window.request_quit() and card.job.running and not window.quitting
    assert asked == ["The local API is serving."]
    asked = answer_boxes("Stop it and quit")
    assert window.request_quit() and not card.job.running and asked == ["The local API is serving."]


def test_an_export_shows_cancel_while_it_runs_and_says_when_it_was_cancelled(qtbot, window, run_copy):
    """The stop itself is the engine's (tests/e2e/test_export.py: a stopped export replaces nothing); here, what the
    card shows around it. The worker's answer to a stop is given as the bridge gives it, since a real stop of a fuse
    that takes a second would race its end."""
    window.open_run(run_copy)
    window.reached = 4
    window.go(4)
    card = window.page(4).fuse_card
    card.start()
    assert card.stop_button.isVisible() and card.stop_button.text() == "Cancel" and not card.button.isEnabled()
    with qtbot.waitSignal(card.job.ended, timeout=LONG):
        pass
    card.job.ended.emit({"type": ev.DONE, "result": {"stopped": True}, "stopped": True})
    assert card.status.text() == "Cancelled: nothing was written." and not card.stop_button.isVisible()
    assert card.button.isEnabled()


def test_return_presses_continue_where_the_focused_control_has_no_use_for_it(qtbot, window):
    """And Tab reaches the buttons too, as it does on a Mac only with Full Keyboard Access on."""
    assert QApplication.styleHints().tabFocusBehavior() == Qt.TabFocusAllControls
    assert window.next.focusPolicy() & Qt.TabFocus
    qtbot.waitUntil(window.next.isEnabled, timeout=LONG)  # the check has passed
    window.page(0).setFocus()
    qtbot.keyClick(window, Qt.Key_Return)
    qtbot.waitUntil(lambda: window.current == 1, timeout=5_000)
