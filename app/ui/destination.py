"""DestinationPicker: region, credentials and stream dropdowns, with ListStreams and CreateStream
run off the UI thread and a busy indicator while they run. The credentials row (saved keyring entries,
profiles, the environment) is a CredentialsChooser."""

from __future__ import annotations

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
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.credentials.store import KeyringStore
from app.kvs.control import KvsControl
from app.localkvs.embedded import EmbeddedEndpoint
from app.ui.credentials_chooser import KEYRING, PROFILE, CredentialsChooser
from app.ui.tasks import Task

LOCAL = "local"


@dataclass(frozen=True)
class Destination:
    region: str
    endpoint_url: str | None
    profile: str | None
    access_key: str | None = None
    secret_key: str | None = None
    local: bool = False
    keyring_entry: str | None = None  # a saved entry's name: signing reads the keyring, not this object

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
    credentials_loaded = Signal(list)  # the keyring was read (its entries, as Summary)

    def __init__(self, embedded: EmbeddedEndpoint, store: KeyringStore | None = None) -> None:
        super().__init__()
        self.embedded = embedded
        self.region = QComboBox()
        self.region.addItem("Local endpoint (offline)", LOCAL)
        self.region.setItemData(0, embedded.storage_note, Qt.ItemDataRole.ToolTipRole)
        regions = kvs_regions()
        for r in regions:
            self.region.addItem(r, r)
        self.chooser = CredentialsChooser(store or KeyringStore(), self._run, regions, self)
        self.credentials = self.chooser.combo
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
        form.addRow("Credentials:", self.chooser)
        form.addRow("Stream:", row)
        form.addRow("", self.new_stream)
        form.addRow(self.busy)
        self._tasks: set[Task] = set()
        self.region.currentIndexChanged.connect(self._region_changed)
        self.chooser.changed.connect(self.load_streams)
        self.chooser.region_wanted.connect(self._select_region)
        self.chooser.loaded.connect(self.credentials_loaded.emit)
        self.chooser.error.connect(self.error.emit)
        self.chooser.info.connect(self.info.emit)
        self.refresh.clicked.connect(self.load_streams)
        self.new_stream.clicked.connect(self._new_stream)
        self._fill_credentials()
        self.chooser.reload()

    # -- state -------------------------------------------------------------------------------------

    def is_local(self) -> bool:
        return self.region.currentData() == LOCAL

    def destination(self) -> Destination:
        if self.is_local():
            self.embedded.start()
            return Destination(region="us-west-2", endpoint_url=self.embedded.url, profile=None,
                               access_key=self.embedded.keys.access_key, secret_key=self.embedded.keys.secret_key,
                               local=True)
        choice = self.chooser.choice()
        return Destination(region=str(self.region.currentData()), endpoint_url=None,
                           profile=choice.removeprefix(PROFILE) if choice.startswith(PROFILE) else None,
                           keyring_entry=choice.removeprefix(KEYRING) if choice.startswith(KEYRING) else None)

    def stream_name(self) -> str:
        return self.stream.currentText().strip()

    def select(self, region: str | None, credentials: str | None, stream: str | None) -> None:
        """``credentials``: "keyring:NAME", "profile:NAME" or "env" (a saved entry is selected once the
        keyring has been read)."""
        if region:
            i = self.region.findData(region)
            if i >= 0:
                self.region.setCurrentIndex(i)
        if credentials:
            self.chooser.select(credentials)
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
        self._run(lambda: [s["StreamName"] for s in dest.control().list_streams()],
                  on_done=lambda names: self._streams_done(names, wanted))  # type: ignore[arg-type]

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
        self._run(create, on_done=lambda _r: (self.info.emit(f"Created stream {name}; it is ACTIVE."),
                                              self.stream.setEditText(name), self.load_streams()))

    def _run(self, fn, report: bool = True, on_done: Callable[[object], object] | None = None,  # type: ignore[no-untyped-def]
             on_failed: Callable[[str], object] | None = None) -> Task:
        """Run ``fn`` on a worker thread, the busy bar shown. ``on_done``/``on_failed`` are connected before it
        starts: a fast call could otherwise finish first, and its signal would reach nobody."""
        task = Task(fn, self)
        self._tasks.add(task)
        self.busy.show()

        def finished(*_a: object) -> None:
            self._tasks.discard(task)
            self.busy.setVisible(bool(self._tasks))

        task.done.connect(finished)  # first: whoever hears the result sees the busy bar already settled
        task.failed.connect(finished)
        if on_done is not None:
            task.done.connect(on_done)
        if on_failed is not None:
            task.failed.connect(on_failed)
        if report:
            task.failed.connect(self.error.emit)
        return task.start()

    def _region_changed(self) -> None:
        self._fill_credentials()
        self.new_stream.setEnabled(True)
        self.load_streams()

    def _fill_credentials(self) -> None:
        self.chooser.set_region(None if self.is_local() else str(self.region.currentData()))

    def _select_region(self, region: str) -> None:
        """A saved entry's default region; changing it lists the streams there."""
        i = self.region.findData(region)
        if i >= 0:
            self.region.setCurrentIndex(i)
        else:
            self.load_streams()
