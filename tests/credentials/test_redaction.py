"""Masking at the handler: every handler, every logger (children included), tracebacks, reprs that carry
headers, crash output. Values here are fresh per test, so the patterns are tested apart from the registry of
known secrets unless a test registers one."""

from __future__ import annotations

import io
import logging
import secrets
import string
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from app.logging_setup import MASK, RedactingFormatter, mask_handler, redact, register_secret
from tests.credentials.helpers import REPO, user_env

B64 = string.ascii_letters + string.digits + "/+"


def fake_secret() -> str:  # shaped like an AWS secret access key: 40 base64 characters, mixed case
    return "Ab" + "".join(secrets.choice(B64) for _ in range(38))


def fake_token() -> str:  # shaped like an STS session token
    return "IQoJb3JpZ2luX2Vj" + "".join(secrets.choice(B64) for _ in range(300)) + "=="


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A plain StreamHandler on the root logger, masked the way setup_logging masks every handler."""
    out = io.StringIO()
    handler = mask_handler(logging.StreamHandler(out))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


def signed_request_repr(secret: str, token: str) -> str:
    req = AWSRequest(method="POST", url="https://kinesisvideo.us-west-2.amazonaws.com/listStreams", data=b"{}")
    SigV4Auth(Credentials("ASIAKVSSTUDIOTEST001", secret, token), "kinesisvideo", "us-west-2").add_auth(req)
    return repr(req.prepare())


def aiohttp_error_repr(token: str) -> str:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": "AWS4-HMAC-SHA256 Credential=ASIAKVSSTUDIOTEST001/"
                                            "20250101/us-west-2/kinesisvideo/aws4_request, SignedHeaders=host, "
                                            "Signature=" + "ab12" * 16, "X-Amz-Security-Token": token}))
    info = aiohttp.RequestInfo(URL("https://s-1.kinesisvideo.us-west-2.amazonaws.com/putMedia"), "POST", headers,
                               URL("https://s-1.kinesisvideo.us-west-2.amazonaws.com/putMedia"))
    return repr(aiohttp.ClientResponseError(info, (), status=403, message="Forbidden"))


FORMS = {
    "labelled secret": lambda s, t: f"aws_secret_access_key = {s}",
    "json secret and token": lambda s, t: f'{{"SecretAccessKey": "{s}", "SessionToken": "{t}"}}',
    "credentials repr": lambda s, t: repr(ReadOnlyCredentials("ASIAKVSSTUDIOTEST001", s, t)),
    "env dump": lambda s, t: f"AWS_SECRET_ACCESS_KEY={s} AWS_SESSION_TOKEN={t}",
    "unlabelled": lambda s, t: f"keys {s} and {t} in a message",
    "header lines": lambda s, t: f"X-Amz-Security-Token: {t}\nAuthorization: AWS4-HMAC-SHA256 Credential=x/{s}",
    "canonical request": lambda s, t: f"CanonicalRequest:\nPOST\n/listStreams\n\nhost:h\nx-amz-security-token:{t}\n",
    "presigned url": lambda s, t: f"GET /clip?X-Amz-Security-Token={t}&X-Amz-Signature={'0a' * 32}&a=1",
    "botocore prepared request": signed_request_repr,
    "aiohttp error with request headers": lambda s, t: aiohttp_error_repr(t),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_a_child_loggers_record_is_masked(form: str, captured: io.StringIO) -> None:
    secret, token = fake_secret(), fake_token()
    text = FORMS[form](secret, token)
    # The uploader's case: a child logger, a %r argument, debug level.
    logging.getLogger("app.engine.uploader").debug("connection error detail: %r", text)
    logging.getLogger("botocore.endpoint").debug("Sending http request: %s", text)
    out = captured.getvalue()
    assert "connection error detail" in out
    assert "Sending http request" in out
    assert MASK in out
    assert secret not in out
    assert token not in out
    assert token[20:80] not in out  # not even a piece of it


def test_authorization_headers_are_masked_whole(captured: io.StringIO) -> None:
    logging.getLogger("app.kvs").info("%s", aiohttp_error_repr("tok3n"))
    logging.getLogger("app.kvs").info("Authorization: AWS4-HMAC-SHA256 Credential=AKIDX/20250101/us-west-2/"
                                      "kinesisvideo/aws4_request, SignedHeaders=host, Signature=%s", "cd34" * 16)
    out = captured.getvalue()
    assert "'Authorization': '***'" in out
    assert "'X-Amz-Security-Token': '***'" in out
    assert "Authorization: ***" in out
    assert "cd34cd34" not in out
    assert "tok3n" not in out


def test_a_traceback_is_masked(captured: io.StringIO) -> None:
    secret = fake_secret()
    try:
        raise RuntimeError(f"refused: secret_key={secret}")
    except RuntimeError:
        logging.getLogger("app.engine.engine").exception("kvs-encode crashed")
    out = captured.getvalue()
    assert "Traceback" in out
    assert "RuntimeError: refused: secret_key=***" in out
    assert secret not in out


def test_a_registered_secret_of_any_shape_is_masked(captured: io.StringIO) -> None:
    odd = f"not-shaped-like-a-key-{secrets.token_hex(6)}"  # patterns alone would miss it
    assert redact(f"x {odd} y") == f"x {odd} y"
    register_secret(odd)
    logging.getLogger("app.credentials").warning("value %s, quoted %s", odd, odd.replace("-", "%2D"))
    assert odd not in captured.getvalue()
    assert redact(f"x {odd} y") == f"x {MASK} y"


def test_ordinary_lines_stay_readable() -> None:
    lines = [
        "fragment 91343852333181432392682062569436286939462893051 PERSISTED",  # a fragment number
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709, sha256 " + "e3b0c442" * 8,
        "arn:aws:kinesisvideo:us-west-2:123456789012:stream/front-door/1598784211076",
        "Using credentials work (AKIA…7QX2) for AKIAIOSFODNN7EXAMPLE in us-west-2",
        "The secret access key is missing or contains spaces.",
    ]
    for line in lines:
        assert redact(line) == line


def test_the_formatter_wraps_any_format() -> None:
    secret = fake_secret()
    fmt = RedactingFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "token=%s", (secret,), None)
    assert fmt.format(record) == "ERROR|token=***"


def test_crash_output_is_masked() -> None:
    secret, token = fake_secret() + "-odd", fake_token()
    code = ("import os, threading\n"
            "from app.logging_setup import protect_process\n"
            "protect_process()\n"
            "def boom(): raise ValueError('in a thread ' + os.environ['AWS_SESSION_TOKEN'])\n"
            "t = threading.Thread(target=boom, name='worker'); t.start(); t.join()\n"
            "raise RuntimeError('uncaught ' + os.environ['AWS_SECRET_ACCESS_KEY'])\n")
    env = user_env(AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 1
    assert "RuntimeError: uncaught ***" in proc.stderr
    assert "Exception in thread worker" in proc.stderr
    assert "ValueError: in a thread ***" in proc.stderr
    assert secret not in proc.stderr
    assert token not in proc.stderr
