"""`tailor app`: open Tailor's window. It starts on the Check step with the demo model and data chosen.

Only Qt and the engine's light modules load here; MLX loads in the worker processes.
"""

import os
import sys
import time

import psutil


def has_display() -> bool:
    return (sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"))


def main(timing: bool = False) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .wizard import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Tailor")
    app.setOrganizationName("Tailor")
    window = MainWindow()
    window.show()
    if timing:  # for bench/app_latency.py: seconds from process start to the window on screen
        def shown():
            print(f"window shown {time.time() - psutil.Process().create_time():.3f} s after start", flush=True)
            app.quit()

        QTimer.singleShot(0, shown)
    return app.exec()
