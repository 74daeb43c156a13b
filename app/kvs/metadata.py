"""Fragment metadata (MKV SimpleTags) with the service's rules, checked before anything is sent.

Rules (kvs-protocol.md §4 limits table, §5.3; PIC ``MAX_FRAGMENT_METADATA_TAGS``, ``MKV_MAX_TAG_NAME_LEN``,
``MKV_MAX_TAG_VALUE_LEN``): at most 10 items on one fragment, a name of at most 128 bytes, a value of at
most 256 bytes (UTF-8), and no name starting with ``AWS`` (reserved for the service's own tags). A
fragment with more than 10 is refused with 4009, so the limit counts what one fragment would carry:
the persistent items plus those queued for the next fragment only.

``FragmentTags`` is shared between the front end's thread (edits while streaming) and the encoding
thread (``for_next_fragment`` as each fragment starts), so every method takes its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from app.errors import KvsStudioError

MAX_TAGS_PER_FRAGMENT = 10
MAX_NAME_BYTES = 128
MAX_VALUE_BYTES = 256
RESERVED_PREFIX = "AWS"


class TagError(KvsStudioError, ValueError):
    """A tag the service would refuse; ``user_message`` is one line for the user."""


def check_tag(name: str, value: str) -> None:
    if not name:
        raise TagError("a tag needs a name")
    if name.startswith(RESERVED_PREFIX):
        raise TagError(f"tag name {name!r} starts with {RESERVED_PREFIX!r}, which the service reserves for itself")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise TagError(f"tag name {name[:20]!r}… is {len(name.encode('utf-8'))} bytes; at most {MAX_NAME_BYTES}")
    if not value:
        raise TagError(f"tag {name!r} has no value")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise TagError(f"the value of tag {name!r} is {len(value.encode('utf-8'))} bytes; at most {MAX_VALUE_BYTES}")


def parse_tag(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (the value may contain ``=``), checked."""
    name, sep, value = text.partition("=")
    if not sep:
        raise TagError(f"{text!r}: write a tag as NAME=VALUE")
    check_tag(name, value)
    return name, value


class FragmentTags:
    """Persistent items go on every fragment; ``once`` items on the next fragment only (one with the name of a
    persistent item replaces it on that fragment)."""

    def __init__(self, persistent: Iterable[tuple[str, str]] = (), once: Iterable[tuple[str, str]] = ()) -> None:
        self._lock = threading.Lock()
        self._persistent: dict[str, str] = {}
        self._once: dict[str, str] = {}
        for name, value in persistent:
            self.set(name, value)
        for name, value in once:
            self.add_once(name, value)

    def set(self, name: str, value: str) -> None:
        """Add or change a persistent item."""
        check_tag(name, value)
        with self._lock:
            self._check_room(name)
            self._persistent[name] = value

    def remove(self, name: str) -> None:
        with self._lock:
            self._persistent.pop(name, None)

    def add_once(self, name: str, value: str) -> None:
        """An item for the next fragment only."""
        check_tag(name, value)
        with self._lock:
            self._check_room(name)
            self._once[name] = value

    def persistent(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._persistent.items())

    def pending_once(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._once.items())

    def for_next_fragment(self) -> list[tuple[str, str]]:
        """What the fragment starting now carries; the once items are used up."""
        with self._lock:
            items = {**self._persistent, **self._once}
            self._once.clear()
            return list(items.items())

    def _check_room(self, name: str) -> None:
        names = set(self._persistent) | set(self._once)
        if name not in names and len(names) >= MAX_TAGS_PER_FRAGMENT:
            raise TagError(f"a fragment can carry at most {MAX_TAGS_PER_FRAGMENT} tags; remove one before adding "
                           f"{name!r}")
