"""Saved credentials in the OS keyring, through the ``keyring`` package.

One keyring item per entry: service ``kvs-studio``, user name = the entry's name, value = a small JSON
object (see ``entry.py``), so ``secret-tool`` or Keychain Access show each entry as one item. The keyring
API cannot list items, so one more item (service ``kvs-studio-index``) lists the names with their masked
key ids and regions — nothing secret.

Only OS keyrings are accepted. ``keyring.backends.fail`` (what ``keyring`` picks when there is none),
``null`` and the plain-file backends of ``keyrings.alt`` are refused with a message that says what is
missing: a secret is never written to a plain file. Every call may block (D-Bus, an unlock prompt), so
callers in the window run them on a worker thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TypeVar

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors

from app.credentials.entry import Entry, InvalidEntry, Summary, check_name
from app.errors import CredentialsError

DEFAULT_SERVICE = "kvs-studio"
SERVICE_ENV = "KVS_STUDIO_KEYRING_SERVICE"  # another service name: keeps tests away from real entries
INDEX_USER = "entries"
FALLBACK = ("use an AWS profile (--profile, or a profile in the window) or the environment "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). KVS Studio never keeps a secret in a plain file.")

# OS keyrings, by backend class: the only places a secret may go.
OS_KEYRINGS = {
    "keyring.backends.SecretService.Keyring": "Secret Service",
    "keyring.backends.libsecret.Keyring": "Secret Service (libsecret)",
    "keyring.backends.kwallet.DBusKeyring": "KWallet",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "KWallet",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Manager",
}
T = TypeVar("T")


class KeyringUnavailable(CredentialsError):
    """No OS keyring can be used here; the message names what is missing and what to do."""


class UnknownEntry(CredentialsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No saved credentials named {name!r}. "
                         "`kvs-studio credentials list` shows the saved ones.")
        self.name = name


class EntryExists(CredentialsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Credentials named {name!r} are already saved; remove or replace them first.")
        self.name = name


def _class_path(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def backend_name(backend: keyring.backend.KeyringBackend) -> str:
    return OS_KEYRINGS.get(_class_path(backend), _class_path(backend))


def refusal(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why this keyring backend must not hold a secret, or None when it is an OS keyring."""
    path = _class_path(backend)
    if path in OS_KEYRINGS:
        return None
    if path == "keyring.backends.chainer.ChainerBackend":
        chained = list(getattr(backend, "backends", []))
        bad = [r for r in (refusal(b) for b in chained) if r]
        return bad[0] if bad else (None if chained else refusal(keyring.backends.fail.Keyring()))
    if path == "keyring.backends.fail.Keyring":
        return ("No OS keyring is available: no Secret Service (gnome-keyring, KWallet) answers on the D-Bus "
                "session bus" + ("" if os.environ.get("DBUS_SESSION_BUS_ADDRESS")
                                 else ", and there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)")
                + ". Start one (for example `gnome-keyring-daemon --start --components=secrets` inside a "
                "D-Bus session, or log in to a desktop), or " + FALLBACK)
    return (f"The keyring backend here ({path}) is not an OS keyring (it keeps secrets in a plain file or "
            "nowhere), so KVS Studio will not use it. Select an OS keyring (check PYTHON_KEYRING_BACKEND and "
            "keyringrc.cfg), or " + FALLBACK)


def locked_message(backend: keyring.backend.KeyringBackend, exc: Exception) -> str:
    return (f"The {backend_name(backend)} keyring could not be opened ({type(exc).__name__}: {exc}). It is "
            "probably locked and its unlock prompt could not be shown (no desktop session). Unlock it — log in "
            "to the desktop, or run `gnome-keyring-daemon --unlock` on a headless machine — or " + FALLBACK)


