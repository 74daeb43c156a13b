"""Sound and fragment metadata end to end: `kvs-studio stream` (a subprocess) to the local endpoint over real
sockets; what GetMediaForFragmentList and GetClip return is read by PyAV and ffprobe (FFmpeg, not our parser).

The microphone path cannot run here (no capture device, no PortAudio): the test tone stands in for it, and
the clear message for a missing microphone is checked."""

from __future__ import annotations

import io
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from app.mkv.parser import MkvStreamParser, TagsEvent
from tests import mediagen
from tests.conftest import client, make_endpoint
from tests.e2e.test_stream_cli import FRAMES, run_cli, stored_fragments
from tests.mediagen import decode_indices

pytestmark = pytest.mark.e2e
FPS = 15
AWS_TAG_PREFIX = "AWS_KINESISVIDEO_"


@dataclass
class Tracks:
    """What FFmpeg finds in an MKV/MP4: per track its codec and the time span its packets cover (s)."""

    codecs: dict[str, str]
    start: dict[str, float]
    end: dict[str, float]
    rate: int
    channels: int
    audio_frame_s: float

    def duration(self, kind: str) -> float:
        return self.end[kind] - self.start[kind]


def read_tracks(data: bytes, fmt: str | None = None) -> Tracks:
    codecs: dict[str, str] = {}
    start: dict[str, float] = {}
    end: dict[str, float] = {}
    rate = channels = 0
    frame_s = 0.0
    with av.open(io.BytesIO(data), format=fmt) as c:
        for st in c.streams:
            codecs[st.type] = st.codec_context.name
            if st.type == "audio":
                rate, channels = st.sample_rate, st.channels
                frame_s = 1024 / st.sample_rate
        for pkt in c.demux():
            if pkt.pts is None or not pkt.size:
                continue
            kind = pkt.stream.type
            t0 = float(pkt.pts * pkt.time_base)
            dur = float(pkt.duration * pkt.time_base) if pkt.duration else (1 / FPS if kind == "video" else frame_s)
            start[kind] = min(start.get(kind, t0), t0)
            end[kind] = max(end.get(kind, t0), t0 + dur)
        # every audio frame decodes (FFmpeg's AAC decoder), not just demuxes
        if "audio" in codecs:
            c.seek(0)
            samples = sum(f.samples for f in c.decode(audio=0))
            assert samples >= (end["audio"] - start["audio"]) * rate - 2048
    return Tracks(codecs, start, end, rate, channels, frame_s)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)
    assert out.stderr == ""
    return json.loads(out.stdout)


def user_tags(doc: bytes) -> list[tuple[str, str]]:
    parser = MkvStreamParser()
    tags = [t for e in parser.feed(doc) + parser.close() if isinstance(e, TagsEvent) for t in e.tags]
    return [(n, v) for n, v in tags if not n.startswith(AWS_TAG_PREFIX)]


