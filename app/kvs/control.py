"""Control-plane calls through botocore (DescribeStream, CreateStream, ListStreams, GetDataEndpoint),
with errors turned into KvsStudioErrors that say what to do.

Credentials and region come from botocore's standard chain (environment, shared config and
credentials files, profiles, SSO), with a saved keyring entry, when one is named, as the chain's first
provider (app/credentials/provider.py); ``endpoint_url`` overrides the control-plane URL as in the AWS CLI.
TLS is verified with botocore's CA bundle, which honours AWS_CA_BUNDLE and ``ca_bundle``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import email.utils
import ssl
import time
from dataclasses import dataclass
from typing import Any

import botocore.auth
import botocore.session
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    SSLError,
)

from app.errors import ClockSkewError, CredentialsError, KvsStudioError, ServiceError, StreamNotFound
from app.logging_setup import register_secret

SKEW_MARKERS = ("Signature expired", "Signature not yet current", "RequestExpired", "RequestTimeTooSkewed")
REGION_MARKER = "scoped to a valid region"  # the service's words for a signature made for another region
NO_CREDENTIALS = ("No AWS credentials found (environment, ~/.aws, profile or SSO). Configure them (e.g. "
                  "`aws configure`), or stream to the local endpoint instead: run `kvs-studio local-endpoint` "
                  "and pass --endpoint-url http://127.0.0.1:4567 with the keys it prints.")


@dataclass(frozen=True)
class StreamDescription:
    name: str
    arn: str
    retention_hours: int
    status: str


def clock_skew_message(server_date: str | None, signed_at: str | None = None) -> str:
    """Explain a refused request time, with the measured skew when the server said its time.

    The skew is our signing time (X-Amz-Date, when known, else the clock botocore signs with) against the
    server's Date header.
    """
    skew = ""
    if server_date:
        try:
            server = email.utils.parsedate_to_datetime(server_date)
            if signed_at:
                ours = dt.datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            else:  # the clock botocore signs with
                ours = botocore.auth.get_current_datetime().replace(tzinfo=dt.UTC)
            delta = (ours - server).total_seconds()
            amount = f"{abs(delta) / 60:.0f} min" if abs(delta) >= 120 else f"{abs(delta):.0f} s"
            skew = f" This computer's clock is {amount} {'ahead of' if delta > 0 else 'behind'} the service."
        except (TypeError, ValueError):
            pass
    return ("The service refused the request time (clock skew)." + skew
            + " Set the system clock automatically (NTP) and try again.")


class KvsControl:
    def __init__(self, *, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, session: botocore.session.Session | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 keyring_entry: str | None = None) -> None:
        if profile and keyring_entry:
            raise CredentialsError("Use either an AWS profile or saved credentials (--credentials), not both.")
        try:
            self.session = session or botocore.session.Session(profile=profile)
        except BotoCoreError as exc:
            raise CredentialsError(f"Cannot use AWS profile {profile!r}: {exc}") from None
        entry_region = None
        if keyring_entry:  # saved credentials join botocore's chain, first; reading them may block (D-Bus)
            from app.credentials.provider import KeyringProvider, install

            provider = KeyringProvider.saved(keyring_entry)
            entry_region = provider.entry().region  # UnknownEntry / KeyringUnavailable say what to do
            install(self.session, provider)
        if access_key and secret_key:  # explicit keys (the embedded endpoint's)
            register_secret(secret_key)
            self.session.set_credentials(access_key, secret_key)
        self.region = region or entry_region or self.session.get_config_variable("region")
        if not self.region:
            raise KvsStudioError("No AWS region: pass --region or set AWS_DEFAULT_REGION.")
        if endpoint_url is None:
            check_region(self.session, self.region)  # else botocore would build a host name that does not exist
        self.endpoint_url = endpoint_url
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=20,
                              user_agent_extra="kvs-studio")
        try:
            self.client = self.session.create_client("kinesisvideo", region_name=self.region,
                                                     endpoint_url=endpoint_url, config=self._config)
        except (NoRegionError, BotoCoreError) as exc:
            raise KvsStudioError(f"Cannot create the Kinesis Video client: {exc}") from None

    # -- credentials and TLS -------------------------------------------------------------------

    def credentials(self) -> ReadOnlyCredentials:
        """Frozen credentials for one signature; refreshable ones are refreshed when near expiry."""
        try:
            creds = self.session.get_credentials()
        except (PartialCredentialsError, BotoCoreError) as exc:
            raise CredentialsError(f"AWS credentials are incomplete: {exc}") from None
        if creds is None:
            raise CredentialsError(NO_CREDENTIALS)
        frozen = creds.get_frozen_credentials()
        for secret in (frozen.secret_key, frozen.token):  # from any provider, refreshed ones too
            register_secret(secret)
        return frozen

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context with the same CA bundle botocore would use."""
        bundle = self.session.get_config_variable("ca_bundle")
        if not bundle:
            from botocore.httpsession import get_cert_path

            bundle = get_cert_path(True)
        ctx = ssl.create_default_context(cafile=bundle if isinstance(bundle, str) else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    # -- calls ---------------------------------------------------------------------------------

    def describe(self, stream: str) -> StreamDescription:
        info = self._call("describe_stream", stream, StreamName=stream)["StreamInfo"]
        return StreamDescription(info["StreamName"], info["StreamARN"], int(info.get("DataRetentionInHours", 0)),
                                 info.get("Status", "ACTIVE"))

    def probe(self, stream: str) -> tuple[StreamDescription | None, KvsStudioError | None, str | None]:
        """One signed DescribeStream, for a preflight: the stream (or the error, translated) and the service's
        Date header, which tells the clock skew whether or not the call succeeded."""
        try:
            resp = self.client.describe_stream(StreamName=stream)
        except ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return None, self._translate(exc, stream), headers.get("date")
        except BotoCoreError as exc:
            return None, self._translate(exc, stream), None
        info = resp["StreamInfo"]
        desc = StreamDescription(info["StreamName"], info["StreamARN"], int(info.get("DataRetentionInHours", 0)),
                                 info.get("Status", "ACTIVE"))
        return desc, None, resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")

    def archived_media(self, stream: str, api: str) -> Any:
        """A ``kinesis-video-archived-media`` client on the data endpoint GetDataEndpoint names for ``api``
        (LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, GET_CLIP), signed like every other call."""
        return self.session.create_client("kinesis-video-archived-media", region_name=self.region,
                                          endpoint_url=self.data_endpoint(stream, api), config=self._config)

    def translate(self, exc: Exception, stream: str) -> KvsStudioError:
        """A botocore error as a KvsStudioError that says what to do."""
        return self._translate(exc, stream)

    def create(self, stream: str, retention_hours: int = 24, media_type: str = "video/h264") -> None:
        self._call("create_stream", stream, StreamName=stream, DataRetentionInHours=retention_hours,
                   MediaType=media_type)

    def wait_active(self, stream: str, timeout_s: float = 120.0, poll_s: float = 1.0) -> StreamDescription:
        """Poll DescribeStream until the stream is ACTIVE: a new stream is CREATING for a few seconds and
        the service refuses GetDataEndpoint and PutMedia until then."""
        deadline = time.monotonic() + timeout_s
        while True:
            desc = self.describe(stream)
            if desc.status == "ACTIVE":
                return desc
            if desc.status == "DELETING":
                raise StreamNotFound(f"Stream {stream!r} is being deleted. Pick another stream or create a new one.")
            if time.monotonic() >= deadline:
                raise ServiceError(f"Stream {stream!r} is still {desc.status} after {timeout_s:.0f} s; try again "
                                   "in a minute, or check it in the Kinesis Video console.", retriable=False)
            time.sleep(poll_s)  # DescribeStream allows 5 calls/s per stream; once a second is plenty

    def list_streams(self, prefix: str = "") -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if prefix:
            kwargs["StreamNameCondition"] = {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": prefix}
        out: list[dict[str, Any]] = []
        try:
            for page in self.client.get_paginator("list_streams").paginate(**kwargs):
                out += page["StreamInfoList"]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "") from None
        return out

    def data_endpoint(self, stream: str, api: str = "PUT_MEDIA") -> str:
        return str(self._call("get_data_endpoint", stream, StreamName=stream, APIName=api)["DataEndpoint"])

    def stored_producer_timestamps(self, stream: str, start_ms: int, end_ms: int) -> set[int]:
        """Producer timestamps (ms) of the fragments the service has stored in a range (ListFragments).

        Lets a producer find out, after a connection died before the PERSISTED ack, whether a fragment
        was stored anyway, so that it is not sent twice.
        """
        url = self.data_endpoint(stream, "LIST_FRAGMENTS")
        archived = self.session.create_client("kinesis-video-archived-media", region_name=self.region,
                                              endpoint_url=url, config=self._config)
        selector = {"FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {"StartTimestamp": start_ms / 1000, "EndTimestamp": end_ms / 1000}}
        out: set[int] = set()
        try:
            for page in archived.get_paginator("list_fragments").paginate(StreamName=stream,
                                                                           FragmentSelector=selector):
                out.update(round(f["ProducerTimestamp"].timestamp() * 1000) for f in page["Fragments"])
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, stream) from None
        return out

    def _call(self, op: str, stream: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self.client, op)(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, stream) from None

    def _translate(self, exc: Exception, stream: str) -> KvsStudioError:
        if isinstance(exc, NoCredentialsError):
            return CredentialsError(NO_CREDENTIALS)
        if isinstance(exc, SSLError):
            return tls_error_message(str(exc.kwargs.get("endpoint_url", "")), str(exc.kwargs.get("error", exc)))
        if isinstance(exc, EndpointConnectionError):
            return ServiceError(f"Cannot reach {exc.kwargs.get('endpoint_url', 'the service')}: check the network "
                                "or the endpoint URL.", code="EndpointConnectionError")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            message = str(err.get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return self.explain(classify_http_error(status, code, message, headers.get("date"), stream))
        return ServiceError(f"Kinesis Video call failed: {exc}")

    def explain(self, err: KvsStudioError) -> KvsStudioError:
        """Add what is likely with a custom endpoint: a local endpoint makes new keys at every start."""
        if self.endpoint_url and code_of(err) == "UnrecognizedClientException":
            return CredentialsError(f"{err.user_message} A local endpoint started without AWS_ACCESS_KEY_ID/"
                                    "AWS_SECRET_ACCESS_KEY makes a new key pair each time it starts: use the pair "
                                    "it printed last.", code=code_of(err))
        return err


def code_of(err: KvsStudioError) -> str:
    return str(getattr(err, "code", ""))


def known_regions(session: botocore.session.Session) -> list[str]:
    """Every region botocore knows for Kinesis Video, in every partition."""
    out: set[str] = set()
    for partition in session.get_available_partitions():
        out.update(session.get_available_regions("kinesisvideo", partition))
    return sorted(out)


def unknown_region_message(region: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(region, candidates, n=3, cutoff=0.5) or candidates[:3]
    return (f"Unknown AWS region {region!r} for Kinesis Video Streams. Did you mean "
            f"{', '.join(near)}? (`aws ec2 describe-regions` lists them; --region sets it.)")


def check_region(session: botocore.session.Session, region: str) -> None:
    regions = known_regions(session)
    if regions and region not in regions:
        raise KvsStudioError(unknown_region_message(region, regions))


def tls_error_message(url: str, detail: str) -> KvsStudioError:
    if "WRONG_VERSION_NUMBER" in detail or "wrong version number" in detail:
        return KvsStudioError(f"{url or 'The endpoint'} does not speak TLS: use an http:// URL for it.")
    reason = detail.split("certificate verify failed:")[-1].split("(_ssl")[0].strip() or detail
    return CredentialsError(f"The TLS certificate of {url or 'the endpoint'} could not be verified ({reason}). "
                            "If it is your own endpoint, point AWS_CA_BUNDLE at its CA certificate.")


def classify_http_error(status: int, code: str, message: str, server_date: str | None, stream: str,
                        signed_at: str | None = None) -> KvsStudioError:
    """Turn a service error (control plane or PutMedia) into an error with a user message."""
    from app.kvs.retry import http_retriable

    if any(m in message or m in code for m in SKEW_MARKERS):
        return ClockSkewError(clock_skew_message(server_date, signed_at))
    if REGION_MARKER in message:
        region = message.split("not '")[-1].split("'")[0] if "not '" in message else "?"
        regions = known_regions(botocore.session.get_session())
        if region not in regions:
            return KvsStudioError(unknown_region_message(region, regions))
        return KvsStudioError(f"The endpoint does not serve region {region!r}: pass the region it serves with "
                              "--region.")
    if code in ("UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
                "MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
                "AccessDeniedException", "NotAuthorizedException") or status in (401, 403):
        return CredentialsError(f"The service refused the credentials ({code or status}): {message} "
                                "Check the access key and secret, or pick another profile.", code=code)
    if code == "ResourceNotFoundException" or status == 404:
        return StreamNotFound(f"Stream {stream!r} was not found (or is not active) in this region. Create it "
                              "(New stream… in the window, --create on the command line) or pick another stream.")
    retriable = http_retriable(status, code)
    what = "throttled" if "Limit" in code or code == "ThrottlingException" else "error"
    return ServiceError(f"Kinesis Video {what} ({code or status}): {message}", code=code, status=status,
                        retriable=retriable)
