"""MainWindow: layout and wiring only. Logic lives in the engine and in plain objects; the window
hears about work through signals and never waits for the network."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.engine.engine import StreamSettings, open_run_source
from app.engine.events import (
    ConnectionState,
    EngineMessage,
    EngineStopped,
    FragmentProgress,
    FragmentUpdate,
    PreviewFrame,
    StatsSample,
)
from app.kvs.playback import Clip, fetch_clip
from app.kvs.preflight import PreflightResult, run_preflight
from app.localkvs.embedded import DEMO_STREAM, REGION, EmbeddedEndpoint
from app.media.audio import list_microphones
from app.ui.audio_meter import AudioMeter
from app.ui.controller import EngineController
from app.ui.destination import LOCAL, DestinationPicker
from app.ui.fragment_model import FragmentTableModel
from app.ui.fragment_table import CommandTarget, FragmentTable
from app.ui.local_data import LocalDataBox
from app.ui.log_panel import LogPanel
from app.ui.playback_view import PlaybackView
from app.ui.preflight_view import PreflightView
from app.ui.preview import PreviewWidget
from app.ui.source_picker import FILE, TESTPATTERN, SourcePicker
from app.ui.stats_panel import StatsPanel
from app.ui.tags_editor import TagsEditor
from app.ui.tasks import Task

log = logging.getLogger("kvs-studio")
RESOLUTIONS = [(320, 240), (640, 360), (1280, 720), (1920, 1080)]
FPS = [15, 25, 30]
BITRATES = [500, 1000, 2000, 4000]
MIN_TABLE_PX = 150  # the fragment table keeps at least this much when the picture is fitted
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
        self._tasks: set[Task] = set()
        self._run_stream = ""  # the stream of the rows in the table
        self._live_stats = False  # stats samples belong to a run under way
        self._user_split = False  # the user moved the splitter: stop fitting it to the picture
        self._endpoints: dict[tuple[str, str, str | None], str] = {}  # (region, stream, profile) -> data endpoint
        self._build()
        self._wire()
        self._restore()

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.source_picker = SourcePicker()
        self.source = self.source_picker.combo
        self.resolution = QComboBox()
        for w, h in RESOLUTIONS:
            self.resolution.addItem(f"{w}×{h}", f"{w}x{h}")  # Qt keeps strings, not tuples
        self.resolution.setToolTip("A camera gives the nearest size it has (the camera list does not say which "
                                   "sizes each supports); the picture is scaled to this size.")
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
        sf.addRow("Input:", self.source_picker)
        sf.addRow("Resolution:", self.resolution)
        sf.addRow("Frame rate:", self.fps)
        sf.addRow("Bitrate:", self.bitrate)
        self.copy_box = QCheckBox("Upload as recorded (no re-encode)")  # files only: sends their H.264 as it is
        self.copy_box.setToolTip("Send the file's H.264 video without decoding it: fast, and exactly as recorded. "
                                 "Needs H.264 with key frames at most 10 s apart.")
        sf.addRow(self.copy_box)
        self._update_copy_box()
        sf.addRow("Sound:", self.sound)
        self.tags_editor = TagsEditor()
        tags_box = QGroupBox("Fragment metadata")
        QVBoxLayout(tags_box).addWidget(self.tags_editor)

        self.picker = DestinationPicker(self.embedded)
        self.local_data = LocalDataBox(self.embedded, self.picker._run)
        dest_box = QGroupBox("Where to")
        dl = QVBoxLayout(dest_box)
        dl.addWidget(self.picker)
        dl.addWidget(self.local_data)

        self.start_button = QPushButton("Start")
        self.start_button.setMinimumHeight(36)
        self.start_button.setStyleSheet("font-weight:bold;")
        self.start_button.setToolTip("Checks, then streams (Ctrl+Enter). Stop sends what is captured first.")
        self.stop_progress = QProgressBar()
        self.stop_progress.setFormat("Sending the last fragments… %v left")
        self.stop_progress.hide()
        self.preflight = PreflightView()

        side_inner = QWidget()
        sl = QVBoxLayout(side_inner)
        sl.setContentsMargins(0, 0, 4, 0)
        sl.addWidget(source_box)
        sl.addWidget(dest_box)
        sl.addWidget(self.preflight)
        sl.addWidget(tags_box)
        sl.addStretch(1)
        self.side_scroll = QScrollArea()  # the checklist must never be squeezed: scroll when the window is short
        self.side_scroll.setWidget(side_inner)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side = QWidget()  # Start/Stop stays in sight below the settings, however short the window
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.side_scroll, 1)
        side_layout.addWidget(self.start_button)
        side_layout.addWidget(self.stop_progress)
        side.setMaximumWidth(360)
        side.setMinimumWidth(300)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(8, 6, 8, 6)
        self.banner.hide()
        self.preview = PreviewWidget()
        self.playback = PlaybackView()
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.addTab(self.preview, "Live")
        self.views.addTab(self.playback, "Playback")
        self.views.setTabToolTip(1, "Did my video arrive? Fetch what the service stored and play it.")
        self.table = FragmentTable(self.model)
        self.table.command_target = self._command_target
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setContentsMargins(4, 2, 4, 2)
        self.detail.hide()
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(2)
        ll.addWidget(self.table, 1)
        ll.addWidget(self.detail)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.views)
        self.split.addWidget(lower)
        self.split.setChildrenCollapsible(False)
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
        self.stats_dock = QDockWidget("Stats", self)
        self.stats_dock.setObjectName("stats")
        self.stats_dock.setWidget(self.stats)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.stats_dock)
        self.audio_meter = AudioMeter()
        audio_dock = QDockWidget("Audio", self)
        audio_dock.setObjectName("audio")
        audio_dock.setWidget(self.audio_meter)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, audio_dock)
        self.log_panel = LogPanel()
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("log")
        self.log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        logging.getLogger().addHandler(self.log_panel.handler)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)
        self._build_status_bar()
        self._build_menus()
        self.resize(1280, 820)
        self._countdown = QTimer(self)
        self._countdown.setInterval(200)
        self._countdown.timeout.connect(self._tick_countdown)
        self._recovered_timer = QTimer(self)  # owned by the window, so it dies with it
        self._recovered_timer.setSingleShot(True)
        self._recovered_timer.timeout.connect(self._hide_recovered)
        self.resizeDocks([self.log_dock], [170], Qt.Orientation.Vertical)
        self.resizeDocks([self.stats_dock], [280], Qt.Orientation.Horizontal)

    def _build_status_bar(self) -> None:
        """Connection, bitrate and drops where they can be seen when the Stats dock is closed."""
        bar = QStatusBar()
        self.setStatusBar(bar)
        self.status_labels: dict[str, QLabel] = {}
        for key in ("connection", "bitrate", "dropped"):
            label = QLabel("")
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
            self.status_labels[key] = label
        self._show_status_figures(False)

    def _show_status_figures(self, shown: bool) -> None:
        for label in self.status_labels.values():
            label.setVisible(shown)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        stream = bar.addMenu("&Stream")
        self.start_action = QAction("Start", self)
        self.start_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.start_action.triggered.connect(self._start_or_stop)
        stream.addAction(self.start_action)
        self.check_action = QAction("Check before streaming", self)
        self.check_action.triggered.connect(lambda: self.run_checks(start_after=False))
        stream.addAction(self.check_action)
        self.playback_action = QAction("Play back what was stored", self)
        self.playback_action.setShortcut(QKeySequence("Ctrl+P"))
        self.playback_action.triggered.connect(self.show_playback)
        stream.addAction(self.playback_action)
        stream.addSeparator()
        self.clear_action = QAction("Clear local data…", self)
        self.clear_action.triggered.connect(self.local_data.ask_clear)
        stream.addAction(self.clear_action)
        stream.addSeparator()
        close = QAction("Close window", self)
        close.setShortcut(QKeySequence.StandardKey.Close)  # Ctrl+W
        close.triggered.connect(self.close)
        stream.addAction(close)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))  # StandardKey.Quit is empty on Windows
        quit_action.triggered.connect(self.close)
        stream.addAction(quit_action)
        view = bar.addMenu("&View")
        view.addAction(self.stats_dock.toggleViewAction())
        view.addAction(self.log_dock.toggleViewAction())
        view.addMenu(self.table.column_menu())
        view.aboutToShow.connect(lambda: self._refresh_columns_menu(view))

    def _refresh_columns_menu(self, view: object) -> None:
        from PySide6.QtWidgets import QMenu

        assert isinstance(view, QMenu)
        for action in view.actions():
            if action.menu() is not None:
                view.removeAction(action)
        view.addMenu(self.table.column_menu())

    def _wire(self) -> None:
        c = self.controller
        c.started.connect(self._on_started)
        c.prepare_failed.connect(self._on_prepare_failed)
        c.fragment.connect(self._on_fragment)
        c.progress.connect(self._on_progress)
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
        self.source.currentIndexChanged.connect(self._update_copy_box)
        self.copy_box.toggled.connect(self._update_copy_box)
        self.picker.error.connect(lambda text: self.show_banner(text, "error"))
        self.picker.info.connect(lambda text: log.info("%s", text))
        self.picker.streams_loaded.connect(
            lambda names: log.info("%d stream%s listed", len(names), "" if len(names) == 1 else "s"))
        self.picker.region.currentIndexChanged.connect(self._region_shown)
        self.local_data.cleared.connect(self._local_cleared)
        self.playback.fetch_requested.connect(self._fetch_playback)
        self.table.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._show_detail(cur.row()))
        self.stats_dock.visibilityChanged.connect(lambda shown: self._show_status_figures(not shown))
        self.split.splitterMoved.connect(self._split_moved)
        self.views.currentChanged.connect(lambda _i: self._fit_split())

    # -- settings (never a secret) ---------------------------------------------------------------

    def _restore(self) -> None:
        s = self.settings
        first_run = s.value("region") is None
        self.source_picker.select(str(s.value("source", TESTPATTERN)), s.value("camera_path") or None,
                                  s.value("camera_name") or None)
        self.source_picker.refresh()  # cameras are listed off the UI thread; a remembered one is selected then
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
        self.table.restore_layout(s)
        self._region_shown()
        if first_run:
            log.info("First run: streaming to the local endpoint (offline) with the test pattern. "
                     "Pick a region and credentials to stream to AWS.")

    def _save(self) -> None:
        s = self.settings
        data = str(self.source.currentData())
        s.setValue("source", data if data.startswith("camera:") or data == TESTPATTERN else TESTPATTERN)
        path, name = self.source_picker.camera_identity() if data.startswith("camera:") else (None, None)
        s.setValue("camera_path", path or "")
        s.setValue("camera_name", name or "")
        s.setValue("resolution", self.resolution.currentData())
        s.setValue("fps", self.fps.currentData())
        s.setValue("bitrate", self.bitrate.currentData())
        s.setValue("region", self.picker.region.currentData())
        s.setValue("credentials", self.picker.chooser.to_remember())  # a name ("keyring:work"), never a secret
        s.remove("profile")
        s.setValue("stream", self.picker.stream_name())
        s.setValue("geometry", self.saveGeometry())
        s.setValue("state", self.saveState())
        self.table.save_layout(s)
        s.sync()

    @staticmethod
    def _select_data(combo: QComboBox, value: object) -> None:
        i = combo.findData(value)
        if i >= 0:
            combo.setCurrentIndex(i)

    # -- actions -----------------------------------------------------------------------------------

    def _source_chosen(self) -> None:
        if self.source.currentData() != FILE:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", "",
                                              "Video (*.mp4 *.mkv *.mov *.webm *.avi *.ts);;All files (*)")
        if path:
            self.add_file_source(path)
        else:
            self._select_data(self.source, TESTPATTERN)

    def _is_file_source(self) -> bool:
        data = str(self.source.currentData())
        return data not in ("testpattern", "file") and not data.startswith("camera:")

    def _update_copy_box(self) -> None:
        """The choice is shown for files only; when ticked, the encoder settings do not apply."""
        is_file = self._is_file_source()
        self.copy_box.setVisible(is_file)
        copying = is_file and self.copy_box.isChecked()
        for w in (self.resolution, self.fps, self.bitrate):
            w.setEnabled(not copying and self.source.isEnabled())

    def add_file_source(self, path: str) -> None:
        self.source_picker.add_file(path)

    def build_settings(self) -> StreamSettings:
        dest = self.picker.destination()
        w, h = (int(x) for x in str(self.resolution.currentData()).split("x"))
        source = str(self.source.currentData())
        live = source == "testpattern" or source.startswith("camera:")
        copy = self._is_file_source() and self.copy_box.isChecked()  # as recorded: no encoder settings apply
        sound = str(self.sound.currentData())
        return StreamSettings(
            audio=sound != "off", tone=sound == "tone", mic=sound[4:] if sound.startswith("mic:") else None,
            tags=self.tags_editor.persistent(), tags_once=self.tags_editor.pending_once(),
            stream=self.picker.stream_name(), source=source, region=dest.region,
            profile=dest.profile, endpoint_url=dest.endpoint_url, access_key=dest.access_key,
            secret_key=dest.secret_key, width=None if copy else w, height=None if copy else h,
            fps=float(self.fps.currentData()) if live else None,  # a file keeps its own rate
            bitrate_kbps=None if copy else int(self.bitrate.currentData()), copy=copy, preview=True,
            keyring_entry=dest.keyring_entry)

    def _start_or_stop(self) -> None:
        if self.controller.stopping:
            log.warning("Forced stop: fragments not yet acknowledged are dropped.")
            self.controller.force_stop()
        elif self.controller.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        """Check first (off the UI thread); stream when nothing failed (warnings stay on show)."""
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
        self._set_inputs_enabled(False)
        self.start_button.setText("Checking…")
        self.start_button.setEnabled(False)
        self.start_action.setEnabled(False)
        self.run_checks(start_after=True, settings=settings)

    def run_checks(self, *, start_after: bool, settings: StreamSettings | None = None) -> None:
        if settings is None:
            if not self.picker.stream_name():
                self.show_banner("Pick or type a stream name first.", "error")
                return
            try:
                settings = self.build_settings()
            except Exception as exc:
                self.show_banner(f"Cannot check: {exc}", "error")
                return
        dest = self.picker.destination()
        st = settings

        def check() -> PreflightResult:
            return run_preflight(dest.control, st.stream, lambda: open_run_source(st))  # as the run will

        self.preflight.checking()
        self._task(check, lambda result: self._checked(result, st, start_after),  # type: ignore[arg-type]
                   lambda message: self._check_crashed(message, start_after))

    def _checked(self, result: PreflightResult, settings: StreamSettings, start_after: bool) -> None:
        self.preflight.show_result(result)
        QTimer.singleShot(0, lambda: self.side_scroll.ensureWidgetVisible(self.preflight))
        for check in result.failed + result.warnings:
            log.warning("Check %s: %s", check.name.lower(), check.text)
        if result.failed:
            if start_after:
                first = result.failed[0]
                self.show_banner(f"Cannot start ({first.name.lower()}): {first.text}", "error")
                self._reset_controls()
            return
        if start_after:
            self._launch(settings)

    def _check_crashed(self, message: str, start_after: bool) -> None:
        self.preflight.hide()
        self.show_banner(f"The checks could not run: {message}", "error")
        if start_after:
            self._reset_controls()

    def _launch(self, settings: StreamSettings) -> None:
        # Tags as listed now: the editor takes edits while the checks run, and the engine gets edits only once
        # it exists (from here on, through the controller).
        settings = replace(settings, tags=self.tags_editor.persistent(), tags_once=self.tags_editor.pending_once())
        self.model.clear()
        self.detail.hide()
        self.stats.reset()
        self._live_stats = True
        self._run_stream = settings.stream
        self.start_button.setText("Starting…")
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
        for w in (self.source_picker, self.resolution, self.fps, self.bitrate, self.copy_box, self.sound, self.picker,
                  self.local_data):
            w.setEnabled(enabled)
        self.clear_action.setEnabled(enabled)
        self.check_action.setEnabled(enabled)
        self._update_copy_box()

    def _task(self, fn: Callable[[], object], on_done: Callable[[object], object],
              on_failed: Callable[[str], object]) -> Task:
        """A blocking call on a worker thread; its result comes back as a signal (connected before it starts)."""
        task = Task(fn, self)
        self._tasks.add(task)
        task.done.connect(lambda _r: self._tasks.discard(task))
        task.failed.connect(lambda _m: self._tasks.discard(task))
        task.done.connect(on_done)
        task.failed.connect(on_failed)
        return task.start()

    # -- playback, commands, local data ------------------------------------------------------------

    def show_playback(self) -> None:
        self.views.setCurrentWidget(self.playback)

    def _fetch_playback(self, start_ms: int, end_ms: int) -> None:
        stream = self.picker.stream_name()
        if not stream:
            self.playback.fetch_failed("Pick a stream first.")
            return
        try:
            dest = self.picker.destination()
        except Exception as exc:
            self.playback.fetch_failed(f"Cannot reach the endpoint: {exc}")
            return
        log.info("Playback: fetching %s, %.0f s of producer time", stream, (end_ms - start_ms) / 1000)
        self._task(lambda: fetch_clip(dest.control(), stream, start_ms, end_ms),
                   self._clip_fetched, self.playback.fetch_failed)  # type: ignore[arg-type]

    def _clip_fetched(self, clip: Clip) -> None:
        self.playback.show_clip(clip)
        if clip.playable:
            log.info("Playback: %d fragments, %d frames decoded", len(clip.fragments), len(clip.frames))
        else:
            log.info("Playback: nothing to play: %s", clip.reason)

    def _command_target(self, then: Callable[[CommandTarget | str], None]) -> None:
        """Where the copied AWS CLI command downloads from (GetDataEndpoint off the UI thread, remembered)."""
        stream = self._run_stream or self.picker.stream_name()
        if self.picker.is_local():
            emb = self.embedded.start()
            # This run's own loopback key pair: without it the command would be refused.
            then(CommandTarget(stream, REGION, emb.url, env=(("AWS_ACCESS_KEY_ID", emb.keys.access_key),
                                                             ("AWS_SECRET_ACCESS_KEY", emb.keys.secret_key))))
            return
        dest = self.picker.destination()
        key = (dest.region, stream, dest.profile)
        if key in self._endpoints:
            then(CommandTarget(stream, dest.region, self._endpoints[key], profile=dest.profile))
            return

        def resolve() -> str:
            return dest.control().data_endpoint(stream, "GET_MEDIA_FOR_FRAGMENT_LIST")

        def resolved(url: object) -> None:
            self._endpoints[key] = str(url)
            then(CommandTarget(stream, dest.region, str(url), profile=dest.profile))

        self._task(resolve, resolved, then)  # type: ignore[arg-type]

    def _region_shown(self) -> None:
        self.local_data.setVisible(self.picker.is_local())
        self.clear_action.setVisible(self.picker.is_local())
        self.local_data.refresh()

    def _local_cleared(self, gone: int) -> None:
        log.info("Local data cleared: %d fragment%s deleted.", gone, "" if gone == 1 else "s")
        self.statusBar().showMessage(f"Local data cleared ({gone} fragments)", 5000)

    # -- layout: the table takes what the picture does not use -------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self._fit_split)

    def _split_moved(self, *_args: object) -> None:
        self._user_split = True

    def _fit_split(self) -> None:
        """Give the picture the height its aspect needs at this width, and the table the rest."""
        if self._user_split:
            return
        total = sum(self.split.sizes())
        view = self.views.currentWidget()
        screen = self.preview if view is self.preview else self.playback.screen
        if total <= 0 or screen.width() <= 0:
            return
        chrome = self.views.height() - screen.height()  # tab bar, playback controls
        wanted = round(screen.width() / screen.aspect()) + max(0, chrome)
        top = max(180, min(wanted, total - MIN_TABLE_PX))
        if abs(self.split.sizes()[0] - top) > 2:
            self.split.setSizes([top, total - top])

    # -- engine events -----------------------------------------------------------------------------

    def _on_started(self) -> None:
        self.start_button.setText("Stop")
        self.start_button.setEnabled(True)
        self.start_action.setEnabled(True)
        self.start_action.setText("Stop")
        self.preview.set_live(True)
        self.views.setCurrentWidget(self.preview)
        if not self.preflight.title.text().endswith("warnings"):
            self.preflight.hide()  # all passed: no need to keep the list on show

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
            if self.table.current_row() is None:
                row = self.model.row_of(ev.seq)
                if row is not None:
                    self._show_detail(row)

    def _on_progress(self, ev: FragmentProgress) -> None:
        self.model.grow(ev)

    def _show_detail(self, row: int) -> None:
        """The selected (or newest refused) fragment's whole number and what its error means."""
        if row < 0 or row >= self.model.rowCount():
            self.detail.hide()
            return
        u = self.model.update_at(row)
        parts = [f"Fragment {u.seq}: {u.state}"]
        if u.fragment_number:
            parts.append(f"number {u.fragment_number}")
        if u.error_code:
            parts.append(f"{u.error_code} ({u.error_id}): {u.error_meaning}")
        self.detail.setText(" · ".join(parts))
        self.detail.setStyleSheet("color:#b91c1c;" if u.error_code else "color:#334155;")
        self.detail.show()

    def _on_connection(self, ev: ConnectionState) -> None:
        text = {"connecting": "connecting…", "connected": "connected", "recovered": "connected (recovered)",
                "stopped": "stopped", "gave_up": "gave up"}.get(ev.state, ev.state)
        if ev.state == "reconnecting" and ev.retry_in_s is not None:
            self._retry_deadline = time.monotonic() + ev.retry_in_s
            self._retry_text = f"Connection lost ({ev.reason}). Reconnecting, attempt {ev.attempt}"
            self._countdown.start()
            self._tick_countdown()
            self.stats.set_connection(f"reconnecting (attempt {ev.attempt})")
            self.status_labels["connection"].setText(f"Connection: reconnecting (attempt {ev.attempt})")
            log.warning("Reconnecting (attempt %d, next try in %.1f s): %s", ev.attempt, ev.retry_in_s, ev.reason)
            return
        self.stats.set_connection(text)
        self.status_labels["connection"].setText(f"Connection: {text}")
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
        if not self._live_stats:
            return  # after the run's end: the panel says "last run" and keeps its figures
        self.stats.apply(s)
        self.status_labels["bitrate"].setText(f"{s.bitrate_bps / 1000:,.0f} kbit/s")
        self.status_labels["dropped"].setText(f"Dropped: {s.dropped_frames} frames, {s.dropped_fragments} fragments")
        self.audio_meter.set_codec(s.audio_codec)
        if self.controller.stopping:
            self._stop_total = max(self._stop_total, s.buffered_fragments)
            self.stop_progress.setRange(0, self._stop_total)
            self.stop_progress.setValue(s.buffered_fragments)

    def _on_preview(self, ev: PreviewFrame) -> None:
        before = self.preview.aspect()
        self.preview.show_frame(ev.image)
        if abs(self.preview.aspect() - before) > 0.01:
            self._fit_split()  # a 4:3 camera needs another height than the 16:9 placeholder

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
        self._live_stats = False
        self.stats.mark_stopped()
        self.status_labels["bitrate"].setText("Stopped")
        self.local_data.refresh()
        if self._close_after_stop:
            self.close()

    def _reset_controls(self) -> None:
        self.preview.set_live(False)
        self.audio_meter.reset()
        self.stop_progress.hide()
        self.start_button.setText("Start")
        self.start_button.setEnabled(True)
        self.start_action.setText("Start")
        self.start_action.setEnabled(True)
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
