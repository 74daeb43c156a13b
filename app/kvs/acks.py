"""PutMedia acknowledgements: the wire format, an incremental parser and the error table.

Theory: the service answers PutMedia with HTTP 200 and then a stream of compact JSON objects, one per
line, each usually in its own HTTP chunk: ``{"EventType":"BUFFERING","FragmentTimecode":123,
"FragmentNumber":"9134..."}``; errors add ``ErrorId`` (int) and ``ErrorCode`` (name). Reads from a
socket may split an ack anywhere or hold several, so the parser keeps state between ``feed`` calls
and, like the C SDK's parser, skips anything outside ``{...}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class AckEventType(StrEnum):
    BUFFERING = "BUFFERING"
    RECEIVED = "RECEIVED"
    PERSISTED = "PERSISTED"
    ERROR = "ERROR"
    IDLE = "IDLE"


class RefusalScope(StrEnum):
    """What an ERROR ack means for the producer (kvs-protocol.md §3.1, §6.3)."""

    RETRY = "retry"  # the service failed: send the fragment again on a new connection
    FRAGMENT = "fragment"  # this fragment can never be taken: skip it, go on with the next
    STREAM = "stream"  # the stream cannot take any data (not active, deleted, KMS key): stop the run


@dataclass(frozen=True)
class AckError:
    error_id: int
    code: str
    meaning: str  # plain language, for people
    scope: RefusalScope
    remedy: str = ""  # what the user can do, for refusals of the whole stream

    @property
    def retriable(self) -> bool:
        return self.scope is RefusalScope.RETRY


_KMS_REMEDY = ("Check the stream's KMS key in AWS KMS (enabled, not scheduled for deletion, usable by these "
               "credentials), or recreate the stream with the AWS managed key.")

RETRY, FRAGMENT, STREAM = RefusalScope.RETRY, RefusalScope.FRAGMENT, RefusalScope.STREAM

# ErrorId table (kvs-protocol.md §3.1: DOC API_dataplane_PutMedia, PIC retry rules, AJ1 names).
_ERRORS = [
    AckError(4000, "STREAM_READ_ERROR", "The service could not read the data stream.", RETRY),
    AckError(4001, "MAX_FRAGMENT_SIZE_REACHED", "A fragment was larger than the 50 MB limit.", FRAGMENT),
    AckError(4002, "MAX_FRAGMENT_DURATION_REACHED", "A fragment was longer than the 10 s limit.", FRAGMENT),
    AckError(4003, "MAX_CONNECTION_DURATION_REACHED", "The connection was open longer than allowed.", RETRY),
    AckError(4004, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
             "A fragment's timecode went backwards compared with the previous one.", FRAGMENT),
    AckError(4005, "MORE_THAN_ONE_TRACK_FOUND", "The MKV has more than one track (old limit).", FRAGMENT),
    AckError(4006, "INVALID_MKV_DATA", "The data is not valid Matroska (MKV).", FRAGMENT),
    AckError(4007, "INVALID_PRODUCER_TIMESTAMP", "The producer timestamp is not valid.", FRAGMENT),
    AckError(4008, "STREAM_NOT_ACTIVE", "The stream no longer exists or is not active.", STREAM,
             "Check the stream in the Kinesis Video console; recreate it if it was deleted."),
    AckError(4009, "FRAGMENT_METADATA_LIMIT_REACHED", "Too many metadata tags on a fragment.", FRAGMENT),
    AckError(4010, "TRACK_NUMBER_MISMATCH", "A frame names a track that the MKV header does not declare.",
             FRAGMENT),
    AckError(4011, "FRAMES_MISSING_FOR_TRACK", "A fragment has no frames for a track in the header.", FRAGMENT),
    AckError(4012, "MORE_THAN_ALLOWED_TRACKS_FOUND", "The MKV declares more tracks than allowed (3).", FRAGMENT),
    AckError(4500, "KMS_KEY_ACCESS_DENIED", "Access to the stream's KMS key was denied.", STREAM, _KMS_REMEDY),
    AckError(4501, "KMS_KEY_DISABLED", "The stream's KMS key is disabled.", STREAM, _KMS_REMEDY),
    AckError(4502, "KMS_KEY_VALIDATION_ERROR", "The stream's KMS key failed validation.", STREAM, _KMS_REMEDY),
    AckError(4503, "KMS_KEY_UNAVAILABLE", "The stream's KMS key is unavailable.", STREAM, _KMS_REMEDY),
    AckError(4504, "KMS_KEY_INVALID_USAGE", "The stream's KMS key cannot be used this way.", STREAM, _KMS_REMEDY),
    AckError(4505, "KMS_KEY_INVALID_STATE", "The stream's KMS key is in an invalid state.", STREAM, _KMS_REMEDY),
    AckError(4506, "KMS_KEY_NOT_FOUND", "The stream's KMS key was not found.", STREAM, _KMS_REMEDY),
    AckError(4507, "STREAM_DELETED", "The stream was deleted.", STREAM,
             "Recreate the stream (or pick another one) and start again."),
    AckError(5000, "INTERNAL_ERROR", "Internal service error; the fragment will be sent again.", RETRY),
    AckError(5001, "ARCHIVAL_ERROR", "The service failed to store the fragment; it will be sent again.", RETRY),
]
ERRORS: dict[int, AckError] = {e.error_id: e for e in _ERRORS}


def error_for(error_id: int) -> AckError:
    """The table entry for an ErrorId; unknown ids are treated as retriable, as PIC does."""
    return ERRORS.get(error_id) or AckError(error_id, "UNKNOWN_ERROR", f"Unknown service error {error_id}.", RETRY)


@dataclass(frozen=True)
class Ack:
    event_type: AckEventType
    fragment_timecode: int | None
    fragment_number: str | None
    error_id: int | None = None
    error_code: str | None = None

    @property
    def error(self) -> AckError | None:
        return None if self.error_id is None else error_for(self.error_id)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"EventType": self.event_type.value}
        if self.fragment_timecode is not None:
            out["FragmentTimecode"] = self.fragment_timecode
        if self.fragment_number is not None:
            out["FragmentNumber"] = self.fragment_number
        if self.error_id is not None:
            out["ErrorId"] = self.error_id
            out["ErrorCode"] = self.error_code or error_for(self.error_id).code
        return out

    def __bytes__(self) -> bytes:
        """Compact JSON plus a newline, as the service writes each ack."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode() + b"\n"


