"""`kvs-studio credentials` as a user runs it (subprocesses), against the real Secret Service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.credentials.store import KeyringStore
from app.localkvs.server import EndpointThread
from tests.conftest import REGION, TEST_KEYS
from tests.credentials.helpers import REPO, kvs, kvs_on_tty, user_env

KEY_ID = "AKIAKVSSTUDIOCLI7QX2"
SECRET = "cli/Fake+Secret0For1Tests2Only3Abcdefghi"
TOKEN = "FakeCliSessionToken/" + "Zz9" * 40


def test_add_list_rename_remove_round_trip(store: KeyringStore) -> None:
    added = kvs("credentials", "add", "work", "--region", "eu-west-1", stdin=f"{KEY_ID}\n{SECRET}\n{TOKEN}\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Saved 'work' (AKIA…7QX2, region eu-west-1) in the Secret Service keyring."
    entry = store.get("work")  # what the window reads: the same keyring item
    assert (entry.access_key_id, entry.secret_access_key, entry.session_token) == (KEY_ID, SECRET, TOKEN)

    assert kvs("credentials", "add", "home", stdin=f"AKIAKVSSTUDIOHOME0001\n{SECRET}\n").returncode == 0
    listed = kvs("credentials", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["home  AKIA…0001", "work  AKIA…7QX2  eu-west-1"]

    renamed = kvs("credentials", "rename", "work", "office")
    assert renamed.returncode == 0, renamed.stderr
    assert kvs("credentials", "list").stdout.splitlines() == ["home    AKIA…0001", "office  AKIA…7QX2  eu-west-1"]
    for name in ("office", "home"):
        removed = kvs("credentials", "remove", name)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == f"Removed {name!r} from the keyring."
    empty = kvs("credentials", "list")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "No saved credentials" in empty.stderr
    for proc in (added, listed, renamed, empty):
        assert SECRET not in proc.stdout + proc.stderr
        assert TOKEN not in proc.stdout + proc.stderr


def test_unknown_names_and_bad_input_exit_non_zero_with_a_message(store: KeyringStore) -> None:
    for args in (("remove", "nope"), ("rename", "nope", "other")):
        proc = kvs("credentials", *args)
        assert proc.returncode == 1
        assert "No saved credentials named 'nope'" in proc.stderr
    missing_secret = kvs("credentials", "add", "work", stdin=f"{KEY_ID}\n")
    assert missing_secret.returncode == 1
    assert "expected the access key ID and then the secret" in missing_secret.stderr
    bad_id = kvs("credentials", "add", "work", stdin=f"not a key\n{SECRET}\n")
    assert bad_id.returncode == 1
    assert "access key ID is 16-128" in bad_id.stderr
    bad_name = kvs("credentials", "add", "bad/name", stdin=f"{KEY_ID}\n{SECRET}\n")
    assert bad_name.returncode == 1
    assert "A name is 1-64 letters" in bad_name.stderr
    assert store.list() == []
    assert kvs("credentials", "add", "work", stdin=f"{KEY_ID}\n{SECRET}\n").returncode == 0
    again = kvs("credentials", "add", "work", stdin=f"AKIAKVSSTUDIOOTHER001\n{SECRET}\n")
    assert again.returncode == 1
    assert "already saved; use --replace" in again.stderr
    assert store.get("work").access_key_id == KEY_ID
    replaced = kvs("credentials", "add", "work", "--replace", stdin=f"AKIAKVSSTUDIOOTHER001\n{SECRET}\n")
    assert replaced.returncode == 0
    assert store.get("work").access_key_id == "AKIAKVSSTUDIOOTHER001"


def test_on_a_terminal_it_prompts_without_echo(store: KeyringStore) -> None:
    code, shown = kvs_on_tty(["credentials", "add", "tty"],
                             [(b"Access key ID:", KEY_ID), (b"Secret access key:", SECRET),
                              (b"Session token", TOKEN)], user_env())
    assert code == 0, shown
    assert "Access key ID:" in shown
    assert "Secret access key:" in shown
    assert "Saved 'tty' (AKIA…7QX2)" in shown
    assert SECRET not in shown  # typed, never echoed
    assert TOKEN not in shown
    assert KEY_ID not in shown
    assert store.get("tty").session_token == TOKEN


def test_check_asks_the_service_before_saving(store: KeyringStore, endpoint: EndpointThread) -> None:
    wrong = kvs("credentials", "add", "work", "--check", "--region", REGION, "--endpoint-url", endpoint.url,
                stdin=f"{TEST_KEYS.access_key}\nwrong/Secret+Key000000000000000000000000\n")
    assert wrong.returncode == 1
    assert "refused these credentials in us-west-2" in wrong.stderr
    assert store.list() == []
    good = kvs("credentials", "add", "work", "--check", "--region", REGION, "--endpoint-url", endpoint.url,
               stdin=f"{TEST_KEYS.access_key}\n{TEST_KEYS.secret_key}\n")
    assert good.returncode == 0, good.stderr
    assert "accepted these credentials in us-west-2" in good.stderr
    assert [s.name for s in store.list()] == ["work"]


# -- no usable keyring: say so, name what is missing, exit non-zero, never a plain file ----------------------

def assert_refused(proc_out: str, *expected: str) -> None:
    for text in expected:
        assert text in proc_out
    assert "never keeps a secret in a plain file" in proc_out


def test_no_dbus_session_is_refused(tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # a headless box: no D-Bus session, no Secret Service
    for args, stdin in ((("credentials", "add", "work"), f"{KEY_ID}\n{SECRET}\n"), (("credentials", "list"), ""),
                        (("stream", "--stream", "s", "--credentials", "work", "--region", REGION,
                          "--endpoint-url", "http://127.0.0.1:9", "--duration", "1"), "")):
        proc = kvs(*args, stdin=stdin, env=env)
        assert proc.returncode != 0, args
        assert_refused(proc.stderr, "No OS keyring is available", "no D-Bus session",
                       "gnome-keyring-daemon", "AWS profile")
        assert SECRET not in proc.stdout + proc.stderr
    assert kvs("credentials", "list", env=env).returncode == 3
    assert not [p for p in (tmp_path / "home").rglob("*") if p.is_file()]  # nothing written anywhere


def test_a_locked_keyring_whose_prompt_cannot_be_shown_is_refused(tmp_path: Path) -> None:
    """A D-Bus session with gnome-keyring started but never unlocked, and no display for its prompt."""
    home = tmp_path / "home"
    env = user_env(home)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    script = (f"gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1; "
              f"printf '%s\\n' {KEY_ID} '{SECRET}' | {sys.executable} -m app credentials add work")
    proc = subprocess.run(["dbus-run-session", "--", "sh", "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert_refused(proc.stderr, "keyring could not be opened", "locked", "gnome-keyring-daemon --unlock")
    assert SECRET not in proc.stdout + proc.stderr
    written = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert SECRET.encode() not in written


@pytest.mark.parametrize("backend", ["tests.credentials.plainfile.PlainFileKeyring", "keyring.backends.null.Keyring"])
def test_plain_file_and_null_backends_are_refused(backend: str, tmp_path: Path) -> None:
    plain = tmp_path / "passwords.txt"
    env = user_env(tmp_path / "home", PYTHON_KEYRING_BACKEND=backend, KVS_TEST_PLAINFILE=str(plain),
                   PYTHONPATH=str(REPO))
    proc = kvs("credentials", "add", "work", stdin=f"{KEY_ID}\n{SECRET}\n", env=env)
    assert proc.returncode == 3
    assert_refused(proc.stderr, f"The keyring backend here ({backend})", "not an OS keyring",
                   "PYTHON_KEYRING_BACKEND")
    assert not plain.exists()
    assert SECRET not in proc.stdout + proc.stderr
    # keyring itself would have used that backend: the refusal is ours.
    direct = subprocess.run([sys.executable, "-c", "import keyring; keyring.set_password('s', 'u', 'pw')"],
                            env=env, cwd=REPO, timeout=60, capture_output=True, text=True)
    assert direct.returncode == 0, direct.stderr
    assert plain.exists() == (backend.endswith("PlainFileKeyring"))
