"""How responsive the window stays while streaming: a 10 ms QTimer on the UI thread measures how late
each tick fires (event-loop delay), idle and while streaming 720p30 to the in-process local endpoint.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_ui_latency [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.localkvs.embedded import EmbeddedEndpoint
from app.ui.main_window import MainWindow


def measure(app: QApplication, seconds: float) -> list[float]:
    delays: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        delays.append(max(0.0, (now - last[0]) / 1e6 - 10.0))
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return delays


def report(name: str, d: list[float]) -> None:
    q = statistics.quantiles(d, n=100)
    print(f"{name:<22} ticks {len(d):5d}  mean {statistics.mean(d):6.2f} ms  p50 {q[49]:6.2f}  p99 {q[98]:6.2f}  "
          f"max {max(d):6.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    app = QApplication([])
    d = Path(tempfile.mkdtemp())
    win = MainWindow(EmbeddedEndpoint(d / "e"), QSettings(str(d / "s.ini"), QSettings.Format.IniFormat))
    win.show()
    idle = measure(app, min(5.0, args.seconds))
    win.start()
    busy = measure(app, args.seconds)
    rows = win.model.states()
    win.controller.force_stop()
    measure(app, 2)
    report("idle", idle)
    report("streaming 1280x720@30", busy)
    print(f"fragments during the run: {len(rows)} ({rows.count('PERSISTED')} PERSISTED); "
          f"preview frames drawn: {win.preview.frames_shown}")
    win.close()


if __name__ == "__main__":
    main()
