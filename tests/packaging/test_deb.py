"""The .deb end to end: build it with packaging/build-deb.sh, install it with apt-get, run the installed
copy (self-test, `stream` to a local endpoint over HTTP and TLS, the window under Xvfb with a
screenshot), purge it, and check that nothing of it is left and everything of the user's is.

Needs root (or passwordless sudo) on Debian/Ubuntu; it installs system-wide, so one run at a time
(a lock file) and never over a kvs-studio installed by someone else. Tests run in file order and
share one installation (module fixture); the last one purges.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests import mediagen
from tests.conftest import REGION, TEST_KEYS, client
from tests.packaging import xdisplay
from tests.tls import make_cert

pytestmark = [pytest.mark.deb, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
SUDO = [] if os.geteuid() == 0 else ["sudo", "-n"]
WATCHED = [Path("/opt"), Path("/usr/bin"), Path("/usr/share/applications"), Path("/usr/share/icons/hicolor"),
           Path("/usr/share/doc"), Path("/usr/local/share/ca-certificates")]


def _can_install() -> str | None:
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        return "not a Debian/Ubuntu system"
    if SUDO and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
        return "needs root or passwordless sudo"
    if _installed_version() is not None:
        return "kvs-studio is already installed here; this test would replace and purge it"
    return None


def _installed_version() -> str | None:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", "kvs-studio"], capture_output=True, text=True)
    return proc.stdout.split()[-1] if proc.returncode == 0 and "install ok installed" in proc.stdout else None


def _snapshot() -> set[str]:
    return {str(p) for top in WATCHED if top.exists() for p in top.rglob("*")}


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user with the test keys and no AWS configuration or CA override (this machine sets some globally)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "DISPLAY")}
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID=TEST_KEYS.access_key, AWS_SECRET_ACCESS_KEY=TEST_KEYS.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               QT_QPA_PLATFORM="offscreen")
    env.update(extra)
    return env


class Installed:
    def __init__(self, deb: Path, before: set[str], home: Path) -> None:
        self.deb, self.before, self.home = deb, before, home
        self.files = subprocess.run(["dpkg", "-L", "kvs-studio"], capture_output=True, text=True,
                                    check=True).stdout.split()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    reason = _can_install()
    if reason:
        pytest.skip(reason)
    lock = open("/tmp/kvs-studio-deb-test.lock", "w")  # held for the whole module
    fcntl.flock(lock, fcntl.LOCK_EX)
    build = subprocess.run(["bash", "packaging/build-deb.sh"], cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    deb = Path(build.stdout.strip().splitlines()[-1])  # the script's contract: the path on the last line
    assert deb.name.endswith(".deb"), build.stdout[-2000:]
    assert deb.is_file()
    before = _snapshot()
    apt = subprocess.run([*SUDO, "apt-get", "install", "-y", "-q", str(deb)], capture_output=True, text=True,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert apt.returncode == 0, apt.stdout[-3000:] + apt.stderr[-3000:]
    try:
        yield Installed(deb, before, tmp_path_factory.mktemp("home"))
    finally:
        if _installed_version() is not None:  # a test failed before the purge test
            subprocess.run([*SUDO, "apt-get", "purge", "-y", "-q", "kvs-studio"], capture_output=True)
        lock.close()


def test_package_metadata(installed: Installed) -> None:
    info = subprocess.run(["dpkg-deb", "-f", str(installed.deb)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line and not line.startswith(" "))
    depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
    assert "libc6" in depends
    assert "ca-certificates" in depends
    # The bundle carries Qt's xcb helpers (ENVIRONMENT.md §9); only a few system libraries stay outside.
    assert not [d for d in depends if d.startswith(("libxcb-", "libxkbcommon", "libqt", "python3"))], depends
    assert len(depends) <= 12, depends
    assert int(fields["Installed-Size"]) > 100_000  # KiB: the real bundle, not a stub
    compression = subprocess.run(["ar", "t", str(installed.deb)], capture_output=True, text=True).stdout
    assert "data.tar.zst" in compression


def test_installed_files(installed: Installed) -> None:
    assert os.path.realpath("/usr/bin/kvs-studio") == "/opt/kvs-studio/kvs-studio"
    desktop = Path("/usr/share/applications/kvs-studio.desktop")
    subprocess.run(["desktop-file-validate", str(desktop)], check=True)
    assert "Exec=kvs-studio" in desktop.read_text()
    assert Path("/usr/share/icons/hicolor/scalable/apps/kvs-studio.svg").is_file()
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = Path(f"/usr/share/icons/hicolor/{size}x{size}/apps/kvs-studio.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    copyright_text = Path("/usr/share/doc/kvs-studio/copyright").read_text()
    assert "GPL-3" in copyright_text
    assert "x264" in copyright_text
    assert "PySide6" in copyright_text
    assert os.path.realpath("/opt/kvs-studio/_internal/botocore/cacert.pem") == \
        os.path.realpath("/etc/ssl/certs/ca-certificates.crt")
    bundle = [f for f in installed.files if f.startswith("/opt/kvs-studio/")]
    assert not [f for f in bundle if "__pycache__" in f or "/translations/" in f or "/tests/" in f]
    assert not [f for f in bundle if "/plugins/platformthemes/" in f or "libgtk" in f]


def test_self_test(installed: Installed) -> None:
    """Inside the suite's D-Bus session with an unlocked gnome-keyring (scripts/test.sh)."""
    proc = subprocess.run(["kvs-studio", "self-test"], capture_output=True, text=True, timeout=180,
                          env=user_env(installed.home))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("runtime", "h264", "camera", "tls", "stream", "keyring", "window"):
        assert any(line.startswith(f"PASS  {check}") for line in lines), proc.stdout
    assert "frozen, /opt/kvs-studio/kvs-studio" in proc.stdout
    assert "SecretService" in proc.stdout