def get_clip(ep: EndpointThread, stream: str) -> bytes:
    archived = client("kinesis-video-archived-media", ep.url)
    frags = archived.list_fragments(StreamName=stream)["Fragments"]
    first = min(f["ProducerTimestamp"].timestamp() for f in frags)
    clip = archived.get_clip(StreamName=stream, ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": first - 1, "EndTimestamp": first + 60}})
    assert clip["ContentType"] == "video/mp4"
    return clip["Payload"].read()


def assert_av_fragments(ep: EndpointThread, stream: str, tmp_path: Path, *, rate: int, channels: int) -> list[bytes]:
    """Every fragment has both tracks; the whole stream and the GetClip MP4 have sound as long as the picture
    (within one audio frame), starting with it; every picture arrived once, in order."""
    docs = stored_fragments(ep, stream)
    assert len(docs) == 3
    for i, doc in enumerate(docs):
        tracks = read_tracks(doc)
        assert tracks.codecs == {"video": "h264", "audio": "aac"}, f"fragment {i}"
        assert tracks.duration("audio") > 0.5
        # the audio of a fragment lies within it: its first sound is not before its key frame
        assert tracks.start["audio"] >= tracks.start["video"]
    whole = b"".join(docs)
    assert decode_indices(whole) == list(range(FRAMES))
    for data, fmt in ((whole, None), (get_clip(ep, stream), "mp4")):
        t = read_tracks(data, fmt)
        assert (t.rate, t.channels) == (rate, channels)
        assert abs(t.start["audio"] - t.start["video"]) <= t.audio_frame_s
        assert abs(t.duration("audio") - t.duration("video")) <= t.audio_frame_s
    path = tmp_path / f"{stream}-fragment.mkv"
    path.write_bytes(docs[1])
    probe = ffprobe(path)
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert (audio["codec_name"], audio["profile"], int(audio["sample_rate"]), audio["channels"]) == \
        ("aac", "LC", rate, channels)
    return docs


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("av")


@pytest.mark.parametrize(("name", "codec", "fmt", "rate", "how"), [
    ("aac.mp4", "aac", None, 48000, "copied"),
    ("adts.ts", "aac", "mpegts", 48000, "copied"),  # ADTS: header stripped, AudioSpecificConfig built
    ("mp3.mkv", "libmp3lame", None, 44100, "re-encoded from MP3"),
    ("opus.mkv", "libopus", None, 48000, "re-encoded from OPUS"),
    ("pcm.mov", "pcm_s16le", None, 32000, "re-encoded from PCM_S16LE"),
])
def test_file_with_sound_sends_both_tracks(name: str, codec: str, fmt: str | None, rate: int, how: str,
                                           media: Path, endpoint: EndpointThread, tmp_path: Path) -> None:
    clip = mediagen.make_av_clip(media / name, FRAMES, FPS, audio_codec=codec, fmt=fmt, rate=rate)
    stream = name.replace(".", "-")
    proc = run_cli("--stream", stream, "--source", str(clip), "--endpoint-url", endpoint.url, "--create",
                   "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"with audio (AAC-LC {rate / 1000:g} kHz stereo, {how})" in proc.stdout
    assert "summary: 3 fragments, 75 frames; 3 PERSISTED, 0 refused" in proc.stdout
    assert "silent frames" not in proc.stdout  # the file's sound covered the whole picture
    assert_av_fragments(endpoint, stream, tmp_path, rate=rate, channels=2)


def test_file_without_sound_or_with_no_audio_is_video_only(media: Path, endpoint: EndpointThread) -> None:
    silent = mediagen.make_mp4(media / "silent.mp4", FRAMES, FPS)
    loud = mediagen.make_av_clip(media / "loud.mp4", FRAMES, FPS)
    for stream, args in (("silent", ["--source", str(silent)]), ("muted", ["--source", str(loud), "--no-audio"])):
        proc = run_cli("--stream", stream, *args, "--endpoint-url", endpoint.url, "--create", "--pace", "fast")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "with audio" not in proc.stdout
        docs = stored_fragments(endpoint, stream)
        assert [read_tracks(d).codecs for d in docs] == [{"video": "h264"}] * 3
        assert decode_indices(b"".join(docs)) == list(range(FRAMES))


def test_sound_that_stops_midway_never_gets_a_fragment_refused(media: Path, endpoint: EndpointThread,
                                                               tmp_path: Path) -> None:
    clip = mediagen.make_av_clip(media / "short-sound.mp4", FRAMES, FPS, audio_seconds=1.5)
    proc = run_cli("--stream", "short", "--source", str(clip), "--endpoint-url", endpoint.url, "--create",
                   "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 refused" in proc.stdout
    assert "ERROR" not in proc.stdout
    assert "silent frames stand in" in proc.stdout
    docs = assert_av_fragments(endpoint, "short", tmp_path, rate=48000, channels=2)
    with av.open(io.BytesIO(docs[2])) as c:  # the last fragment is all silence, real AAC FFmpeg decodes
        pcm = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert np.abs(pcm).max() < 1e-3
    with av.open(io.BytesIO(docs[0])) as c:  # the first still has the file's tone
        pcm = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert np.abs(pcm).max() > 0.2


def test_test_pattern_with_tone_beeps_on_the_wall_clock_second(endpoint: EndpointThread, tmp_path: Path) -> None:
    proc = run_cli("--stream", "tone", "--source", "testpattern", "--tone", "--duration", "5", "--width", "320",
                   "--height", "240", "--fps", "15", "--endpoint-url", endpoint.url, "--create")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "with audio (AAC-LC 48 kHz mono, test tone 440 Hz)" in proc.stdout
    docs = stored_fragments(endpoint, "tone")
    assert len(docs) >= 3
    for doc in docs:
        assert read_tracks(doc).codecs == {"video": "h264", "audio": "aac"}
    # Beeps start as each wall-clock second starts. Block timecodes are ms since the epoch, from the clock the
    # pictures are stamped with, so a beep onset at a whole second means the two tracks share one clock.
    onsets = []
    with av.open(io.BytesIO(b"".join(docs))) as c:
        previous_loud = True
        for frame in c.decode(audio=0):
            pcm = frame.to_ndarray().ravel()
            step = 1 / frame.sample_rate
            loud = np.flatnonzero(np.abs(pcm) > 0.05)
            if loud.size and not previous_loud:
                onsets.append(float(frame.pts * frame.time_base) + loud[0] * step)
            previous_loud = bool(loud.size) and loud[-1] > len(pcm) - 10
    assert len(onsets) >= 3
    for t in onsets:
        assert abs(t - round(t)) <= 0.025, onsets  # within about one AAC frame of the whole second


def test_microphone_missing_is_a_clear_error(endpoint: EndpointThread) -> None:
    proc = run_cli("--stream", "mic", "--source", "testpattern", "--mic", "USB Audio", "--endpoint-url",
                   endpoint.url, "--create", "--duration", "1")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "microphone" in line.lower()  # no sounddevice/PortAudio here; with it: "No microphone named ..."


def test_tone_with_a_file_or_no_audio_is_refused_up_front(media: Path, endpoint: EndpointThread) -> None:
    clip = mediagen.make_mp4(media / "v.mp4", 15, FPS)
    proc = run_cli("--stream", "x", "--source", str(clip), "--tone", "--endpoint-url", endpoint.url, "--create")
    assert proc.returncode == 2
    assert "a file sends its own sound" in proc.stderr
    proc = run_cli("--stream", "x", "--tone", "--no-audio", "--endpoint-url", endpoint.url)
    assert proc.returncode == 2
    assert "not allowed with" in proc.stderr


def test_tags_on_every_fragment_and_bad_tags_refused_in_one_line(media: Path, endpoint: EndpointThread) -> None:
    clip = mediagen.make_av_clip(media / "tagged.mp4", FRAMES, FPS)
    proc = run_cli("--stream", "tagged", "--source", str(clip), "--endpoint-url", endpoint.url, "--create",
                   "--pace", "fast", "--tag", "camera=front door", "--tag", "site=Zürich", "--tag", "note=a=b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docs = stored_fragments(endpoint, "tagged")
    assert [user_tags(d) for d in docs] == [[("camera", "front door"), ("site", "Zürich"), ("note", "a=b")]] * 3
    path = media / "tagged-fragment.mkv"
    path.write_bytes(docs[0])
    assert ffprobe(path)["format"]["tags"]["site"] == "Zürich"

    bad = {
        ("--tag", "AWS_KINESISVIDEO_X=1"): "reserves for itself",
        ("--tag", "nameonly"): "NAME=VALUE",
        ("--tag", "n=" + "v" * 257): "257 bytes; at most 256",
        ("--tag", "n" * 129 + "=v"): "129 bytes; at most 128",
        tuple(a for i in range(11) for a in ("--tag", f"k{i}=v")): "at most 10 tags",
    }
    for args, message in bad.items():
        proc = run_cli("--stream", "tagged2", "--source", str(clip), "--endpoint-url", endpoint.url, "--create",
                       *args)
        assert proc.returncode == 2, args
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 2  # the message, and argparse's pointer to --help
    assert "tagged2" not in [s["StreamName"] for s in client("kinesisvideo", endpoint.url).list_streams()[
        "StreamInfoList"]]  # refused before anything was created or sent


def test_reconnects_resend_fragments_with_their_sound_and_tags(media: Path, data_dir: Path, tmp_path: Path) -> None:
    """A fragment dropped after RECEIVED is sent again whole: its tags and its audio come with it, at the same
    timecodes (one clock), so sync survives the resend."""
    clip = mediagen.make_av_clip(media / "resend.mp4", FRAMES, FPS)
    ep = make_endpoint(data_dir)
    try:
        client("kinesisvideo", ep.url).create_stream(StreamName="re", DataRetentionInHours=1)
        ep.endpoint.set_faults("re", FaultPlan(drop_after_received=[1], drop_mid_fragment=[2]))
        started = time.monotonic()
        proc = run_cli("--stream", "re", "--source", str(clip), "--endpoint-url", ep.url, "--pace", "fast",
                       "--tag", "camera=porch")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert time.monotonic() - started < 120
        assert "reconnecting" in proc.stdout
        docs = assert_av_fragments(ep, "re", tmp_path, rate=48000, channels=2)
        assert [user_tags(d) for d in docs] == [[("camera", "porch")]] * 3
    finally:
        ep.stop()


@pytest.mark.parametrize(("name", "codec", "fmt", "how"), [
    ("copy-aac.mp4", "aac", None, "copied"),
    ("copy-adts.ts", "aac", "mpegts", "copied"),
    ("copy-mp3.mkv", "libmp3lame", None, "re-encoded from MP3"),
])
def test_upload_as_recorded_keeps_the_sound(name: str, codec: str, fmt: str | None, how: str, media: Path,
                                            endpoint: EndpointThread) -> None:
    """--copy: the picture's H.264 as it is, cut at its own key frames (every 0.8 s here), and its sound as
    track 2 on the same clock: every fragment has both tracks, sound as long as the picture."""
    clip = mediagen.make_av_clip(media / name, FRAMES, FPS, audio_codec=codec, fmt=fmt, rate=44100)
    stream = name.replace(".", "-")
    proc = run_cli("--stream", stream, "--source", str(clip), "--copy", "--tag", "site=dock",
                   "--endpoint-url", endpoint.url, "--create", "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"with audio (AAC-LC 44.1 kHz stereo, {how})" in proc.stdout
    assert "summary: 3 fragments, 75 frames; 3 PERSISTED, 0 refused" in proc.stdout
    docs = stored_fragments(endpoint, stream)
    for i, doc in enumerate(docs):
        tracks = read_tracks(doc)
        assert tracks.codecs == {"video": "h264", "audio": "aac"}, f"fragment {i}"
        assert tracks.start["audio"] >= tracks.start["video"] - tracks.audio_frame_s
        assert user_tags(doc) == [("site", "dock")]
    whole = b"".join(docs)
    assert decode_indices(whole) == list(range(FRAMES))
    clip_mp4 = get_clip(endpoint, stream)
    assert decode_indices(clip_mp4, "mp4") == list(range(FRAMES))  # B-frames: no picture lost in the remux
    for data, kind in ((whole, None), (clip_mp4, "mp4")):
        t = read_tracks(data, kind)
        assert (t.rate, t.channels) == (44100, 2)
        assert abs(t.start["audio"] - t.start["video"]) <= t.audio_frame_s
        assert abs(t.duration("audio") - t.duration("video")) <= t.audio_frame_s


def joined_ts(media: Path) -> Path:
    """Two TS recordings joined end to end (as a camera's segments often are): 30 frames whose sound stops after
    1 s, then 30 frames whose AAC is at 48 kHz instead of 44.1 kHz, which cannot go on as the same track."""
    first = mediagen.make_av_clip(media / "part1.ts", 30, FPS, fmt="mpegts", rate=44100, audio_seconds=1.0)
    second = mediagen.make_av_clip(media / "part2.ts", 30, FPS, fmt="mpegts", rate=48000)
    moved = media / "part2-moved.ts"
    with av.open(str(second)) as src, av.open(str(moved), "w", format="mpegts") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for pkt in src.demux():
            if pkt.size == 0:
                continue
            later = round(2.0 / pkt.time_base)  # after the first part's 2 s
            pkt.pts = None if pkt.pts is None else pkt.pts + later
            pkt.dts = None if pkt.dts is None else pkt.dts + later
            pkt.stream = streams[pkt.stream.index]
            out.mux(pkt)
    joined = media / "joined.ts"
    joined.write_bytes(first.read_bytes() + moved.read_bytes())
    return joined


def test_upload_as_recorded_sends_what_was_read_when_the_file_cannot_go_on(media: Path,
                                                                           endpoint: EndpointThread) -> None:
    """--copy, and the sound changes format where the second recording starts: the run ends with that message,
    and every picture read before it is stored, also the second the interleaver held waiting for sound that
    stopped early (as the re-encoding path does when its source fails)."""
    clip = joined_ts(media)
    proc = run_cli("--stream", "joined", "--source", str(clip), "--copy", "--endpoint-url", endpoint.url,
                   "--create", "--pace", "fast")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "changes its format midway" in proc.stdout + proc.stderr
    docs = stored_fragments(endpoint, "joined")
    assert decode_indices(b"".join(docs))[:30] == list(range(30))  # the first recording whole
    for doc in docs:
        assert read_tracks(doc).codecs == {"video": "h264", "audio": "aac"}
