"""Fragment metadata rules (kvs-protocol.md §4, §5.3) and where the tags go in a fragment's bytes."""

from __future__ import annotations

import threading

import pytest

from app.kvs.metadata import FragmentTags, TagError, check_tag, parse_tag
from app.media.frames import VIDEO_TRACK, EncodedPacket
from app.mkv import ebml, writer
from app.mkv.fragmenter import Fragmenter, FrameAdded
from app.mkv.parser import ClusterStarted, MkvStreamParser, TagsEvent


@pytest.mark.parametrize(("name", "value", "message"), [
    ("", "x", "needs a name"),
    ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "1", "starts with 'AWS'"),
    ("AWSome", "1", "reserves"),
    ("n" * 129, "x", "129 bytes; at most 128"),
    ("é" * 65, "x", "130 bytes"),  # bytes, not characters
    ("site", "", "has no value"),
    ("site", "v" * 257, "257 bytes; at most 256"),
])
def test_refused_tags_say_why_in_one_line(name: str, value: str, message: str) -> None:
    with pytest.raises(TagError, match=message) as info:
        check_tag(name, value)
    assert "\n" not in info.value.user_message


def test_limits_are_inclusive() -> None:
    check_tag("n" * 128, "v" * 256)
    check_tag("aws-lowercase-is-the-users", "ok")  # PIC compares the prefix case-sensitively
    assert parse_tag("note=a=b") == ("note", "a=b")
    with pytest.raises(TagError, match="NAME=VALUE"):
        parse_tag("novalue")


def test_at_most_ten_per_fragment_counting_next_fragment_only_items() -> None:
    tags = FragmentTags([(f"k{i}", "v") for i in range(8)])
    tags.add_once("once1", "x")
    tags.add_once("k0", "replaces k0 on the next fragment")  # same name: no extra room needed
    tags.set("k9", "v")
    with pytest.raises(TagError, match="at most 10"):
        tags.set("k10", "v")
    with pytest.raises(TagError, match="at most 10"):
        tags.add_once("once2", "v")
    tags.set("k1", "changed")  # changing an existing one is fine
    first = dict(tags.for_next_fragment())
    assert len(first) == 10
    assert first["k0"] == "replaces k0 on the next fragment"
    assert first["once1"] == "x"
    second = dict(tags.for_next_fragment())
    assert "once1" not in second
    assert second["k0"] == "v"
    assert second["k1"] == "changed"
    tags.remove("k9")
    tags.add_once("once2", "v")  # room again


def test_edits_from_another_thread_while_fragments_start() -> None:
    tags = FragmentTags()
    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def editor() -> None:
        for i in range(2000):
            tags.set("counter", str(i))
            tags.add_once("tick", str(i))
        stop.set()

    t = threading.Thread(target=editor)
    t.start()
    while not stop.is_set():
        seen.append(dict(tags.for_next_fragment()))
    t.join()
    seen.append(dict(tags.for_next_fragment()))
    ticks = [d["tick"] for d in seen if "tick" in d]
    assert ticks == sorted(set(ticks), key=int)  # each once-item went out at most once, in order
    assert seen[-1]["counter"] == "1999"


def test_tags_go_before_the_cluster_they_describe() -> None:
    items = iter([[("camera", "front")], [], [("camera", "front"), ("event", "door")]])
    frag = Fragmenter(1000, tags=lambda: next(items))
    events = []
    for i in range(90):
        ts = 1_700_000_000_000 + round(i * 1000 / 30)
        events += frag.add(EncodedPacket(i, ts, i % 30 == 0, b"\x00\x00\x00\x01\x65", VIDEO_TRACK))
    starts = [e for e in events if isinstance(e, FrameAdded) and e.started]
    assert [e.tags for e in starts] == [(("camera", "front"),), (), (("camera", "front"), ("event", "door"))]
    assert starts[0].data.startswith(ebml.encode_id(ebml.TAGS))  # in the fragment's own bytes: resent with it
    assert starts[1].data.startswith(ebml.encode_id(ebml.CLUSTER))
    head = writer.ebml_header() + writer.segment_start() + writer.info() + writer.tracks(b"")
    parsed = MkvStreamParser().feed(head + b"".join(e.data for e in events if isinstance(e, FrameAdded)))
    order = [("tags", e.tags) if isinstance(e, TagsEvent) else "cluster" for e in parsed
             if isinstance(e, TagsEvent | ClusterStarted)]
    assert order == [("tags", (("camera", "front"),)), "cluster", "cluster",
                     ("tags", (("camera", "front"), ("event", "door"))), "cluster"]
