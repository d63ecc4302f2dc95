"""Fixtures for the window's tests: Qt offscreen, and a data home of the test's own.

Each test gets an empty home (no runs, no settings) that shares the session's built demo model, so
a run left going by one test is never picked up by the next one's window.
"""

import os

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
def window(qtbot, app_home):
    from macapp.ui.wizard import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    for page in win.pages:  # no worker outlives its test
        job = getattr(page, "job", None)
        if job is not None and job.running:
            with qtbot.waitSignal(job.ended, timeout=60_000):
                job.stop()
