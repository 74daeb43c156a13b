"""PutMedia signing (botocore) checked by the local endpoint's verifier; backoff policy."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from botocore.credentials import ReadOnlyCredentials
from multidict import CIMultiDict

from app.kvs.retry import Backoff, http_retriable
from app.kvs.signing import put_media_headers
from app.localkvs.auth import AuthFailure, KeyPair, verify

KEYS = KeyPair("AKIDEXAMPLE000000001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
CREDS = ReadOnlyCredentials(KEYS.access_key, KEYS.secret_key, None)


def check(headers: dict[str, str], keys: KeyPair = KEYS) -> str:
    return verify(method="POST", path="/putMedia", query="", headers=CIMultiDict(headers), body=None, keys=keys,
                  region="us-west-2", now=dt.datetime.now(dt.UTC))


def test_signed_head_verifies_with_empty_payload_hash() -> None:
    headers = put_media_headers("https://s-1234.kinesisvideo.us-west-2.amazonaws.com", "cam", CREDS, "us-west-2",
                                1_554_245_523_434)
    assert headers["x-amzn-producer-start-timestamp"] == "1554245523.434"
    assert headers["x-amzn-fragment-timecode-type"] == "ABSOLUTE"
    assert "x-amz-content-sha256" not in {k.lower() for k in headers}
    assert "/kinesisvideo/aws4_request" in headers["Authorization"]
    assert check(headers) == "us-west-2"
    tampered = dict(headers, **{"x-amzn-stream-name": "other"})
    with pytest.raises(AuthFailure, match="signature"):
        check(tampered)
    with pytest.raises(AuthFailure) as exc:
        check(headers, KeyPair("AKIDOTHER00000000000", "x"))
    assert exc.value.error_type == "UnrecognizedClientException"


def test_backoff_grows_to_a_cap_with_jitter() -> None:
    rng = random.Random(7)
    b = Backoff()
    delays = [b.delay(n, rng) for n in range(1, 9)]
    assert 1.0 <= delays[0] <= 1.3
    assert 2.0 <= delays[1] <= 2.3
    assert all(d <= 16.3 for d in delays)
    assert delays[-1] >= 16.0


def test_retriable_http_errors() -> None:
    assert http_retriable(500, "InternalFailure")
    assert http_retriable(400, "ConnectionLimitExceededException")
    assert not http_retriable(403, "InvalidSignatureException")
    assert not http_retriable(404, "ResourceNotFoundException")


@pytest.mark.parametrize("declared", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_java_style_payload_hashes_are_accepted(declared: str) -> None:
    """The Java producer and the AWS SDK for Java put their payload hash in x-amz-content-sha256."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    req = AWSRequest(method="POST", url="https://s-1.kinesisvideo.us-west-2.amazonaws.com/putMedia", data=b"",
                     headers={"x-amzn-stream-name": "cam", "x-amz-content-sha256": declared})
    SigV4Auth(CREDS, "kinesisvideo", "us-west-2").add_auth(req)
    headers = dict(req.headers.items())
    headers["host"] = "s-1.kinesisvideo.us-west-2.amazonaws.com"
    assert check(headers) == "us-west-2"
    with pytest.raises(AuthFailure):
        check(dict(headers, **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD" if declared != "UNSIGNED-PAYLOAD"
                                                        else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}))
