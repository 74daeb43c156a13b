"""FragmentTableModel: one row per fragment, its state and the latency of each ack.

Keeps the newest MAX_ROWS rows so memory stays bounded over long sessions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.engine.events import FragmentUpdate

MAX_ROWS = 5000
COLUMNS = ["Local time", "Timecode", "State", "Frames", "Size", "Buffering", "Received", "Persisted",
           "Fragment number", "Error"]
STATE_COL = 2
STATE_COLOURS = {
    "QUEUED": "#6b7280", "SENDING": "#6b7280", "BUFFERING": "#b45309", "RECEIVED": "#1d4ed8",
    "PERSISTED": "#15803d", "ERROR": "#b91c1c", "DROPPED": "#7c2d12",
}
_Index = QModelIndex | QPersistentModelIndex


@dataclass
class _Row:
    update: FragmentUpdate
    local_time: float = field(default_factory=time.time)


class FragmentTableModel(QAbstractTableModel):
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        super().__init__()
        self.max_rows = max_rows
        self._rows: list[_Row] = []
        self._by_seq: dict[int, int] = {}  # seq -> row index
        self._offset = 0  # rows dropped from the top

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        u = row.update
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == STATE_COL:
            return QBrush(QColor(STATE_COLOURS.get(u.state, "#111827")))
        if role == Qt.ItemDataRole.ToolTipRole and col == 9 and u.error_meaning:
            return u.error_meaning
        if role == Qt.ItemDataRole.ToolTipRole and u.tags:
            return "Metadata: " + "; ".join(f"{n} = {v}" for n, v in u.tags)
        if role == Qt.ItemDataRole.FontRole and col == STATE_COL:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 4, 5, 6, 7):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row: _Row, col: int) -> str:
        u = row.update
        if col == 0:
            return time.strftime("%H:%M:%S", time.localtime(row.local_time))
        if col == 1:
            tags = f"  · {len(u.tags)} tag{'s' if len(u.tags) != 1 else ''}" if u.tags else ""
            return time.strftime("%H:%M:%S", time.localtime(u.timecode / 1000)) + f".{u.timecode % 1000:03d}" + tags
        if col == 2:
            return u.state + (f" (try {u.attempt})" if u.attempt > 1 else "")
        if col == 3:
            return str(u.frames)
        if col == 4:
            return f"{u.size / 1024:.1f} KiB"
        if col in (5, 6, 7):
            key = ("BUFFERING", "RECEIVED", "PERSISTED")[col - 5]
            value = u.latency_ms.get(key)
            return "" if value is None else f"{value} ms"
        if col == 8:
            return u.fragment_number or ""
        if col == 9 and u.error_code:
            return f"{u.error_code} ({u.error_id}): {u.error_meaning}"
        return ""

    # -- updates -----------------------------------------------------------------------------------

    def apply(self, update: FragmentUpdate) -> None:
        idx = self._by_seq.get(update.seq)
        if idx is not None and idx - self._offset >= 0:
            r = idx - self._offset
            if not update.tags and self._rows[r].update.tags:  # later updates may not repeat them
                update = replace(update, tags=self._rows[r].update.tags)
            self._rows[r].update = update
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))
            return
        n = len(self._rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self._rows.append(_Row(update))
        self._by_seq[update.seq] = self._offset + n
        self.endInsertRows()
        if len(self._rows) > self.max_rows:
            drop = len(self._rows) - self.max_rows
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            for row in self._rows[:drop]:
                self._by_seq.pop(row.update.seq, None)
            del self._rows[:drop]
            self._offset += drop
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._by_seq.clear()
        self._offset = 0
        self.endResetModel()

    def states(self) -> list[str]:
        return [r.update.state for r in self._rows]
