"""Saved credentials in the window (pytest-qt, offscreen): the dropdown, the dialog, rename/replace/remove,
streaming with an entry, and the window when there is no keyring. Real keyring, real engine, real sockets.

The one fake is AWS itself, which this machine cannot reach: AWS_ENDPOINT_URL_KINESIS_VIDEO (botocore's
own setting) points the AWS regions at a local endpoint that accepts exactly one key pair and token.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore.session
import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from app.credentials.entry import Entry
from app.credentials.store import KeyringStore
from app.localkvs.auth import KeyPair
from app.localkvs.server import EndpointConfig, EndpointThread, LocalEndpoint
from app.ui.credentials_chooser import ADD_CREDENTIALS
from app.ui.credentials_dialog import CredentialsDialog
from app.ui.destination import DestinationPicker
from app.ui.main_window import MainWindow
from tests.conftest import REGION
from tests.credentials.helpers import kvs
from tests.ui.windows import make_window

B64 = string.ascii_letters + string.digits + "/+"
KEYS = KeyPair("ASIAKVSSTUDIOWIN0001", "Wn" + "".join(secrets.choice(B64) for _ in range(38)),
               "-".join("".join(secrets.choice(B64) for _ in range(24)) for _ in range(6)))


def shot(widget, name: str, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = Path(os.environ.get("KVS_SCREENSHOT_DIR", tmp_path)) / name
    assert widget.grab().save(str(path))
    assert path.stat().st_size > 5_000
    return path


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyring_service: str) -> Iterator[EndpointThread]:
    """"AWS" for the window: a local endpoint behind the AWS regions; one profile; keys in the environment."""
    ep = EndpointThread(LocalEndpoint(EndpointConfig(data_dir=tmp_path / "aws", keys=KEYS, region=REGION))).start()
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    config = tmp_path / "aws-config"
    config.write_text("[profile dev]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00001")  # "Environment" is offered
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret-not-accepted-anywhere")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", ep.url)
    yield ep
    ep.stop()


def open_window(qtbot, tmp_path: Path, settings: str = "settings.ini") -> MainWindow:  # type: ignore[no-untyped-def]
    return make_window(qtbot, tmp_path, settings)


def to_aws_region(qtbot, picker: DestinationPicker) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(picker.credentials_loaded, timeout=10000):  # the keyring is read again
        picker.region.setCurrentIndex(picker.region.findData(REGION))
    qtbot.waitUntil(picker.busy.isHidden, timeout=20000)  # and every other call it started has ended


def items(picker: DestinationPicker) -> list[str]:
    return [picker.credentials.itemText(i) for i in range(picker.credentials.count())]


def choose_add(picker: DestinationPicker) -> CredentialsDialog:
    i = picker.credentials.findData(ADD_CREDENTIALS)
    picker.credentials.setCurrentIndex(i)
    picker.credentials.activated.emit(i)  # what a click on the item does
    assert isinstance(picker.chooser.dialog, CredentialsDialog)
    return picker.chooser.dialog


def fill(qtbot, dialog: CredentialsDialog, name: str, keys: KeyPair, region: str = REGION) -> None:  # type: ignore[no-untyped-def]
    for field, text in ((dialog.name, name), (dialog.key_id, keys.access_key), (dialog.secret, keys.secret_key),
                        (dialog.token, keys.session_token or "")):
        if field.isReadOnly():
            assert field.text() == text
            continue
        field.clear()
        qtbot.keyClicks(field, text)
    dialog.region.setCurrentIndex(dialog.region.findData(region))


def test_add_in_the_dialog_then_stream_with_it_then_remove(qtbot, aws: EndpointThread, store: KeyringStore,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    botocore.session.Session().create_client(
        "kinesisvideo", region_name=REGION, endpoint_url=aws.url, aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key, aws_session_token=KEYS.session_token,
    ).create_stream(StreamName="porch", DataRetentionInHours=1)
    win = open_window(qtbot, tmp_path)
    picker = win.picker
    to_aws_region(qtbot, picker)
    assert items(picker) == ["Profile: dev", "Environment", "", "Add credentials…"]

    dialog = choose_add(picker)
    assert picker.credentials.currentText() == "Profile: dev"  # "Add credentials…" does not stay selected
    fill(qtbot, dialog, "work", KEYS)
    assert dialog.secret.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.token.echoMode() == QLineEdit.EchoMode.Password
    dialog.show_secret.click()
    assert dialog.secret.echoMode() == QLineEdit.EchoMode.Normal
    dialog.show_secret.click()
    shot(dialog, "credentials-dialog.png", tmp_path)
    with qtbot.waitSignal(picker.credentials_loaded, timeout=20000,
                          check_params_cb=lambda entries: [e.name for e in entries] == ["work"]):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert dialog.secret.text() == ""
    # Entries first, masked; then profiles, the environment, and "Add credentials…".
    assert items(picker) == ["work (ASIA…0001)", "Profile: dev", "Environment", "", "Add credentials…"]
    assert picker.credentials.currentText() == "work (ASIA…0001)"
    entry = store.get("work")
    assert (entry.secret_access_key, entry.session_token, entry.region) == (KEYS.secret_key, KEYS.session_token,
                                                                             REGION)
    assert kvs("credentials", "list").stdout.splitlines() == ["work  ASIA…0001  us-west-2"]  # the CLI sees it

    # Stream with it, with debug logging on: the log panel and the saved log hold no secret.
    logging.getLogger().setLevel(logging.DEBUG)
    win.log_panel.level.setCurrentIndex(0)
    qtbot.waitUntil(lambda: picker.stream.findText("porch") >= 0, timeout=10000)
    picker.stream.setEditText("porch")
    with qtbot.waitSignal(win.controller.started, timeout=20000):
        win.start_button.click()
    qtbot.waitUntil(lambda: win.model.states().count("PERSISTED") >= 2, timeout=60000)
    shot(win, "window-keyring-credentials.png", tmp_path)
    with qtbot.waitSignal(win.controller.stopped, timeout=60000):
        win.start_button.click()
    assert set(win.model.states()) == {"PERSISTED"}
    log_file = tmp_path / "saved.log"
    win.log_panel.save(str(log_file))
    logging.getLogger().setLevel(logging.INFO)
    saved_log = log_file.read_text()
    assert "DEBUG" in saved_log
    assert "kvs-studio-keyring" in saved_log
    for secret in (KEYS.secret_key, KEYS.session_token or "-"):
        assert secret not in saved_log
        assert secret not in win.log_panel.view.toPlainText()

    # Remove, after a confirmation.
    picker.chooser.remove_action.trigger()
    box = picker.chooser.dialog
    assert isinstance(box, QMessageBox)
    assert "Remove “work (ASIA…0001)” from the OS keyring?" in box.text()
    with qtbot.waitSignal(picker.credentials_loaded, timeout=10000, check_params_cb=lambda e: e == []):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert store.list() == []
    assert items(picker) == ["Profile: dev", "Environment", "", "Add credentials…"]
    win.close()
    settings = (tmp_path / "settings.ini").read_text()
    assert "porch" in settings
    assert KEYS.access_key not in settings
    # Settings, the saved log, both endpoints' data: the secret and the token are nowhere.
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "settings.ini" for p in files)
    assert len(files) > 5
    for secret in (KEYS.secret_key, KEYS.session_token or "-"):
        assert [p.name for p in files if secret.encode() in p.read_bytes()] == []


def test_a_refused_pair_is_not_saved(qtbot, aws: EndpointThread, store: KeyringStore,  # type: ignore[no-untyped-def]
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    win = open_window(qtbot, tmp_path)
    to_aws_region(qtbot, win.picker)
    dialog = choose_add(win.picker)
    fill(qtbot, dialog, "work", KeyPair(KEYS.access_key, "wrong/Secret+Key0000000000000000000000000", None))
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.property("kind") == "error", timeout=20000)
    assert "The service refused these credentials in us-west-2" in dialog.status.text()
    shot(dialog, "credentials-dialog-refused.png", tmp_path)
    assert dialog.isVisible()
    assert dialog.save_anyway.isHidden()  # refused is refused: no way around it
    assert store.list() == []

    # The service cannot be asked (offline): say so, and offer to save without the check.
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", "http://127.0.0.1:9")
    fill(qtbot, dialog, "work", KEYS)
    dialog.set_status("")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.property("kind") == "error", timeout=30000)
    assert "Could not check the credentials in us-west-2" in dialog.status.text()
    assert dialog.save_anyway.isVisible()
    with qtbot.waitSignal(win.picker.credentials_loaded, timeout=10000, check_params_cb=lambda e: len(e) == 1):
        qtbot.mouseClick(dialog.save_anyway, Qt.MouseButton.LeftButton)
    assert store.get("work").access_key_id == KEYS.access_key
    win.close()


def test_rename_replace_and_the_last_entry_is_remembered(qtbot, aws: EndpointThread, store: KeyringStore,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    added = kvs("credentials", "add", "work", stdin=f"AKIAKVSSTUDIOOLD0001\n{KEYS.secret_key}x\n")
    assert added.returncode == 0, added.stderr  # added with the CLI, used in the window
    # Every keyring call the window makes is recorded with its thread: none may block the GUI thread.
    backend, calls = keyring.get_keyring(), []

    def recorder(op: str, real: Callable[..., object]) -> Callable[..., object]:
        def record(*args: object) -> object:
            calls.append((op, threading.current_thread() is threading.main_thread()))
            return real(*args)
        return record

    for op in ("get_password", "set_password", "delete_password"):
        monkeypatch.setattr(backend, op, recorder(op, getattr(backend, op)))
    win = open_window(qtbot, tmp_path)
    picker = win.picker
    to_aws_region(qtbot, picker)
    assert picker.credentials.currentText() == "work (AKIA…0001)"
    assert picker.chooser.manage.isEnabled()

    picker.chooser.rename_action.trigger()
    prompt = picker.chooser.dialog
    assert isinstance(prompt, QInputDialog)
    prompt.setTextValue("office")
    with qtbot.waitSignal(picker.credentials_loaded, timeout=10000,
                          check_params_cb=lambda e: [s.name for s in e] == ["office"]):
        prompt.accept()
    assert picker.credentials.currentText() == "office (AKIA…0001)"

    picker.chooser.replace_action.trigger()
    dialog = picker.chooser.dialog
    assert isinstance(dialog, CredentialsDialog)
    assert dialog.name.text() == "office"
    assert dialog.name.isReadOnly()
    fill(qtbot, dialog, "office", KEYS)
    with qtbot.waitSignal(picker.credentials_loaded, timeout=20000,
                          check_params_cb=lambda e: [s.label for s in e] == ["office (ASIA…0001)"]):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert kvs("credentials", "list").stdout.splitlines() == ["office  ASIA…0001  us-west-2"]  # replaced
    picker.region.setCurrentIndex(picker.region.findData("local"))  # the name is remembered across this too
    win.close()
    settings = (tmp_path / "settings.ini").read_text()
    assert "credentials=keyring:office" in settings
    assert KEYS.secret_key not in settings

    again = open_window(qtbot, tmp_path)
    to_aws_region(qtbot, again.picker)
    assert again.picker.chooser.choice() == "keyring:office"
    assert again.picker.destination().keyring_entry == "office"
    again.close()
    assert {op for op, _ in calls} == {"get_password", "set_password", "delete_password"}
    assert [op for op, on_gui_thread in calls if on_gui_thread] == []


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """What `keyring` picks when there is no Secret Service (see test_cli.py for the real no-D-Bus run)."""
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(before)


def test_no_keyring_is_shown_in_the_window(qtbot, aws: EndpointThread, no_keyring: None,  # type: ignore[no-untyped-def]
                                           tmp_path: Path) -> None:
    win = open_window(qtbot, tmp_path)
    picker = win.picker
    to_aws_region(qtbot, picker)
    assert items(picker)[0] == "Keyring unavailable (see the log)"
    assert not picker.credentials.model().item(0).isEnabled()  # type: ignore[attr-defined]
    assert "No OS keyring is available" in str(picker.credentials.itemData(0, Qt.ItemDataRole.ToolTipRole))
    assert picker.credentials.currentText() == "Profile: dev"  # still usable with a profile
    assert "Saved credentials are not available: No OS keyring" in win.log_panel.view.toPlainText()
    i = picker.credentials.findData(ADD_CREDENTIALS)
    picker.credentials.setCurrentIndex(i)
    picker.credentials.activated.emit(i)
    assert picker.chooser.dialog is None  # nowhere to save to: no dialog, a plain message instead
    assert win.banner.isVisible()
    assert "No OS keyring is available" in win.banner.text()
    assert "never keeps a secret in a plain file" in win.banner.text()
    shot(win, "window-no-keyring.png", tmp_path)
    win.close()


def test_a_saved_entry_streams_from_the_picker_destination(aws: EndpointThread, store: KeyringStore) -> None:
    """The destination the window builds carries only the entry's name; signing finds the keys itself."""
    store.add("cam", Entry.create(KEYS.access_key, KEYS.secret_key, KEYS.session_token, REGION))
    from app.ui.destination import Destination

    dest = Destination(region=REGION, endpoint_url=None, profile=None, keyring_entry="cam")
    assert KEYS.secret_key not in repr(dest)
    assert dest.control().list_streams() == []
