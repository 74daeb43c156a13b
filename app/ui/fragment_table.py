"""FragmentTable: the fragment rows, readable at any width.

The 47-digit fragment number is elided in the middle (whole in its tooltip and when copied); columns are
resized by the user and remembered (QHeaderView state in QSettings: widths, order, hidden columns); a
right-click on the header picks columns; a right-click on a row copies its fragment number or a ready
AWS CLI command that downloads it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QPoint, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from app.ui.fragment_model import (
    COLUMNS,
    ERROR_COL,
    FRAMES_COL,
    FULL_TEXT_ROLE,
    NUMBER_COL,
    SIZE_COL,
    STATE_COL,
    TIME_COL,
    TIMECODE_COL,
    FragmentTableModel,
)

# Narrow enough that the fragment number keeps ~100 px in a 1280 px window with both docks open.
DEFAULT_WIDTHS = {TIME_COL: 64, TIMECODE_COL: 94, STATE_COL: 86, ERROR_COL: 76, FRAMES_COL: 46, SIZE_COL: 78}
LATENCY_WIDTH = 64
HIDDEN_BY_DEFAULT = (TIME_COL,)  # the timecode already says when; the column picker shows it again
SETTINGS_KEY = "fragment_table/header"


@dataclass(frozen=True)
class CommandTarget:
    """Where the copied AWS CLI command fetches from: ``endpoint_url`` is the data endpoint (the local
    endpoint's URL, or the one GetDataEndpoint named); ``env`` are variables the command needs first."""

    stream: str
    region: str
    endpoint_url: str
    profile: str | None = None
    verify_ssl: bool = True
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold a (loopback) secret key


def get_media_command(target: CommandTarget, fragment_number: str, out: str | None = None) -> str:
    """``aws kinesis-video-archived-media get-media-for-fragment-list``, quoted for a POSIX shell."""
    parts = ["aws", "kinesis-video-archived-media", "get-media-for-fragment-list",
             "--endpoint-url", target.endpoint_url, "--region", target.region]
    if target.profile:
        parts += ["--profile", target.profile]
    if not target.verify_ssl:
        parts.append("--no-verify-ssl")
    # The output file comes before --fragments: that option takes a list and would swallow it (AWS CLI v1).
    parts += ["--stream-name", target.stream, out or f"fragment-{fragment_number[-8:]}.mkv",
              "--fragments", fragment_number]
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in target.env)
    return (env + " " if env else "") + shlex.join(parts)


class FragmentTable(QTableView):
    status = Signal(str)  # a short note for the status bar ("Copied …")

    def __init__(self, model: FragmentTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.fragments = model
        self.command_target: Callable[[Callable[[CommandTarget | str], None]], None] | None = None
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setAlternatingRowColors(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSectionsMovable(True)
        header.setMinimumSectionSize(40)
        for col, width in DEFAULT_WIDTHS.items():
            header.resizeSection(col, width)
        for col in range(len(COLUMNS)):
            if col not in DEFAULT_WIDTHS and col != NUMBER_COL:
                header.resizeSection(col, LATENCY_WIDTH)
        for col in HIDDEN_BY_DEFAULT:
            header.setSectionHidden(col, True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._row_menu)
        copy = QAction("Copy fragment number", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_fragment_number)
        self.addAction(copy)

    # -- columns ---------------------------------------------------------------------------------

    def column_menu(self) -> QMenu:
        menu = QMenu("Columns", self)
        header = self.horizontalHeader()
        for col, title in enumerate(COLUMNS):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(col))
            action.setEnabled(col != STATE_COL)  # a row without its state means nothing
            action.toggled.connect(lambda on, c=col: self.set_column_visible(c, on))
        return menu

    def set_column_visible(self, col: int, visible: bool) -> None:
        self.horizontalHeader().setSectionHidden(col, not visible)

    def _header_menu(self, pos: QPoint) -> None:
        self.column_menu().exec(self.horizontalHeader().mapToGlobal(pos))

    def save_layout(self, settings: QSettings) -> None:
        settings.setValue(SETTINGS_KEY, self.horizontalHeader().saveState())

    def restore_layout(self, settings: QSettings) -> None:
        state = settings.value(SETTINGS_KEY)
        if state is not None:
            self.horizontalHeader().restoreState(state)  # type: ignore[arg-type]

    # -- rows ------------------------------------------------------------------------------------

    def current_row(self) -> int | None:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        if rows:
            return rows[0].row()
        index = self.currentIndex()
        return index.row() if index.isValid() else None

    def fragment_number(self, row: int | None = None) -> str | None:
        row = self.current_row() if row is None else row
        if row is None:
            return None
        return self.fragments.data(self.fragments.index(row, NUMBER_COL), FULL_TEXT_ROLE) or None

    def copy_fragment_number(self) -> None:
        number = self.fragment_number()
        if number:
            QGuiApplication.clipboard().setText(number)
            self.status.emit(f"Copied fragment number {number}")

    def copy_command(self, row: int | None = None) -> None:
        """Resolve the data endpoint (off the UI thread, through ``command_target``), then copy."""
        number = self.fragment_number(row)
        if not number or self.command_target is None:
            return

        def copy(target: CommandTarget | str) -> None:
            if isinstance(target, str):
                self.status.emit(f"Cannot make the command: {target}")
                return
            QGuiApplication.clipboard().setText(get_media_command(target, number))
            self.status.emit("Copied an AWS CLI command that downloads this fragment")

        self.command_target(copy)

    def _row_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        self.selectRow(index.row())
        number = self.fragment_number(index.row())
        menu = QMenu(self)
        a = menu.addAction("Copy fragment number")
        a.setEnabled(bool(number))
        a.triggered.connect(self.copy_fragment_number)
        b = menu.addAction("Copy AWS CLI command (get-media-for-fragment-list)")
        b.setEnabled(bool(number) and self.command_target is not None)
        b.triggered.connect(lambda: self.copy_command(index.row()))
        c = menu.addAction("Copy row")
        c.triggered.connect(lambda: self._copy_row(index.row()))
        menu.addSeparator()
        menu.addMenu(self.column_menu())
        menu.exec(self.viewport().mapToGlobal(pos))

    def _copy_row(self, row: int) -> None:
        m = self.fragments
        cells = [f"{COLUMNS[c]}: {m.data(m.index(row, c), FULL_TEXT_ROLE)}" for c in range(len(COLUMNS))
                 if m.data(m.index(row, c), FULL_TEXT_ROLE)]
        QGuiApplication.clipboard().setText("\n".join(cells))
        self.status.emit("Copied the row")
