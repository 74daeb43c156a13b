"""Where a recording sent as it is gets cut (pure): at its own key frames, never past 10 s."""

from __future__ import annotations

from app.media.copy_plan import LongGop, long_gop, plan_cuts


def starts(key_ms: list[int], cuts: list[bool]) -> list[int]:
    return [t for t, c in zip(key_ms, cuts, strict=True) if c]


def test_cut_at_the_first_key_frame_at_or_after_the_fragment_length() -> None:
    keys = [0, 1500, 3000, 4500, 6000, 7500]  # a key frame every 1.5 s
    assert starts(keys, plan_cuts(keys, 9000, 2000)) == [0, 3000, 6000]
    assert starts(keys, plan_cuts(keys, 9000, 1000)) == keys
    every_frame = list(range(0, 4000, 40))  # intra-only: cut exactly at 2 s
    assert starts(every_frame, plan_cuts(every_frame, 4000, 2000)) == [0, 2000]


def test_cut_earlier_when_waiting_would_make_a_fragment_too_long() -> None:
    keys = [0, 6000, 12000, 18000]  # 6 s GOPs with 10 s fragments asked for: never 12 s fragments
    cuts = plan_cuts(keys, 24000, 10000)
    assert starts(keys, cuts) == keys
    irregular = [0, 3000, 9000, 19500]
    assert starts(irregular, plan_cuts(irregular, 21000, 8000)) == [0, 9000, 19500]


def test_long_gop_found_with_where_it_is() -> None:
    assert long_gop([0, 5000, 10000], 15000) is None
    assert long_gop([0, 5000, 16000], 18000) == LongGop(11000, 5000)
    assert long_gop([0, 4000], 14500) == LongGop(10500, 4000)  # the last key frame to the end counts too
