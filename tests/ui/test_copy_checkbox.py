"""The window's "Upload as recorded" choice: shown for files only, and a ticked run sends the file's own
H.264 (real engine, in-process local endpoint, pytest-qt offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.localkvs.auth import KeyPair
from app.localkvs.embedded import DEMO_STREAM, EmbeddedEndpoint
from app.ui.main_window import MainWindow
from tests.conftest import client
from tests.copymedia import make_clip, packet_payloads, presentation_ms
from tests.mediagen import decode_indices

pytest.importorskip("pytestqt")



def stored(emb: EmbeddedEndpoint, stream: str) -> list[bytes]:
    archived = client("kinesis-video-archived-media", emb.url, keys=KeyPair(emb.keys.access_key, emb.keys.secret_key))
    frags = sorted(archived.list_fragments(StreamName=stream)["Fragments"], key=lambda f: f["ProducerTimestamp"])
    return [archived.get_media_for_fragment_list(StreamName=stream, Fragments=[f["FragmentNumber"]])["Payload"].read()
            for f in frags]


def test_upload_as_recorded_sends_the_files_own_h264(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = make_clip(tmp_path / "dashcam.mp4", 45, gop=15)  # 3 s with B-frames, sent in real time
    assert window.source.currentData() == "testpattern"
    assert window.copy_box.isHidden()  # the test pattern is always encoded
    window.add_file_source(str(clip))
    assert not window.copy_box.isHidden()
    assert window.resolution.isEnabled()
    window.copy_box.setChecked(True)
    assert not window.resolution.isEnabled()  # size, rate and bitrate are the file's own
    assert not window.bitrate.isEnabled()
    settings = window.build_settings()
    assert settings.copy
    assert (settings.width, settings.height, settings.bitrate_kbps) == (None, None, None)
    qtbot.waitUntil(lambda: window.picker.stream.findText(DEMO_STREAM) >= 0, timeout=10000)
    previews: list[int] = []
    window.controller.preview.connect(lambda ev: previews.append(ev.index))
    with qtbot.waitSignal(window.controller.started, timeout=20000):
        window.start_button.click()
    assert not window.copy_box.isEnabled()
    qtbot.waitUntil(lambda: bool(previews), timeout=20000)
    shot = Path(os.environ.get("KVS_SCREENSHOT_DIR", tmp_path)) / "window-copy.png"
    assert window.grab().save(str(shot))
    qtbot.waitUntil(window.source.isEnabled, timeout=60000)  # the file ended by itself and the run is over
    assert set(window.model.states()) == {"PERSISTED"}
    docs = stored(window.embedded, DEMO_STREAM)
    whole = b"".join(docs)
    assert decode_indices(whole) == list(range(45))
    assert presentation_ms(whole) == presentation_ms(clip)
    assert [p for doc in docs for p in packet_payloads(doc)] == packet_payloads(clip)  # not re-encoded
    assert window.copy_box.isEnabled()
    window.source.setCurrentIndex(window.source.findData("testpattern"))
    assert window.copy_box.isHidden()
    assert window.resolution.isEnabled()


def test_checks_before_start_open_the_file_as_it_will_be_sent(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Ticked, the checklist opens the file as recorded, as the run will: a file copy mode refuses (12 s between
    key frames) fails the Source check instead of passing it and failing only at Start. Re-encoded, it passes."""
    clip = make_clip(tmp_path / "long.mp4", 200, gop=180, bframes=0)
    window.add_file_source(str(clip))
    window.copy_box.setChecked(True)
    qtbot.waitUntil(lambda: window.picker.stream.findText(DEMO_STREAM) >= 0, timeout=10000)
    window.run_checks(start_after=False)
    qtbot.waitUntil(lambda: window.preflight.status_of("Source") != "…", timeout=30000)
    assert window.preflight.status_of("Source") == "✗"
    assert "12.0 s between key frames" in window.preflight.text_of("Source")
    window.copy_box.setChecked(False)
    window.run_checks(start_after=False)
    qtbot.waitUntil(lambda: window.preflight.status_of("Source") != "…", timeout=30000)
    assert window.preflight.status_of("Source") == "✓"
