"""Start the window: ``kvs-studio`` with no arguments."""

from __future__ import annotations

import os
import sys


def have_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def run_gui(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from app.logging_setup import protect_process
    from app.ui.main_window import MainWindow, app_icon

    protect_process()  # mask secrets in every handler (stderr, the log panel) and in crash output
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setOrganizationName("KVS Studio")
    app.setApplicationName("KVS Studio")
    app.setDesktopFileName("kvs-studio")
    app.setWindowIcon(app_icon())
    window = MainWindow()
    window.show()
    return int(app.exec())
