"""The window: start-up to first paint (a new process, interpreter start included, measured by the parent), and
live streaming 720p30 with the window open (offscreen Qt; the window's embedded endpoint runs in the same
process, so its CPU is counted too): CPU, frames dropped at capture, preview frames drawn.

    .venv/bin/python -m tests.bench.bench_window [--seconds 30]

The reference for start-up is `python -c pass` + importing PySide6's widgets, measured the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.harness import PYTHON, REPO, Row, print_table, run_measured

QT_ENV = {"QT_QPA_PLATFORM": "offscreen", "OPENCV_LOG_LEVEL": "OFF"}


def _child(mode: str, seconds: float) -> None:
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    if mode == "qt-only":
        app = QApplication([])
        print("first-paint", flush=True)
        return
    from app.localkvs.embedded import EmbeddedEndpoint
    from app.ui.main_window import MainWindow

    app = QApplication([])
    d = Path(tempfile.mkdtemp(prefix="kvs-bench-"))
    win = MainWindow(EmbeddedEndpoint(d / "endpoint"), QSettings(str(d / "s.ini"), QSettings.Format.IniFormat))

    class FirstPaint(QObject):
        done = False

        def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
            if ev.type() == QEvent.Type.Paint and not self.done:
                self.done = True
                print("first-paint", flush=True)
                QTimer.singleShot(0, after_paint)
            return False

    stats: list = []
    win.controller.stats.connect(stats.append)

    def after_paint() -> None:
        if mode == "startup":
            app.quit()
            return
        win.start()
        QTimer.singleShot(int(seconds * 1000), finish)

    def finish() -> None:
        last = stats[-1] if stats else None
        print(json.dumps({"dropped_frames": last.dropped_frames if last else None,
                          "capture_fps": last.capture_fps if last else None,
                          "preview_frames": win.preview.frames_shown,
                          "fragments": win.model.states().count("PERSISTED")}), flush=True)
        win.controller.force_stop()
        app.quit()

    watcher = FirstPaint()
    win.installEventFilter(watcher)
    win.show()
    app.exec()
    os._exit(0)  # the embedded endpoint's threads need no orderly end here


def first_paint_s(mode: str) -> float:
    t0 = time.monotonic()
    proc = subprocess.Popen([PYTHON, "-m", "tests.bench.bench_window", "--child", mode], cwd=REPO,
                            env={**os.environ, **QT_ENV}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "first-paint":
            elapsed = time.monotonic() - t0
            break
    else:
        raise RuntimeError("the window never painted")
    proc.wait(30)
    return elapsed


def run(seconds: float = 30) -> list[Row]:
    startup = min(first_paint_s("startup") for _ in range(3))
    qt_only = min(first_paint_s("qt-only") for _ in range(3))
    live = run_measured([PYTHON, "-m", "tests.bench.bench_window", "--child", "live", "--seconds", f"{seconds:g}"],
                        env=QT_ENV)
    found = [json.loads(line) for line in live.output.splitlines() if line.startswith("{")]
    if not found:
        raise RuntimeError(f"the live window run gave no figures:\n{live.output[-2000:]}")
    r = found[-1]
    steady = live.cpu_between(10, live.wall_s - 2)
    return [
        Row("window: start-up to first paint (s, best of 3)", f"{startup:.2f}",
            f"Python + QApplication alone {qt_only:.2f}", startup / qt_only),
        Row(f"window open, live 720p30 {seconds:g} s: frames dropped", f"{r['dropped_frames']}",
            note=f"capture {r['capture_fps']} fps; {r['preview_frames']} previews drawn; "
                 f"{r['fragments']} fragments PERSISTED"),
        Row("  CPU after 10 s (% of a core)", f"{100 * steady:.1f}",
            note="window + embedded endpoint in one process, offscreen Qt"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--child", choices=("startup", "live", "qt-only"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.seconds)
        return
    print_table("window", run(args.seconds))


if __name__ == "__main__":
    sys.exit(main())
