"""One saved set of AWS credentials: validation, masking, and the small JSON value kept in the keyring."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

NAME_RE = re.compile(r"^[\w][\w .@+-]{0,63}$")
KEY_ID_RE = re.compile(r"^\w{16,128}$")  # AWS: 16-128 word characters (AKIA…, ASIA…)
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
FORMAT = 1


class InvalidEntry(ValueError):
    """A field a person typed cannot be right; the message says which and why."""


def mask_key_id(key_id: str) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``AKIA…MPLE``: enough to tell entries apart, not the whole id."""
    return f"{key_id[:4]}…{key_id[-4:]}" if len(key_id) > 8 else "…"


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RE.match(name):
        raise InvalidEntry("A name is 1-64 letters, digits, spaces or . _ - @ + and starts with a letter or digit.")
    return name


@dataclass(frozen=True)
class Entry:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # never the secret or the token, even in a traceback
        return f"Entry(access_key_id={mask_key_id(self.access_key_id)!r}, region={self.region!r})"

    __str__ = __repr__

    @classmethod
    def create(cls, access_key_id: str, secret_access_key: str, session_token: str | None = None,
               region: str | None = None) -> Entry:
        """Validate what a person typed or pasted (surrounding spaces and newlines are dropped)."""
        key_id, secret = access_key_id.strip(), secret_access_key.strip()
        token = (session_token or "").strip() or None
        region = (region or "").strip() or None
        if not KEY_ID_RE.match(key_id):
            raise InvalidEntry("The access key ID is 16-128 letters and digits, like AKIAIOSFODNN7EXAMPLE.")
        if not secret or any(c.isspace() for c in secret):
            raise InvalidEntry("The secret access key is missing or contains spaces.")
        if token is not None and any(c.isspace() for c in token):
            raise InvalidEntry("The session token contains spaces.")
        if region is not None and not REGION_RE.match(region):
            raise InvalidEntry(f"{region!r} is not a region name like us-west-2.")
        return cls(key_id, secret, token, region)

    @property
    def masked_key_id(self) -> str:
        return mask_key_id(self.access_key_id)

    def to_json(self) -> str:
        data: dict[str, object] = {"format": FORMAT, "aws_access_key_id": self.access_key_id,
                                   "aws_secret_access_key": self.secret_access_key}
        if self.session_token:
            data["aws_session_token"] = self.session_token
        if self.region:
            data["region"] = self.region
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Entry:
        try:
            data = json.loads(text)
            return cls(str(data["aws_access_key_id"]), str(data["aws_secret_access_key"]),
                       data.get("aws_session_token") or None, data.get("region") or None)
        except (ValueError, KeyError, TypeError):
            # Never include the text: it is the secret.
            raise InvalidEntry("The keyring item is not a KVS Studio credentials entry.") from None


@dataclass(frozen=True)
class Summary:
    """What may be shown of an entry: its name, masked key id and default region."""

    name: str
    masked_key_id: str
    region: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.masked_key_id})"