class KeyringStore:
    def __init__(self, backend: keyring.backend.KeyringBackend | None = None, service: str | None = None) -> None:
        self._backend = backend
        self.service = service or os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE
        self.index_service = self.service + "-index"

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        """The OS keyring, or KeyringUnavailable. Detection itself talks to D-Bus: call off the GUI thread."""
        backend = self._backend or keyring.get_keyring()
        reason = refusal(backend)
        if reason:
            raise KeyringUnavailable(reason)
        return backend

    @property
    def backend_name(self) -> str:
        return backend_name(self.backend)

    # -- entries ---------------------------------------------------------------------------------

    def list(self) -> list[Summary]:
        return [Summary(name, str(v.get("key_id", "…")), v.get("region") or None)
                for name, v in sorted(self._index().items(), key=lambda kv: kv[0].casefold())]

    def get(self, name: str) -> Entry:
        text = self._call(lambda b: b.get_password(self.service, name))
        if text is None:
            raise UnknownEntry(name)
        try:
            return Entry.from_json(text)
        except InvalidEntry as exc:
            raise CredentialsError(f"The keyring item {name!r} cannot be read: {exc}") from None

    def add(self, name: str, entry: Entry, *, replace: bool = False) -> Summary:
        name = check_name(name)
        if not replace and self.exists(name):
            raise EntryExists(name)
        self._call(lambda b: b.set_password(self.service, name, entry.to_json()))
        summary = Summary(name, entry.masked_key_id, entry.region)
        self._update_index(lambda index: index.__setitem__(name, self._index_value(summary)))
        return summary

    def rename(self, old: str, new: str) -> Summary:
        new = check_name(new)
        entry = self.get(old)
        if new == old:
            return Summary(new, entry.masked_key_id, entry.region)
        if self.exists(new):
            raise EntryExists(new)
        summary = self.add(new, entry)
        self.remove(old)
        return summary

    def remove(self, name: str) -> None:
        def delete(b: keyring.backend.KeyringBackend) -> bool:
            try:
                b.delete_password(self.service, name)
                return True
            except keyring.errors.PasswordDeleteError:
                return False

        deleted = self._call(delete)
        listed = name in self._index()
        if listed:
            self._update_index(lambda index: index.pop(name, None))
        if not deleted and not listed:
            raise UnknownEntry(name)

    def exists(self, name: str) -> bool:
        return self._call(lambda b: b.get_password(self.service, name)) is not None

    # -- the index item (names, masked key ids, regions) -------------------------------------------

    @staticmethod
    def _index_value(summary: Summary) -> dict[str, str]:
        return {"key_id": summary.masked_key_id, **({"region": summary.region} if summary.region else {})}

    def _index(self) -> dict[str, dict[str, str]]:
        text = self._call(lambda b: b.get_password(self.index_service, INDEX_USER))
        try:
            entries = json.loads(text)["entries"] if text else {}
            return {str(k): dict(v) for k, v in entries.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}  # a damaged index lists nothing; the entries themselves are untouched

    def _update_index(self, change: Callable[[dict[str, dict[str, str]]], object]) -> None:
        index = self._index()
        change(index)
        text = json.dumps({"format": 1, "entries": index}, separators=(",", ":"))
        self._call(lambda b: b.set_password(self.index_service, INDEX_USER, text))

    def _call(self, op: Callable[[keyring.backend.KeyringBackend], T]) -> T:
        backend = self.backend
        try:
            return op(backend)
        except (keyring.errors.InitError, keyring.errors.KeyringLocked) as exc:
            raise KeyringUnavailable(locked_message(backend, exc)) from None
        except keyring.errors.NoKeyringError:
            raise KeyringUnavailable(refusal(keyring.backends.fail.Keyring()) or "No keyring.") from None
        except CredentialsError:
            raise
        except Exception as exc:  # D-Bus and backend errors of every kind: say so, never crash or fall back
            raise KeyringUnavailable(f"The {backend_name(backend)} keyring failed ({type(exc).__name__}: {exc}). "
                                     "Try again, or " + FALLBACK) from None
