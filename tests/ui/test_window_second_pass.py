"""The window's second pass (issue 12), with a real engine and the in-process local endpoint (offscreen Qt):
live fragment growth, last-byte latencies, "last run" stats, the table's menus and remembered layout,
Playback of what the endpoint stored (decoded frames checked by the index they carry in their pixels),
the preflight checklist, local data, shortcuts and the status bar.

No camera here: cameras are covered in test_devices.py and test_source_picker.py on the library's data.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from app.engine.events import FragmentUpdate
from app.kvs.ledger import FragmentState
from app.localkvs.auth import KeyPair
from app.localkvs.embedded import DEMO_STREAM
from app.ui.fragment_model import ERROR_COL, NUMBER_COL, RECEIVED_COL, STATE_COL, TIME_COL
from app.ui.main_window import MainWindow
from tests.conftest import client
from tests.mediagen import count_frames, make_mp4, read_index
from tests.ui import windows

pytest.importorskip("pytestqt")

SHOTS = Path(os.environ.get("KVS_SCREENSHOT_DIR", "/tmp"))


def make_window(qtbot, tmp_path: Path, settings_name: str = "settings.ini") -> MainWindow:  # type: ignore[no-untyped-def]
    win = windows.make_window(qtbot, tmp_path, settings_name)
    qtbot.waitUntil(lambda: win.picker.stream.count() > 0, timeout=10000)
    return win


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    win = make_window(qtbot, tmp_path)
    yield win
    windows.close_window(qtbot, win)


def kv(win: MainWindow):  # type: ignore[no-untyped-def]
    emb = win.embedded.start()
    return client("kinesisvideo", emb.url, keys=KeyPair(emb.keys.access_key, emb.keys.secret_key))


def states(win: MainWindow) -> list[str]:
    return win.model.states()


def qimage_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    data = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return data.reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3)


def shot(win: MainWindow, name: str) -> Path:
    path = SHOTS / name
    assert win.grab().save(str(path))
    return path


# -- streaming: growth, latency, last run, status bar ----------------------------------------------


def test_streaming_shows_growth_last_byte_latency_and_a_last_run(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        window.start_button.click()
    assert window.stats.mode.text() == "Live"
    # The open fragment's frame count grows before it is sealed (not "1 frame" until then).
    seen_growing: list[int] = []

    def growing() -> bool:
        for r in range(window.model.rowCount()):
            u = window.model.update_at(r)
            if u.state not in ("PERSISTED", "RECEIVED", "ERROR", "DROPPED") and u.frames > 1:
                seen_growing.append(u.frames)
        return len(seen_growing) >= 2

    qtbot.waitUntil(growing, timeout=30000)
    qtbot.waitUntil(lambda: states(window).count("PERSISTED") >= 2 and window.preview.frames_shown > 10,
                    timeout=60000)
    row = states(window).index("PERSISTED")
    received = window.model.data(window.model.index(row, RECEIVED_COL))
    assert received.endswith(" ms")
    assert "LAST byte" in window.model.headerData(RECEIVED_COL, Qt.Orientation.Horizontal,
                                                  Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: "after last byte" in window.stats.labels["persisted"].text(), timeout=10000)
    assert shot(window, "issue12-streaming-5s.png").stat().st_size > 10_000
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    assert window.stats.mode.text().startswith("Last run (stopped ")
    assert window.stats.labels["capture"].text() == "–"  # a rate is not shown as if it still held
    assert "after last byte" in window.stats.labels["persisted"].text()  # totals and latencies stay
    assert not window.stats.labels["sent"].isEnabled()  # greyed as history
    assert set(states(window)) == {"PERSISTED"}
    assert shot(window, "issue12-after-stop.png").stat().st_size > 10_000


def test_status_bar_shortcuts_and_plural(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtTest import QTest

    assert "1 stream listed" in window.log_panel.view.toPlainText()  # only the demo stream: singular
    window.stats_dock.close()
    qtbot.waitUntil(lambda: window.status_labels["connection"].isVisible(), timeout=5000)
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.status_labels["connection"].text() == "Connection: connected", timeout=20000)
    qtbot.waitUntil(lambda: "kbit/s" in window.status_labels["bitrate"].text(), timeout=20000)
    assert window.status_labels["dropped"].text().startswith("Dropped: ")
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.stats_dock.show()
    qtbot.waitUntil(lambda: not window.status_labels["connection"].isVisible(), timeout=5000)
    QTest.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


# -- the table ---------------------------------------------------------------------------------------


NUMBER = "91343852333181432397563741852869913437523390812"


def fake_rows(win: MainWindow) -> None:
    """Rows as the engine reports them (the table is what is tested here)."""
    win.model.apply(FragmentUpdate(0, 1_700_000_000_000, FragmentState.PERSISTED, 30, 40_000, NUMBER,
                                   {"BUFFERING": 40, "RECEIVED": 85, "PERSISTED": 310}))
    win.model.apply(FragmentUpdate(1, 1_700_000_002_000, FragmentState.ERROR, 30, 41_000, None, {},
                                   4003, "InvalidMkvData", "The fragment's MKV data could not be read."))


def test_table_elides_copies_whole_and_explains_errors(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    fake_rows(window)
    table = window.table
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert window.model.data(window.model.index(0, NUMBER_COL), Qt.ItemDataRole.ToolTipRole) == NUMBER
    table.selectRow(0)
    table.copy_fragment_number()
    assert QGuiApplication.clipboard().text() == NUMBER
    table.selectRow(1)
    assert window.detail.isVisible()
    assert "InvalidMkvData (4003): The fragment's MKV data could not be read." in window.detail.text()
    header = table.horizontalHeader()
    right_edge = max(header.sectionViewportPosition(c) + header.sectionSize(c) for c in (STATE_COL, ERROR_COL))
    assert right_edge <= table.viewport().width()  # state and error are on screen without scrolling
    assert header.sectionViewportPosition(NUMBER_COL) < table.viewport().width() - 60  # and some of the number


def test_columns_are_picked_and_remembered(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = make_window(qtbot, tmp_path, "cols.ini")
    header = first.table.horizontalHeader()
    assert header.isSectionHidden(TIME_COL)  # hidden by default: the timecode already says when
    menu = first.table.column_menu()
    action = next(a for a in menu.actions() if a.text() == "Local time")
    action.trigger()
    assert not header.isSectionHidden(TIME_COL)
    header.resizeSection(RECEIVED_COL, 133)
    first.close()
    second = make_window(qtbot, tmp_path, "cols.ini")
    h2 = second.table.horizontalHeader()
    assert not h2.isSectionHidden(TIME_COL)
    assert h2.sectionSize(RECEIVED_COL) == 133
    second.close()


def test_copied_command_downloads_the_fragment(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        window.start_button.click()
    qtbot.waitUntil(lambda: "PERSISTED" in states(window), timeout=60000)
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    row = states(window).index("PERSISTED")
    number = window.model.update_at(row).fragment_number
    assert number
    window.table.selectRow(row)
    window.table.copy_command(row)
    command = QGuiApplication.clipboard().text()
    words = shlex.split(command)
    assert words[2:5] == ["aws", "kinesis-video-archived-media", "get-media-for-fragment-list"]
    assert words[words.index("--endpoint-url") + 1] == window.embedded.url
    assert words[words.index("--stream-name") + 1] == DEMO_STREAM
    assert words[words.index("--fragments") + 1] == number
    assert "--no-verify-ssl" not in words  # plain http on loopback: nothing to verify
    if shutil.which("aws") is None:
        pytest.skip("the AWS CLI is not installed here; the command's words were checked")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = tmp_path / next(w for w in words if w.endswith(".mkv"))
    assert count_frames(out.read_bytes()) == window.model.update_at(row).frames  # the whole fragment, decodable


# -- playback ----------------------------------------------------------------------------------------


def test_playback_decodes_and_shows_what_was_stored(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = make_mp4(tmp_path / "indexed.mp4", frames=45)  # each frame carries its index in its pixels
    window.add_file_source(str(clip))
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        window.start_button.click()
    qtbot.waitUntil(lambda: "PERSISTED" in states(window), timeout=60000)
    window.show_playback()
    with qtbot.waitSignal(window.playback.fetch_requested, timeout=5000):
        window.playback.fetch_button.click()  # during streaming
    qtbot.waitUntil(lambda: window.playback.clip is not None and window.playback.fetch_button.isEnabled(),
                    timeout=60000)
    assert window.playback.clip.playable, window.playback.clip.reason  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60000)  # the file ends the run by itself
    window.playback.range.setCurrentIndex(window.playback.range.findData(300))
    window.playback.fetch_button.click()  # after streaming: every frame is there now
    qtbot.waitUntil(lambda: window.playback.fetch_button.isEnabled(), timeout=60000)
    played = window.playback.clip
    assert played is not None
    assert len(played.frames) == 45, window.playback.summary.text()
    assert [read_index(f.image[:, :, ::-1]) for f in played.frames] == list(range(45))  # type: ignore[union-attr]
    assert played.frames[0].producer_ms == played.fragments[0].producer_ms  # type: ignore[union-attr]
    window.playback.stop()
    window.playback.scrubber.setValue(30)
    assert read_index(qimage_rgb(window.playback.screen.image)) == 30  # type: ignore[arg-type]
    assert played.frames[30].fragment[-8:] in window.playback.position.text()  # type: ignore[union-attr]
    assert "45 frames" in window.playback.summary.text()
    assert shot(window, "issue12-playback.png").stat().st_size > 10_000
    window.playback.toggle_play()
    assert window.playback.playing
    start = window.playback.scrubber.value()
    qtbot.waitUntil(lambda: window.playback.scrubber.value() > start, timeout=5000)


def test_nothing_to_play_is_explained(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    kv(window).create_stream(StreamName="no-retention", DataRetentionInHours=0)
    kv(window).create_stream(StreamName="empty", DataRetentionInHours=1)
    qtbot.waitUntil(lambda: kv(window).describe_stream(StreamName="empty")["StreamInfo"]["Status"] == "ACTIVE",
                    timeout=15000)  # new streams are CREATING for a moment
    cases = {"no-retention": "retention 0 h", "empty": "No fragments were stored", "missing": "No stream 'missing'"}
    for stream, words in cases.items():
        window.picker.stream.setEditText(stream)
        window.playback.fetch_button.click()
        qtbot.waitUntil(lambda: window.playback.fetch_button.isEnabled(), timeout=30000)
        assert words in window.playback.summary.text()
        assert not window.playback.scrubber.isEnabled()


# -- preflight ---------------------------------------------------------------------------------------


def test_preflight_refuses_an_unknown_stream_and_a_bad_key(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.picker.stream.setEditText("no-such-stream")
    window.start_button.click()
    qtbot.waitUntil(lambda: window.start_button.text() == "Start" and window.preflight.status_of("Stream") == "✗",
                    timeout=30000)
    assert not window.controller.running
    assert window.preflight.status_of("Credentials") == "✓"
    assert window.preflight.status_of("Source") == "✓"
    assert "New stream" in window.preflight.text_of("Stream")
    assert "no-such-stream" in window.banner.text()
    emb = window.embedded.start()
    real = emb.keys
    emb.keys = KeyPair(real.access_key, "not-the-secret-" + "0" * 25)
    try:
        window.picker.stream.setEditText(DEMO_STREAM)
        window.start_button.click()
        qtbot.waitUntil(lambda: window.start_button.text() == "Start"
                        and window.preflight.status_of("Credentials") == "✗", timeout=30000)
        assert "refused the credentials" in window.preflight.text_of("Credentials")
        assert window.preflight.status_of("Stream") == "–"
        assert not window.controller.running
    finally:
        emb.keys = real


def test_preflight_warns_on_retention_zero_and_start_goes_on(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    kv(window).create_stream(StreamName="zero", DataRetentionInHours=0)
    window.picker.stream.setEditText("zero")
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        window.start_button.click()
    assert window.preflight.isVisible()
    assert window.preflight.status_of("Retention") == "!"
    assert "nothing to play back" in window.preflight.text_of("Retention")
    _mark, text = window.preflight.rows["Retention"]
    assert text.height() >= text.heightForWidth(text.width()) - 1  # the warning is not cut off
    assert window.preflight.status_of("Clock") == "✓"
    qtbot.waitUntil(lambda: "RECEIVED" in states(window), timeout=60000)
    assert shot(window, "issue12-preflight-warning.png").stat().st_size > 10_000
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()


# -- local data ----------------------------------------------------------------------------------------


def test_clear_local_data_asks_then_deletes_every_fragment(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert window.local_data.isVisible()
    assert str(window.embedded.data_dir) in window.local_data.usage.toolTip()
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        window.start_button.click()
    assert not window.local_data.clear_button.isEnabled()  # not while streaming into it
    qtbot.waitUntil(lambda: "PERSISTED" in states(window), timeout=60000)
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    store = window.embedded.endpoint.store
    assert store.stored_bytes > 0
    assert "of 1024 MB" in window.local_data.usage.text()
    assert not window.local_data.usage.text().startswith("Local data: 0 KB")
    monkeypatch.setattr(window.local_data, "confirm", lambda: False)  # the person says Cancel
    window.local_data.clear_button.click()
    assert store.stored_bytes > 0
    monkeypatch.setattr(window.local_data, "confirm", lambda: True)  # ... then Yes
    with qtbot.waitSignal(window.local_data.cleared, timeout=10000):
        window.local_data.clear_button.click()
    assert store.stored_bytes == 0
    archived = client("kinesis-video-archived-media", window.embedded.url,
                      keys=KeyPair(window.embedded.keys.access_key, window.embedded.keys.secret_key))
    assert archived.list_fragments(StreamName=DEMO_STREAM)["Fragments"] == []
    assert window.local_data.usage.text().startswith("Local data: 0 KB")
    kv(window).describe_stream(StreamName=DEMO_STREAM)  # the stream itself stays


# -- layout ----------------------------------------------------------------------------------------


def test_the_table_takes_the_space_under_a_16_9_picture(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.resize(1280, 1000)
    qtbot.waitUntil(lambda: window.preview.width() > 0, timeout=5000)
    window._fit_split()
    picture = window.preview.width() * 9 / 16
    assert abs(window.preview.height() - picture) <= 4  # no black band under the picture
    table_before = window.table.height()
    window.resize(1280, 1100)
    qtbot.waitUntil(lambda: window.table.height() > table_before + 50, timeout=5000)  # the table gets the rest
