"""The engine's copy pipeline in-process against the local endpoint: a stop in the middle of a recording
sends whole fragments only, the preview shows decoded key frames, and no cap applies to a custom endpoint."""

from __future__ import annotations

import io
from pathlib import Path

import av

from app.engine.engine import Engine, StreamSettings
from app.engine.events import FragmentUpdate, PreviewFrame
from app.localkvs.server import EndpointThread
from tests.conftest import REGION, client
from tests.copymedia import make_clip
from tests.e2e.test_stream_cli import stored_fragments
from tests.engine.test_engine import Recorder
from tests.mediagen import decode_indices, read_index


def test_stop_mid_recording_sends_whole_fragments_with_previews(tmp_path: Path, endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / "long.mp4", 300, gop=15)  # 20 s with B-frames, sent in real time
    client("kinesisvideo", endpoint.url).create_stream(StreamName="cp", DataRetentionInHours=1)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="cp", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   copy=True, fragment_seconds=1.0, preview=True), rec)
    engine.prepare()
    engine.start()
    rec.wait_for(lambda r: sum(e.state == "PERSISTED" for e in r.of(FragmentUpdate)) >= 2)
    engine.stop()
    result = engine.wait(60)
    assert result is not None
    assert result.ok, result
    assert 2 <= result.produced < 20
    assert result.acknowledged == result.produced
    docs = stored_fragments(endpoint, "cp")
    assert len(docs) == result.produced
    assert decode_indices(b"".join(docs)) == list(range(result.frames))  # whole fragments, every frame once
    for doc in docs:
        with av.open(io.BytesIO(doc)) as c:
            assert next(c.demux(video=0)).is_keyframe
    previews = rec.of(PreviewFrame)
    assert previews
    for p in previews:  # a decoded key frame: its picture carries its own index, a multiple of the GOP
        assert p.image.shape == (240, 320, 3)
        assert read_index(p.image[:, :, ::-1]) == p.index
        assert p.index % 15 == 0
    assert engine._uploader is not None
    assert engine._uploader.limiter.unlimited  # a custom endpoint: no service caps


def test_fast_copy_waits_for_acks_instead_of_dropping(tmp_path: Path, endpoint: EndpointThread) -> None:
    """A file is read far faster than it uploads; with room for 3 s of video in memory, reading waits for
    acknowledgements at each fragment, so nothing is dropped and every frame is stored once."""
    clip = make_clip(tmp_path / "fast.mp4", 300, gop=15)  # 20 s, 20 fragments of 1 s
    client("kinesisvideo", endpoint.url).create_stream(StreamName="fw", DataRetentionInHours=1)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="fw", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   copy=True, realtime=False, fragment_seconds=1.0, buffer_seconds=3.0), rec)
    engine.prepare()
    engine.start()
    result = engine.wait(120)
    assert result is not None
    assert (result.ok, result.produced, result.dropped, result.frames) == (True, 20, 0, 300), result
    assert not [e for e in rec.of(FragmentUpdate) if e.state == "DROPPED"]
    assert decode_indices(b"".join(stored_fragments(endpoint, "fw"))) == list(range(300))