def test_self_test_fails_without_a_keyring(installed: Installed) -> None:
    env = user_env(installed.home)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.run(["kvs-studio", "self-test", "--skip", "stream", "--skip", "window"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "FAIL  keyring" in proc.stdout
    assert "gnome-keyring" in proc.stdout


class LocalEndpoint:
    """`kvs-studio local-endpoint` from the installed package, on a free port."""

    def __init__(self, data_dir: Path, env: dict[str, str], *extra: str) -> None:
        self.proc = subprocess.Popen(["kvs-studio", "local-endpoint", "--port", "0", "--data-dir", str(data_dir),
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = self._wait_ready(timeout_s=60)

    def _wait_ready(self, timeout_s: float) -> str:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout or ()], daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith("{") and json.loads(line).get("event") == "ready":
                return str(json.loads(line)["url"])
        self.stop()
        raise AssertionError(f"local endpoint not ready: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stream(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kvs-studio", "stream", "--endpoint-url", url, "--region", REGION, "--create", *args],
                          capture_output=True, text=True, timeout=180, env=env)


def test_stream_test_pattern_and_file(installed: Installed, tmp_path: Path) -> None:
    env = user_env(installed.home)
    data = installed.home / "endpoint-data"  # the user's data: must survive the purge
    endpoint = LocalEndpoint(data, env)
    try:
        live = stream(endpoint.url, env, "--stream", "pattern", "--source", "testpattern", "--duration", "3",
                      "--width", "320", "--height", "240", "--fps", "15", "--fragment-seconds", "1")
        assert live.returncode == 0, live.stdout + live.stderr
        assert "PERSISTED" in live.stdout
        clip = mediagen.make_mp4(tmp_path / "clip.mp4", 45, 15)
        sent = stream(endpoint.url, env, "--stream", "file", "--source", str(clip), "--pace", "fast")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        kv = client("kinesisvideo", endpoint.url)
        archived = client("kinesis-video-archived-media",
                          kv.get_data_endpoint(StreamName="file", APIName="LIST_FRAGMENTS")["DataEndpoint"])
        fragments = archived.list_fragments(StreamName="file")["Fragments"]
        media = archived.get_media_for_fragment_list(
            StreamName="file", Fragments=[f["FragmentNumber"] for f in fragments])["Payload"].read()
        assert mediagen.decode_indices(media) == list(range(45))  # every frame of the file, once, in order
    finally:
        endpoint.stop()


def test_tls_with_aws_ca_bundle_and_the_system_store(installed: Installed, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    env = user_env(installed.home)
    endpoint = LocalEndpoint(tmp_path / "tls-data", env, "--tls-cert", str(cert), "--tls-key", str(key))
    args = ("--source", "testpattern", "--duration", "1", "--width", "160", "--height", "120", "--fps", "10",
            "--fragment-seconds", "1")
    system_copy = Path("/usr/local/share/ca-certificates/kvs-studio-test.crt")
    try:
        assert endpoint.url.startswith("https://")
        refused = stream(endpoint.url, env, "--stream", "tls0", *args)
        assert refused.returncode != 0
        assert "certificate" in (refused.stdout + refused.stderr).lower()
        bundled = stream(endpoint.url, {**env, "AWS_CA_BUNDLE": str(cert)}, "--stream", "tls1", *args)
        assert bundled.returncode == 0, bundled.stdout + bundled.stderr
        # The .deb points botocore at the system store: a CA the administrator adds is trusted.
        subprocess.run([*SUDO, "cp", str(cert), str(system_copy)], check=True)
        subprocess.run([*SUDO, "update-ca-certificates"], check=True, capture_output=True)
        system = stream(endpoint.url, env, "--stream", "tls2", *args)
        assert system.returncode == 0, system.stdout + system.stderr
    finally:
        endpoint.stop()
        if system_copy.exists():
            subprocess.run([*SUDO, "rm", "-f", str(system_copy)], check=True)
            subprocess.run([*SUDO, "update-ca-certificates", "--fresh"], check=True, capture_output=True)


def test_window_under_xvfb(installed: Installed) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = user_env(installed.home)
    env.pop("QT_QPA_PLATFORM")
    with xdisplay.xvfb() as display:
        env["DISPLAY"] = display
        probe = subprocess.run(["kvs-studio", "self-test", "--skip", "stream", "--skip", "keyring"],
                               capture_output=True, text=True, timeout=120, env=env)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "on the xcb platform" in probe.stdout
        app = subprocess.Popen(["kvs-studio"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = ""
        try:
            xdisplay.wait_for_window(display, "KVS Studio", timeout_s=60, proc=app)
            shot = ARTIFACTS / "installed-window.png"
            image = _painted_screenshot(display, shot)
            print(f"screenshot of the installed app: {shot}")
        except RuntimeError as exc:
            app.kill()
            out = app.communicate(timeout=30)[0].decode(errors="replace")
            raise AssertionError(f"{exc}; it printed:\n{out}") from None
        finally:
            if app.poll() is None:
                app.terminate()
                out = app.communicate(timeout=30)[0].decode(errors="replace")
    assert app.returncode in (0, -signal.SIGTERM), out
    window = image[:820, :1280]
    assert len(np.unique(window.reshape(-1, 3), axis=0)) > 50  # widgets and text, not a blank frame


def _painted_screenshot(display: str, path: Path, timeout_s: float = 30) -> np.ndarray:
    """Screenshots until the window is painted (many colours), as the first paint follows the map."""
    import av

    deadline = time.monotonic() + timeout_s
    while True:
        xdisplay.screenshot(display, path)
        with av.open(str(path)) as f:
            image = next(f.decode(video=0)).to_ndarray(format="rgb24")
        if len(np.unique(image[:820, :1280].reshape(-1, 3), axis=0)) > 50 or time.monotonic() > deadline:
            return image


def test_purge_leaves_nothing_and_keeps_user_data(installed: Installed) -> None:
    import keyring

    keyring.set_password("kvs-studio-deb-test", "user", "kept")  # a user's keyring entry, as issue 9 stores them
    user_files = sorted(p for p in installed.home.rglob("*"))
    assert any("endpoint-data" in str(p) for p in user_files)
    try:
        purge = subprocess.run([*SUDO, "apt-get", "purge", "-y", "-q", "kvs-studio"], capture_output=True, text=True,
                               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        assert purge.returncode == 0, purge.stderr
        assert _installed_version() is None
        left = [f for f in installed.files if f.startswith("/opt/kvs-studio") or "kvs-studio" in Path(f).name]
        assert not [f for f in left if os.path.lexists(f)]
        new = {p for p in _snapshot() - installed.before if "kvs-studio" in p}
        assert not new, sorted(new)[:20]
        assert sorted(p for p in installed.home.rglob("*")) == user_files
        assert keyring.get_password("kvs-studio-deb-test", "user") == "kept"
    finally:
        keyring.delete_password("kvs-studio-deb-test", "user")
