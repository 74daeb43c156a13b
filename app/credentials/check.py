"""Does a key pair work? One cheap signed call (ListStreams, one result) in a region, before saving."""

from __future__ import annotations

from dataclasses import dataclass

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from app.credentials.entry import Entry
from app.credentials.provider import KeyringProvider, install
from app.errors import ClockSkewError, CredentialsError, KvsStudioError
from app.kvs.control import KvsControl, classify_http_error

DEFAULT_CHECK_REGION = "us-east-1"
# Authenticated, but this key may not list streams (a producer key limited to one stream): it works.
NOT_ALLOWED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")


@dataclass(frozen=True)
class CheckResult:
    region: str
    note: str = ""


def check_entry(entry: Entry, region: str | None = None, endpoint_url: str | None = None) -> CheckResult:
    """Sign one ListStreams with ``entry`` (through botocore's chain, like any call).

    Raises CredentialsError when the service refused the pair, KvsStudioError when it could not be asked
    (network, TLS, clock). ``endpoint_url`` as in the AWS CLI; AWS_ENDPOINT_URL_KINESIS_VIDEO is honoured too.
    """
    region = region or entry.region or DEFAULT_CHECK_REGION
    session = botocore.session.Session()
    install(session, KeyringProvider.unsaved(entry))
    control = KvsControl(region=region, endpoint_url=endpoint_url, session=session)
    try:
        control.client.list_streams(MaxResults=1)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), str(err.get("Message", ""))
        if code in NOT_ALLOWED:
            return CheckResult(region, f"The service accepted these credentials in {region} but they may not "
                                       f"list streams ({code}); they can still stream where allowed.")
        meta = exc.response.get("ResponseMetadata", {})
        error = classify_http_error(int(meta.get("HTTPStatusCode", 0)), code, message,
                                    meta.get("HTTPHeaders", {}).get("date"), "")
        if isinstance(error, CredentialsError) and not isinstance(error, ClockSkewError):
            raise CredentialsError(f"The service refused these credentials in {region} ({code}): {message} "
                                   "Check the access key ID and the secret (and the session token, if any).") \
                from None
        raise KvsStudioError(f"Could not check the credentials in {region}: {error.user_message}") from None
    except BotoCoreError as exc:
        raise KvsStudioError(f"Could not check the credentials in {region}: {exc}") from None
    return CheckResult(region)
