"""The window's sound choice, audio meter and fragment-metadata editor, with a real engine streaming to the
in-process local endpoint (pytest-qt, offscreen). No microphone here: the test tone is the sound source."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import pytest

from app.localkvs.auth import KeyPair
from app.localkvs.embedded import DEMO_STREAM
from app.mkv.parser import MkvStreamParser, TagsEvent
from app.ui.main_window import MainWindow
from app.ui.tags_editor import ONCE
from tests.conftest import client

pytest.importorskip("pytestqt")



def add_tag(win: MainWindow, name: str, value: str, once: bool = False) -> None:
    editor = win.tags_editor
    editor.name.setText(name)
    editor.value.setText(value)
    editor.mode.setCurrentIndex(1 if once else 0)
    editor.add.click()


def stored(win: MainWindow, stream: str) -> list[bytes]:
    emb = win.embedded
    keys = KeyPair(emb.keys.access_key, emb.keys.secret_key)
    archived = client("kinesis-video-archived-media", emb.url, keys=keys)
    frags = sorted(archived.list_fragments(StreamName=stream)["Fragments"], key=lambda f: f["ProducerTimestamp"])
    return [archived.get_media_for_fragment_list(StreamName=stream, Fragments=[f["FragmentNumber"]])["Payload"].read()
            for f in frags]


def user_tags(doc: bytes) -> dict[str, str]:
    parser = MkvStreamParser()
    tags = [t for e in parser.feed(doc) + parser.close() if isinstance(e, TagsEvent) for t in e.tags]
    return {n: v for n, v in tags if not n.startswith("AWS_KINESISVIDEO_")}


def test_tone_meter_and_tags_edited_while_streaming(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.picker.stream.findText(DEMO_STREAM) >= 0, timeout=10000)
    window.sound.setCurrentIndex(window.sound.findData("tone"))
    add_tag(window, "camera", "desk")
    with qtbot.waitSignal(window.controller.started, timeout=20000):
        window.start_button.click()
    assert not window.sound.isEnabled()  # fixed while streaming, like the other inputs
    qtbot.waitUntil(lambda: "test tone" in window.audio_meter.codec.text(), timeout=20000)
    assert window.audio_meter.codec.text() == "AAC-LC 48 kHz mono, test tone 440 Hz"
    qtbot.waitUntil(lambda: window.audio_meter.value.text().endswith("dBFS"), timeout=20000)  # a beep was heard
    qtbot.waitUntil(lambda: window.model.rowCount() >= 2, timeout=30000)
    # while streaming: one item for the next fragment only, and a persistent one changed
    add_tag(window, "event", "door opened", once=True)
    assert window.tags_editor.table.item(1, 2).text() == "next fragment (waiting)"
    add_tag(window, "camera", "desk 2")
    qtbot.waitUntil(lambda: window.tags_editor.pending_once() == (), timeout=30000)  # it went out
    assert window.tags_editor.table.rowCount() == 1
    qtbot.waitUntil(lambda: window.model.states().count("PERSISTED") >= 4, timeout=60000)
    shot = Path(os.environ.get("KVS_SCREENSHOT_DIR", tmp_path)) / "window-audio-tags.png"
    assert window.grab().save(str(shot))
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    assert window.audio_meter.value.text() == "–"

    docs = stored(window, DEMO_STREAM)
    tags = [user_tags(d) for d in docs]
    assert [t for t in tags if "event" in t] == [{"camera": "desk", "event": "door opened"}] \
        or [t for t in tags if "event" in t] == [{"camera": "desk 2", "event": "door opened"}]  # exactly one
    assert all(t.get("camera") in ("desk", "desk 2") for t in tags)
    assert tags[0]["camera"] == "desk"
    assert tags[-1]["camera"] == "desk 2"
    for doc in docs:
        with av.open(io.BytesIO(doc)) as c:
            assert sorted(s.type for s in c.streams) == ["audio", "video"]
    # the table shows which fragments carried metadata: a count and the items in a tooltip
    rows = [window.model.index(r, 1) for r in range(window.model.rowCount())]
    texts = [window.model.data(i) for i in rows]
    assert sum("· 2 tags" in t for t in texts) == 1
    assert all("tag" in t for t in texts)
    tip = next(window.model.data(i, 3) for i, t in zip(rows, texts, strict=True) if "2 tags" in t)  # ToolTipRole
    assert "event = door opened" in tip


def test_editor_refuses_what_the_service_would_in_one_line(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    editor = window.tags_editor
    add_tag(window, "AWS_KINESISVIDEO_X", "1")
    assert editor.error.isVisible()
    assert "reserves" in editor.error.text()
    assert editor.table.rowCount() == 0
    add_tag(window, "note", "x" * 257)
    assert "at most 256" in editor.error.text()
    for i in range(9):
        add_tag(window, f"k{i}", "v")
    add_tag(window, "once", "v", once=True)
    assert not editor.error.isVisible()
    assert editor.table.rowCount() == 10
    add_tag(window, "eleventh", "v")
    assert "at most 10" in editor.error.text()
    assert editor.table.rowCount() == 10
    # removing a persistent item makes room; a queued next-fragment item stays until it is sent
    editor.table.selectRow(0)
    editor.remove.click()
    assert editor.table.rowCount() == 9
    once_row = next(r for r in range(editor.table.rowCount()) if editor.table.item(r, 0).data(256) == ONCE)
    editor.table.selectRow(once_row)
    editor.remove.click()
    assert editor.table.rowCount() == 9
    settings = window.build_settings()
    assert len(settings.tags) == 8
    assert settings.tags_once == (("once", "v"),)


def test_tags_added_while_the_checks_run_go_with_the_run(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Start runs the checks first (off the UI thread) and streams after; an item added meanwhile is listed in the
    editor, so it must go out too, not only what was listed when Start was clicked."""
    qtbot.waitUntil(lambda: window.picker.stream.findText(DEMO_STREAM) >= 0, timeout=10000)
    add_tag(window, "camera", "desk")
    window.start_button.click()
    assert window.start_button.text() == "Checking…"  # the checks' answer needs the event loop: still checking
    assert not window.controller.running
    add_tag(window, "site", "dock")
    add_tag(window, "event", "start", once=True)
    with qtbot.waitSignal(window.controller.started, timeout=30000):
        pass
    qtbot.waitUntil(lambda: "PERSISTED" in window.model.states(), timeout=60000)
    with qtbot.waitSignal(window.controller.stopped, timeout=60000):
        window.start_button.click()
    tags = [user_tags(d) for d in stored(window, DEMO_STREAM)]
    assert tags[0] == {"camera": "desk", "site": "dock", "event": "start"}
    assert all(t == {"camera": "desk", "site": "dock"} for t in tags[1:])
    assert window.tags_editor.pending_once() == ()  # shown as sent
