"""PreviewWidget: draws only the newest frame, aspect-correct, with a LIVE badge and elapsed time.

Frames arrive as BGR arrays, already scaled down by the engine (app/media/thumbnail.py); only the newest
is kept, so a slow screen never slows capture.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class PreviewWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._live_since: float | None = None
        self._frames_shown = 0
        self._placeholder = "Press Start to stream"
        self._tick = QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self.update)

    @property
    def frames_shown(self) -> int:
        return self._frames_shown

    @property
    def image(self) -> QImage | None:
        return self._image

    def aspect(self) -> float:
        """Width over height of the picture shown (16:9 before any)."""
        if self._image is None or self._image.height() == 0:
            return 16 / 9
        return self._image.width() / self._image.height()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        self._image = None
        if placeholder is not None:
            self._placeholder = placeholder
        self.update()

    def show_frame(self, bgr: np.ndarray) -> None:
        bgr = np.ascontiguousarray(bgr)
        h, w, _ = bgr.shape
        self._image = QImage(bgr.data, w, h, 3 * w, QImage.Format.Format_BGR888).copy()  # Qt reads BGR itself
        self._frames_shown += 1
        self.update()

    def set_live(self, live: bool) -> None:
        self._live_since = time.monotonic() if live else None
        if live:
            self._tick.start()
        else:
            self._tick.stop()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#0b0f14"))
        if self._image is None:
            p.setPen(QColor("#9ca3af"))
            p.drawText(self.rect().adjusted(16, 16, -16, -16),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        img = self._image
        scale = min(self.width() / img.width(), self.height() / img.height())
        w, h = int(img.width() * scale), int(img.height() * scale)
        target = QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(target, img)
        if self._live_since is not None:
            elapsed = int(time.monotonic() - self._live_since)
            badge = f"LIVE  {elapsed // 3600:d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
            font = QFont(self.font())
            font.setBold(True)
            p.setFont(font)
            box = QRect(target.left() + 10, target.top() + 10, p.fontMetrics().horizontalAdvance(badge) + 16, 24)
            p.fillRect(box, QColor("#dc2626"))
            p.setPen(QColor("white"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
