"""Run a blocking call (a network request) on a worker thread and get its result as a Qt signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.errors import KvsStudioError
from app.logging_setup import redact


class Task(QObject):
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn

    def start(self) -> Task:
        threading.Thread(target=self._run, name="kvs-ui-task", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            result = self._fn()
        except KvsStudioError as exc:
            self._emit("failed", exc.user_message)
        except Exception as exc:  # shown as is in the banner: masked like a log line
            self._emit("failed", redact(f"{exc.__class__.__name__}: {exc}"))
        else:
            self._emit("done", result)

    def _emit(self, name: str, value: object) -> None:
        try:
            getattr(self, name).emit(value)
        except RuntimeError:  # the window closed while the call ran: nobody is left to tell
            pass
