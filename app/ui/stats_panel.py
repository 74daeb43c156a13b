"""StatsPanel: capture and encode fps, bitrate, bytes sent, buffer, ack latency (from a fragment's last
byte), drops, and two small live graphs (bitrate and ack latency, units in their titles)."""

from __future__ import annotations

import time
from collections import deque
from typing import ClassVar

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from app.engine.events import StatsSample


class Sparkline(QWidget):
    def __init__(self, title: str, unit: str, colour: str, points: int = 120) -> None:
        super().__init__()
        self.title, self.unit, self.colour = title, unit, QColor(colour)
        self.values: deque[float] = deque(maxlen=points)
        self.setMinimumHeight(56)

    def add(self, value: float) -> None:
        self.values.append(value)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#f8fafc"))
        p.setPen(QColor("#cbd5e1"))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        top = max(self.values, default=0.0) or 1.0
        last = f"{self.values[-1]:,.0f} {self.unit}" if self.values else f"– {self.unit}"
        p.setPen(QColor("#334155"))
        p.drawText(self.rect().adjusted(6, 2, -6, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                   f"{self.title}: {last}")
        if len(self.values) < 2:
            return
        w, h = self.width() - 4, self.height() - 20
        step = w / max(1, len(self.values) - 1)  # the history so far spans the whole width
        path = QPainterPath()
        for i, v in enumerate(self.values):
            pt = QPointF(2 + i * step, 18 + h - v / top * h)
            path.moveTo(pt) if i == 0 else path.lineTo(pt)
        p.setPen(QPen(self.colour, 1.6))
        p.drawPath(path)


class StatsPanel(QWidget):
    """Live figures while streaming; after Stop, the rates are cleared and the rest is marked "last run".
    ``add_row`` takes further figures (an audio level, say) without changing the layout."""

    FIELDS: ClassVar[list[tuple[str, str]]] = [
        ("capture", "Capture"), ("encode", "Encode"), ("bitrate", "Bitrate"), ("sent", "Sent"),
        ("buffer", "Buffered"), ("received", "Received ack"), ("persisted", "Persisted ack"),
        ("dropped", "Dropped"), ("connection", "Connection")]
    TIPS: ClassVar[dict[str, str]] = {
        "received": "From the last fragment's last byte (sealed and sent) to its RECEIVED ack.",
        "persisted": "From the last fragment's last byte (sealed and sent) to its PERSISTED ack (RECEIVED on a "
                     "stream without retention).",
    }
    RATES: ClassVar[tuple[str, ...]] = ("capture", "encode", "bitrate")  # meaningless once stopped

    def __init__(self) -> None:
        super().__init__()
        self.mode = QLabel("Not streaming")
        self.mode.setStyleSheet("color:#475569;font-weight:bold;")
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.labels: dict[str, QLabel] = {}
        for key, title in self.FIELDS:
            self.add_row(key, title, self.TIPS.get(key, ""))
        self.bitrate_graph = Sparkline("Bitrate", "kbit/s", "#2563eb")
        self.latency_graph = Sparkline("Persisted after last byte", "ms", "#16a34a")
        self.latency_graph.setToolTip(self.TIPS["persisted"])
        layout = QVBoxLayout(self)
        layout.addWidget(self.mode)
        layout.addLayout(self.form)
        layout.addWidget(self.bitrate_graph)
        layout.addWidget(self.latency_graph)
        layout.addStretch(1)

    def add_row(self, key: str, title: str, tip: str = "") -> QLabel:
        label = QLabel("–")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setToolTip(tip)
        self.labels[key] = label
        self.form.addRow(title + ":", label)
        return label

    def reset(self) -> None:
        """A new run: nothing of the last one is shown."""
        for label in self.labels.values():
            label.setText("–")
            label.setEnabled(True)
        for graph in (self.bitrate_graph, self.latency_graph):
            graph.values.clear()
            graph.update()
        self.mode.setText("Live")
        self.mode.setStyleSheet("color:#b91c1c;font-weight:bold;")

    def mark_stopped(self, when: float | None = None) -> None:
        """After Stop: rates no longer hold; totals and latencies stay, marked as the last run's."""
        stamp = time.strftime("%H:%M:%S", time.localtime(when if when is not None else time.time()))
        self.mode.setText(f"Last run (stopped {stamp})")
        self.mode.setStyleSheet("color:#475569;font-weight:bold;")
        for key in self.RATES:
            self.labels[key].setText("–")
        for label in self.labels.values():
            label.setEnabled(False)  # greyed: history, not live

    def apply(self, s: StatsSample) -> None:
        self.labels["capture"].setText(f"{s.capture_fps:.1f} fps")
        self.labels["encode"].setText(f"{s.encode_fps:.1f} fps")
        self.labels["bitrate"].setText(f"{s.bitrate_bps / 1000:,.0f} kbit/s")
        self.labels["sent"].setText(_size(s.bytes_sent))
        plural = "" if s.buffered_fragments == 1 else "s"
        self.labels["buffer"].setText(f"{s.buffered_fragments} fragment{plural}, {s.buffered_seconds:.1f} s, "
                                      f"{_size(s.buffered_bytes)}")
        self.labels["received"].setText(_ms(s.last_received_latency_ms))
        self.labels["persisted"].setText(_ms(s.last_ack_latency_ms))
        self.labels["dropped"].setText(f"{s.dropped_frames} frames, {s.dropped_fragments} fragments")
        self.bitrate_graph.add(s.bitrate_bps / 1000)
        if s.last_ack_latency_ms is not None:
            self.latency_graph.add(s.last_ack_latency_ms)

    def set_connection(self, text: str) -> None:
        self.labels["connection"].setText(text)


def _ms(value: int | None) -> str:
    return "–" if value is None else f"{value:,} ms after last byte"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
