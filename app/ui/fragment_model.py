"""FragmentTableModel: one row per fragment, its state, its size as it grows, and the latency of each ack.

Keeps the newest MAX_ROWS rows so memory stays bounded over long sessions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.engine.events import FragmentProgress, FragmentUpdate

MAX_ROWS = 5000
# The error sits next to the state, so a refusal is seen without scrolling; latencies are shown with their unit.
COLUMNS = ["Local time", "Timecode", "State", "Error", "Frames", "Size", "Buffering", "Received", "Persisted",
           "Fragment no."]
(TIME_COL, TIMECODE_COL, STATE_COL, ERROR_COL, FRAMES_COL, SIZE_COL, BUFFERING_COL, RECEIVED_COL, PERSISTED_COL,
 NUMBER_COL) = range(len(COLUMNS))
LATENCY_COLS = {BUFFERING_COL: "BUFFERING", RECEIVED_COL: "RECEIVED", PERSISTED_COL: "PERSISTED"}
HEADER_TIPS = {
    TIME_COL: "When the fragment started, on this computer's clock.",
    TIMECODE_COL: "The fragment's producer timestamp (its first frame's capture time).",
    FRAMES_COL: "Frames in the fragment; it grows while the fragment is being encoded.",
    SIZE_COL: "Bytes in the fragment; it grows while the fragment is being encoded.",
    BUFFERING_COL: "Milliseconds from the fragment's FIRST byte being sent to the BUFFERING ack.",
    RECEIVED_COL: "Milliseconds from the fragment's LAST byte (sealed and sent) to the RECEIVED ack: "
                  "what the network and the service add.",
    PERSISTED_COL: "Milliseconds from the fragment's LAST byte (sealed and sent) to the PERSISTED ack "
                   "(stored durably).",
    ERROR_COL: "The service's error for a refused fragment; the line under the table says what it means.",
    NUMBER_COL: "The service's fragment number (47 digits, shortened in the middle; the tooltip and Copy give it "
                "whole).",
}
FULL_TEXT_ROLE = Qt.ItemDataRole.UserRole + 1  # the whole value, for copying
STATE_COLOURS = {
    "QUEUED": "#6b7280", "SENDING": "#6b7280", "BUFFERING": "#b45309", "RECEIVED": "#1d4ed8",
    "PERSISTED": "#15803d", "ERROR": "#b91c1c", "DROPPED": "#7c2d12",
}
FINAL_STATES = {"PERSISTED", "ERROR", "DROPPED"}
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
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def update_at(self, row: int) -> FragmentUpdate:
        return self._rows[row].update

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        u = row.update
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == FULL_TEXT_ROLE:
            return self.full_text(row, col)
        if role == Qt.ItemDataRole.ForegroundRole and col in (STATE_COL, ERROR_COL):
            return QBrush(QColor(STATE_COLOURS.get(u.state, "#111827") if col == STATE_COL else "#b91c1c"))
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == ERROR_COL and u.error_code:
                return f"{u.error_code} ({u.error_id}): {u.error_meaning}"
            if col == NUMBER_COL and u.fragment_number:
                return u.fragment_number
            if col in LATENCY_COLS:
                return HEADER_TIPS[col]
            if u.tags:
                return "Metadata: " + "; ".join(f"{n} = {v}" for n, v in u.tags)
        if role == Qt.ItemDataRole.FontRole and col == STATE_COL:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (FRAMES_COL, SIZE_COL, *LATENCY_COLS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def full_text(self, row: _Row, col: int) -> str:
        u = row.update
        if col == ERROR_COL and u.error_code:
            return f"{u.error_code} ({u.error_id}): {u.error_meaning}"
        return self._text(row, col)

    def _text(self, row: _Row, col: int) -> str:
        u = row.update
        if col == TIME_COL:
            return time.strftime("%H:%M:%S", time.localtime(row.local_time))
        if col == TIMECODE_COL:
            tags = f"  · {len(u.tags)} tag{'s' if len(u.tags) != 1 else ''}" if u.tags else ""
            return time.strftime("%H:%M:%S", time.localtime(u.timecode / 1000)) + f".{u.timecode % 1000:03d}" + tags
        if col == STATE_COL:
            return u.state + (f" (try {u.attempt})" if u.attempt > 1 else "")
        if col == FRAMES_COL:
            return str(u.frames)
        if col == SIZE_COL:
            return f"{u.size / 1024:.1f} KiB"
        if col in LATENCY_COLS:
            value = u.latency_ms.get(LATENCY_COLS[col])
            return "" if value is None else f"{value:,} ms"
        if col == NUMBER_COL:
            return u.fragment_number or ""
        if col == ERROR_COL and u.error_code:
            return f"{u.error_id} {u.error_code}"
        return ""

    # -- updates -----------------------------------------------------------------------------------

    def apply(self, update: FragmentUpdate) -> None:
        idx = self._by_seq.get(update.seq)
        if idx is not None and idx - self._offset >= 0:
            r = idx - self._offset
            old = self._rows[r].update
            if not update.tags and old.tags:  # later updates may not repeat them
                update = replace(update, tags=old.tags)
            # Growth reports and state changes come from two threads: a count never goes back.
            self._rows[r].update = replace(update, frames=max(update.frames, old.frames),
                                           size=max(update.size, old.size))
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

    def grow(self, progress: FragmentProgress) -> None:
        """The open fragment's frames and bytes so far (its state is left as it is)."""
        idx = self._by_seq.get(progress.seq)
        if idx is None or idx - self._offset < 0:
            return
        r = idx - self._offset
        old = self._rows[r].update
        if progress.frames <= old.frames and progress.size <= old.size:
            return
        self._rows[r].update = replace(old, frames=max(progress.frames, old.frames), size=max(progress.size, old.size))
        self.dataChanged.emit(self.index(r, FRAMES_COL), self.index(r, SIZE_COL))

    def row_of(self, seq: int) -> int | None:
        idx = self._by_seq.get(seq)
        return None if idx is None or idx - self._offset < 0 else idx - self._offset

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._by_seq.clear()
        self._offset = 0
        self.endResetModel()

    def states(self) -> list[str]:
        return [r.update.state for r in self._rows]
