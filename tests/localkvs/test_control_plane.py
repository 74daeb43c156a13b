"""botocore's own kinesisvideo client against a running local endpoint (real sockets)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from app.localkvs.control import API_NAMES
from tests.conftest import client


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_describe_list_delete(kv) -> None:  # type: ignore[no-untyped-def]
    arn = kv.create_stream(StreamName="cam-1", DataRetentionInHours=24, MediaType="video/h264")["StreamARN"]
    assert arn.startswith("arn:aws:kinesisvideo:us-west-2:")
    assert "/cam-1/" in arn
    info = kv.describe_stream(StreamName="cam-1")["StreamInfo"]
    assert info["StreamName"] == "cam-1"
    assert info["Status"] == "ACTIVE"
    assert info["DataRetentionInHours"] == 24
    assert info["MediaType"] == "video/h264"
    assert kv.describe_stream(StreamARN=arn)["StreamInfo"]["StreamName"] == "cam-1"
    names = [s["StreamName"] for s in kv.list_streams()["StreamInfoList"]]
    assert names == ["cam-1"]
    kv.delete_stream(StreamARN=arn)
    with pytest.raises(ClientError) as exc:
        kv.describe_stream(StreamName="cam-1")
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_duplicate_and_invalid_names(kv) -> None:  # type: ignore[no-untyped-def]
    kv.create_stream(StreamName="dup")
    with pytest.raises(ClientError) as exc:
        kv.create_stream(StreamName="dup")
    assert error_code(exc) == "ResourceInUseException"
    with pytest.raises(ClientError) as exc:
        kv.create_stream(StreamName="bad name!")
    assert error_code(exc) == "InvalidArgumentException"


def test_list_streams_paginates_and_filters(kv) -> None:  # type: ignore[no-untyped-def]
    for i in range(7):
        kv.create_stream(StreamName=f"front-{i}")
    kv.create_stream(StreamName="back-door")
    pages = list(kv.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["StreamInfoList"]) for p in pages] == [3, 3, 2]
    seen = [s["StreamName"] for p in pages for s in p["StreamInfoList"]]
    assert sorted(seen) == sorted([f"front-{i}" for i in range(7)] + ["back-door"])
    front = kv.list_streams(StreamNameCondition={"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "front-"})
    assert len(front["StreamInfoList"]) == 7


def test_get_data_endpoint_every_api(kv, endpoint) -> None:  # type: ignore[no-untyped-def]
    kv.create_stream(StreamName="s1")
    for api in sorted(API_NAMES):
        assert kv.get_data_endpoint(StreamName="s1", APIName=api)["DataEndpoint"] == endpoint.url
    with pytest.raises(ClientError) as exc:
        kv.get_data_endpoint(StreamName="missing", APIName="PUT_MEDIA")
    assert error_code(exc) == "ResourceNotFoundException"


def test_tampered_and_unknown_keys_are_refused(endpoint) -> None:  # type: ignore[no-untyped-def]
    from app.localkvs.auth import KeyPair
    from tests.conftest import TEST_KEYS

    wrong_secret = client("kinesisvideo", endpoint.url, keys=KeyPair(TEST_KEYS.access_key, "x" * 40))
    with pytest.raises(ClientError) as exc:
        wrong_secret.list_streams()
    assert error_code(exc) == "InvalidSignatureException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = client("kinesisvideo", endpoint.url, keys=KeyPair("AKIDUNKNOWN000000000", "y" * 40))
    with pytest.raises(ClientError) as exc:
        unknown.list_streams()
    assert error_code(exc) == "UnrecognizedClientException"
    wrong_region = client("kinesisvideo", endpoint.url, region="eu-west-1")
    with pytest.raises(ClientError) as exc:
        wrong_region.list_streams()
    assert error_code(exc) == "InvalidSignatureException"
    assert "region" in str(exc.value)


def test_skewed_clock_is_refused(endpoint, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    import botocore.auth

    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    kv = client("kinesisvideo", endpoint.url)
    with pytest.raises(ClientError) as exc:
        kv.list_streams()
    assert error_code(exc) == "InvalidSignatureException"
    assert "Signature expired" in str(exc.value)