class AckParseError(ValueError):
    """An ack that is not valid JSON or lacks required keys."""


def parse_ack(obj_bytes: bytes) -> Ack:
    try:
        obj = json.loads(obj_bytes)
    except ValueError as exc:
        raise AckParseError(f"ack is not valid JSON: {obj_bytes[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise AckParseError("ack is not a JSON object")
    try:
        event = AckEventType(obj.get("EventType"))
    except ValueError as exc:
        raise AckParseError(f"unknown ack EventType {obj.get('EventType')!r}") from exc
    tc = obj.get("FragmentTimecode")
    num = obj.get("FragmentNumber")
    err = obj.get("ErrorId")
    if event is AckEventType.ERROR and not isinstance(err, int):
        raise AckParseError("ERROR ack without an integer ErrorId")
    return Ack(
        event_type=event,
        fragment_timecode=int(tc) if isinstance(tc, int | float) else None,
        fragment_number=str(num) if num is not None else None,
        error_id=err if isinstance(err, int) else None,
        error_code=obj.get("ErrorCode") if isinstance(obj.get("ErrorCode"), str) else None,
    )


class AckParser:
    """Incremental ack parser: ``feed(bytes) -> list[Ack]``.

    Tracks brace depth outside and inside JSON strings, so an ack split at any byte (even inside a
    string or an escape) is reassembled. Bytes between objects are ignored.
    """

    MAX_ACK_BYTES = 64 * 1024  # far above a real ack (~150 B); guards memory against garbage

    def __init__(self) -> None:
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False

    def feed(self, data: bytes) -> list[Ack]:
        acks: list[Ack] = []
        for byte in data:
            if self._depth == 0:
                if byte == 0x7B:  # '{'
                    self._buf = bytearray(b"{")
                    self._depth = 1
                continue
            self._buf.append(byte)
            if len(self._buf) > self.MAX_ACK_BYTES:
                self._reset()
                raise AckParseError("ack longer than 64 KiB")
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif byte == 0x5C:  # backslash
                    self._escape = True
                elif byte == 0x22:
                    self._in_string = False
            elif byte == 0x22:
                self._in_string = True
            elif byte == 0x7B:
                self._depth += 1
            elif byte == 0x7D:
                self._depth -= 1
                if self._depth == 0:
                    raw = bytes(self._buf)
                    self._reset()
                    acks.append(parse_ack(raw))
        return acks

    def _reset(self) -> None:
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
