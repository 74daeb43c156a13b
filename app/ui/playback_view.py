"""PlaybackView: "did my video arrive?" — the selected stream's last N seconds (or a chosen range) fetched
back from the service, decoded off the UI thread (app/kvs/playback.py), played with a scrubber and each
frame's producer timestamp and fragment number."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.kvs.playback import Clip
from app.ui.preview import PreviewWidget

LAST_SECONDS = [10, 30, 60, 300]


class PlaybackView(QWidget):
    fetch_requested = Signal(object, object)  # start_ms, end_ms (producer time; too big for a C++ int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clip: Clip | None = None
        self.range = QComboBox()
        for s in LAST_SECONDS:
            self.range.addItem(f"Last {s} s" if s < 60 else f"Last {s // 60} min", s)
        self.range.addItem("Time range…", 0)
        self.start_edit = QDateTimeEdit()
        self.end_edit = QDateTimeEdit()
        for edit in (self.start_edit, self.end_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setCalendarPopup(True)
            edit.hide()
        self.fetch_button = QPushButton("Fetch from the service")
        self.fetch_button.setToolTip("ListFragments + GetMediaForFragmentList on the stream's data endpoint, "
                                     "decoded here: what a viewer would get back.")
        top = QHBoxLayout()
        top.addWidget(QLabel("Play back:"))
        top.addWidget(self.range)
        top.addWidget(self.start_edit)
        top.addWidget(self.end_edit)
        top.addWidget(self.fetch_button)
        top.addStretch(1)
        self.screen = PreviewWidget()
        self.screen.set_placeholder("Fetch the stream's recent video to see what the service stored.")
        self.play_button = QPushButton("▶")
        self.play_button.setFixedWidth(36)
        self.play_button.setEnabled(False)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setEnabled(False)
        self.position = QLabel("")
        self.position.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom = QHBoxLayout()
        bottom.addWidget(self.play_button)
        bottom.addWidget(self.scrubber, 1)
        bottom.addWidget(self.position)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.screen, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.summary)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._next_frame)
        self.range.currentIndexChanged.connect(self._range_changed)
        self.fetch_button.clicked.connect(self.fetch)
        self.play_button.clicked.connect(self.toggle_play)
        self.scrubber.valueChanged.connect(self.show_index)

    # -- fetching ----------------------------------------------------------------------------------

    def _range_changed(self) -> None:
        custom = self.range.currentData() == 0
        if custom and self.start_edit.isHidden():
            now = QDateTime.currentDateTime()
            self.start_edit.setDateTime(now.addSecs(-60))
            self.end_edit.setDateTime(now)
        self.start_edit.setVisible(custom)
        self.end_edit.setVisible(custom)

    def wanted_range(self, now: Callable[[], float] = time.time) -> tuple[int, int]:
        seconds = int(self.range.currentData())
        if seconds:
            end = int(now() * 1000)
            return end - seconds * 1000, end
        return self.start_edit.dateTime().toMSecsSinceEpoch(), self.end_edit.dateTime().toMSecsSinceEpoch()

    def fetch(self) -> None:
        start, end = self.wanted_range()
        if end <= start:
            self.show_reason("The end of the range is before its start.")
            return
        self.stop()
        self.fetch_button.setEnabled(False)
        self.fetch_button.setText("Fetching…")
        self.summary.setText("Asking the service for the fragments in this range…")
        self.fetch_requested.emit(start, end)

    def fetch_failed(self, message: str) -> None:
        self._fetch_done()
        self.show_reason(message)

    def _fetch_done(self) -> None:
        self.fetch_button.setEnabled(True)
        self.fetch_button.setText("Fetch from the service")

    def show_clip(self, clip: Clip) -> None:
        self._fetch_done()
        self.clip = clip
        if not clip.playable:
            self.show_reason(clip.reason or "Nothing to play.")
            return
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, len(clip.frames) - 1)
        self.scrubber.setValue(0)
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(True)
        self.play_button.setEnabled(True)
        first, last = clip.frames[0].producer_ms, clip.frames[-1].producer_ms
        thinned = f" (1 in {clip.thinned} kept)" if clip.thinned > 1 else ""
        self.summary.setText(f"{len(clip.fragments)} fragment{'s' if len(clip.fragments) != 1 else ''}, "
                             f"{len(clip.frames)} frames{thinned}, {_clock(first)} – {_clock(last)} "
                             f"(producer time), {clip.fps:.0f} fps.")
        self.summary.setStyleSheet("")
        self.show_index(0)
        self.play()

    def show_reason(self, text: str) -> None:
        self.stop()
        self.scrubber.setEnabled(False)
        self.play_button.setEnabled(False)
        self.position.setText("")
        self.screen.clear(f"Nothing to play: {text}")
        self.summary.setText(text)
        self.summary.setStyleSheet("color:#b45309;")

    # -- playing -----------------------------------------------------------------------------------

    def show_index(self, i: int) -> None:
        if self.clip is None or not self.clip.frames:
            return
        frame = self.clip.frames[max(0, min(i, len(self.clip.frames) - 1))]
        self.screen.show_frame(frame.image)
        self.position.setText(f"{_clock(frame.producer_ms)}  fragment …{frame.fragment[-8:]}")
        self.position.setToolTip(f"Producer timestamp {frame.producer_ms} ms; fragment {frame.fragment}")
        if self.scrubber.value() != i:
            self.scrubber.blockSignals(True)
            self.scrubber.setValue(i)
            self.scrubber.blockSignals(False)

    def play(self) -> None:
        if self.clip is None or not self.clip.frames:
            return
        fps = self.clip.fps / max(1, self.clip.thinned) if self.clip.fps else 15.0
        self._timer.start(max(10, round(1000 / max(1.0, fps))))
        self.play_button.setText("⏸")

    def stop(self) -> None:
        self._timer.stop()
        self.play_button.setText("▶")

    def toggle_play(self) -> None:
        if self._timer.isActive():
            self.stop()
        else:
            if self.clip is not None and self.scrubber.value() >= len(self.clip.frames) - 1:
                self.show_index(0)
            self.play()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _next_frame(self) -> None:
        if self.clip is None:
            self.stop()
            return
        i = self.scrubber.value() + 1
        if i >= len(self.clip.frames):
            self.stop()
            return
        self.show_index(i)


def _clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000)) + f".{ms % 1000:03d}"
