"""Control-plane operations (``kinesisvideo`` rest-json): CreateStream, DescribeStream, ListStreams,
DeleteStream, GetDataEndpoint. Shapes follow botocore's service model (kvs-protocol.md §7).

A new stream is CREATING for a while, as on the service, whose API reference calls CreateStream "an
asynchronous operation" (CreateStream page; botocore's model carries the same text). DescribeStream
and ListStreams say so; GetDataEndpoint and PutMedia refuse the stream until it is ACTIVE, with the
service's 404 for a stream it cannot use: ResourceNotFoundException "The requested stream is not
found or not active." (the body seen from the service in producer-c#139 and producer-sdk-java#59).
The service did refuse GetDataEndpoint for a stream just created, as far as a public report shows:
producer-c#41 ("0x52000017 error encountered while creating a stream with new name") has the C
producer fail with 0x52000017 (STATUS_SERVICE_CALL_RESOURCE_NOT_FOUND_ERROR, PIC's status for a 404)
in GetDataEndpoint right after its CreateStream, the same failure it shows against this endpoint.
PutMedia's answer for a CREATING stream is our extrapolation (UNCONFIRMED). PIC itself waits in
DescribeStream until the status is ACTIVE (PIC StreamState.c fromDescribeStreamState), but goes from
its own CreateStream straight to GetDataEndpoint (fromCreateStreamState).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from app.localkvs.errors import ServiceError, invalid, not_found
from app.localkvs.store import Store, StreamRecord

STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")
STREAM_ARN_RE = re.compile(r"^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+$")
API_NAMES = {
    "PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES",
}


def check_name(name: object) -> str:
    if not isinstance(name, str) or not STREAM_NAME_RE.match(name):
        raise invalid("StreamName must be 1-256 characters of [a-zA-Z0-9_.-].")
    return name


def resolve_stream(store: Store, body: dict[str, Any], *, required: bool = True) -> StreamRecord:
    """Find the stream named by StreamName or StreamARN (exactly one of them)."""
    name, arn = body.get("StreamName"), body.get("StreamARN")
    if name is not None and arn is not None:
        raise invalid("Specify either StreamName or StreamARN, not both.")
    if name is None and arn is None:
        raise invalid("StreamName or StreamARN is required.")
    if arn is not None:
        if not isinstance(arn, str) or not STREAM_ARN_RE.match(arn):
            raise invalid("StreamARN is not a valid Kinesis Video stream ARN.")
        rec = store.get_stream(arn=arn)
    else:
        rec = store.get_stream(name=check_name(name))
    if rec is None:
        raise not_found()
    return rec


def require_active(rec: StreamRecord) -> StreamRecord:
    if rec.status != "ACTIVE":
        raise not_found()
    return rec


def create_stream(store: Store, region: str, body: dict[str, Any], creating_seconds: float = 0.0) -> dict[str, Any]:
    name = check_name(body.get("StreamName"))
    retention = body.get("DataRetentionInHours", 0)
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 0:
        raise invalid("DataRetentionInHours must be a whole number of hours, 0 or more.")
    for key, limit in (("MediaType", 128), ("DeviceName", 128), ("KmsKeyId", 2048)):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
            raise invalid(f"{key} must be a string of 1-{limit} characters.")
    if store.get_stream(name=name) is not None:
        raise ServiceError(400, "ResourceInUseException", f"The stream {name} already exists.")
    rec = store.create_stream(name, region, retention, body.get("MediaType"), body.get("DeviceName"),
                              body.get("KmsKeyId"), creating_seconds)
    return {"StreamARN": rec.arn}


def describe_stream(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    return {"StreamInfo": resolve_stream(store, body).to_json()}


def list_streams(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    max_results = body.get("MaxResults", 10000)
    if not isinstance(max_results, int) or not 1 <= max_results <= 10000:
        raise invalid("MaxResults must be between 1 and 10000.")
    streams = store.list_streams()
    cond = body.get("StreamNameCondition")
    if cond is not None:
        if not isinstance(cond, dict) or cond.get("ComparisonOperator", "BEGINS_WITH") != "BEGINS_WITH":
            raise invalid("StreamNameCondition.ComparisonOperator must be BEGINS_WITH.")
        prefix = cond.get("ComparisonValue", "")
        if not isinstance(prefix, str):
            raise invalid("StreamNameCondition.ComparisonValue must be a string.")
        streams = [s for s in streams if s.name.startswith(prefix)]
    return paginate([s.to_json() for s in streams], body, max_results, "StreamInfoList")


def paginate(items: list[dict[str, Any]], body: dict[str, Any], max_results: int, key: str) -> dict[str, Any]:
    """One page of ``items`` after the request's NextToken, with a NextToken when more remain."""
    start = decode_token(body.get("NextToken"))
    out: dict[str, Any] = {key: items[start : start + max_results]}
    if start + max_results < len(items):
        out["NextToken"] = encode_token(start + max_results)
    return out


def delete_stream(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    arn = body.get("StreamARN")
    if not isinstance(arn, str):
        raise invalid("StreamARN is required.")
    rec = resolve_stream(store, {"StreamARN": arn})
    version = body.get("CurrentVersion")
    if version is not None and version != rec.version:
        raise ServiceError(400, "VersionMismatchException", "The stream version does not match CurrentVersion.")
    store.delete_stream(rec.name)
    return {}


def get_data_endpoint(store: Store, body: dict[str, Any], own_url: str) -> dict[str, Any]:
    if body.get("APIName") not in API_NAMES:
        raise invalid(f"APIName must be one of {', '.join(sorted(API_NAMES))}.")
    require_active(resolve_stream(store, body))
    return {"DataEndpoint": own_url}


def encode_token(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: object) -> int:
    if token is None:
        return 0
    try:
        kind, _, value = base64.b64decode(str(token), validate=True).decode().partition(":")
        if kind != "offset":
            raise ValueError
        return int(value)
    except ValueError:
        raise invalid("NextToken is not valid.") from None
