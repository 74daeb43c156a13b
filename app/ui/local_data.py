"""LocalDataBox: where the embedded endpoint keeps its data, how much it holds against its cap, and
"Clear local data…" (with a confirmation). The endpoint applies its disk cap on every fragment and its
streams' retention every minute (app/localkvs/store.py); this only shows and clears."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from app.localkvs.embedded import EmbeddedEndpoint


def _mb(n: int) -> str:
    return f"{n / 2**10:,.0f} KB" if n < 2**20 else f"{n / 2**20:,.1f} MB"


class LocalDataBox(QWidget):
    cleared = Signal(int)  # fragments deleted
    error = Signal(str)

    def __init__(self, embedded: EmbeddedEndpoint, run: Callable[..., object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.embedded = embedded
        self._run = run  # DestinationPicker._run: a worker thread, a busy bar
        self.usage = QLabel()
        self.usage.setWordWrap(True)
        self.usage.setStyleSheet("color:#475569;")
        self.usage.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.clear_button = QPushButton("Clear local data…")
        self.clear_button.setToolTip("Delete every fragment the local endpoint stored (its streams stay).")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.usage, 1)
        row.addWidget(self.clear_button)
        self.clear_button.clicked.connect(self.ask_clear)
        self.setToolTip(embedded.storage_note)
        self.refresh()

    def refresh(self) -> None:
        used = self.embedded.endpoint.store.stored_bytes if self.embedded.thread is not None else None
        cap = f"{self.embedded.max_disk_mb:g} MB"
        self.usage.setText(f"Local data: {_mb(used) if used is not None else '–'} of {cap}")
        self.usage.setToolTip(self.embedded.storage_note)

    def confirm(self) -> bool:
        """The question a person answers; a test replaces it."""
        answer = QMessageBox.question(
            self, "Clear local data",
            f"Delete every fragment the local endpoint stored in {self.embedded.data_dir}? The streams stay; "
            "their video cannot be played back afterwards.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def ask_clear(self) -> None:
        if not self.confirm():
            return
        embedded = self.embedded.start()

        def clear() -> int:
            return embedded.endpoint.store.enforce_cap(0)  # the oldest first, down to nothing kept

        self._run(clear, on_done=self._cleared)

    def _cleared(self, gone: object) -> None:
        self.refresh()
        self.cleared.emit(int(gone))  # type: ignore[call-overload]
