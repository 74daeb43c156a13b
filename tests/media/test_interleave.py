"""The interleaver (pure): two packet streams in, one in time order out; every fragment keeps audio even when
the sound stalls, stops or starts late; late audio is dropped, never sent out of order."""

from __future__ import annotations

import itertools

import pytest

from app.media.frames import AUDIO_TRACK, VIDEO_TRACK, EncodedPacket
from app.media.interleave import Interleaver
from app.mkv.fragmenter import Fragmenter, FrameAdded

FRAME = 1024 * 1000 / 48000  # 21.33 ms
SILENT = b"\x00silence"


def video(ts: int, key: bool = False) -> EncodedPacket:
    return EncodedPacket(ts, ts, key, b"v", VIDEO_TRACK)


def audio(n: int, start: int = 0) -> EncodedPacket:
    return EncodedPacket(n, start + round(n * FRAME), True, b"a", AUDIO_TRACK)


def mixer(max_wait_ms: int = 1000) -> Interleaver:
    return Interleaver(frame_ms=FRAME, max_wait_ms=max_wait_ms,
                       silence=lambda ts: EncodedPacket(-1, ts, True, SILENT, AUDIO_TRACK))


def run(m: Interleaver, packets: list[EncodedPacket], tail: float = 0.0) -> list[EncodedPacket]:
    out: list[EncodedPacket] = []
    for p in packets:
        out += m.push(p)
    return out + m.finish(tail_ms=tail)


def assert_in_time_order(out: list[EncodedPacket]) -> None:
    times = [p.dts_ms for p in out]
    assert times == sorted(times)
    for track in (VIDEO_TRACK, AUDIO_TRACK):
        mine = [p.dts_ms for p in out if p.track == track]
        assert all(a < b for a, b in itertools.pairwise(mine))


def test_merges_two_streams_in_time_order_whichever_comes_first() -> None:
    vids = [video(round(i * 1000 / 30), key=i % 60 == 0) for i in range(90)]
    auds = [audio(n) for n in range(140)]
    # audio delivered in bursts ahead of the video, then behind it
    order = auds[:50] + vids[:40] + auds[50:60] + vids[40:] + auds[60:]
    m = mixer(max_wait_ms=5000)  # a file's bound: its tracks never stall
    out = run(m, order, tail=33.3)
    assert_in_time_order(out)
    assert [p for p in out if p.track == VIDEO_TRACK] == vids
    end = vids[-1].dts_ms + 33.3
    sound = [p for p in out if p.track == AUDIO_TRACK]
    assert [p for p in sound if p.data != SILENT] == [a for a in auds if a.dts_ms < end]
    assert m.stats.filled == len(sound) - len([a for a in auds if a.dts_ms < end]) <= 1  # to the picture's end
    assert sound[-1].dts_ms < end <= sound[-1].dts_ms + FRAME


def test_video_goes_first_on_equal_times_so_a_fragment_starts_with_its_key_frame() -> None:
    m = mixer()
    out = run(m, [video(0, key=True), audio(0), video(1000, key=True), EncodedPacket(9, 1000, True, b"a", AUDIO_TRACK)],
              tail=33)
    real = [(p.track, p.dts_ms) for p in out if p.data != SILENT]
    assert real == [(1, 0), (2, 0), (1, 1000), (2, 1000)]
    assert len([p for p in out if p.data == SILENT and 0 < p.dts_ms < 1000]) == 45  # the gap, in whole frames


def test_video_waits_for_audio_up_to_the_bound_then_silence_stands_in() -> None:
    m = mixer(max_wait_ms=500)
    out = m.push(video(0, key=True))
    assert out == []  # audio may still bring frames from before it
    for ts in range(33, 500, 33):
        assert m.push(video(ts)) == []
    out = m.push(video(528)) + m.push(video(561))  # over 500 ms of video waiting: the microphone is late
    assert [p.dts_ms for p in out if p.track == VIDEO_TRACK] == [0, 33]  # go on without it, in order
    assert [(p.dts_ms, p.data) for p in out if p.track == AUDIO_TRACK] == [(0, SILENT), (21, SILENT)]
    assert m.stats.filled == 2
    assert_in_time_order(out)
    # the microphone comes back with frames for times already covered: dropped, not sent out of order
    assert m.push(audio(0)) + m.push(audio(1)) == []
    assert m.stats.dropped == 2
    assert m.push(audio(2)) == [audio(2)]  # 43 ms: after the silence, before the next picture waiting (66 ms)


