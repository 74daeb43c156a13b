"""DestinationPicker: region, credentials and stream dropdowns, with ListStreams and CreateStream
run off the UI thread and a busy indicator while they run.

The credentials dropdown lists, in order: the entries saved in the OS keyring (read on a worker thread),
the AWS profiles, "Environment" when AWS_ACCESS_KEY_ID is set, and "Add credentials…". Each item's data
says what it is ("keyring:NAME", "profile:NAME", "env"), and only that name is ever remembered."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import botocore.session
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.credentials.entry import Summary
from app.credentials.store import KeyringStore
from app.kvs.control import KvsControl
from app.localkvs.embedded import EmbeddedEndpoint
from app.ui.credentials_dialog import CredentialsDialog
from app.ui.tasks import Task

log = logging.getLogger(__name__)
LOCAL = "local"
DEFAULT_CHAIN = ""
ENVIRONMENT = "env"
ADD_CREDENTIALS = "add"
KEYRING_MISSING = "keyring-unavailable"
KEYRING, PROFILE = "keyring:", "profile:"


@dataclass(frozen=True)
class Destination:
    region: str
    endpoint_url: str | None
    profile: str | None
    access_key: str | None = None
    secret_key: str | None = None
    local: bool = False
    keyring_entry: str | None = None

    def __repr__(self) -> str:
        return f"Destination(region={self.region!r}, local={self.local})"

    def control(self) -> KvsControl:
        return KvsControl(region=self.region, profile=self.profile, endpoint_url=self.endpoint_url,
                          access_key=self.access_key, secret_key=self.secret_key, keyring_entry=self.keyring_entry)


def kvs_regions() -> list[str]:
    try:
        return sorted(botocore.session.get_session().get_available_regions("kinesisvideo"))
    except Exception:
        return ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


class NewStreamDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New stream")
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. front-door")
        self.retention = QSpinBox()
        self.retention.setRange(0, 87600)
        self.retention.setValue(24)
        self.retention.setSuffix(" h")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name:", self.name)
        form.addRow("Retention:", self.retention)
        form.addRow(buttons)


class DestinationPicker(QWidget):
    error = Signal(str)
    streams_loaded = Signal(list)
    info = Signal(str)
    credentials_loaded = Signal(list)  # the keyring entries (Summary), after each reading of the keyring

    def __init__(self, embedded: EmbeddedEndpoint, store: KeyringStore | None = None) -> None:
        super().__init__()
        self.embedded = embedded
        self.store = store or KeyringStore()
        self.entries: list[Summary] = []
        self.keyring_error: str | None = None
        self.dialog: QDialog | None = None  # the open credentials dialog or prompt (tests reach it here)
        self._wanted_credentials: str | None = None
        self._last_credentials = DEFAULT_CHAIN
        self._last_aws_credentials = DEFAULT_CHAIN
        self._user_chose = False  # until someone picks, the first item (a saved entry, if any) is the choice
        self.region = QComboBox()
        self.region.addItem("Local endpoint (offline)", LOCAL)
        for r in kvs_regions():
            self.region.addItem(r, r)
        self.credentials = QComboBox()
        # Long labels ("work (AKIA…7QX2)", profile names) must not push the form's labels out of the side panel.
        self.credentials.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.credentials.setMinimumContentsLength(12)
        self.manage = QToolButton()
        self.manage.setText("⋯")
        self.manage.setToolTip("Rename, replace or remove the selected saved credentials")
        self.manage.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.manage)
        self.rename_action = menu.addAction("Rename…", self.rename_selected)
        self.replace_action = menu.addAction("Replace…", self.replace_selected)
        self.remove_action = menu.addAction("Remove…", self.remove_selected)
        self.manage.setMenu(menu)
        self.stream = QComboBox()
        self.stream.setEditable(True)
        self.stream.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = QCompleter(self.stream.model(), self.stream)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.stream.setCompleter(completer)
        self.stream.lineEdit().setPlaceholderText("stream name")
        self.refresh = QToolButton()
        self.refresh.setText("⟳")
        self.refresh.setToolTip("Refresh the stream list")
        self.new_stream = QPushButton("New stream…")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.stream, 1)
        row.addWidget(self.refresh)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Region:", self.region)
        creds_row = QHBoxLayout()
        creds_row.setContentsMargins(0, 0, 0, 0)
        creds_row.addWidget(self.credentials, 1)
        creds_row.addWidget(self.manage)
        form.addRow("Credentials:", creds_row)
        form.addRow("Stream:", row)
        form.addRow("", self.new_stream)
        form.addRow(self.busy)
        self._tasks: set[Task] = set()
        self.region.currentIndexChanged.connect(self._region_changed)
        self.credentials.currentIndexChanged.connect(self._credentials_changed)
        self.credentials.activated.connect(self._credentials_activated)
        self.refresh.clicked.connect(self.load_streams)
        self.new_stream.clicked.connect(self._new_stream)
        self._fill_credentials()
        self.reload_keyring()

    # -- state -------------------------------------------------------------------------------------

    def is_local(self) -> bool:
        return self.region.currentData() == LOCAL

    def destination(self) -> Destination:
        if self.is_local():
            self.embedded.start()
            return Destination(region="us-west-2", endpoint_url=self.embedded.url, profile=None,
                               access_key=self.embedded.keys.access_key, secret_key=self.embedded.keys.secret_key,
                               local=True)
        choice = self.credentials_choice()
        return Destination(region=str(self.region.currentData()), endpoint_url=None,
                           profile=choice.removeprefix(PROFILE) if choice.startswith(PROFILE) else None,
                           keyring_entry=choice.removeprefix(KEYRING) if choice.startswith(KEYRING) else None)

    def credentials_choice(self) -> str:
        """What the credentials dropdown names: "keyring:NAME", "profile:NAME", "env" or "" (default chain)."""
        data = str(self.credentials.currentData() or "")
        return data if data not in (ADD_CREDENTIALS, KEYRING_MISSING) else DEFAULT_CHAIN

    def credentials_to_remember(self) -> str:
        """The last credentials chosen for AWS (a name, never a secret), also while the local endpoint is on."""
        if self._wanted_credentials:
            return self._wanted_credentials
        return self._last_aws_credentials if self.is_local() else self.credentials_choice()

    def selected_entry(self) -> Summary | None:
        name = self.credentials_choice().removeprefix(KEYRING) if self.credentials_choice().startswith(KEYRING) \
            else None
        return next((e for e in self.entries if e.name == name), None)

    def stream_name(self) -> str:
        return self.stream.currentText().strip()

    def select(self, region: str | None, credentials: str | None, stream: str | None) -> None:
        """Select a region, credentials ("keyring:NAME", "profile:NAME", "env"; a keyring entry is selected
        when the keyring has been read) and a stream."""
        if region:
            i = self.region.findData(region)
            if i >= 0:
                self.region.setCurrentIndex(i)
        if credentials:
            i = self.credentials.findData(credentials)
            if i >= 0:
                self.credentials.setCurrentIndex(i)
            self._wanted_credentials = credentials
        if stream:
            self.stream.setEditText(stream)

    # -- actions -----------------------------------------------------------------------------------

    def load_streams(self) -> None:
        try:
            dest = self.destination()
        except Exception as exc:
            self.error.emit(f"Cannot start the local endpoint: {exc}")
            return
        wanted = self.stream_name()
        task = self._run(lambda: [s["StreamName"] for s in dest.control().list_streams()])
        task.done.connect(lambda names: self._streams_done(names, wanted))

    def _streams_done(self, names: list[str], wanted: str) -> None:
        self.stream.blockSignals(True)
        self.stream.clear()
        self.stream.addItems(names)
        self.stream.setEditText(wanted if wanted else (names[0] if names else ""))
        self.stream.blockSignals(False)
        self.streams_loaded.emit(names)

    def _new_stream(self) -> None:
        dialog = NewStreamDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.name.text().strip():
            return
        name, hours = dialog.name.text().strip(), dialog.retention.value()
        dest = self.destination()

        def create() -> None:
            control = dest.control()
            control.create(name, hours)
            control.wait_active(name)  # CREATING for a few seconds: the service takes no data until ACTIVE

        self.info.emit(f"Creating stream {name}…")
        task = self._run(create)
        task.done.connect(lambda _r: (self.info.emit(f"Created stream {name}; it is ACTIVE."),
                                      self.stream.setEditText(name), self.load_streams()))

    def _run(self, fn, report: bool = True, on_done: Callable[[object], object] | None = None,  # type: ignore[no-untyped-def]
             on_failed: Callable[[str], object] | None = None) -> Task:
        """Run ``fn`` on a worker thread; ``on_done``/``on_failed`` are connected before it starts (a fast
        call could otherwise finish before a slot is connected, and its signal would reach nobody)."""
        task = Task(fn, self)
        if on_done is not None:
            task.done.connect(on_done)
        if on_failed is not None:
            task.failed.connect(on_failed)
        self._tasks.add(task)
        self.busy.show()

        def finished(*_a: object) -> None:
            self._tasks.discard(task)
            self.busy.setVisible(bool(self._tasks))

        task.done.connect(finished)
        task.failed.connect(finished)
        if report:
            task.failed.connect(self.error.emit)
        return task.start()

    def _region_changed(self) -> None:
        self._fill_credentials()
        self.new_stream.setEnabled(True)
        self.load_streams()

    # -- credentials ------------------------------------------------------------------------------

    def reload_keyring(self) -> None:
        """Read the saved entries on a worker thread (the keyring may block), then refill the dropdown."""
        self._run(self.store.list, report=False, on_done=self._keyring_read, on_failed=self._keyring_failed)

    def _keyring_read(self, entries: list[Summary]) -> None:
        self.entries, self.keyring_error = list(entries), None
        self._refill_after_keyring()

    def _keyring_failed(self, message: str) -> None:
        if message != self.keyring_error:
            log.warning("Saved credentials are not available: %s", message)
        self.entries, self.keyring_error = [], message
        self._refill_after_keyring()

    def _refill_after_keyring(self) -> None:
        before = self.credentials_choice()
        self._fill_credentials()
        if self.credentials_choice() != before and not self.is_local():
            self.load_streams()
        self.credentials_loaded.emit(self.entries)

    def _fill_credentials(self) -> None:
        keep = self._wanted_credentials or (self._last_aws_credentials if self._user_chose else None)
        combo = self.credentials
        combo.blockSignals(True)
        combo.clear()
        if self.is_local():
            combo.addItem("Local endpoint keys (this session)", DEFAULT_CHAIN)
        else:
            if self.keyring_error:
                combo.addItem("Keyring unavailable (see the log)", KEYRING_MISSING)
                combo.setItemData(0, self.keyring_error, Qt.ItemDataRole.ToolTipRole)
                combo.model().item(0).setEnabled(False)  # type: ignore[attr-defined]
            for e in self.entries:
                combo.addItem(e.label, KEYRING + e.name)
            try:
                profiles = botocore.session.get_session().available_profiles
            except Exception:
                profiles = []
            for p in sorted(profiles):
                combo.addItem(f"Profile: {p}", PROFILE + p)
            if os.environ.get("AWS_ACCESS_KEY_ID"):
                combo.addItem("Environment", ENVIRONMENT)
            if combo.count() == int(bool(self.keyring_error)):
                combo.addItem("No credentials yet (default AWS chain)", DEFAULT_CHAIN)
            combo.insertSeparator(combo.count())
            combo.addItem("Add credentials…", ADD_CREDENTIALS)
        i = combo.findData(keep) if keep is not None else -1  # findData(None) would find the separator
        if i < 0 or keep in (ADD_CREDENTIALS, KEYRING_MISSING):
            i = next(j for j in range(combo.count()) if combo.itemData(j) not in (KEYRING_MISSING, None))
        combo.setCurrentIndex(i)
        if self._wanted_credentials and combo.currentData() == self._wanted_credentials:
            self._wanted_credentials = None
        combo.blockSignals(False)
        self._remember_choice()
        self._update_manage()

    def _remember_choice(self) -> None:
        self._last_credentials = self.credentials_choice()
        if not self.is_local():
            self._last_aws_credentials = self._last_credentials

    def _update_manage(self) -> None:
        self.manage.setEnabled(self.selected_entry() is not None)

    def _credentials_changed(self, _index: int) -> None:
        if self.credentials.currentData() == ADD_CREDENTIALS:
            return  # handled on activation; the choice goes back to what it was
        self._wanted_credentials = None
        self._user_chose = not self.is_local()
        self._remember_choice()
        self._update_manage()
        entry = self.selected_entry()
        if entry and entry.region and not self.is_local() and self.region.currentData() != entry.region:
            i = self.region.findData(entry.region)
            if i >= 0:
                self.region.setCurrentIndex(i)  # the entry's default region; that change lists the streams
                return
        self.load_streams()

    def _credentials_activated(self, _index: int) -> None:
        if self.credentials.currentData() == ADD_CREDENTIALS:
            self._restore_choice(self._last_credentials)
            self.add_credentials()

    def _restore_choice(self, choice: str) -> None:
        self.credentials.blockSignals(True)
        i = self.credentials.findData(choice)
        self.credentials.setCurrentIndex(max(i, 0))
        self.credentials.blockSignals(False)
        self._update_manage()

    def _check_region(self) -> str:
        return "us-east-1" if self.is_local() else str(self.region.currentData())

    def _open(self, dialog: QDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()  # window-modal, without a nested event loop

    def add_credentials(self) -> None:
        if self.keyring_error:
            self.error.emit(self.keyring_error)
            return
        dialog = CredentialsDialog(self.store, kvs_regions(), self._check_region(), self)
        dialog.saved.connect(self._saved)
        self._open(dialog)

    def replace_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        dialog = CredentialsDialog(self.store, kvs_regions(), self._check_region(), self, replace=entry)
        dialog.saved.connect(self._saved)
        self._open(dialog)

    def _saved(self, summary: Summary) -> None:
        self.info.emit(f"Saved credentials {summary.name!r} ({summary.masked_key_id}) in the keyring.")
        self._wanted_credentials = KEYRING + summary.name
        self.reload_keyring()

    def rename_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        prompt = QInputDialog(self)
        prompt.setWindowTitle("Rename credentials")
        prompt.setLabelText(f"New name for “{entry.name}”:")
        prompt.setTextValue(entry.name)
        prompt.textValueSelected.connect(lambda new: self._keyring_change(
            lambda: self.store.rename(entry.name, new.strip()),
            lambda s: (self.info.emit(f"Renamed credentials {entry.name!r} to {s.name!r}."),
                       setattr(self, "_wanted_credentials", KEYRING + s.name))))
        self._open(prompt)

    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Remove credentials",
                          f"Remove “{entry.label}” from the OS keyring? Streams that use it will need other "
                          "credentials.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda button: self._keyring_change(
            lambda: self.store.remove(entry.name),
            lambda _r: self.info.emit(f"Removed credentials {entry.name!r} from the keyring."))
            if box.standardButton(button) == QMessageBox.StandardButton.Yes else None)
        self._open(box)

    def _keyring_change(self, fn: Callable[[], object], then: Callable[[object], object]) -> None:
        def done(result: object) -> None:
            then(result)
            self.reload_keyring()

        self._run(fn, on_done=done)  # failures (unknown name, taken name, no keyring) reach the banner
