"""CredentialsChooser: the Credentials row of the destination picker.

The dropdown lists, in order: the entries saved in the OS keyring (``work (AKIA…7QX2)``), the AWS profiles,
"Environment" when AWS_ACCESS_KEY_ID is set, and "Add credentials…"; the ⋯ button renames, replaces or
removes the selected entry. Each item's data says what it is ("keyring:NAME", "profile:NAME", "env", or ""
for botocore's default chain) and only that name is ever remembered. The keyring is read and written on
worker threads (it may block on D-Bus or an unlock prompt), through the picker's task runner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import botocore.session
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QInputDialog, QMenu, QMessageBox, QToolButton, QWidget

from app.credentials.entry import Summary
from app.credentials.store import KeyringStore
from app.ui.credentials_dialog import CredentialsDialog
from app.ui.tasks import Task

log = logging.getLogger(__name__)
DEFAULT_CHAIN = ""
ENVIRONMENT = "env"
ADD_CREDENTIALS = "add"
KEYRING_MISSING = "keyring-unavailable"
KEYRING, PROFILE = "keyring:", "profile:"
NOT_A_CHOICE = (ADD_CREDENTIALS, KEYRING_MISSING)
# The picker's runner: run(fn, report=True, on_done=None, on_failed=None) -> Task, with a busy indicator.
Runner = Callable[..., Task]


class CredentialsChooser(QWidget):
    changed = Signal()  # a different choice: the streams are listed again
    region_wanted = Signal(str)  # a person chose an entry that has a default region
    loaded = Signal(list)  # the keyring was read: its entries (Summary), [] when it is unavailable
    error = Signal(str)
    info = Signal(str)

    def __init__(self, store: KeyringStore, run: Runner, regions: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._run = run
        self._regions = regions
        self.entries: list[Summary] = []
        self.keyring_error: str | None = None
        self.dialog: QDialog | None = None  # the open dialog or prompt (tests reach it here)
        self._local = True
        self._aws_region = "us-east-1"
        self._wanted: str | None = None  # to select once it is listed (a remembered entry, a new one)
        self._last = DEFAULT_CHAIN
        self._last_aws = DEFAULT_CHAIN
        self._user_chose = False  # until someone picks, the first item (a saved entry, if any) is the choice
        self.combo = QComboBox()
        # Long labels must not push the form's labels out of the side panel.
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.manage = QToolButton()
        self.manage.setText("⋯")
        self.manage.setToolTip("Rename, replace or remove the selected saved credentials")
        self.manage.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.manage)
        self.rename_action = menu.addAction("Rename…", self.rename_selected)
        self.replace_action = menu.addAction("Replace…", self.replace_selected)
        self.remove_action = menu.addAction("Remove…", self.remove_selected)
        self.manage.setMenu(menu)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.manage)
        self.combo.currentIndexChanged.connect(self._index_changed)
        self.combo.activated.connect(self._activated)
        self._fill()

    # -- state -------------------------------------------------------------------------------------

    def choice(self) -> str:
        """"keyring:NAME", "profile:NAME", "env" or "" (botocore's default chain; the local endpoint's keys)."""
        data = str(self.combo.currentData() or "")
        return DEFAULT_CHAIN if data in NOT_A_CHOICE else data

    def to_remember(self) -> str:
        """The last choice for AWS (a name, never a secret), also while the local endpoint is selected."""
        return self._wanted or (self._last_aws if self._local else self.choice())

    def selected_entry(self) -> Summary | None:
        choice = self.choice()
        name = choice.removeprefix(KEYRING) if choice.startswith(KEYRING) else None
        return next((e for e in self.entries if e.name == name), None)

    def select(self, choice: str) -> None:
        """Select ``choice`` now if it is listed, else as soon as it is (the keyring answers later)."""
        i = self.combo.findData(choice)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        self._wanted = choice

    def set_region(self, region: str | None) -> None:
        """``None``: the local endpoint (its own keys only); else an AWS region."""
        self._local = region is None
        if region:
            self._aws_region = region
        self._fill()
        if not self._local:
            self.reload()  # entries the CLI (or another window) saved since the last reading

    # -- the keyring ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the saved entries on a worker thread, then refill the dropdown."""
        self._run(self.store.list, report=False, on_done=self._read, on_failed=self._failed)

    def _read(self, entries: list[Summary]) -> None:
        self.entries, self.keyring_error = list(entries), None
        self._refill()

    def _failed(self, message: str) -> None:
        if message != self.keyring_error:
            log.warning("Saved credentials are not available: %s", message)
        self.entries, self.keyring_error = [], message
        self._refill()

    def _refill(self) -> None:
        before = self.choice()
        self._fill()
        if self.choice() != before and not self._local:
            self.changed.emit()
        self.loaded.emit(self.entries)

    def _fill(self) -> None:
        keep = self._wanted or (self._last_aws if self._user_chose else None)
        combo = self.combo
        combo.blockSignals(True)
        combo.clear()
        if self._local:
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
        if i < 0 or keep in NOT_A_CHOICE:
            i = next(j for j in range(combo.count()) if combo.itemData(j) not in (KEYRING_MISSING, None))
        combo.setCurrentIndex(i)
        if self._wanted and combo.currentData() == self._wanted:
            self._wanted = None
        combo.blockSignals(False)
        self._remember()

    def _remember(self) -> None:
        self._last = self.choice()
        if not self._local:
            self._last_aws = self._last
        self.manage.setEnabled(self.selected_entry() is not None)

    # -- a person's choices --------------------------------------------------------------------------

    def _index_changed(self, _index: int) -> None:
        if self.combo.currentData() == ADD_CREDENTIALS:
            return  # handled on activation; the choice goes back to what it was
        self._wanted = None
        self._user_chose = not self._local
        self._remember()
        entry = self.selected_entry()
        if entry and entry.region and not self._local and entry.region != self._aws_region:
            self.region_wanted.emit(entry.region)  # the picker lists the streams of that region
            return
        self.changed.emit()

    def _activated(self, _index: int) -> None:
        if self.combo.currentData() == ADD_CREDENTIALS:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(max(self.combo.findData(self._last), 0))
            self.combo.blockSignals(False)
            self._remember()
            self.add_credentials()

    def _open(self, dialog: QDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()  # window-modal, without a nested event loop

    def _check_region(self) -> str:
        return "us-east-1" if self._local else self._aws_region

    def add_credentials(self) -> None:
        if self.keyring_error:
            self.error.emit(self.keyring_error)  # nowhere to save to: say why instead of a dialog
            return
        dialog = CredentialsDialog(self.store, self._regions, self._check_region(), self)
        dialog.saved.connect(self._saved)
        self._open(dialog)

    def replace_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        dialog = CredentialsDialog(self.store, self._regions, self._check_region(), self, replace=entry)
        dialog.saved.connect(self._saved)
        self._open(dialog)

    def _saved(self, summary: Summary) -> None:
        self.info.emit(f"Saved credentials {summary.name!r} ({summary.masked_key_id}) in the keyring.")
        self._wanted = KEYRING + summary.name
        self.reload()

    def rename_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        prompt = QInputDialog(self)
        prompt.setWindowTitle("Rename credentials")
        prompt.setLabelText(f"New name for “{entry.name}”:")
        prompt.setTextValue(entry.name)

        def renamed(summary: object) -> None:
            assert isinstance(summary, Summary)
            self.info.emit(f"Renamed credentials {entry.name!r} to {summary.name!r}.")
            self._wanted = KEYRING + summary.name

        prompt.textValueSelected.connect(lambda new: self._change(lambda: self.store.rename(entry.name, new),
                                                                  renamed))
        self._open(prompt)

    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Remove credentials",
                          f"Remove “{entry.label}” from the OS keyring? Streams that use it will need other "
                          "credentials.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def clicked(button: object) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:  # type: ignore[arg-type]
                self._change(lambda: self.store.remove(entry.name),
                             lambda _r: self.info.emit(f"Removed credentials {entry.name!r} from the keyring."))

        box.buttonClicked.connect(clicked)
        self._open(box)

    def _change(self, fn: Callable[[], object], then: Callable[[object], object]) -> None:
        def done(result: object) -> None:
            then(result)
            self.reload()

        self._run(fn, on_done=done)  # failures (unknown name, taken name, no keyring) reach the banner
