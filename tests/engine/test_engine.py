"""The Engine in-process against the local endpoint: connection rotation, buffer overflow reporting,
clock skew, and the event stream a front end sees."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from app.engine.engine import Engine, StreamSettings
from app.engine.events import (
    ConnectionState,
    EngineEvent,
    EngineMessage,
    EngineStopped,
    FragmentProgress,
    FragmentUpdate,
    StatsSample,
)
from app.engine.uploader import UploaderSettings
from app.errors import ClockSkewError
from app.kvs.retry import Backoff
from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests.conftest import REGION, client
from tests.e2e.test_stream_cli import assert_every_frame_once_in_order, make_mp4


class Recorder:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.cond = threading.Condition()

    def __call__(self, ev: EngineEvent) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def of(self, kind: type) -> list:
        with self.cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, pred, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self), timeout), "condition not met in time"


def run_engine(settings: StreamSettings, rec: Recorder, timeout: float = 120) -> EngineStopped:
    engine = Engine(settings, rec)
    engine.prepare()
    engine.start()
    result = engine.wait(timeout)
    assert result is not None, "engine did not stop in time"
    return result


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("m") / "clip.mp4", frames=90)


def test_rotation_at_fragment_boundaries_no_gap_no_duplicate(clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="rot", DataRetentionInHours=1)
    rec = Recorder()
    settings = StreamSettings(stream="rot", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                              fragment_seconds=1.0, uploader=UploaderSettings(rotate_s=1.5))
    result = run_engine(settings, rec)
    assert result.ok, result
    connects = [e for e in rec.of(ConnectionState) if e.state == "connected"]
    assert len(connects) >= 3  # 6 s of media, a new connection every ~1.5 s
    assert not [e for e in rec.of(ConnectionState) if e.state == "reconnecting" and e.retry_in_s]
    assert_every_frame_once_in_order(endpoint, "rot", frames=90)


def test_overflow_is_counted_and_reported(clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="ovf", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("ovf", FaultPlan(refuse_connections=3))
    rec = Recorder()
    settings = StreamSettings(stream="ovf", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                              fragment_seconds=1.0, realtime=False, buffer_seconds=1.5,
                              uploader=UploaderSettings(backoff=Backoff(base_s=0.5, cap_s=1.0)))
    result = run_engine(settings, rec)
    assert result.dropped > 0
    assert not result.ok
    assert result.acknowledged + result.dropped == result.produced
    drops = [e for e in rec.of(FragmentUpdate) if e.state == "DROPPED"]
    assert len(drops) == result.dropped
    stats = rec.of(StatsSample)
    assert stats[-1].dropped_fragments == result.dropped
    reconnects = [e for e in rec.of(ConnectionState) if e.state == "reconnecting" and e.retry_in_s]
    assert [e.attempt for e in reconnects][:3] == [1, 2, 3]


def test_clock_skew_is_explained_with_the_measured_skew(clip: Path, endpoint: EndpointThread,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=30)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    engine = Engine(StreamSettings(stream="x", source=str(clip), region=REGION, endpoint_url=endpoint.url),
                    Recorder())
    with pytest.raises(ClockSkewError) as exc:
        engine.prepare()
    msg = exc.value.user_message
    assert "30 min ahead of the service" in msg
    assert "NTP" in msg


def test_event_stream_for_front_ends(clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="ev", DataRetentionInHours=1)
    rec = Recorder()
    settings = StreamSettings(stream="ev", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                              realtime=False, preview=True)
    result = run_engine(settings, rec)
    assert result.ok
    by_seq: dict[int, list[str]] = {}
    for e in rec.of(FragmentUpdate):
        by_seq.setdefault(e.seq, []).append(e.state)
    for states in by_seq.values():
        assert states[-1] == "PERSISTED"
        assert states.index("BUFFERING") < states.index("RECEIVED") < states.index("PERSISTED")
    persisted = [e for e in rec.of(FragmentUpdate) if e.state == "PERSISTED"]
    assert all({"BUFFERING", "RECEIVED", "PERSISTED"} <= set(e.latency_ms) for e in persisted)
    # RECEIVED and PERSISTED are timed from the same last byte, so PERSISTED never reads less.
    assert all(e.latency_ms["RECEIVED"] <= e.latency_ms["PERSISTED"] for e in persisted)
    assert all(e.fragment_number for e in persisted)
    assert next(e.state for e in rec.of(ConnectionState)) == "connecting"
    assert rec.of(ConnectionState)[-1].state == "stopped"


def test_clock_skew_during_streaming_stops_with_the_measured_skew(clip: Path, endpoint: EndpointThread,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    client("kinesisvideo", endpoint.url).create_stream(StreamName="skew", DataRetentionInHours=1)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="skew", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   realtime=False), rec)
    engine.prepare()  # the clock is right while the stream is checked and the endpoint found ...
    engine.control.data_endpoint("skew")  # type: ignore[union-attr]
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=40)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    engine.start()  # ... and 40 minutes off once streaming starts
    result = engine.wait(60)
    assert result is not None
    assert not result.ok
    assert result.error is not None
    assert "clock" in result.error
    assert "40 min behind the service" in result.error  # measured from the signing time
    gave_up = [e for e in rec.of(ConnectionState) if e.state == "gave_up"]
    assert gave_up


def test_an_encoder_that_dies_ends_the_run_with_a_message(clip: Path, endpoint: EndpointThread,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected into our own encoder (PyAV itself never fails here): capture must not deadlock on
    its full queue, and the run must end at once with the reason."""
    from app.media.encoder import H264Encoder

    client("kinesisvideo", endpoint.url).create_stream(StreamName="enc", DataRetentionInHours=1)
    real = H264Encoder.encode
    calls = {"n": 0}

    def dying(self: H264Encoder, frame, force_key: bool):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("encoder exploded")
        return real(self, frame, force_key)

    monkeypatch.setattr(H264Encoder, "encode", dying)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="enc", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   realtime=False), rec)
    engine.prepare()
    engine.start()
    result = engine.wait(30)
    assert result is not None, "the run hung after its encoder died"
    assert result.error == "Internal error in kvs-encode: encoder exploded"
    assert not result.ok
    assert not any(t.is_alive() for t in engine._threads[:2])


