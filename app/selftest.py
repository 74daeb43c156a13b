"""``kvs-studio self-test``: does this copy of KVS Studio work on this machine?

Runs on any installed or unpacked copy (the .deb, the Windows installer, the .app) and in a checkout.
One line per check, ``PASS``/``FAIL``, then a summary; exit 0 only when every check passed. Nothing of
the user's is touched: the local endpoint runs in-process on a temporary data dir, the window gets
throwaway settings, and the keyring probe deletes what it wrote.

The window is checked in a child process (``self-test --window-probe``) because Qt aborts the whole
process when its platform plugin cannot load (a missing libxcb-* library); the child's death and its
last words become a FAIL line instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app import __version__

KEYRING_SERVICE = "kvs-studio-selftest"
WINDOW_PROBE_TIMEOUT_S = 60.0
STREAM_TIMEOUT_S = 60.0  # for a few seconds of video: generous for a loaded 2-core CI machine
# Backends that are not a keyring: nothing is stored (fail, null) or secrets sit in a plain file.
UNSAFE_KEYRINGS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


class CheckFailed(Exception):
    """A check ran and found a problem; the message says what to do."""


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str
    seconds: float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=3.0, help="seconds of test pattern to stream (default 3)")
    p.add_argument("--skip", action="append", default=[], choices=sorted(CHECKS), metavar="CHECK",
                   help=f"leave a check out (one of: {', '.join(CHECKS)}); may be repeated")
    p.add_argument("--window-probe", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.window_probe:
        return _window_probe()
    print(f"kvs-studio {__version__} self-test", flush=True)
    outcomes = []
    for name, check in CHECKS.items():
        if name in args.skip:
            print(f"SKIP  {name:<8} (--skip)", flush=True)
            continue
        start = time.monotonic()
        try:
            ok, detail = True, check(args)
        except CheckFailed as exc:
            ok, detail = False, str(exc)
        except Exception as exc:  # a check must report, never take the others down
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        outcome = Outcome(name, ok, detail, time.monotonic() - start)
        outcomes.append(outcome)
        print(f"{'PASS' if ok else 'FAIL'}  {name:<8} {detail}  ({outcome.seconds:.1f} s)", flush=True)
    failed = [o.name for o in outcomes if not o.ok]
    print(f"self-test: {len(outcomes) - len(failed)} passed, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""), flush=True)
    if failed:
        print("  (a check that cannot pass on this machine, e.g. the keyring on a server without one, can be left "
              "out with --skip NAME)", flush=True)
    return 1 if failed else 0


# -- checks: each returns a one-line detail or raises CheckFailed ---------------------------------------


def check_runtime(_args: argparse.Namespace) -> str:
    frozen = "frozen" if getattr(sys, "frozen", False) else "from source"
    return (f"Python {platform.python_version()} ({frozen}, {sys.executable}) on "
            f"{platform.system()} {platform.machine()}")


def check_h264(_args: argparse.Namespace) -> str:
    import av
    import numpy as np

    from app.media.encoder import H264Encoder
    from app.media.frames import RawFrame

    encoder = H264Encoder(320, 240, 15)
    image = np.zeros((240, 320, 3), np.uint8)
    packets = encoder.encode(RawFrame(0, 0, image), force_key=True) + encoder.flush()
    if not packets or not packets[0].keyframe:
        raise CheckFailed("libx264 produced no key frame")
    avcodec = ".".join(map(str, av.library_versions["libavcodec"]))
    return f"libx264 encodes a key frame (PyAV {av.__version__}, libavcodec {avcodec})"


def check_camera(_args: argparse.Namespace) -> str:
    """OpenCV loads and its FFmpeg backend reads a clip (the .deb points OpenCV at PyAV's FFmpeg)."""
    import av
    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="kvs-studio-selftest-") as tmp:
        clip = str(Path(tmp) / "clip.mkv")
        with av.open(clip, "w") as out:
            stream = out.add_stream("libx264", rate=15)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for i in range(3):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 80 * i, np.uint8), format="bgr24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        capture = cv2.VideoCapture(clip, cv2.CAP_FFMPEG)
        ok, image = capture.read()
        capture.release()
    if not ok or image is None or image.shape[:2] != (48, 64):
        raise CheckFailed(f"OpenCV {cv2.__version__} could not read an H.264 clip through FFmpeg")
    return f"OpenCV {cv2.__version__} reads H.264 through FFmpeg (cameras are not opened)"


def check_tls(_args: argparse.Namespace) -> str:
    """The CA certificates botocore and the uploader verify AWS with (AWS_CA_BUNDLE or profile wins)."""
    import ssl

    import botocore.session
    from botocore.httpsession import get_cert_path

    configured = botocore.session.Session().get_config_variable("ca_bundle")
    bundle = configured or get_cert_path(True)
    where = "AWS_CA_BUNDLE/profile" if configured else "default"
    path = Path(bundle)
    if not path.is_file():
        raise CheckFailed(f"CA bundle {bundle} ({where}) does not exist")
    ctx = ssl.create_default_context(cafile=str(path))
    count = ctx.cert_store_stats()["x509_ca"]
    if count == 0:
        raise CheckFailed(f"CA bundle {bundle} ({where}) holds no CA certificate")
    shown = f"{path} -> {path.resolve()}" if path.is_symlink() else str(path)
    return f"{count} CA certificates from {shown} ({where}), {ssl.OPENSSL_VERSION}"


