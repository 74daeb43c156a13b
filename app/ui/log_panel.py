"""LogPanel: the app's log with a level filter, search, copy and "Save log…". Lines arrive already
redacted (app/logging_setup.py), so no secret reaches the screen or the saved file."""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.logging_setup import CallbackHandler

MAX_LINES = 20_000
LEVELS = [("Debug", logging.DEBUG), ("Info", logging.INFO), ("Warning", logging.WARNING), ("Error", logging.ERROR)]


class _Bridge(QObject):
    line = Signal(int, str)


class LogPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self._lines: deque[tuple[int, str]] = deque(maxlen=MAX_LINES)
        self._bridge = _Bridge()
        self._bridge.line.connect(self.add_line)
        self.handler = CallbackHandler(lambda level, text: self._bridge.line.emit(level, text))
        self.level = QComboBox()
        for name, value in LEVELS:
            self.level.addItem(name, value)
        self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self._refilter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the log")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._refilter)
        copy = QPushButton("Copy")
        copy.clicked.connect(self.copy)
        save = QPushButton("Save log…")
        save.clicked.connect(self._save_dialog)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        bar = QHBoxLayout()
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(copy)
        bar.addWidget(save)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view)

    def add_line(self, level: int, text: str) -> None:
        self._lines.append((level, text))
        if self._visible(level, text):
            self.view.appendPlainText(text)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.view.toPlainText())

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(text for _, text in self._lines) + "\n")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save log", "kvs-studio.log", "Log files (*.log *.txt)")
        if path:
            self.save(path)

    def _visible(self, level: int, text: str) -> bool:
        needle = self.search.text().strip().lower()
        return level >= int(self.level.currentData()) and (not needle or needle in text.lower())

    def _refilter(self) -> None:
        self.view.setPlainText("\n".join(t for lv, t in self._lines if self._visible(lv, t)))