def test_an_uploader_that_dies_stops_a_live_source(endpoint: EndpointThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live source never ends by itself: when the upload cannot go on, capture must be stopped."""
    from app.engine.putmedia_connection import PutMediaConnection

    client("kinesisvideo", endpoint.url).create_stream(StreamName="upd", DataRetentionInHours=1)

    async def broken(self: PutMediaConnection, http: object) -> None:
        raise RuntimeError("uploader exploded")

    monkeypatch.setattr(PutMediaConnection, "run", broken)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="upd", source="testpattern", width=320, height=240, fps=15,
                                   region=REGION, endpoint_url=endpoint.url), rec)
    engine.prepare()
    engine.start()
    result = engine.wait(30)
    assert result is not None, "the run hung after its uploader died"
    assert result.error == "Upload stopped by an internal error: uploader exploded"
    assert [e.state for e in rec.of(ConnectionState)][-1] == "gave_up"


def test_rotation_asks_for_the_data_endpoint_again(clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="rot2", DataRetentionInHours=1)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="rot2", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   fragment_seconds=1.0, uploader=UploaderSettings(rotate_s=1.5)), rec)
    engine.prepare()
    assert engine.control is not None
    asked: list[str] = []
    real = engine.control.data_endpoint

    def counting(stream: str, api: str = "PUT_MEDIA") -> str:  # a spy: the real call, counted
        asked.append(api)
        return real(stream, api)

    engine.control.data_endpoint = counting  # type: ignore[method-assign]
    engine.start()
    result = engine.wait(120)
    assert result is not None
    assert result.ok, result
    connects = [e for e in rec.of(ConnectionState) if e.state == "connected"]
    assert asked.count("PUT_MEDIA") == len(connects) >= 3


def test_a_stream_deleted_while_streaming_stops_the_run_and_keeps_the_video(tmp_path: Path,
                                                                           endpoint: EndpointThread) -> None:
    """The stream is deleted mid-run: the run stops with the reason instead of retrying forever, and what was
    not stored stays in the spool."""
    kv = client("kinesisvideo", endpoint.url)
    kv.create_stream(StreamName="gone", DataRetentionInHours=1)
    rec = Recorder()
    spool = tmp_path / "spool"
    engine = Engine(StreamSettings(stream="gone", source="testpattern", width=320, height=240, fps=15,
                                   fragment_seconds=1.0, region=REGION, endpoint_url=endpoint.url, spool_dir=spool,
                                   uploader=UploaderSettings(rotate_s=2.0)), rec)
    engine.prepare()
    engine.start()
    rec.wait_for(lambda r: any(e.state == "PERSISTED" for e in r.of(FragmentUpdate)))
    kv.delete_stream(StreamARN=kv.describe_stream(StreamName="gone")["StreamInfo"]["StreamARN"])
    result = engine.wait(60)
    assert result is not None, "the run did not stop"
    assert result.error is not None
    # The service says so on the open connection (ERROR 4008), or the next connection finds the stream gone (404).
    assert "STREAM_NOT_ACTIVE (4008)" in result.error or result.error.startswith("Stream gone no longer exists")
    assert result.kept >= 1
    assert len(list((spool / "gone").glob("*.frag"))) == result.kept


class _StuckSource:
    """A camera whose read never returns (a boundary we cannot reach here: no camera on this machine)."""

    def __init__(self) -> None:
        from app.media.sources import SourceInfo

        self.info = SourceInfo(320, 240, 15.0, live=True, description="stuck camera")
        self.stuck = threading.Event()
        self.release = threading.Event()

    def frames(self, stop: threading.Event):  # type: ignore[no-untyped-def]
        from app.media.sources import TestPatternSource

        pattern = TestPatternSource(320, 240, 15.0)
        for i, frame in enumerate(pattern.frames(stop)):
            if i == 10:
                self.stuck.set()
                self.release.wait(120)  # stuck inside the driver: the stop event is never looked at
            yield frame

    def close(self) -> None:
        pass


def test_a_source_that_never_returns_does_not_hang_the_stop(endpoint: EndpointThread,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import app.engine.engine as engine_module

    monkeypatch.setattr(engine_module, "STOP_GRACE_S", 1.0)
    client("kinesisvideo", endpoint.url).create_stream(StreamName="stuck", DataRetentionInHours=1)
    stuck = _StuckSource()
    monkeypatch.setattr(engine_module, "open_source", lambda *a, **k: stuck)
    rec = Recorder()
    engine = Engine(StreamSettings(stream="stuck", source="camera:0", region=REGION, endpoint_url=endpoint.url,
                                   fragment_seconds=1.0), rec)
    engine.prepare()
    engine.start()
    assert stuck.stuck.wait(30)
    engine.stop()
    try:
        result = engine.wait(30)
        assert result is not None, "the stop hung on a source that never returns"
        assert result.error is not None
        assert "kvs-capture did not stop within 1 s" in result.error
        assert result.acknowledged == result.produced == 1  # what it gave before it got stuck was delivered
        assert result.frames == 10
    finally:
        stuck.release.set()


def test_a_failure_while_finishing_still_ends_the_run(clip: Path, endpoint: EndpointThread,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="fin", DataRetentionInHours=1)

    def broken(self: Engine) -> None:
        raise RuntimeError("supervisor exploded")

    monkeypatch.setattr(Engine, "_watch", broken)
    engine = Engine(StreamSettings(stream="fin", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                   realtime=False), Recorder())
    engine.prepare()
    engine.start()
    result = engine.wait(30)
    assert result is not None, "front ends would wait forever"
    assert result.error == "Internal error while stopping: supervisor exploded"


def test_a_full_spool_disk_keeps_streaming_from_memory(clip: Path, endpoint: EndpointThread, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that refuses writes (ENOSPC, injected: we cannot fill a disk here) must not end a run."""
    import errno

    from app.engine.spool import Spool

    def full(self: Spool, path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Spool, "_write", full)
    client("kinesisvideo", endpoint.url).create_stream(StreamName="full", DataRetentionInHours=1)
    rec = Recorder()
    result = run_engine(StreamSettings(stream="full", source=str(clip), region=REGION, endpoint_url=endpoint.url,
                                       realtime=False, spool_dir=tmp_path / "spool"), rec)
    assert result.ok, result
    warnings = [e.text for e in rec.of(EngineMessage) if e.level == "warning"]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0]
    assert "kept in memory only" in warnings[0]


def test_the_open_fragment_reports_its_growth(endpoint: EndpointThread) -> None:
    """A live source: the fragment being encoded is reported as it grows (throttled), and its last report,
    at the seal, has the frames and bytes the fragment was stored with."""
    client("kinesisvideo", endpoint.url).create_stream(StreamName="grow", DataRetentionInHours=1)
    rec = Recorder()
    settings = StreamSettings(stream="grow", source="testpattern", region=REGION, endpoint_url=endpoint.url,
                              width=160, height=120, fps=15, duration_s=4.5, fragment_seconds=2.0)
    result = run_engine(settings, rec)
    assert result.ok
    progress = [e for e in rec.of(FragmentProgress) if e.seq == 0]
    counts = [e.frames for e in progress]
    assert len(counts) >= 3, counts  # several reports within one 2 s fragment, not just the first frame
    assert counts == sorted(counts)
    assert [e.size for e in progress] == sorted(e.size for e in progress)
    final = next(e for e in rec.of(FragmentUpdate) if e.seq == 0 and e.state == "PERSISTED")
    assert (progress[-1].frames, progress[-1].size) == (final.frames, final.size)
    assert len(progress) <= final.frames // 2  # throttled: far fewer reports than frames
