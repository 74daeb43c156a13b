"""MainWindow: layout and wiring only. Logic lives in the engine and in plain objects; the window
hears about work through signals and never waits for the network."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.engine.engine import StreamSettings
from app.engine.events import ConnectionState, EngineMessage, EngineStopped, FragmentUpdate, PreviewFrame, StatsSample
from app.localkvs.embedded import DEMO_STREAM, EmbeddedEndpoint
from app.media.audio import list_microphones
from app.ui.audio_meter import AudioMeter
from app.ui.controller import EngineController
from app.ui.destination import LOCAL, DestinationPicker
from app.ui.devices import list_cameras
from app.ui.fragment_model import FragmentTableModel
from app.ui.log_panel import LogPanel
from app.ui.preview import PreviewWidget
from app.ui.stats_panel import StatsPanel
from app.ui.tags_editor import TagsEditor

log = logging.getLogger("kvs-studio")
RESOLUTIONS = [(320, 240), (640, 360), (1280, 720), (1920, 1080)]
FPS = [15, 25, 30]
BITRATES = [500, 1000, 2000, 4000]
BANNER_STYLES = {
    "error": "background:#fee2e2;color:#7f1d1d;border:1px solid #fca5a5;",
    "warning": "background:#fef3c7;color:#78350f;border:1px solid #fcd34d;",
    "ok": "background:#dcfce7;color:#14532d;border:1px solid #86efac;",
    "info": "background:#e0f2fe;color:#0c4a6e;border:1px solid #7dd3fc;",
}


def app_icon() -> QIcon:
    path = Path(__file__).resolve().parents[2] / "resources" / "kvs-studio.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


class MainWindow(QMainWindow):
    def __init__(self, embedded: EmbeddedEndpoint | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("KVS Studio")
        self.setWindowIcon(app_icon())
        self.settings = settings or QSettings()
        self.embedded = embedded or EmbeddedEndpoint()
        self.controller = EngineController(self)
        self.model = FragmentTableModel()
        self._retry_deadline: float | None = None
        self._retry_text = ""
        self._stop_total = 0
        self._close_after_stop = False
        self._build()
        self._wire()
        self._restore()

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.source = QComboBox()
        for index, name in list_cameras():
            self.source.addItem(f"Camera {index}: {name}", f"camera:{index}")
        self.source.addItem("Test pattern", "testpattern")
        self.source.addItem("Video file…", "file")
        self.resolution = QComboBox()
        for w, h in RESOLUTIONS:
            self.resolution.addItem(f"{w}×{h}", f"{w}x{h}")  # Qt keeps strings, not tuples
        self.fps = QComboBox()
        for f in FPS:
            self.fps.addItem(f"{f} fps", f)
        self.bitrate = QComboBox()
        for b in BITRATES:
            self.bitrate.addItem(f"{b} kbit/s", b)
        self.sound = QComboBox()
        self.sound.addItem("Auto (a file's own sound)", "auto")
        self.sound.addItem("Off", "off")
        self.sound.addItem("Test tone (440 Hz beeps)", "tone")
        for name in list_microphones():
            self.sound.addItem(f"Microphone: {name}", f"mic:{name}")
        self.sound.setToolTip("The audio track: a file's first audio track, a generated tone or a microphone "
                              "(cameras and the test pattern)")
        source_box = QGroupBox("Source")
        sf = QFormLayout(source_box)
        sf.addRow("Input:", self.source)
        sf.addRow("Resolution:", self.resolution)
        sf.addRow("Frame rate:", self.fps)
        sf.addRow("Bitrate:", self.bitrate)
        sf.addRow("Sound:", self.sound)
        self.tags_editor = TagsEditor()
        tags_box = QGroupBox("Fragment metadata")
        QVBoxLayout(tags_box).addWidget(self.tags_editor)

        self.picker = DestinationPicker(self.embedded)
        dest_box = QGroupBox("Where to")
        QVBoxLayout(dest_box).addWidget(self.picker)

        self.start_button = QPushButton("Start")
        self.start_button.setMinimumHeight(36)
        self.start_button.setStyleSheet("font-weight:bold;")
        self.stop_progress = QProgressBar()
        self.stop_progress.setFormat("Sending the last fragments… %v left")
        self.stop_progress.hide()

        side = QWidget()
        side.setMaximumWidth(360)
        sl = QVBoxLayout(side)
        sl.addWidget(source_box)
        sl.addWidget(dest_box)
        sl.addWidget(tags_box)
        sl.addWidget(self.start_button)
        sl.addWidget(self.stop_progress)
        sl.addStretch(1)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(8, 6, 8, 6)
        self.banner.hide()
        self.preview = PreviewWidget()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.preview)
        self.split.addWidget(self.table)
        self.split.setSizes([420, 260])
        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.banner)
        cl.addWidget(self.split, 1)
        main = QWidget()
        ml = QHBoxLayout(main)
        ml.addWidget(side)
        ml.addWidget(center, 1)
        self.setCentralWidget(main)

        self.stats = StatsPanel()
        stats_dock = QDockWidget("Stats", self)
        stats_dock.setObjectName("stats")
        stats_dock.setWidget(self.stats)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, stats_dock)
        self.audio_meter = AudioMeter()
        audio_dock = QDockWidget("Audio", self)
        audio_dock.setObjectName("audio")
        audio_dock.setWidget(self.audio_meter)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, audio_dock)
        self.log_panel = LogPanel()
        log_dock = QDockWidget("Log", self)
        log_dock.setObjectName("log")
        log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, log_dock)
        logging.getLogger().addHandler(self.log_panel.handler)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)
        self.resize(1280, 820)
        self._countdown = QTimer(self)
        self._countdown.setInterval(200)
        self._countdown.timeout.connect(self._tick_countdown)
        self._recovered_timer = QTimer(self)  # owned by the window, so it dies with it
        self._recovered_timer.setSingleShot(True)
        self._recovered_timer.timeout.connect(self._hide_recovered)
        self.resizeDocks([log_dock], [170], Qt.Orientation.Vertical)
        self.resizeDocks([stats_dock], [280], Qt.Orientation.Horizontal)

    def _wire(self) -> None:
        c = self.controller
        c.started.connect(self._on_started)
        c.prepare_failed.connect(self._on_prepare_failed)
        c.fragment.connect(self._on_fragment)
        c.connection.connect(self._on_connection)
        c.stats.connect(self._on_stats)
        c.preview.connect(self._on_preview)
        c.message.connect(self._on_message)
        c.stopped.connect(self._on_stopped)
        c.audio_level.connect(lambda ev: self.audio_meter.set_level(ev.peak_dbfs))
        self.tags_editor.tag_set.connect(c.set_tag)
        self.tags_editor.tag_removed.connect(c.remove_tag)
        self.tags_editor.tag_once.connect(c.tag_next_fragment)
        self.start_button.clicked.connect(self._start_or_stop)
        self.source.activated.connect(self._source_chosen)
        self.picker.error.connect(lambda text: self.show_banner(text, "error"))
        self.picker.info.connect(lambda text: log.info("%s", text))
        self.picker.streams_loaded.connect(
            lambda names: log.info("%d stream%s listed", len(names), "" if len(names) == 1 else "s"))

    # -- settings (never a secret) ---------------------------------------------------------------

    def _restore(self) -> None:
        s = self.settings
        first_run = s.value("region") is None
        self._select_data(self.source, s.value("source", "testpattern"))
        self._select_data(self.resolution, str(s.value("resolution", "1280x720")))
        self._select_data(self.fps, int(s.value("fps", 30)))
        self._select_data(self.bitrate, int(s.value("bitrate", 2000)))
        region = str(s.value("region", LOCAL))
        stream = str(s.value("stream", DEMO_STREAM if first_run else ""))
        legacy_profile = str(s.value("profile", ""))  # before saved credentials, only a profile was kept
        credentials = str(s.value("credentials", f"profile:{legacy_profile}" if legacy_profile else ""))
        self.picker.select(region, credentials, stream)
        if self.picker.is_local():
            self.picker.load_streams()  # the region signal does not fire for the default item
        if s.value("geometry") is not None:
            self.restoreGeometry(s.value("geometry"))  # type: ignore[arg-type]
            self.restoreState(s.value("state"))  # type: ignore[arg-type]
        if first_run:
            log.info("First run: streaming to the local endpoint (offline) with the test pattern. "
                     "Pick a region and credentials to stream to AWS.")

    def _save(self) -> None:
        s = self.settings
        data = self.source.currentData()
        s.setValue("source", data if data != "file" else "testpattern")
        s.setValue("resolution", self.resolution.currentData())
        s.setValue("fps", self.fps.currentData())
        s.setValue("bitrate", self.bitrate.currentData())
        s.setValue("region", self.picker.region.currentData())
        s.setValue("credentials", self.picker.chooser.to_remember())  # a name ("keyring:work"), never a secret
        s.remove("profile")
        s.setValue("stream", self.picker.stream_name())
        s.setValue("geometry", self.saveGeometry())
        s.setValue("state", self.saveState())
        s.sync()

    @staticmethod
    def _select_data(combo: QComboBox, value: object) -> None:
        i = combo.findData(value)
        if i >= 0:
            combo.setCurrentIndex(i)

    # -- actions -----------------------------------------------------------------------------------

    def _source_chosen(self) -> None:
        if self.source.currentData() != "file":
            return
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", "",
                                              "Video (*.mp4 *.mkv *.mov *.webm *.avi *.ts);;All files (*)")
        if path:
            self.add_file_source(path)
        else:
            self._select_data(self.source, "testpattern")

    def add_file_source(self, path: str) -> None:
        i = self.source.findData(path)
        if i < 0:
            self.source.insertItem(self.source.count() - 1, f"File: {Path(path).name}", path)
            i = self.source.findData(path)
        self.source.setCurrentIndex(i)

    def build_settings(self) -> StreamSettings:
        dest = self.picker.destination()
        w, h = (int(x) for x in str(self.resolution.currentData()).split("x"))
        source = str(self.source.currentData())
        live = source == "testpattern" or source.startswith("camera:")
        sound = str(self.sound.currentData())
        return StreamSettings(
            audio=sound != "off", tone=sound == "tone", mic=sound[4:] if sound.startswith("mic:") else None,
            tags=self.tags_editor.persistent(), tags_once=self.tags_editor.pending_once(),
            stream=self.picker.stream_name(), source=source, region=dest.region,
            profile=dest.profile, endpoint_url=dest.endpoint_url, access_key=dest.access_key,
            secret_key=dest.secret_key, width=w, height=h,
            fps=float(self.fps.currentData()) if live else None,  # a file keeps its own rate
            bitrate_kbps=int(self.bitrate.currentData()), preview=True, keyring_entry=dest.keyring_entry)

    def _start_or_stop(self) -> None:
        if self.controller.stopping:
            log.warning("Forced stop: fragments not yet acknowledged are dropped.")
            self.controller.force_stop()
        elif self.controller.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        if not self.picker.stream_name():
            self.show_banner("Pick or type a stream name first (or create one with New stream…).", "error")
            return
        try:
            settings = self.build_settings()
        except Exception as exc:
            self.show_banner(f"Cannot start: {exc}", "error")
            return
        self._save()
        self.hide_banner()
        self.model.clear()
        self._set_inputs_enabled(False)
        self.start_button.setText("Starting…")
        self.start_button.setEnabled(False)
        log.info("Starting: %s to stream %s (%s)", self.source.currentText(), settings.stream,
                 "local endpoint" if self.picker.is_local() else settings.region)
        self.controller.start(settings)

    def stop(self) -> None:
        self._stop_total = 0
        self.controller.stop()
        self.start_button.setText("Force stop")
        self.stop_progress.setRange(0, 0)
        self.stop_progress.show()
        log.info("Stopping: sending what is buffered and waiting for its acknowledgements.")

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for w in (self.source, self.resolution, self.fps, self.bitrate, self.sound, self.picker):
            w.setEnabled(enabled)

    # -- engine events -----------------------------------------------------------------------------

    def _on_started(self) -> None:
        self.start_button.setText("Stop")
        self.start_button.setEnabled(True)
        self.preview.set_live(True)

    def _on_prepare_failed(self, message: str) -> None:
        self.show_banner(message, "error")
        log.error("%s", message)
        self._reset_controls()

    def _on_fragment(self, ev: FragmentUpdate) -> None:
        bar = self.table.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2
        self.model.apply(ev)
        if ev.tags and ev.state == "QUEUED":
            self.tags_editor.fragment_started(ev.tags)
        if follow:
            self.table.scrollToBottom()
        if ev.state == "ERROR" and ev.error_code:
            log.warning("Fragment %d: %s (%s): %s", ev.seq, ev.error_code, ev.error_id, ev.error_meaning)

    def _on_connection(self, ev: ConnectionState) -> None:
        text = {"connecting": "connecting…", "connected": "connected", "recovered": "connected (recovered)",
                "stopped": "stopped", "gave_up": "gave up"}.get(ev.state, ev.state)
        if ev.state == "reconnecting" and ev.retry_in_s is not None:
            self._retry_deadline = time.monotonic() + ev.retry_in_s
            self._retry_text = f"Connection lost ({ev.reason}). Reconnecting, attempt {ev.attempt}"
            self._countdown.start()
            self._tick_countdown()
            self.stats.set_connection(f"reconnecting (attempt {ev.attempt})")
            log.warning("Reconnecting (attempt %d, next try in %.1f s): %s", ev.attempt, ev.retry_in_s, ev.reason)
            return
        self.stats.set_connection(text)
        if ev.state == "recovered":
            self._countdown.stop()
            self.show_banner("Connection recovered; unacknowledged fragments are being sent again.", "ok")
            self._recovered_timer.start(4000)
            log.info("Connection recovered")
        elif ev.state == "connected":
            log.info("Connected to %s", ev.endpoint)

    def _hide_recovered(self) -> None:
        if self.banner.text().startswith("Connection recovered"):
            self.hide_banner()

    def _tick_countdown(self) -> None:
        if self._retry_deadline is None:
            return
        left = max(0.0, self._retry_deadline - time.monotonic())
        self.show_banner(f"{self._retry_text} — next try in {left:.1f} s", "warning")
        if left <= 0:
            self._countdown.stop()

    def _on_stats(self, s: StatsSample) -> None:
        self.stats.apply(s)
        self.audio_meter.set_codec(s.audio_codec)
        if self.controller.stopping:
            self._stop_total = max(self._stop_total, s.buffered_fragments)
            self.stop_progress.setRange(0, self._stop_total)
            self.stop_progress.setValue(s.buffered_fragments)

    def _on_preview(self, ev: PreviewFrame) -> None:
        self.preview.show_frame(ev.image)

    def _on_message(self, ev: EngineMessage) -> None:
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(ev.level, logging.ERROR)
        log.log(level, "%s", ev.text)
        if ev.level == "error":
            self.show_banner(ev.text, "error")

    def _on_stopped(self, ev: EngineStopped) -> None:
        self._countdown.stop()
        summary = (f"Stopped: {ev.produced} fragments, {ev.frames} frames; {ev.acknowledged} acknowledged, "
                   f"{ev.failed} refused, {ev.dropped} dropped.")
        log.info("%s", summary)
        if not ev.ok and ev.error:
            self.show_banner(ev.error, "error")
        elif not ev.ok and ev.produced:
            self.show_banner(f"{summary} Not every fragment was acknowledged.", "warning")
        elif self.banner.isVisible() and not self.banner.text().startswith("Connection recovered"):
            self.hide_banner()
        self._reset_controls()
        if self._close_after_stop:
            self.close()

    def _reset_controls(self) -> None:
        self.preview.set_live(False)
        self.audio_meter.reset()
        self.stop_progress.hide()
        self.start_button.setText("Start")
        self.start_button.setEnabled(True)
        self._set_inputs_enabled(True)

    # -- banner ----------------------------------------------------------------------------------------

    def show_banner(self, text: str, kind: str = "info") -> None:
        self.banner.setStyleSheet(BANNER_STYLES[kind] + "border-radius:4px;padding:2px;")
        self.banner.setText(text)
        self.banner.setProperty("kind", kind)
        self.banner.show()

    def hide_banner(self) -> None:
        self.banner.hide()
        self.banner.setText("")

    # -- closing ---------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.running and not self._close_after_stop:
            # Nothing captured is thrown away: stop, send, then close.
            self._close_after_stop = True
            self.stop()
            self.show_banner("Closing after the last fragments are acknowledged (close again to quit now).", "info")
            event.ignore()
            return
        if self.controller.running:
            self.controller.force_stop()
        self._save()
        logging.getLogger().removeHandler(self.log_panel.handler)
        self.embedded.stop()
        event.accept()
