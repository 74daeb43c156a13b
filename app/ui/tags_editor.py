"""TagsEditor: fragment metadata to send, each item with every fragment or with the next fragment only.

The editor checks the service's rules itself (app/kvs/metadata.py) and says what is wrong in one line, so
only acceptable edits leave it, as signals the window passes to the engine (which takes them while
streaming). Next-fragment-only items stay listed as waiting until a fragment carrying them starts
(``fragment_started``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.kvs.metadata import FragmentTags, TagError

EVERY = "every fragment"
ONCE = "next fragment only"


class TagsEditor(QWidget):
    tag_set = Signal(str, str)  # persistent: with every fragment from the next one on
    tag_removed = Signal(str)
    tag_once = Signal(str, str)  # with the next fragment only

    def __init__(self) -> None:
        super().__init__()
        self._tags = FragmentTags()  # the same rules the engine applies, checked here first
        self.name = QLineEdit()
        self.name.setPlaceholderText("name, e.g. camera")
        self.value = QLineEdit()
        self.value.setPlaceholderText("value")
        self.mode = QComboBox()
        self.mode.addItems([EVERY, ONCE])
        self.add = QPushButton("Add")
        self.remove = QPushButton("Remove")
        self.remove.setEnabled(False)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Value", "Sent with"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(90)
        self.table.setMaximumHeight(140)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#b91c1c;")
        self.error.hide()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.value, 0, 1)
        grid.addWidget(self.mode, 1, 0)
        grid.addWidget(self.add, 1, 1)
        grid.addWidget(self.table, 2, 0, 1, 2)
        grid.addWidget(self.remove, 3, 1)
        grid.addWidget(self.error, 4, 0, 1, 2)
        self.add.clicked.connect(self.add_current)
        self.value.returnPressed.connect(self.add_current)
        self.remove.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(
            lambda: self.remove.setEnabled(bool(self.table.selectionModel().selectedRows())))

    # -- what the window reads at start --------------------------------------------------------------

    def persistent(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._tags.persistent())

    def pending_once(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._tags.pending_once())

    # -- edits -----------------------------------------------------------------------------------------

    def add_current(self) -> None:
        name, value, once = self.name.text().strip(), self.value.text(), self.mode.currentText() == ONCE
        try:
            if once:
                self._tags.add_once(name, value)
            else:
                self._tags.set(name, value)
        except TagError as exc:
            self.show_error(exc.user_message)
            return
        self.error.hide()
        self.name.clear()
        self.value.clear()
        self._refresh()
        if once:
            self.tag_once.emit(name, value)
        else:
            self.tag_set.emit(name, value)

    def remove_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.table.item(rows[0].row(), 0)
        if item.data(Qt.ItemDataRole.UserRole) == ONCE:
            self.show_error("A next-fragment item is already queued; it goes with the next fragment.")
            return
        name = item.text()  # read before the refresh deletes the item
        self._tags.remove(name)
        self.error.hide()
        self._refresh()
        self.tag_removed.emit(name)

    def fragment_started(self, tags: tuple[tuple[str, str], ...]) -> None:
        """A fragment went out with ``tags``: the next-fragment-only items it carried are done."""
        pending = dict(self._tags.pending_once())
        if pending and all(tags_has(tags, n, v) for n, v in pending.items()):
            self._tags.for_next_fragment()  # uses them up, as the engine did
            self._refresh()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _refresh(self) -> None:
        rows = [(n, v, EVERY) for n, v in self._tags.persistent()]
        rows += [(n, v, ONCE) for n, v in self._tags.pending_once()]
        self.table.setRowCount(len(rows))
        for r, (name, value, mode) in enumerate(rows):
            name_item = QTableWidgetItem(name)
            name_item.setData(Qt.ItemDataRole.UserRole, mode)
            self.table.setItem(r, 0, name_item)
            self.table.setItem(r, 1, QTableWidgetItem(value))
            self.table.setItem(r, 2, QTableWidgetItem(mode if mode == EVERY else "next fragment (waiting)"))
        self.remove.setEnabled(bool(self.table.selectionModel().selectedRows()))


def tags_has(tags: tuple[tuple[str, str], ...], name: str, value: str) -> bool:
    return (name, value) in tags
