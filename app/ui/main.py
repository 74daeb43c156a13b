"""Start the window: ``kvs-studio`` with no arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

import os
import re
import signal
import socket
import sys


def have_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def display_problem() -> str | None:
    """Why the window cannot open here, or None. Checked before Qt starts, because Qt aborts the whole process
    (with a misleading hint about libxcb-cursor0) when its platform cannot connect."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland:
        path = wayland if os.path.isabs(wayland) else os.path.join(os.environ.get("XDG_RUNTIME_DIR", ""), wayland)
        if os.path.exists(path):
            return None
    display = os.environ.get("DISPLAY")
    if not display:
        return "no display found (DISPLAY and WAYLAND_DISPLAY are not set)"
    if _x_server_answers(display):
        return None
    return (f"cannot open display {display}: no X server answers there. Use `xvfb-run -a kvs-studio`, or "
            "`kvs-studio demo` for the headless demo.")


def _x_server_answers(display: str) -> bool:
    m = re.match(r"^(?P<host>[^:]*):(?P<num>\d+)(\.\d+)?$", display)
    if m is None:
        return True  # a form we do not know (e.g. a launchd socket path): let Qt try
    host, num = m["host"], int(m["num"])
    if host in ("", "unix"):
        for address in (f"\0/tmp/.X11-unix/X{num}", f"/tmp/.X11-unix/X{num}"):  # abstract, then the file
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect(address)
                    return True
            except OSError:
                continue
        if host == "unix":
            return False
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, 6000 + num), timeout=1.0):
            return True
    except OSError:
        return False


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
    _close_on_ctrl_c(window)
    return int(app.exec())


def _close_on_ctrl_c(window: QWidget) -> None:
    """Ctrl-C in the terminal closes the window as its close button does: the first drains what was captured,
    a second quits at once. The handler only counts (it runs between two bytecodes, maybe inside Qt); a timer
    gives Python a turn every 200 ms and closes the window there."""
    from PySide6.QtCore import QTimer

    pending = [0]
    signal.signal(signal.SIGINT, lambda *_: pending.__setitem__(0, pending[0] + 1))
    timer = QTimer(window)
    timer.setInterval(200)

    def check() -> None:
        while pending[0]:
            pending[0] -= 1
            window.close()

    timer.timeout.connect(check)
    timer.start()
