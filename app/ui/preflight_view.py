"""PreflightView: the checklist shown before Start (app/kvs/preflight.py does the checking)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from app.kvs.preflight import PreflightResult, Status

MARKS = {Status.OK: ("✓", "#15803d"), Status.WARNING: ("!", "#b45309"), Status.FAILED: ("✗", "#b91c1c"),
         Status.SKIPPED: ("–", "#6b7280")}
NAMES = ("Credentials", "Stream", "Retention", "Clock", "Source")


class PreflightView(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("preflight")
        self.setStyleSheet("#preflight{background:#f8fafc;border:1px solid #cbd5e1;border-radius:4px;}")
        self.title = QLabel("Checks before Start")
        self.title.setStyleSheet("font-weight:bold;")
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(3)
        self.grid.setColumnStretch(2, 1)
        self.rows: dict[str, tuple[QLabel, QLabel]] = {}
        for i, name in enumerate(NAMES):
            mark, text = QLabel("…"), QLabel("")
            mark.setFixedWidth(14)
            mark.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            title = QLabel(name)
            title.setAlignment(Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(mark, i, 0)
            self.grid.addWidget(title, i, 1)
            self.grid.addWidget(text, i, 2)
            self.rows[name] = (mark, text)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.title)
        layout.addLayout(self.grid)
        self.hide()

    def checking(self) -> None:
        self.title.setText("Checking before Start…")
        for mark, text in self.rows.values():
            mark.setText("…")
            mark.setStyleSheet("color:#6b7280;")
            text.setText("")
        self.show()

    def show_result(self, result: PreflightResult) -> None:
        if result.failed:
            self.title.setText("Cannot start yet: fix what is marked ✗")
        elif result.warnings:
            self.title.setText("Checks passed, with warnings")
        else:
            self.title.setText("All checks passed")
        for name, (mark, text) in self.rows.items():
            check = result.get(name)
            if check is None:
                mark.setText("–")
                text.setText("")
                continue
            symbol, colour = MARKS[check.status]
            mark.setText(symbol)
            mark.setStyleSheet(f"color:{colour};font-weight:bold;")
            text.setText(check.text)
            text.setStyleSheet(f"color:{colour};" if check.status in (Status.FAILED, Status.WARNING) else "")
        self.show()

    def status_of(self, name: str) -> str:
        return self.rows[name][0].text()

    def text_of(self, name: str) -> str:
        return self.rows[name][1].text()