def test_audio_that_stops_midway_is_continued_with_silence_in_every_fragment() -> None:
    m = mixer()
    frag = Fragmenter(1000)
    vids = [video(round(i * 1000 / 30), key=i % 30 == 0) for i in range(150)]  # 5 s, a key frame each second
    auds = [audio(n) for n in range(round(1800 / FRAME))]  # sound only for the first 1.8 s
    out: list[EncodedPacket] = []
    for i, v in enumerate(vids):
        out += m.push(v)
        out += [p for a in auds if round(i * 1000 / 30) <= a.dts_ms < round((i + 1) * 1000 / 30) for p in m.push(a)]
        if i == 60:
            out += m.end_audio()
    out += m.finish(tail_ms=1000 / 30)
    assert_in_time_order(out)
    per_fragment: dict[int, set[int]] = {}
    for p in out:
        for ev in frag.add(p):
            if isinstance(ev, FrameAdded):
                per_fragment.setdefault(ev.seq, set()).add(ev.track)
    assert per_fragment == {s: {VIDEO_TRACK, AUDIO_TRACK} for s in range(5)}
    sound = [p for p in out if p.track == AUDIO_TRACK]
    assert sound[-1].dts_ms + FRAME >= vids[-1].dts_ms + 1000 / 30  # covers the last picture ...
    assert sound[-1].dts_ms < vids[-1].dts_ms + 1000 / 30  # ... and ends within one audio frame of it
    gaps = [b.dts_ms - a.dts_ms for a, b in itertools.pairwise(sound)]
    assert max(gaps) <= FRAME + 1  # one continuous time line, real then silent


def test_audio_that_starts_late_is_preceded_by_silence() -> None:
    m = mixer()
    vids = [video(round(i * 1000 / 30), key=i == 0) for i in range(60)]
    auds = [audio(n, start=1500) for n in range(20)]
    out = run(m, auds + vids, tail=33.3)
    assert_in_time_order(out)
    sound = [p for p in out if p.track == AUDIO_TRACK]
    assert sound[0].data == SILENT
    assert sound[0].dts_ms == 0
    real = [p for p in sound if p.data != SILENT]
    assert real == auds[: len(real)]
    assert len(real) >= 3
    assert all(p.dts_ms + FRAME <= real[0].dts_ms + 0.5 for p in sound if p.data == SILENT and p.dts_ms < 1500)


def test_video_only_when_audio_is_declared_but_never_comes() -> None:
    m = mixer()
    out = run(m, [video(round(i * 1000 / 30), key=i == 0) for i in range(31)])
    assert len([p for p in out if p.track == AUDIO_TRACK]) == round(1000 / FRAME)
    assert_in_time_order(out)


def test_unknown_track_and_audio_after_its_end_are_refused() -> None:
    m = mixer()
    with pytest.raises(ValueError, match="neither"):
        m.push(EncodedPacket(0, 0, True, b"", 3))
    m.end_audio()
    with pytest.raises(ValueError, match="after the end"):
        m.push(audio(0))


def test_with_b_frames_audio_before_a_key_frames_picture_stays_in_the_fragment_before() -> None:
    """A recording sent as it is: decode order I P B B with the key frame shown 66 ms after it is decoded. Audio
    from between its decode and presentation times goes before it, so every fragment's sound starts no earlier
    than its picture and no fragment starts with a block of the previous one's time."""
    m = mixer()

    def vid(pts: int, dts: int, key: bool = False) -> EncodedPacket:
        return EncodedPacket(pts, pts, key, b"v", VIDEO_TRACK, decode_ms=dts)

    gop = [(66, 0, True), (166, 33, False), (100, 66, False), (133, 100, False)]
    second = [(266, 200, True), (366, 233, False), (300, 266, False), (333, 300, False)]
    packets = [vid(p, d, k) for p, d, k in gop + second] + [audio(n) for n in range(18)]
    out = run(m, sorted(packets, key=lambda p: p.dts_ms), tail=33)
    frag = Fragmenter(1000)
    placed = [(p, e) for p in out for e in frag.add(p) if isinstance(e, FrameAdded)]  # (packet, where it went)
    assert [e.timecode for _p, e in placed if e.started] == [66, 266]
    # audio in a fragment never precedes its key frame's picture (nothing from before the first is sent)
    for seq, tc in ((0, 66), (1, 266)):
        sound = [p.timestamp_ms for p, e in placed if e.seq == seq and p.track == AUDIO_TRACK]
        assert sound, f"fragment {seq} has audio"
        assert min(sound) >= tc
    assert [p.timestamp_ms for p in out if p.track == VIDEO_TRACK] == [66, 166, 100, 133, 266, 366, 300, 333]
