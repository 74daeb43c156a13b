"""`kvs-studio stream` as a user runs it (a subprocess), against the local endpoint over real sockets.
What the endpoint stored is decoded with PyAV and compared with the source, frame by frame."""

from __future__ import annotations

import io
import itertools
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests import mediagen
from tests.conftest import REGION, TEST_KEYS, client, make_endpoint
from tests.connect_proxy import ConnectProxy
from tests.mediagen import decode_indices
from tests.tls import make_cert

pytestmark = pytest.mark.e2e
FRAMES = 75  # 5 s at 15 fps: 3 fragments of 2 s (the last one shorter)


def make_mp4(path: Path, frames: int = FRAMES, fps: int = 15) -> Path:
    return mediagen.make_mp4(path, frames, fps)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "clip.mp4")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a user with the test keys and no other AWS configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=TEST_KEYS.access_key, AWS_SECRET_ACCESS_KEY=TEST_KEYS.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(extra)
    return env


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = cli_env(**(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "app", "stream", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def stored_fragments(ep: EndpointThread, stream: str, verify: str | None = None, *,
                     arrival: bool = False) -> list[bytes]:
    """Each stored fragment as an MKV document, in producer-timestamp order (or the order they arrived in:
    fragment numbers increase with arrival)."""
    archived = client("kinesis-video-archived-media", ep.url, verify=verify)
    frags = archived.list_fragments(StreamName=stream)["Fragments"]
    frags.sort(key=(lambda f: int(f["FragmentNumber"])) if arrival else (lambda f: f["ProducerTimestamp"]))
    docs = []
    for f in frags:
        media = archived.get_media_for_fragment_list(StreamName=stream, Fragments=[f["FragmentNumber"]])
        docs.append(media["Payload"].read())
    return docs


def assert_every_frame_once_in_order(ep: EndpointThread, stream: str, frames: int = FRAMES,
                                     verify: str | None = None) -> None:
    docs = stored_fragments(ep, stream, verify)
    assert len(docs) >= 2
    for doc in docs:  # each fragment starts on a key frame (read by FFmpeg's demuxer, not ours)
        with av.open(io.BytesIO(doc)) as c:
            first = next(c.demux(video=0))
            assert first.is_keyframe
    assert decode_indices(b"".join(docs)) == list(range(frames))


def test_file_streams_every_frame_once_in_order(clip: Path, data_dir: Path) -> None:
    ep = make_endpoint(data_dir)
    try:
        # Acks split into 5-byte pieces and delayed: the client must reassemble them.
        ep.endpoint.faults = type(ep.endpoint.faults)(FaultPlan(split_acks=5, ack_delay=0.2))
        proc = run_cli("--stream", "s", "--source", str(clip), "--endpoint-url", ep.url, "--create",
                       "--pace", "fast")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("PERSISTED") >= 3
        assert "summary: 3 fragments, 75 frames; 3 PERSISTED" in proc.stdout
        assert_every_frame_once_in_order(ep, "s")
    finally:
        ep.stop()


def test_realtime_pace_takes_the_clip_duration(clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="rt", DataRetentionInHours=1)
    started = time.monotonic()
    proc = run_cli("--stream", "rt", "--source", str(clip), "--endpoint-url", endpoint.url)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Pacing is a lower bound, whatever the machine's speed: 75 frames at 15 fps cannot go out in under 5 s,
    # and the service receives the last fragment at least 2 s (+ a frame) after the first one is complete.
    assert elapsed >= FRAMES / 15
    frags = sorted(client("kinesis-video-archived-media", endpoint.url).list_fragments(StreamName="rt")["Fragments"],
                   key=lambda f: f["ProducerTimestamp"])
    producer = [f["ProducerTimestamp"].timestamp() for f in frags]
    server = [f["ServerTimestamp"].timestamp() for f in frags]
    assert [round(b - a, 1) for a, b in itertools.pairwise(producer)] == [2.0, 2.0]
    assert server[-1] - server[0] >= 2.0
    # acks were printed while streaming: BUFFERING of fragment 1 before RECEIVED of the last one
    lines = proc.stdout.splitlines()
    first_received = next(i for i, ln in enumerate(lines) if "RECEIVED" in ln)
    last_buffering = max(i for i, ln in enumerate(lines) if "BUFFERING" in ln)
    assert first_received < last_buffering
    assert_every_frame_once_in_order(endpoint, "rt")


def test_tls_with_aws_ca_bundle(clip: Path, data_dir: Path, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ep = make_endpoint(data_dir, ssl_context=ctx)
    try:
        assert ep.url.startswith("https://")
        untrusted = run_cli("--stream", "t", "--source", str(clip), "--endpoint-url", ep.url, "--create",
                            "--pace", "fast")
        assert untrusted.returncode != 0
        assert "certificate" in untrusted.stderr.lower()
        proc = run_cli("--stream", "t", "--source", str(clip), "--endpoint-url", ep.url, "--create", "--pace", "fast",
                       env_extra={"AWS_CA_BUNDLE": str(cert)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert_every_frame_once_in_order(ep, "t", verify=str(cert))
    finally:
        ep.stop()


def test_putmedia_goes_through_https_proxy_unless_no_proxy(clip: Path, data_dir: Path, tmp_path: Path) -> None:
    """Like botocore for the control plane, PutMedia honours HTTPS_PROXY, and NO_PROXY exempts a host."""
    cert, key = make_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ep = make_endpoint(data_dir, ssl_context=ctx)
    target = ep.url.removeprefix("https://")
    try:
        with ConnectProxy() as proxy:
            env = {"AWS_CA_BUNDLE": str(cert), "HTTPS_PROXY": proxy.url, "NO_PROXY": ""}
            proc = run_cli("--stream", "px", "--source", str(clip), "--endpoint-url", ep.url, "--create", "--pace",
                           "fast", env_extra=env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            # the control plane (botocore keeps one connection) and PutMedia, all tunnelled to the endpoint
            assert len(proxy.tunnels) >= 2
            assert set(proxy.tunnels) == {target}
            assert max(proxy.upstream_bytes) > clip.stat().st_size // 2  # the video went through it
            assert_every_frame_once_in_order(ep, "px", verify=str(cert))
            putmedia_tunnels = len(proxy.tunnels)
            bypass = run_cli("--stream", "px", "--source", str(clip), "--endpoint-url", ep.url, "--pace", "fast",
                             env_extra={**env, "NO_PROXY": "127.0.0.1"})
            assert bypass.returncode == 0, bypass.stdout + bypass.stderr
            assert len(proxy.tunnels) == putmedia_tunnels  # nothing went through the proxy
    finally:
        ep.stop()


def test_missing_stream_is_a_clear_error(clip: Path, endpoint: EndpointThread) -> None:
    proc = run_cli("--stream", "nope", "--source", str(clip), "--endpoint-url", endpoint.url)
    assert proc.returncode == 2
    assert "'nope' was not found" in proc.stderr
    assert "--create" in proc.stderr


def test_bad_files_fail_before_anything_is_sent(tmp_path: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="b", DataRetentionInHours=1)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    cases = ((corrupt, "corrupt.mp4 is not a video file PyAV can read"),
             (text, "notes.txt is not a video file PyAV can read"),
             (tmp_path / "missing.mp4", "Video file not found"), (tmp_path, "is a folder, not a video file"))
    for path, words in cases:
        proc = run_cli("--stream", "b", "--source", str(path), "--endpoint-url", endpoint.url)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert words in proc.stderr
        assert "Traceback" not in proc.stderr
        assert "Errno" not in proc.stderr
    archived = client("kinesis-video-archived-media", endpoint.url)
    assert archived.list_fragments(StreamName="b")["Fragments"] == []


def test_wrong_credentials_are_a_clear_error(clip: Path, endpoint: EndpointThread) -> None:
    proc = run_cli("--stream", "s", "--source", str(clip), "--endpoint-url", endpoint.url,
                   env_extra={"AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    assert proc.returncode == 2
    assert "refused the credentials" in proc.stderr


def test_missing_camera_is_a_clear_error(endpoint: EndpointThread) -> None:
    # This machine has no camera (the boundary we cannot reach here), so camera:7 must fail cleanly.
    proc = run_cli("--stream", "s", "--source", "camera:7", "--endpoint-url", endpoint.url)
    assert proc.returncode == 2
    assert "Camera 7 could not be opened" in proc.stderr


def test_create_waits_until_the_stream_is_active(clip: Path, data_dir: Path) -> None:
    ep = make_endpoint(data_dir, creating_seconds=2.0)  # like the service: CREATING for a few seconds
    try:
        proc = run_cli("--stream", "new", "--source", str(clip), "--endpoint-url", ep.url, "--create", "--pace",
                       "fast")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Stream new is CREATING; waiting until it is ACTIVE." in proc.stdout
        assert "reconnecting" not in proc.stdout  # nothing was sent before it was ACTIVE
        assert_every_frame_once_in_order(ep, "new")
    finally:
        ep.stop()
