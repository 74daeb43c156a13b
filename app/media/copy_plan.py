"""Where a recording sent as it is (``--copy``) is cut into fragments (pure).

Theory: a copied stream brings its own key frames, and a fragment can only start on one. The rule is
the encoder's one turned around: cut at the first key frame at or after ``fragment_ms`` since the
fragment's start. The service refuses a fragment longer than 10 s (kvs-protocol.md §4), so a cut also
comes earlier when waiting for the next key frame would make the fragment too long; and a file whose
key frames are ever more than 10 s apart cannot be sent as recorded at all, which is said before
anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.kvs.limits import MAX_FRAGMENT_MS


@dataclass(frozen=True)
class LongGop:
    """Two key frames (or the last one and the end) further apart than a fragment may last."""

    gap_ms: int
    at_ms: int  # where the long stretch starts, from the first key frame


def long_gop(key_ms: list[int], end_ms: int, max_ms: int = MAX_FRAGMENT_MS) -> LongGop | None:
    """The first stretch without a key frame longer than ``max_ms``; ``key_ms`` are key frames'
    presentation times in decode order, ``end_ms`` when the last frame ends."""
    for start, nxt in zip(key_ms, [*key_ms[1:], end_ms], strict=True):
        if nxt - start > max_ms:
            return LongGop(nxt - start, start - key_ms[0])
    return None


def plan_cuts(key_ms: list[int], end_ms: int, fragment_ms: int, max_ms: int = MAX_FRAGMENT_MS) -> list[bool]:
    """For each key frame, whether it starts a fragment. Needs ``long_gop`` to have found nothing."""
    cuts = []
    start: int | None = None
    for i, t in enumerate(key_ms):
        nxt = key_ms[i + 1] if i + 1 < len(key_ms) else end_ms
        cut = start is None or t - start >= fragment_ms or nxt - start > max_ms
        if cut:
            start = t
        cuts.append(cut)
    return cuts
