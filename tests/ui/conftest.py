"""Fixtures for the window's tests: Qt offscreen, and a data home of the test's own.

Each test gets an empty home (no runs, no settings) that shares the session's built demo model, so
a run left going by one test is never picked up by the next one's window.
"""

import os
import shutil

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def app_home(tmp_path, demo_model, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(demo_model.parent, target_is_directory=True)
    monkeypatch.setenv("TAILOR_HOME", str(home))
    return home


@pytest.fixture
def run_copy(app_home, demo_run):
    """A copy of the session's demo run in this test's home, to test and export as the window would."""
    _, run_dir = demo_run
    return shutil.copytree(run_dir, app_home / "runs" / run_dir.name)


@pytest.fixture
def window(qtbot, app_home):
    from macapp.ui.wizard import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    stop_jobs(qtbot, win)


@pytest.fixture
def data_page(qtbot, window):
    """The Data step, once it has read the demo data it shows on entry."""
    window.reached = 1
    window.go(1)
    page = window.page(1)
    qtbot.waitUntil(lambda: not page.job.running, timeout=120_000)
    return page


def stop_jobs(qtbot, widget) -> None:
    """No worker outlives its test: stop every job of the widget's and wait for it to end."""
    from macapp.ui.bridge import Job

    for job in widget.findChildren(Job):
        if job.running:
            with qtbot.waitSignal(job.ended, timeout=60_000):
                job.stop()