def check_stream(args: argparse.Namespace) -> str:
    """A few seconds of the test pattern through the real engine to an in-process local endpoint."""
    from app.engine.engine import Engine, StreamSettings
    from app.localkvs.embedded import DEMO_STREAM, REGION, EmbeddedEndpoint

    with tempfile.TemporaryDirectory(prefix="kvs-studio-selftest-") as tmp:
        embedded = EmbeddedEndpoint(Path(tmp)).start()
        url = embedded.url
        try:
            settings = StreamSettings(stream=DEMO_STREAM, source="testpattern", region=REGION,
                                      endpoint_url=embedded.url, width=320, height=240, fps=15,
                                      fragment_seconds=1.0, duration_s=args.seconds, preset="ultrafast",
                                      access_key=embedded.keys.access_key, secret_key=embedded.keys.secret_key)
            engine = Engine(settings, lambda _event: None)
            engine.prepare()
            engine.start()
            result = engine.wait(args.seconds + STREAM_TIMEOUT_S)
            if result is None:
                engine.force_stop()
                raise CheckFailed(f"no end of stream within {args.seconds + STREAM_TIMEOUT_S:.0f} s")
        finally:
            embedded.stop()
    if not result.ok:
        raise CheckFailed(result.error or f"{result.acknowledged} of {result.produced} fragments acknowledged")
    return (f"{result.produced} fragments ({result.frames} frames) of the test pattern PERSISTED by the "
            f"local endpoint on {url}")


def check_keyring(_args: argparse.Namespace) -> str:
    import keyring
    import keyring.errors

    backend = keyring.get_keyring()
    name = _backend_name(backend)
    inner = [_backend_name(b) for b in getattr(backend, "backends", [])]  # the chainer's members
    usable = [n for n in (inner or [name]) if not n.startswith(UNSAFE_KEYRINGS)]
    if not usable:
        raise CheckFailed(f"no usable keyring ({name}): start a Secret Service such as gnome-keyring or KWallet "
                          "in your desktop session, or give credentials with an AWS profile or environment "
                          "variables instead")
    user, secret = f"probe-{os.getpid()}", secrets.token_urlsafe(16)
    try:
        keyring.set_password(KEYRING_SERVICE, user, secret)
        try:
            read = keyring.get_password(KEYRING_SERVICE, user)
        finally:
            keyring.delete_password(KEYRING_SERVICE, user)
    except keyring.errors.KeyringError as exc:
        raise CheckFailed(f"{name} refused a write/read/delete ({type(exc).__name__}: {exc}); is the keyring "
                          "unlocked?") from None
    if read != secret:
        raise CheckFailed(f"{name} returned something else than was stored")
    return f"{', '.join(usable)}: write, read and delete work"


def _backend_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def check_window(_args: argparse.Namespace) -> str:
    from app.ui.main import have_display

    cmd = [*_self_command(), "self-test", "--window-probe"]
    env = dict(os.environ)
    if not have_display():
        env["QT_QPA_PLATFORM"] = "offscreen"  # as `kvs-studio` itself would not open a window here
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WINDOW_PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the window did not appear within {WINDOW_PROBE_TIMEOUT_S:.0f} s") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("window:")]
    if proc.returncode != 0 or not lines:
        said = " | ".join(proc.stderr.strip().splitlines()[-3:]) or "no output"
        raise CheckFailed(f"the window process ended with {proc.returncode}: {said}")
    return lines[-1].removeprefix("window:").strip()


def _self_command() -> list[str]:
    """How to start this same program again: the frozen executable, or this Python on the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "app"]


def _window_probe() -> int:
    """In the child: the real main window with throwaway settings, shown and drawn once."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.localkvs.embedded import EmbeddedEndpoint
    from app.ui.main_window import MainWindow, app_icon

    started = time.monotonic()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory(prefix="kvs-studio-selftest-") as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(EmbeddedEndpoint(Path(tmp) / "data"), settings)
        window.show()
        exposed = _wait_exposed(window, QEventLoop, QTimer)
        image = window.grab().toImage()
        icon_ok = not app_icon().isNull() and not app_icon().pixmap(64, 64).isNull()
        size = f"{window.width()}x{window.height()}"
        window.close()
        window.embedded.stop()
        app.processEvents()
    if not exposed or image.isNull():
        print(f"window not shown on the {app.platformName()} platform", file=sys.stderr)
        return 1
    if not icon_ok:
        print("the application icon did not load (SVG image plugin missing?)", file=sys.stderr)
        return 1
    print(f"window: {size} shown and drawn on the {app.platformName()} platform with its icon "
          f"in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def _wait_exposed(window, event_loop, timer) -> bool:  # type: ignore[no-untyped-def]
    """Run Qt's event loop until the window is exposed on screen, or the timeout."""

    def exposed() -> bool:
        handle = window.windowHandle()
        return handle is not None and handle.isExposed()

    loop = event_loop()
    poll = timer()
    poll.timeout.connect(lambda: exposed() and loop.quit())
    poll.start(10)
    timer.singleShot(int(WINDOW_PROBE_TIMEOUT_S * 1000), loop.quit)
    if not exposed():
        loop.exec()
    poll.stop()
    return exposed()


CHECKS: dict[str, Callable[[argparse.Namespace], str]] = {
    "runtime": check_runtime,
    "h264": check_h264,
    "camera": check_camera,
    "tls": check_tls,
    "stream": check_stream,
    "keyring": check_keyring,
    "window": check_window,
}
