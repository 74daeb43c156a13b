"""A private Xvfb screen, waiting for a top-level window by title, and screenshots (ffmpeg's x11grab).

Shared by the installed-package test and the launch-time benchmark."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCREEN = (1400, 900)


@contextmanager
def xvfb() -> Iterator[str]:
    """Start Xvfb on a free display number (it writes the number to a pipe once it accepts clients)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()  # blocks until Xvfb is ready, or EOF if it died
        if not number:
            raise RuntimeError(f"Xvfb did not start (exit {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def top_level_windows(display: str) -> list[tuple[str, str, int, int]]:
    """(id, title, width, height) of the root window's children, from xwininfo."""
    out = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True,
                         env={**os.environ, "DISPLAY": display}, timeout=10).stdout
    return [(wid, title, int(w), int(h))
            for wid, title, w, h in re.findall(r"^\s*(0x[0-9a-f]+) \"(.*?)\":.*?\s(\d+)x(\d+)\+", out, re.M)]


def is_viewable(display: str, window_id: str) -> bool:
    out = subprocess.run(["xwininfo", "-id", window_id], capture_output=True, text=True,
                         env={**os.environ, "DISPLAY": display}, timeout=10).stdout
    return "Map State: IsViewable" in out


def wait_for_window(display: str, title: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until a window titled ``title`` (larger than Qt's 1x1 helper) is viewable; polls every 10 ms."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        for wid, t, w, h in top_level_windows(display):
            if t == title and w > 1 and h > 1 and is_viewable(display, wid):
                return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the program exited with {proc.returncode} before its window appeared")
        time.sleep(0.01)  # polling the X server's state (xwininfo has no wait option)
    raise TimeoutError(f"no window {title!r} on {display} within {timeout_s} s")


def screenshot(display: str, path: Path) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", f"{SCREEN[0]}x{SCREEN[1]}",
                    "-i", display, "-frames:v", "1", str(path)], check=True, timeout=30)
    return path
