"""`tailor app`: open Tailor's window. It starts on the Check step with the demo model and data chosen.

Where there is a menu bar (a system tray), Tailor's item lives there and keeps the app open while a run
trains with the window closed. Only Qt and the engine's light modules load here; MLX loads in the workers.
"""

import os
import sys
import time

import psutil


def has_display() -> bool:
    return (sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"))


def stay_in_menu_bar(app, window):
    """Give the window its menu-bar item, and the app the habits that go with one; returns the item."""
    from PySide6.QtCore import Qt

    from .tray import Tray

    tray = Tray(window, app)
    tray.icon.show()
    window.stays_in_menu_bar = True
    app.setQuitOnLastWindowClosed(False)
    app.installEventFilter(window)  # Quit from the Dock or at log-out asks, as the menu's Quit does
    if sys.platform == "darwin":  # a click on the Dock icon brings a hidden window back
        app.applicationStateChanged.connect(
            lambda state: window.show_window() if state == Qt.ApplicationActive and window.isHidden() else None)
    return tray


def main(timing: bool = False) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from . import single
    from .icons import app_icon
    from .wizard import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Tailor")
    app.setOrganizationName("Tailor")
    claim = single.Claim(app)
    if not claim.held:  # Tailor is open already: its window comes forward instead
        print("Tailor is already open: its window is brought forward.", file=sys.stderr)
        return 0
    app.setWindowIcon(app_icon())
    window = MainWindow()
    claim.show = window.show_window
    window.quit_requested.connect(app.quit)
    if QSystemTrayIcon.isSystemTrayAvailable():
        stay_in_menu_bar(app, window)
    window.show()
    if timing:  # for bench/app_latency.py: seconds from process start to the window on screen
        def shown():
            print(f"window shown {time.time() - psutil.Process().create_time():.3f} s after start", flush=True)
            app.quit()

        QTimer.singleShot(0, shown)
    return app.exec()
