"""SigV4 verification for the local endpoint, with botocore computing the signature.

We reuse botocore's ``SigV4Auth`` steps (canonical request, string to sign, signing key) and only
override the two choices a verifier must take from the client: which headers were signed (from
``SignedHeaders``) and which payload hash was used. For the streamed PutMedia body the official
clients use three different hashes (kvs-protocol.md §1.2): the ``x-amz-content-sha256`` header when
present, else SHA-256 of the empty string. Fixed bodies (control plane) hash the body itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

SERVICE = "kinesisvideo"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = dt.timedelta(minutes=15)  # kvs-protocol.md §4 (RequestExpired after 15 min)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class AuthFailure(Exception):
    """Why a request was refused, in the service's terms."""

    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class KeyPair:
    access_key: str
    secret_key: str = ""
    session_token: str | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"KeyPair(access_key={self.access_key!r}, secret_key=***)"


class _VerifyingSigner(SigV4Auth):
    def __init__(self, creds: Credentials, region: str, signed: list[str], payload_hash: str) -> None:
        super().__init__(creds, SERVICE, region)
        self._signed = signed
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        out = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                out[name] = value
        return out

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: Any,  # a multi-dict with getall(), e.g. aiohttp's CIMultiDictProxy
    body: bytes | None,
    keys: KeyPair,
    region: str,
    now: dt.datetime,
) -> str:
    """Check a request's SigV4 signature; return the region it was signed for, or raise AuthFailure.

    ``body`` is None for a streamed body (PutMedia), whose payload hash follows the rule above.
    """
    auth = headers.get("Authorization")
    if not auth:
        raise AuthFailure(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise AuthFailure(400, "IncompleteSignatureException",
                          "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
    parts = m["cred"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthFailure(400, "IncompleteSignatureException", "Credential is not of the form "
                          "<key>/<YYYYMMDD>/<region>/<service>/aws4_request.")
    access_key, scope_date, scope_region, scope_service, _ = parts
    signed = m["signed"].split(";")
    if "host" not in signed:
        raise AuthFailure(403, "InvalidSignatureException", "'Host' must be a signed header.")
    if scope_service != SERVICE:
        raise AuthFailure(403, "InvalidSignatureException",
                          f"Credential should be scoped to correct service: '{SERVICE}'.")
    if scope_region != region:
        raise AuthFailure(403, "InvalidSignatureException",
                          f"Credential should be scoped to a valid region, not '{scope_region}'.")
    if access_key != keys.access_key:
        raise AuthFailure(403, "UnrecognizedClientException",
                          "The security token included in the request is invalid.")
    amz_date = headers.get("X-Amz-Date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthFailure(400, "IncompleteSignatureException",
                          "The request must carry a valid X-Amz-Date header.") from None
    if "x-amz-date" not in signed:
        raise AuthFailure(403, "InvalidSignatureException", "'X-Amz-Date' must be a signed header.")
    if scope_date != amz_date[:8]:
        raise AuthFailure(403, "InvalidSignatureException",
                          f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '{scope_date}'.")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    if when < now - MAX_SKEW:
        raise AuthFailure(403, "InvalidSignatureException",
                          f"Signature expired: {amz_date} is now earlier than "
                          f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({stamp} - 15 min.)")
    if when > now + MAX_SKEW:
        raise AuthFailure(403, "InvalidSignatureException",
                          f"Signature not yet current: {amz_date} is still later than "
                          f"{(now + MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({stamp} + 15 min.)")
    if keys.session_token is not None and headers.get("X-Amz-Security-Token") != keys.session_token:
        raise AuthFailure(403, "UnrecognizedClientException",
                          "The security token included in the request is invalid.")

    declared = headers.get("X-Amz-Content-SHA256")
    if declared:
        if body is not None and declared not in ("UNSIGNED-PAYLOAD",) and \
                declared != hashlib.sha256(body).hexdigest():
            raise AuthFailure(400, "InvalidSignatureException",
                              "The provided 'x-amz-content-sha256' header does not match what was computed.")
        payload_hash = declared
    elif body is None:
        payload_hash = EMPTY_SHA256
    else:
        payload_hash = hashlib.sha256(body).hexdigest()

    # The URL only carries the path and query: the Host that counts is the signed header's value
    # (which may lack the port, as the C producer sends it), never parsed as part of a URL.
    request = AWSRequest(method=method, url=f"http://localhost{path}" + (f"?{query}" if query else ""))
    for name in signed:
        for value in headers.getall(name, []):
            request.headers[name] = value  # email.message semantics: appends, keeps repeats
    request.context["timestamp"] = amz_date
    signer = _VerifyingSigner(Credentials(keys.access_key, keys.secret_key), scope_region, signed, payload_hash)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m["sig"]):
        raise AuthFailure(403, "InvalidSignatureException",
                          "The request signature we calculated does not match the signature you provided. "
                          "Check your AWS Secret Access Key and signing method. "
                          "Consult the service documentation for details.")
    return scope_region
