"""The main window as the UI tests use it: an embedded endpoint and settings of its own in tmp_path, small
and slow video (320x240 at 15 fps) so streaming costs little, and closed after the test with any run stopped."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.localkvs.embedded import EmbeddedEndpoint
from app.ui.main_window import MainWindow


def make_window(qtbot, tmp_path: Path, settings_name: str = "settings.ini") -> MainWindow:  # type: ignore[no-untyped-def]
    win = MainWindow(EmbeddedEndpoint(tmp_path / "endpoint"),
                     QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    win.resolution.setCurrentIndex(win.resolution.findData("320x240"))
    win.fps.setCurrentIndex(win.fps.findData(15))
    return win


def close_window(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    if win.controller.running:
        win.controller.force_stop()
        qtbot.waitUntil(lambda: not win.controller.running, timeout=15000)
    win.close()
