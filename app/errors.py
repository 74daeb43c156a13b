"""Errors that reach people: each carries a one-line ``user_message`` that says what to do.

Typed by who is at fault: local input (source, arguments), credentials, the stream, or the service.
Messages name where a credential came from, never its value.
"""

from __future__ import annotations


class KvsStudioError(Exception):
    """Base class; ``user_message`` is shown as is in the window and the CLI."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class SourceError(KvsStudioError):
    """The camera or file cannot be read."""


class CredentialsError(KvsStudioError):
    """No credentials, or the service refused them (``code``: the service's error type, if it answered)."""

    def __init__(self, user_message: str, *, code: str = "") -> None:
        super().__init__(user_message)
        self.code = code


class ClockSkewError(CredentialsError):
    """The service refused the request's time."""


class StreamNotFound(KvsStudioError):
    """The stream does not exist (and --create was not given)."""


class ServiceError(KvsStudioError):
    """The service answered with an error that is not the caller's input."""

    def __init__(self, user_message: str, *, code: str = "", status: int = 0, retriable: bool = True) -> None:
        super().__init__(user_message)
        self.code = code
        self.status = status
        self.retriable = retriable


class StreamRefused(KvsStudioError):
    """The stream cannot take data (deleted, not active, its KMS key unusable): the run stops, nothing is skipped."""
