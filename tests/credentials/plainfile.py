"""A keyring backend that keeps passwords in a plain file, like keyrings.alt's PlaintextKeyring: KVS Studio
must refuse it. Selected in a subprocess with PYTHON_KEYRING_BACKEND; the file is KVS_TEST_PLAINFILE."""

from __future__ import annotations

import os

from keyring.backend import KeyringBackend


class PlainFileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> str:
        return os.environ["KVS_TEST_PLAINFILE"]

    def get_password(self, service: str, username: str) -> str | None:
        if not os.path.exists(self._path()):
            return None
        for line in open(self._path(), encoding="utf-8"):
            s, u, p = line.rstrip("\n").split("\t", 2)
            if (s, u) == (service, username):
                return p
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        with open(self._path(), "a", encoding="utf-8") as fh:
            fh.write(f"{service}\t{username}\t{password}\n")

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError
