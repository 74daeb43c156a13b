"""CredentialsDialog: save (or replace) an access key pair in the OS keyring, after one signed ListStreams
call showed that the service accepts it. Keyring and network calls run on a worker thread (Task)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.credentials.check import check_entry
from app.credentials.entry import Entry, InvalidEntry, Summary, check_name
from app.credentials.store import KeyringStore
from app.errors import CredentialsError, KvsStudioError
from app.ui.tasks import Task

STATUS_STYLES = {"error": "color:#b91c1c;", "ok": "color:#15803d;", "info": "color:palette(text);"}


@dataclass(frozen=True)
class Outcome:
    """What the worker found: ``saved`` (with the summary), ``exists``, ``refused`` or ``unreachable``."""

    kind: str
    message: str = ""
    summary: Summary | None = None


def check_and_save(store: KeyringStore, name: str, entry: Entry, region: str, replace: bool,
                   check: bool) -> Outcome:
    """Worker thread: refuse a taken name, check the pair with the service, then save it."""
    if not replace and store.exists(name):
        return Outcome("exists", f"Credentials named {name!r} are already saved. Pick another name, or use "
                                 "Replace… on that entry.")
    note = ""
    if check:
        try:
            note = check_entry(entry, region).note
        except CredentialsError as exc:
            return Outcome("refused", exc.user_message)
        except KvsStudioError as exc:
            return Outcome("unreachable", exc.user_message)
    return Outcome("saved", note, store.add(name, entry, replace=replace))


class CredentialsDialog(QDialog):
    saved = Signal(object)  # Summary

    def __init__(self, store: KeyringStore, regions: list[str], check_region: str, parent: QWidget | None = None,
                 *, replace: Summary | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.check_region = check_region
        self.replacing = replace
        self.setWindowTitle(f"Replace credentials “{replace.name}”" if replace else "Add credentials")
        self.setMinimumWidth(460)
        self.name = QLineEdit(replace.name if replace else "")
        self.name.setPlaceholderText("e.g. work")
        self.name.setReadOnly(replace is not None)
        self.key_id = QLineEdit()
        self.key_id.setPlaceholderText("AKIA…")
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("optional: only for temporary credentials")
        self.show_secret = QCheckBox("Show")
        self.show_secret.toggled.connect(self._toggle_echo)
        self.region = QComboBox()
        self.region.addItem("None", "")
        for r in regions:
            self.region.addItem(r, r)
        if replace and replace.region:
            self.region.setCurrentIndex(max(0, self.region.findData(replace.region)))
        self.status = QLabel("The pair is checked with one signed ListStreams call before it is saved "
                             "in the OS keyring.")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = QPushButton("Check and save")
        self.save_button.setDefault(True)
        self.save_anyway = QPushButton("Save without checking")
        self.save_anyway.hide()  # offered only when the service could not be asked
        self.buttons.addButton(self.save_anyway, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(lambda: self.submit(check=True))
        self.save_anyway.clicked.connect(lambda: self.submit(check=False))
        form = QFormLayout(self)
        form.addRow("Name:", self.name)
        form.addRow("Access key ID:", self.key_id)
        form.addRow("Secret access key:", self.secret)
        form.addRow("Session token:", self.token)
        form.addRow("", self.show_secret)
        form.addRow("Default region:", self.region)
        form.addRow(self.status)
        form.addRow(self.buttons)
        self._task: Task | None = None

    def _toggle_echo(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.secret.setEchoMode(mode)
        self.token.setEchoMode(mode)

    def set_status(self, text: str, kind: str = "info") -> None:
        self.status.setStyleSheet(STATUS_STYLES[kind])
        self.status.setProperty("kind", kind)
        self.status.setText(text)
        self.adjustSize()  # room for a message of several lines

    def submit(self, check: bool = True) -> None:
        try:
            name = check_name(self.name.text())
            entry = Entry.create(self.key_id.text(), self.secret.text(), self.token.text(),
                                 self.region.currentData() or None)
        except InvalidEntry as exc:
            self.set_status(str(exc), "error")
            return
        region = entry.region or self.check_region
        self._set_busy(True)
        self.save_anyway.hide()
        self.set_status(f"Checking with one ListStreams call in {region}…" if check else "Saving…")
        replace = self.replacing is not None
        self._task = Task(lambda: check_and_save(self.store, name, entry, region, replace, check), self)
        self._task.done.connect(self._finished)
        self._task.failed.connect(self._failed)
        self._task.start()

    def _finished(self, outcome: Outcome) -> None:
        self._set_busy(False)
        if outcome.kind == "saved" and outcome.summary is not None:
            for field in (self.secret, self.token):
                field.clear()  # the keyring has it now; do not keep it in a widget
            self.saved.emit(outcome.summary)
            self.accept()
            return
        if outcome.kind == "unreachable":
            self.save_anyway.show()
        self.set_status(outcome.message, "error")

    def _failed(self, message: str) -> None:  # the keyring itself failed or is missing
        self._set_busy(False)
        self.set_status(message, "error")

    def _set_busy(self, busy: bool) -> None:
        for w in (self.save_button, self.save_anyway, self.name, self.key_id, self.secret, self.token, self.region):
            w.setEnabled(not busy)
