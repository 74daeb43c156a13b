"""SigV4 for the PutMedia request head, done by botocore.

The body is streamed, so the payload hash is SHA-256 of the empty string, as the official C producer
signs it (kvs-protocol.md §1.2); botocore computes exactly that for an empty-body AWSRequest.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from app import __version__

SERVICE = "kinesisvideo"
USER_AGENT = f"kvs-studio/{__version__}"


def put_media_headers(data_endpoint: str, stream_name: str, credentials: ReadOnlyCredentials, region: str,
                      start_timestamp_ms: int, *, absolute: bool = True) -> dict[str, str]:
    """Signed headers for ``POST <data_endpoint>/putMedia``."""
    host = urlsplit(data_endpoint).netloc
    headers = {
        "host": host,
        "x-amzn-stream-name": stream_name,
        "x-amzn-fragment-timecode-type": "ABSOLUTE" if absolute else "RELATIVE",
        "x-amzn-producer-start-timestamp": f"{start_timestamp_ms // 1000}.{start_timestamp_ms % 1000:03d}",
        "x-amzn-fragment-acknowledgment-required": "1",
        "connection": "keep-alive",
        "user-agent": USER_AGENT,
    }
    req = AWSRequest(method="POST", url=data_endpoint.rstrip("/") + "/putMedia", data=b"", headers=headers)
    SigV4Auth(credentials, SERVICE, region).add_auth(req)
    return dict(req.headers.items())
