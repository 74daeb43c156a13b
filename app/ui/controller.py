"""EngineController: runs an Engine off the UI thread and re-emits its events as Qt signals.

Signals emitted from worker threads reach slots on the UI thread queued, so widgets are only ever
touched by the UI thread and the window never waits for the network.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from app.engine.engine import Engine, StreamSettings
from app.engine.events import (
    AudioLevel,
    ConnectionState,
    EngineEvent,
    EngineMessage,
    EngineStopped,
    FragmentProgress,
    FragmentUpdate,
    PreviewFrame,
    StatsSample,
)
from app.errors import KvsStudioError
from app.kvs.metadata import TagError


class EngineController(QObject):
    started = Signal()
    prepare_failed = Signal(str)
    fragment = Signal(object)  # FragmentUpdate
    progress = Signal(object)  # FragmentProgress (throttled by the engine)
    connection = Signal(object)  # ConnectionState
    stats = Signal(object)  # StatsSample
    preview = Signal(object)  # PreviewFrame
    message = Signal(object)  # EngineMessage
    stopped = Signal(object)  # EngineStopped
    audio_level = Signal(object)  # AudioLevel

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine: Engine | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._engine is not None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self, settings: StreamSettings) -> None:
        if self._engine is not None:
            return
        engine = Engine(settings, self._dispatch)
        self._engine = engine
        self._stopping = False
        threading.Thread(target=self._prepare_and_start, args=(engine,), name="kvs-engine-start", daemon=True).start()

    def stop(self) -> None:
        if self._engine is not None:
            self._stopping = True
            self._engine.stop()

    def force_stop(self) -> None:
        if self._engine is not None:
            self._engine.force_stop()

    # Fragment metadata while streaming: the engine takes edits from any thread, at once (never blocks).

    def set_tag(self, name: str, value: str) -> None:
        self._tag_call("set_tag", name, value)

    def remove_tag(self, name: str) -> None:
        self._tag_call("remove_tag", name)

    def tag_next_fragment(self, name: str, value: str) -> None:
        self._tag_call("tag_next_fragment", name, value)

    def _tag_call(self, method: str, *args: str) -> None:
        engine = self._engine
        if engine is None:
            return  # not streaming: the window passes its tags in the settings at start
        try:
            getattr(engine, method)(*args)
        except TagError as exc:
            self.message.emit(EngineMessage("warning", exc.user_message))

    def _prepare_and_start(self, engine: Engine) -> None:
        try:
            engine.prepare()
            engine.start()
        except KvsStudioError as exc:
            self._engine = None
            self.prepare_failed.emit(exc.user_message)
            return
        except Exception as exc:  # never leave the window waiting
            self._engine = None
            self.prepare_failed.emit(f"Could not start: {exc}")
            return
        self.started.emit()

    def _dispatch(self, ev: EngineEvent) -> None:
        if isinstance(ev, FragmentUpdate):
            self.fragment.emit(ev)
        elif isinstance(ev, FragmentProgress):
            self.progress.emit(ev)
        elif isinstance(ev, ConnectionState):
            self.connection.emit(ev)
        elif isinstance(ev, StatsSample):
            self.stats.emit(ev)
        elif isinstance(ev, PreviewFrame):
            self.preview.emit(ev)
        elif isinstance(ev, AudioLevel):
            self.audio_level.emit(ev)
        elif isinstance(ev, EngineMessage):
            self.message.emit(ev)
        elif isinstance(ev, EngineStopped):
            self._engine = None
            self._stopping = False
            self.stopped.emit(ev)
