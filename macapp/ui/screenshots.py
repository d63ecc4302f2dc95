"""`make screenshots`: draw every step of the window on the demo, as a person would go through it, to PNGs.

Runs under Xvfb on Linux (real fonts and styles); uses a fresh data home so no earlier runs show.
`python -m macapp.ui.screenshots OUT_DIR`
"""

import os
import sys
import tempfile
import time
from pathlib import Path


def main(out: Path) -> int:
    os.environ["TAILOR_HOME"] = tempfile.mkdtemp(prefix="tailor-screenshots-")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from ..engine import demo
    from .wizard import MainWindow

    app = QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1180, 780)
    window.show()

    def settle(condition=lambda: True, seconds=600):
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            app.processEvents(QEventLoop.AllEvents, 50)
            time.sleep(0.02)
        for _ in range(30):  # let layouts and queued shows finish before drawing
            app.processEvents(QEventLoop.AllEvents, 20)

    def shot(name: str) -> None:
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    out.mkdir(parents=True, exist_ok=True)
    settle(window.page(0).ready)
    shot("1-check")
    window.go(1)
    settle(window.page(1).ready)
    shot("2-data")
    window.page(1).tabs.setCurrentIndex(2)
    settle()
    shot("2-data-lengths")
    window.page(1).tabs.setCurrentIndex(0)
    window.go(2)
    train = window.page(2)
    train.advanced_toggle.setChecked(True)
    settle()
    shot("3-train-settings")
    train.advanced_toggle.setChecked(False)
    train.start()
    settle(lambda: train.charts.loss.count("val") >= 3)
    shot("3-train-running")
    settle(train.ready)
    window.go(3)
    test = window.page(3)
    test.ask_both()
    settle(lambda: not test.job.running)
    shot("4-test")
    test.tabs.setCurrentIndex(1)
    for comment in demo.held_out_comments()[1:3]:
        test.chat.entry.setText(comment)
        test.chat.send()
        settle(lambda: not test.chat.job.running)
    shot("4-test-chat")
    test.tabs.setCurrentIndex(2)
    test.form.max_tokens.setValue(48)
    test.scores.score()
    settle(lambda: not test.scores.job.running)
    shot("4-test-scores")
    window.go(4)
    export = window.page(4)
    export.gguf_card.start()
    settle(lambda: not export.gguf_card.job.running)
    export.serve_card.start()
    settle(lambda: not export.serve_card.progress.isVisible() or not export.serve_card.job.running)
    shot("5-export")
    export.serve_card.job.stop()
    settle(lambda: not export.serve_card.job.running)
    window.go(5)
    settle()
    shot("runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots")))
