"""The official AWS C producer (amazon-kinesis-video-streams-producer-c) streams into ``kvs-studio
local-endpoint``: a client we did not write, over http and https on a non-default port.

Optional: it runs only when a prebuilt realtime sample is named by the environment (CI never has
one; nothing of the C producer is in this repository):
- ``KVS_C_PRODUCER_BIN``: path to ``kvsVideoOnlyRealtimeStreamingSample``, built so that a
  ``CONTROL_PLANE_URI`` starting with ``http://`` is used as is (its samples/Common.c otherwise
  prefixes ``https://``);
- ``KVS_C_PRODUCER_SAMPLES``: its ``samples`` directory (the sample H.264 frames are read from
  ``h264SampleFrames/frame-NNN.h264`` in it).
What it stored must come back through botocore's ListFragments and GetMediaForFragmentList, decode
frame for frame like the sample frames themselves, and carry the metadata the sample put.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from app.mkv.parser import MkvStreamParser, TagsEvent
from tests.conftest import REGION, TEST_KEYS, client
from tests.localkvs.helpers import EndpointProcess
from tests.tls import make_cert

BIN = os.environ.get("KVS_C_PRODUCER_BIN", "")
SAMPLES = os.environ.get("KVS_C_PRODUCER_SAMPLES", "")
SECONDS = 8  # of streaming: 25 fps, a fragment per 45 frames -> 5 fragments
ACK_RE = re.compile(r"returned: (\{.*\})\s*$")

pytestmark = pytest.mark.skipif(
    not (BIN and Path(BIN).is_file() and SAMPLES and (Path(SAMPLES) / "h264SampleFrames").is_dir()),
    reason="the official C producer is not built here: set KVS_C_PRODUCER_BIN to its "
           "kvsVideoOnlyRealtimeStreamingSample and KVS_C_PRODUCER_SAMPLES to its samples directory")


def frame_hashes(data: bytes, fmt: str | None) -> list[int]:
    import av

    with av.open(io.BytesIO(data), format=fmt) as container:
        return [hash(frame.to_ndarray(format="yuv420p").tobytes()) for frame in container.decode(video=0)]


def reference_hashes(count: int) -> list[int]:
    """The sample's own frames, decoded straight from its Annex-B files, in the order it sends them."""
    folder = Path(SAMPLES) / "h264SampleFrames"
    files = sorted(folder.glob("frame-*.h264"))
    annexb = b"".join(files[i % len(files)].read_bytes() for i in range(count))
    return frame_hashes(annexb, "h264")


def wait_active(kv, name: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while kv.describe_stream(StreamName=name)["StreamInfo"]["Status"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{name} never became ACTIVE"
        time.sleep(0.1)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_c_producer_streams_every_fragment_persisted(scheme: str, tmp_path: Path) -> None:
    extra: list[str] = ["--creating-seconds", "2"]  # the service's behaviour, not the tests' shortcut
    env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_KEYS.access_key, AWS_SECRET_ACCESS_KEY=TEST_KEYS.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_KVS_LOG_LEVEL="2")
    verify = None
    if scheme == "https":
        cert, key = make_cert(tmp_path)
        extra += ["--tls-cert", str(cert), "--tls-key", str(key)]
        env["AWS_KVS_CACERT_PATH"] = str(cert)  # its name must end in .pem
        verify = str(cert)
    ep = EndpointProcess(tmp_path / "data", *extra)
    try:
        assert ep.url.startswith(f"{scheme}://127.0.0.1:")
        kv = client("kinesisvideo", ep.url, verify=verify)
        # The C producer goes from CreateStream straight to GetDataEndpoint, which the service refuses
        # while the stream is CREATING (producer-c#41), so the stream is made and awaited first.
        kv.create_stream(StreamName="cprod", DataRetentionInHours=2, MediaType="video/h264")
        wait_active(kv, "cprod")
        env["CONTROL_PLANE_URI"] = ep.url
        proc = subprocess.run([BIN, "cprod", "h264", str(SECONDS), SAMPLES], env=env, capture_output=True,
                              text=True, timeout=SECONDS + 60, cwd=tmp_path)
        acks = [json.loads(m.group(1)) for m in map(ACK_RE.search, proc.stdout.splitlines() + proc.stderr.splitlines())
                if m]
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        by_kind: dict[str, list[str]] = {}
        for ack in acks:
            by_kind.setdefault(ack["EventType"], []).append(ack["FragmentNumber"])
        assert "ERROR" not in by_kind
        assert len(by_kind["BUFFERING"]) >= SECONDS * 25 // 45 - 1
        assert by_kind["PERSISTED"] == by_kind["BUFFERING"]  # every fragment, once, in order

        archived = client("kinesis-video-archived-media", ep.url, verify=verify)
        frags = archived.list_fragments(StreamName="cprod")["Fragments"]
        numbers = sorted((f["FragmentNumber"] for f in frags), key=int)
        assert numbers == by_kind["PERSISTED"]
        media = archived.get_media_for_fragment_list(StreamName="cprod", Fragments=numbers)["Payload"].read()
        got = frame_hashes(media, "matroska")
        assert len(got) >= SECONDS * 25 * 3 // 4
        assert got == reference_hashes(len(got))  # every frame back, in order, bit for bit after decoding
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=nb_read_frames", "-of", "json", "-"], input=media, capture_output=True,
                               check=True)
        assert int(json.loads(probe.stdout)["streams"][0]["nb_read_frames"]) == len(got)
        # The sample puts TEST_KEY_1..9 after each key frame: they come back on the next fragments.
        parser = MkvStreamParser()
        tags = [dict(e.tags) for e in parser.feed(media) + parser.close() if isinstance(e, TagsEvent)]
        assert [t["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] for t in tags] == numbers
        assert all(f"TEST_KEY_{n}" in t for t in tags[1:] for n in range(1, 10))
        assert TEST_KEYS.secret_key not in "\n".join(ep.log_lines)
    finally:
        assert ep.terminate() == 0
