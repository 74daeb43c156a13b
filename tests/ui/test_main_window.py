"""The window with a real engine and the in-process local endpoint (pytest-qt, offscreen).

The only fake is what this machine lacks: there is no camera, so the test pattern is the source.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.localkvs.auth import KeyPair
from app.localkvs.embedded import DEMO_STREAM, EmbeddedEndpoint
from app.localkvs.faults import FaultPlan
from app.ui.main_window import MainWindow
from tests.conftest import client

pytest.importorskip("pytestqt")



def persisted(win: MainWindow) -> int:
    return win.model.states().count("PERSISTED")


def stream_and_stop(qtbot, win: MainWindow, rows: int, timeout_ms: int = 60000) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.controller.started, timeout=20000):
        win.start_button.click()
    qtbot.waitUntil(lambda: persisted(win) >= rows, timeout=timeout_ms)
    with qtbot.waitSignal(win.controller.stopped, timeout=60000):
        win.start_button.click()


def test_first_run_streams_the_test_pattern_to_the_local_endpoint(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    assert window.windowTitle() == "KVS Studio"
    assert window.picker.is_local()
    assert window.source.currentData() == "testpattern"
    qtbot.waitUntil(lambda: window.picker.stream.findText(DEMO_STREAM) >= 0, timeout=10000)
    assert window.picker.stream_name() == DEMO_STREAM
    with qtbot.waitSignal(window.controller.started, timeout=20000):
        window.start_button.click()
    assert window.start_button.text() == "Stop"
    qtbot.waitUntil(lambda: persisted(window) >= 2 and window.preview.frames_shown > 10, timeout=60000)
    shot = Path(os.environ.get("KVS_SCREENSHOT_DIR", tmp_path)) / "window-streaming.png"
    assert window.grab().save(str(shot))
    assert shot.stat().st_size > 10_000
    assert re.match(r"\d+ fragments?, [\d.]+ s, ", window.stats.labels["buffer"].text())
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    states = window.model.states()
    assert len(states) >= 2
    assert set(states) == {"PERSISTED"}
    assert window.start_button.text() == "Start"


def test_stream_dropdown_lists_the_endpoints_streams(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.picker.stream.count() > 0, timeout=10000)  # the first listing is in
    emb = window.embedded.start()
    kv = client("kinesisvideo", emb.url, keys=KeyPair(emb.keys.access_key, emb.keys.secret_key))
    for name in ("garage", "porch"):
        kv.create_stream(StreamName=name, DataRetentionInHours=1)
    with qtbot.waitSignal(window.picker.streams_loaded, timeout=10000,
                          check_params_cb=lambda names: "porch" in names):
        window.picker.refresh.click()
    names = [window.picker.stream.itemText(i) for i in range(window.picker.stream.count())]
    assert {"garage", "porch", DEMO_STREAM} <= set(names)
    assert window.picker.busy.isHidden()


def test_missing_stream_shows_what_to_do(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.picker.stream.count() > 0, timeout=10000)
    window.picker.stream.setEditText("no-such-stream")
    window.start_button.click()  # the checks before Start find it missing; nothing is started
    qtbot.waitUntil(lambda: window.banner.isVisible() and window.start_button.text() == "Start", timeout=20000)
    assert "No stream 'no-such-stream'" in window.banner.text()
    assert "New stream" in window.banner.text()
    assert not window.controller.running
    assert window.source.isEnabled()


def test_faults_show_the_reconnect_countdown_and_every_fragment_lands(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.embedded.start().endpoint.set_faults(DEMO_STREAM, FaultPlan(drop_after_received=[2], error_5000=[4]))
    qtbot.waitUntil(lambda: window.picker.stream.count() > 0, timeout=10000)
    seen: list[str] = []
    window.controller.connection.connect(lambda ev: seen.append(ev.state))
    with qtbot.waitSignal(window.controller.started, timeout=20000):
        window.start_button.click()
    qtbot.waitUntil(lambda: window.banner.isVisible() and "next try in" in window.banner.text(), timeout=60000)
    assert "attempt 1" in window.banner.text()
    assert window.stats.labels["connection"].text().startswith("reconnecting")
    qtbot.waitUntil(lambda: persisted(window) >= 5, timeout=90000)
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    assert "recovered" in seen
    assert set(window.model.states()) == {"PERSISTED"}


def test_log_and_settings_never_hold_a_secret(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.picker.stream.count() > 0, timeout=10000)
    stream_and_stop(qtbot, window, rows=1)
    secret = window.embedded.keys.secret_key
    import logging

    logging.getLogger("kvs-studio").warning("leak test secret_key=%s", secret)
    log_file = tmp_path / "saved.log"
    window.log_panel.save(str(log_file))
    text = log_file.read_text()
    assert "Connected to" in text
    assert secret not in text
    window.close()
    settings_text = (tmp_path / "settings.ini").read_text()
    assert "kvs-studio-demo" in settings_text
    assert secret not in settings_text
    assert window.embedded.keys.access_key not in settings_text


def test_settings_are_remembered(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings_path = tmp_path / "settings.ini"
    first = MainWindow(EmbeddedEndpoint(tmp_path / "e"), QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.resolution.setCurrentIndex(first.resolution.findData("640x360"))
    first.picker.stream.setEditText("porch")
    first.close()
    second = MainWindow(EmbeddedEndpoint(tmp_path / "e"), QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.resolution.currentData() == "640x360"
    assert second.picker.stream_name() == "porch"
    second.close()


def test_new_stream_dialog_creates_the_stream(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialog

    from app.ui import destination

    def fill_and_accept(dialog: destination.NewStreamDialog) -> int:
        # The modal loop is the only fake: a person would type these and press OK.
        dialog.name.setText("backyard")
        dialog.retention.setValue(6)
        return int(QDialog.DialogCode.Accepted)

    monkeypatch.setattr(destination.NewStreamDialog, "exec", fill_and_accept)
    qtbot.waitUntil(lambda: window.picker.stream.count() > 0, timeout=10000)
    with qtbot.waitSignal(window.picker.streams_loaded, timeout=10000, check_params_cb=lambda n: "backyard" in n):
        window.picker.new_stream.click()
    assert window.picker.stream_name() == "backyard"
    emb = window.embedded
    kv = client("kinesisvideo", emb.url, keys=KeyPair(emb.keys.access_key, emb.keys.secret_key))
    assert kv.describe_stream(StreamName="backyard")["StreamInfo"]["DataRetentionInHours"] == 6
