"""`make screenshots`: draw every step of the window on the demo, as a person would go through it, to PNGs.

Runs under Xvfb on Linux (real fonts and styles); uses a fresh data home so no earlier runs show. With
`trayer` installed, Xvfb gets a system tray, and the menu-bar item is drawn open while the demo trains.
`python -m macapp.ui.screenshots OUT_DIR`
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MENU_BAR_HEIGHT = 26


def start_tray_host() -> subprocess.Popen | None:
    """trayer as a menu bar across the top of the screen, when it is installed (a Linux display only)."""
    if sys.platform != "linux" or not shutil.which("trayer"):
        return None
    return subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "percent", "--width",
                             "100", "--height", str(MENU_BAR_HEIGHT), "--tint", "0xececec", "--transparent", "true",
                             "--alpha", "0", "--SetDockType", "true"])


def menu_bar_shot(app, window, tray, path: Path, settle) -> None:
    """The whole screen: a plain desktop, the window below the menu bar, and Tailor's menu open."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QWidget

    desktop = QWidget()
    desktop.setStyleSheet("background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #5b7fbd, stop:1 #a8bfe3);")
    desktop.setGeometry(app.primaryScreen().geometry())
    desktop.show()
    desktop.lower()
    window.move(40, MENU_BAR_HEIGHT + 30)
    tray.rebuild()
    icon = tray.icon.geometry()
    tray.menu.popup(QPoint(icon.right() - tray.menu.sizeHint().width() + 1, icon.bottom() + 2))
    settle()
    app.primaryScreen().grabWindow(0).save(str(path))
    print(path)
    tray.menu.hide()
    desktop.close()


DISHES = ["lasagne", "ramen", "banana bread", "shakshuka", "pad thai", "risotto", "tacos"]


def own_data(window, folder: Path, settle, shot) -> None:
    """A person's own workbook (a title, their own column names, a second sheet, repeated rows), their small CSV, a
    file of three rows, and a JSONL file with one broken line."""
    import openpyxl  # the screenshots' own need (a dev dependency): the person's workbook is written here

    openers = ["Made the {} tonight, my kids asked for seconds!", "Can I make the {} a day ahead?",
               "My {} came out dry, what went wrong?", "Is the {} spicy?", "Loved the {}, more like this please!",
               "What can I use instead of butter in the {}?"]
    rows = [(opener.format(dish), f"Thank you for trying the {dish}! Here is what I would do next time.")
            for opener in openers for dish in DISHES]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Comments"
    sheet.append(["Comments on our videos, answered"])
    sheet.merge_cells("A1:C1")
    sheet.append(["Viewer comment", "Our answer", None])
    for comment, answer in rows + [(c.upper(), a) for c, a in rows[:5]]:
        sheet.append([comment, answer, None])
    book.create_sheet("Ideas").append(["Question", "Answer"])
    workbook = folder / "my-replies.xlsx"
    book.save(workbook)
    data = window.page(1)
    window.go(1)
    data.set_sources([str(workbook)], None)
    settle(lambda: not data.job.running)
    shot("2-data-own-columns")
    window.go(2)
    settle()
    shot("3-train-small-data")
    three = folder / "three.csv"
    three.write_text("Comment,Response\n" + "".join(f'"{c}","{r}"\n' for c, r in rows[:3]), encoding="utf-8")
    window.go(1)
    data.set_sources([str(three)], None)
    settle(lambda: not data.job.running)
    shot("2-data-too-few")
    broken = folder / "chats.jsonl"
    lines = [f'{{"prompt": "How long does the {d} keep?", "completion": "About three days in the fridge."}}'
             for d in DISHES]
    lines.insert(3, '{"prompt": "Can I freeze it?" "completion": "Yes, for a month."}')
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    window.go(1)
    data.set_sources([str(broken)], None)
    settle(lambda: not data.job.running)
    shot("2-data-broken-line")


def making_data(window, folder: Path, settle, shot) -> None:
    """The window that makes data, each way in, and its preview after the demo model answered some comments."""
    from ..engine.models import demo

    window.go(1)
    dialog = window.page(1).make_data()
    dialog.resize(1000, 760)
    settle(lambda: bool(dialog.source.options), seconds=10)
    dialog.form.topic.setText("caring for houseplants")
    dialog.form.kinds.setText("from beginners, about problems they run into")
    dialog.form.follow_up.setChecked(True)
    settle()
    shot("2-data-make-topic", dialog)
    guides = folder / "plant guides"
    guides.mkdir()
    (guides / "watering.md").write_text("# Watering\n\nWater when the top soil is dry.\n", encoding="utf-8")
    (guides / "light.html").write_text("<h1>Light</h1><p>Most plants like bright, indirect light.</p>",
                                       encoding="utf-8")
    dialog.form.ways.button(2).setChecked(True)
    dialog.form.set_documents([str(guides / "watering.md"), str(guides / "light.html")])
    settle()
    shot("2-data-make-documents", dialog)
    comments = demo.held_out_comments()[:7]
    instructions = folder / "viewer comments.txt"
    instructions.write_text("\n".join(comments + comments[:1]) + "\n", encoding="utf-8")
    dialog.form.ways.button(1).setChecked(True)
    dialog.form.set_instructions(str(instructions))
    dialog.source.choose({"endpoint": None, "model": "demo"})
    settle()
    shot("2-data-make-instructions", dialog)
    dialog.start()
    settle(lambda: not dialog.job.running)
    dialog.table.table.selectRow(2)
    settle()
    shot("2-data-make-preview", dialog)
    dialog.close()


def main(out: Path) -> int:
    os.environ["TAILOR_HOME"] = tempfile.mkdtemp(prefix="tailor-screenshots-")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from ..engine.models import demo
    from .app import stay_in_menu_bar
    from .wizard import MainWindow

    host = start_tray_host()
    app = QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1024, 700)  # the smallest screen Tailor is made for
    window.show()

    def settle(condition=lambda: True, seconds=600):
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            app.processEvents(QEventLoop.AllEvents, 50)
            time.sleep(0.02)
        for _ in range(30):  # let layouts and queued shows finish before drawing
            app.processEvents(QEventLoop.AllEvents, 20)

    def shot(name: str, widget=None) -> None:
        path = out / f"{name}.png"
        (widget or window).grab().save(str(path))
        print(path)

    out.mkdir(parents=True, exist_ok=True)
    settle(lambda: host is None or QSystemTrayIcon.isSystemTrayAvailable(), seconds=10)
    tray = stay_in_menu_bar(app, window) if host is not None and QSystemTrayIcon.isSystemTrayAvailable() else None
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
    if tray:
        menu_bar_shot(app, window, tray, out / "menu-bar.png", settle)
    settle(train.ready)
    window.go(3)
    test = window.page(3)
    test.tabs.setCurrentIndex(2)
    test.form.max_tokens.setValue(48)
    test.scores.score()
    settle(lambda: not test.scores.job.running)
    test.scores.items.table.selectRow(0)
    settle()
    shot("4-test-scores")
    test.tabs.setCurrentIndex(0)
    test.ask_both()
    settle(lambda: not test.job.running)
    shot("4-test")
    test.tabs.setCurrentIndex(1)
    for comment in demo.held_out_comments()[1:3]:
        test.chat.entry.setText(comment)
        test.chat.send()
        settle(lambda: not test.chat.job.running)
    shot("4-test-chat")
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
    own_data(window, Path(os.environ["TAILOR_HOME"]), settle, shot)
    making_data(window, Path(os.environ["TAILOR_HOME"]), settle, shot)
    if host:
        host.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots")))
