"""The incremental ack parser: acks split at every byte, several per read, junk between them."""

from __future__ import annotations

import pytest

from app.kvs.acks import Ack, AckEventType, AckParseError, AckParser, error_for

WIRE = (
    b'{"EventType":"BUFFERING","FragmentTimecode":1663277247152,'
    b'"FragmentNumber":"91343852333181432511524306419788296366724229586"}\n'
    b'{"EventType":"RECEIVED","FragmentTimecode":1663277247152,'
    b'"FragmentNumber":"91343852333181432511524306419788296366724229586"}\n'
    b'{"EventType":"ERROR","FragmentTimecode":0,"FragmentNumber":"9134385233318157104691822274109607100156809064",'
    b'"ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS","ErrorId":4004}\n'
)


def test_whole_buffer_gives_three_acks() -> None:
    acks = AckParser().feed(WIRE)
    assert [a.event_type for a in acks] == [AckEventType.BUFFERING, AckEventType.RECEIVED, AckEventType.ERROR]
    assert acks[0].fragment_timecode == 1663277247152
    assert acks[0].fragment_number == "91343852333181432511524306419788296366724229586"
    assert acks[2].error_id == 4004
    assert acks[2].error is not None
    assert acks[2].error.retriable is False


def test_byte_by_byte_equals_whole() -> None:
    parser = AckParser()
    acks = []
    for i in range(len(WIRE)):
        acks += parser.feed(WIRE[i : i + 1])
    assert acks == AckParser().feed(WIRE)


@pytest.mark.parametrize("split", range(1, 60))
def test_any_split_point(split: int) -> None:
    parser = AckParser()
    assert parser.feed(WIRE[:split]) + parser.feed(WIRE[split:]) == AckParser().feed(WIRE)


def test_braces_inside_strings_and_junk_between() -> None:
    data = b'junk\r\n{"EventType":"IDLE","FragmentNumber":"a}{b"}\r\n0\r\n'
    (ack,) = AckParser().feed(data)
    assert ack.event_type is AckEventType.IDLE
    assert ack.fragment_number == "a}{b"
    assert ack.fragment_timecode is None


def test_round_trip_bytes() -> None:
    ack = Ack(AckEventType.ERROR, 5, "123", 5000)
    assert bytes(ack) == b'{"EventType":"ERROR","FragmentTimecode":5,"FragmentNumber":"123","ErrorId":5000,' \
                         b'"ErrorCode":"INTERNAL_ERROR"}\n'
    assert AckParser().feed(bytes(ack)) == [Ack(AckEventType.ERROR, 5, "123", 5000, "INTERNAL_ERROR")]


def test_malformed_acks_raise_clear_errors() -> None:
    with pytest.raises(AckParseError, match="EventType"):
        AckParser().feed(b'{"EventType":"NOPE"}')
    with pytest.raises(AckParseError, match="ErrorId"):
        AckParser().feed(b'{"EventType":"ERROR","FragmentTimecode":1}')


def test_error_table() -> None:
    assert error_for(5000).retriable
    assert not error_for(4002).retriable
    assert error_for(4002).code == "MAX_FRAGMENT_DURATION_REACHED"
    assert error_for(9999).retriable  # unknown ids are retried, as the C SDK does
