"""Preflight: what is checked before the first byte is sent, as a short checklist that says how to fix
what fails. Blocking (it calls the service and opens the source): run it off the UI thread.

1. Credentials: a signed DescribeStream is answered (even "no such stream" means the signature was good).
2. Stream: it exists and is ACTIVE (CREATING is a warning: Start waits for it).
3. Retention: 0 h is a warning, since nothing is stored and nothing can be played back.
4. Clock: our clock against the service's ``Date`` response header; SigV4 refuses requests more than
   5 minutes off (we warn past a few seconds and refuse past 15 minutes, where nothing would work).
5. Source: it opens and gives a first picture.

Failures stop Start; warnings only inform.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from app.errors import ClockSkewError, CredentialsError, KvsStudioError, StreamNotFound
from app.kvs.control import KvsControl

SKEW_WARN_S = 5.0
SKEW_REFUSE_S = 15 * 60.0


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"  # not checked, because an earlier check failed


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    text: str  # what was found, and for a failure or warning, what to do


@dataclass(frozen=True)
class PreflightResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAILED]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.WARNING]

    @property
    def ok(self) -> bool:
        """Start may go on (warnings allowed)."""
        return not self.failed

    def get(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def skew_check(server_date: str | None, local_epoch: float) -> Check:
    """Our clock against the service's Date header (whole seconds, so ±1 s is noise)."""
    if not server_date:
        return Check("Clock", Status.SKIPPED, "The service sent no Date header; the clock could not be compared.")
    try:
        server = email.utils.parsedate_to_datetime(server_date).timestamp()
    except (TypeError, ValueError):
        return Check("Clock", Status.SKIPPED, f"The service's Date header ({server_date!r}) could not be read.")
    skew = local_epoch - server
    size = abs(skew)
    amount = f"{size / 60:.0f} min" if size >= 120 else f"{size:.0f} s"
    where = "ahead of" if skew > 0 else "behind"
    if size > SKEW_REFUSE_S:
        return Check("Clock", Status.FAILED, f"This computer's clock is {amount} {where} the service: every request "
                                             "would be refused. Set the clock automatically (NTP), then start.")
    if size > SKEW_WARN_S:
        return Check("Clock", Status.WARNING, f"This computer's clock is {amount} {where} the service. Fragment "
                                              "times will be off by as much; turn on automatic time (NTP).")
    return Check("Clock", Status.OK, "In step with the service" + (f" ({amount} {where})" if size >= 2 else "."))


def run_preflight(make_control: Callable[[], KvsControl], stream: str,
                  open_source: Callable[[], object] | None = None,
                  now: Callable[[], float] = time.time) -> PreflightResult:
    checks: list[Check] = []
    control: KvsControl | None = None
    try:
        control = make_control()
        control.credentials()
    except KvsStudioError as exc:
        checks.append(Check("Credentials", Status.FAILED, exc.user_message))
    if control is not None:
        desc, err, date = control.probe(stream)
        local = now()
        if isinstance(err, ClockSkewError):
            checks.append(Check("Credentials", Status.SKIPPED, "Not checked: the service refused the request time."))
        elif isinstance(err, CredentialsError):
            checks.append(Check("Credentials", Status.FAILED, err.user_message))
        elif err is None or isinstance(err, StreamNotFound):
            checks.append(Check("Credentials", Status.OK, "Accepted: a signed request was answered."))
        else:
            checks.append(Check("Credentials", Status.FAILED, err.user_message))
        checks += _stream_checks(stream, control.region, desc, err)
        clock = skew_check(date, local)
        if isinstance(err, ClockSkewError) and clock.status is not Status.FAILED:
            clock = Check("Clock", Status.FAILED, err.user_message)
        checks.append(clock)
    else:
        checks += [Check("Stream", Status.SKIPPED, "Not checked: no credentials."),
                   Check("Retention", Status.SKIPPED, "Not checked: no credentials.")]
    checks.append(_source_check(open_source))
    return PreflightResult(checks)


def _stream_checks(stream: str, region: str, desc: object, err: KvsStudioError | None) -> list[Check]:
    from app.kvs.control import StreamDescription

    if isinstance(err, StreamNotFound):
        return [Check("Stream", Status.FAILED, f"No stream {stream!r} in {region}. Create it (New stream…), pick "
                                               "another, or pick the region where it is."),
                Check("Retention", Status.SKIPPED, "Not checked: no stream.")]
    if not isinstance(desc, StreamDescription):
        why = "the credentials were refused" if isinstance(err, CredentialsError) else "the service did not answer"
        return [Check("Stream", Status.SKIPPED, f"Not checked: {why}."),
                Check("Retention", Status.SKIPPED, f"Not checked: {why}.")]
    if desc.status == "ACTIVE":
        stream_check = Check("Stream", Status.OK, f"{stream} is ACTIVE.")
    elif desc.status == "CREATING":
        stream_check = Check("Stream", Status.WARNING, f"{stream} is still CREATING; Start waits until it is ACTIVE.")
    else:
        stream_check = Check("Stream", Status.FAILED, f"{stream} is {desc.status} and takes no data. Pick or create "
                                                      "another stream.")
    if desc.retention_hours == 0:
        retention = Check("Retention", Status.WARNING, "0 h: nothing is stored, so there will be nothing to play "
                                                       "back. Use a stream with retention to keep the video.")
    else:
        retention = Check("Retention", Status.OK, f"Kept for {_hours(desc.retention_hours)}.")
    return [stream_check, retention]


def _source_check(open_source: Callable[[], object] | None) -> Check:
    if open_source is None:
        return Check("Source", Status.SKIPPED, "No source to check.")
    try:
        source = open_source()
    except KvsStudioError as exc:
        return Check("Source", Status.FAILED, exc.user_message)
    info = getattr(source, "info", None)
    close = getattr(source, "close", None)
    if callable(close):
        close()
    what = f"{info.description}, {info.width}×{info.height}" if info is not None else "the source"
    return Check("Source", Status.OK, f"Opens: {what}.")


def _hours(h: int) -> str:
    return f"{h // 24} days" if h >= 48 and h % 24 == 0 else f"{h} h"
