"""Audio helpers: the test tone's beeps sit on the wall-clock second, a capture device's clock re-anchors when
it drifts, our silent AAC frame decodes to silence in FFmpeg, and a missing microphone is a clear error (there
is no capture device or PortAudio here, so only that path of the microphone can run)."""

from __future__ import annotations

import itertools
import threading

import av
import numpy as np
import pytest

from app.errors import SourceError
from app.media import aac
from app.media.audio import AudioClock, ToneSource, open_live_audio, peak_dbfs, silent_frame, tone_block


def test_tone_beeps_during_the_first_100_ms_of_each_wall_clock_second() -> None:
    rate = 48000
    start_ms = 1_700_000_000_250.0  # sample 0 is at .250 s
    pcm = tone_block(0, rate * 2, rate, start_ms)
    wall = (start_ms + np.arange(pcm.size) * 1000 / rate) % 1000
    assert not pcm[wall >= 100].any()  # silence outside the beeps
    blocks = pcm[: pcm.size // 480 * 480].reshape(-1, 480)  # 10 ms blocks
    block_wall = wall[::480][: len(blocks)]
    beeping = np.abs(blocks).max(axis=1) > 0.4
    assert (beeping == (block_wall < 100)).all()  # the first ten 10-ms blocks of each second, no others
    assert beeping.sum() == 20
    assert peak_dbfs(pcm) == pytest.approx(-6.0, abs=0.1)
    assert peak_dbfs(np.zeros(10, np.float32)) == -90.0


def test_audio_clock_counts_samples_and_reanchors_when_it_drifts() -> None:
    clock = AudioClock(48000, tolerance_ms=60)
    clock.block(0, 1000.0)
    clock.block(48000, 2010.0)  # 10 ms of jitter: keep counting samples
    assert clock.ms(48000) == 2000
    assert clock.reanchored == 0
    clock.block(96000, 3500.0)  # the device stalled for half a second: follow the wall clock again
    assert clock.reanchored == 1
    assert clock.ms(96000) == 3500
    assert clock.ms(96000 + 480) == 3510


def test_silent_frame_decodes_to_silence() -> None:
    unit = silent_frame(44100, 2)
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = aac.audio_specific_config(44100, 2)  # as copied tracks declare it: plain 2-byte ASC
    pcm = [f.to_ndarray() for _ in range(3) for f in decoder.decode(av.Packet(unit))]
    assert pcm
    assert all(p.shape == (2, 1024) for p in pcm)
    assert max(float(np.abs(p).max()) for p in pcm) == 0.0


def test_tone_source_stamps_packets_from_the_wall_clock_in_order() -> None:
    stop = threading.Event()
    tone = ToneSource()
    packets = []
    for p in tone.packets(stop):
        packets.append(p)
        if len(packets) == 10:
            stop.set()
    times = [p.timestamp_ms for p in packets]
    assert times == sorted(set(times))
    assert all(abs(b - a - 1024 * 1000 / 48000) <= 1 for a, b in itertools.pairwise(times[1:]))
    assert {p.track for p in packets} == {2}


def test_choosing_both_or_a_missing_microphone_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="either the test tone or a microphone"):
        open_live_audio(tone=True, mic="x")
    with pytest.raises(SourceError, match=r"[Mm]icrophone") as info:
        open_live_audio(tone=False, mic="no such microphone")
    assert "\n" not in info.value.user_message
    assert open_live_audio(tone=False, mic=None) is None
