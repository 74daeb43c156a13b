"""Fragment metadata round trip: the SimpleTags a producer sends before a Cluster come back with that
fragment from GetMediaForFragmentList, next to the service's own tags, in MKV that mkvinfo and
ffprobe (parsers we did not write) read as valid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from app.mkv import ebml, writer
from app.mkv.parser import BlockEvent, ClusterTimecode, MkvStreamParser, TagsEvent, TracksEvent
from tests.conftest import client
from tests.localkvs.helpers import put_media
from tests.mediagen import decode_indices, make_mkv

AWS_TAGS = {"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP",
            "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"}


def with_tags(mkv: bytes, tags_before: dict[int, list[tuple[str, str]]]) -> bytes:
    """The same media re-muxed as a producer sends it, with a Tags element before chosen clusters."""
    events = MkvStreamParser().feed(mkv)
    tracks = next(e for e in events if isinstance(e, TracksEvent)).raw
    out = writer.ebml_header() + writer.segment_start() + writer.info() + tracks
    clusters: list[tuple[bytes, list[bytes]]] = []
    for ev in events:
        if isinstance(ev, ClusterTimecode):
            clusters.append((ev.raw, []))
        elif isinstance(ev, BlockEvent):
            clusters[-1][1].append(ev.raw)
    for i, (timecode, blocks) in enumerate(clusters):
        if i in tags_before:
            out += writer.tags(tags_before[i])
        payload = timecode + b"".join(blocks)
        out += ebml.encode_id(ebml.CLUSTER) + ebml.encode_size(len(payload)) + payload
    return out


def test_user_metadata_comes_back_with_its_fragment(endpoint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="meta", DataRetentionInHours=1)
    user = [("camera", "front door"), ("temperature", "21.5"), ("note", "café ☕")]
    body = with_tags(make_mkv(45), {1: user, 2: [("camera", "back door")]})
    assert len(put_media(endpoint.url, "meta", body).events("PERSISTED")) == 3
    archived = client("kinesis-video-archived-media", endpoint.url)
    numbers = sorted((f["FragmentNumber"] for f in archived.list_fragments(StreamName="meta")["Fragments"]), key=int)
    media = archived.get_media_for_fragment_list(StreamName="meta", Fragments=numbers)["Payload"].read()
    assert decode_indices(media) == list(range(45))

    parser = MkvStreamParser()
    tags = [e.tags for e in parser.feed(media) + parser.close() if isinstance(e, TagsEvent)]
    assert len(tags) == 3  # one Tags element per fragment document
    assert [dict(t)["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] for t in tags] == numbers
    assert [[kv for kv in t if kv[0] not in AWS_TAGS] for t in tags] == [[], user, [("camera", "back door")]]

    # One fragment's document, read by tools we did not write.
    one = archived.get_media_for_fragment_list(StreamName="meta", Fragments=[numbers[1]])["Payload"].read()
    path = tmp_path / "fragment.mkv"
    path.write_bytes(one)
    checked = subprocess.run(["mkvinfo", str(path)], capture_output=True, text=True, check=True)
    info = checked.stdout
    assert "Error" not in info + checked.stderr
    assert "Warning" not in info + checked.stderr
    for name, value in [*user, ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", numbers[1])]:
        assert f"Name: {name}" in info
        assert f"String: {value}" in info
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-count_frames", "-show_entries",
                            "stream=nb_read_frames", "-of", "json", str(path)],
                           capture_output=True, check=True, text=True)
    out = json.loads(probe.stdout)
    assert out["streams"][0]["nb_read_frames"] == "15"
    format_tags = {k.lower(): v for k, v in out["format"]["tags"].items()}
    assert format_tags["camera"] == "front door"
    assert format_tags["note"] == "café ☕"
    assert format_tags["aws_kinesisvideo_fragment_number"] == numbers[1]
