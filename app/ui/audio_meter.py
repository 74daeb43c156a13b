"""AudioMeter: the audio track's codec and a peak level bar (dBFS) with a short peak hold."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

FLOOR_DB = -60.0
HOLD_S = 1.5


class LevelBar(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.level_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self._peak_at = 0.0
        self.setMinimumHeight(18)
        self.setToolTip("Peak level of the audio being sent, in dBFS (0 = full scale)")

    def set_level(self, dbfs: float) -> None:
        self.level_db = max(FLOOR_DB, min(0.0, dbfs))
        now = time.monotonic()
        if self.level_db >= self.peak_db or now - self._peak_at > HOLD_S:
            self.peak_db, self._peak_at = self.level_db, now
        self.update()

    def reset(self) -> None:
        self.level_db = self.peak_db = FLOOR_DB
        self.update()

    @staticmethod
    def fraction(dbfs: float) -> float:
        return (max(FLOOR_DB, min(0.0, dbfs)) - FLOOR_DB) / -FLOOR_DB

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.fillRect(r, QColor("#1f2937"))
        grad = QLinearGradient(r.left(), 0, r.right(), 0)
        grad.setColorAt(0.0, QColor("#16a34a"))
        grad.setColorAt(self.fraction(-12), QColor("#84cc16"))
        grad.setColorAt(self.fraction(-6), QColor("#eab308"))
        grad.setColorAt(1.0, QColor("#dc2626"))
        filled = QRectF(r.left(), r.top(), r.width() * self.fraction(self.level_db), r.height())
        p.fillRect(filled, grad)
        if self.peak_db > FLOOR_DB:
            x = r.left() + r.width() * self.fraction(self.peak_db)
            p.fillRect(QRectF(x - 1.5, r.top(), 3, r.height()), QColor("#f8fafc"))
        p.setPen(QColor("#64748b"))
        for mark in (-48, -36, -24, -12, -6):  # scale ticks
            x = r.left() + r.width() * self.fraction(mark)
            p.drawLine(int(x), int(r.bottom()) - 4, int(x), int(r.bottom()))
        p.setPen(QColor("#cbd5e1"))
        p.drawRect(r)


class AudioMeter(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.codec = QLabel("No audio")
        self.codec.setWordWrap(True)
        self.codec.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = LevelBar()
        self.value = QLabel("–")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.addWidget(self.codec)
        layout.addWidget(self.bar)
        layout.addWidget(self.value)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)  # a strip, not a panel
        self.setMaximumHeight(self.sizeHint().height() + 16)

    def set_codec(self, text: str) -> None:
        self.codec.setText(text or "No audio")

    def set_level(self, dbfs: float) -> None:
        self.bar.set_level(dbfs)
        self.value.setText("silence" if dbfs <= FLOOR_DB else f"{dbfs:.1f} dBFS")

    def reset(self) -> None:
        self.bar.reset()
        self.value.setText("–")
