"""KeyringStore against the real Secret Service (gnome-keyring under scripts/test.sh's D-Bus session)."""

from __future__ import annotations

import json
import shutil
import subprocess

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import pytest

from app.credentials.entry import Entry, InvalidEntry, mask_key_id
from app.credentials.store import EntryExists, KeyringStore, KeyringUnavailable, UnknownEntry, refusal

KEY_ID = "AKIAKVSSTUDIOTEST7QX2"
SECRET = "kvs/Studio+Fake0Secret1Key2For3Tests4567"  # fake, shaped like an AWS secret key
TOKEN = "FakeSessionToken/" + "k" * 80 + "+Q=="


def test_add_list_get_rename_remove_round_trip(store: KeyringStore) -> None:
    assert store.list() == []
    summary = store.add("work", Entry.create(KEY_ID, SECRET, TOKEN, "eu-west-1"))
    assert summary.label == "work (AKIA…7QX2)"
    store.add("home", Entry.create("AKIAHOMEHOMEHOME0001", SECRET))
    assert [(s.name, s.masked_key_id, s.region) for s in store.list()] == [
        ("home", "AKIA…0001", None), ("work", "AKIA…7QX2", "eu-west-1")]
    entry = store.get("work")
    assert (entry.access_key_id, entry.secret_access_key, entry.session_token, entry.region) == \
        (KEY_ID, SECRET, TOKEN, "eu-west-1")
    assert store.rename("work", "office").name == "office"
    assert [s.name for s in store.list()] == ["home", "office"]
    assert store.get("office").secret_access_key == SECRET
    with pytest.raises(UnknownEntry):
        store.get("work")
    store.remove("office")
    store.remove("home")
    assert store.list() == []
    with pytest.raises(UnknownEntry, match="No saved credentials named 'office'"):
        store.remove("office")


def test_a_name_is_not_silently_overwritten(store: KeyringStore) -> None:
    store.add("work", Entry.create(KEY_ID, SECRET))
    with pytest.raises(EntryExists):
        store.add("work", Entry.create("AKIAOTHEROTHEROTHER1", SECRET))
    store.add("home", Entry.create("AKIAOTHEROTHEROTHER1", SECRET))
    with pytest.raises(EntryExists):
        store.rename("home", "work")
    assert store.get("work").access_key_id == KEY_ID
    store.add("work", Entry.create("AKIAOTHEROTHEROTHER1", SECRET + "x"), replace=True)
    assert store.get("work").access_key_id == "AKIAOTHEROTHEROTHER1"
    assert [s.masked_key_id for s in store.list() if s.name == "work"] == ["AKIA…HER1"]


def test_one_keyring_item_per_entry_that_other_tools_read(store: KeyringStore, keyring_service: str) -> None:
    store.add("work", Entry.create(KEY_ID, SECRET, TOKEN, "us-west-2"))
    if shutil.which("secret-tool") is None:
        pytest.fail("secret-tool (libsecret-tools) is installed by scripts/setup.sh")
    found = subprocess.run(["secret-tool", "lookup", "service", keyring_service, "username", "work"],
                           capture_output=True, text=True, timeout=30)
    assert json.loads(found.stdout) == {"format": 1, "aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET,
                                        "aws_session_token": TOKEN, "region": "us-west-2"}
    # The list lives in one more item, with nothing secret in it.
    index = keyring.get_password(store.index_service, "entries") or ""
    assert json.loads(index)["entries"] == {"work": {"key_id": "AKIA…7QX2", "region": "us-west-2"}}
    assert SECRET not in index
    assert TOKEN not in index
    assert KEY_ID not in index


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(InvalidEntry, match="access key ID"):
        Entry.create("short", SECRET)
    with pytest.raises(InvalidEntry, match="secret"):
        Entry.create(KEY_ID, "has space")
    with pytest.raises(InvalidEntry, match="region"):
        Entry.create(KEY_ID, SECRET, None, "Mars")
    entry = Entry.create(f"  {KEY_ID}\n", f"{SECRET}\r\n", "  ", " us-west-2 ")
    assert (entry.access_key_id, entry.secret_access_key, entry.session_token, entry.region) == \
        (KEY_ID, SECRET, None, "us-west-2")
    assert SECRET not in repr(entry)
    assert SECRET not in str(entry)
    assert KEY_ID not in repr(entry)
    assert mask_key_id(KEY_ID) == "AKIA…7QX2"


def test_only_os_keyrings_are_accepted() -> None:
    assert refusal(keyring.backends.fail.Keyring()) is not None
    assert "not an OS keyring" in (refusal(keyring.backends.null.Keyring()) or "")
    assert refusal(keyring.get_keyring()) is None  # the Secret Service

    class PlainFile(keyring.backends.null.Keyring):  # like keyrings.alt.file.PlaintextKeyring
        pass

    with pytest.raises(KeyringUnavailable, match="not an OS keyring"):
        KeyringStore(backend=PlainFile()).add("x", Entry.create(KEY_ID, SECRET))
    with pytest.raises(KeyringUnavailable, match="No OS keyring is available"):
        KeyringStore(backend=keyring.backends.fail.Keyring()).list()
