"""What a user sees for bad arguments and a wrong setup: one plain line that says what to do, an exit code,
no traceback and no hang (each CLI run has a timeout)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.localkvs.server import EndpointThread
from tests.e2e.test_stream_cli import cli_env, run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("args", "words"), [
    (["--fragment-seconds", "0"], "--fragment-seconds: 0 s is out of range: it must be at least 1 s and at most 10 s"),
    (["--fragment-seconds", "-1"], "--fragment-seconds: -1 s is out of range"),
    (["--fragment-seconds", "0.5"], "--fragment-seconds: 0.5 s is out of range"),
    (["--fragment-seconds", "11"], "--fragment-seconds: 11 s is out of range"),
    (["--fragment-seconds", "two"], "--fragment-seconds: 'two' is not a number"),
    (["--duration", "0"], "--duration: 0 s is out of range: it must be more than 0 s"),
    (["--bitrate", "0"], "--bitrate: 0 is out of range"),
    (["--fps", "-5"], "--fps: -5 is out of range"),
    (["--width", "8"], "--width: 8 is out of range"),
    (["--buffer-mb", "0"], "--buffer-mb: 0 is out of range"),
    (["--stale-seconds", "0"], "--stale-seconds: 0 is out of range"),
    (["--spool-mb", "-1"], "--spool-mb: -1 is out of range"),
    (["--retention-hours", "-1"], "--retention-hours: -1 is out of range"),
])
def test_invalid_arguments_are_refused_by_the_parser(args: list[str], words: str) -> None:
    proc = run_cli("--stream", "s", "--source", "testpattern", *args, timeout=30)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["", "a b", "x" * 257, "ü"])
def test_bad_stream_names_are_refused_by_the_parser(name: str) -> None:
    proc = run_cli("--stream", name, "--source", "testpattern", timeout=30)
    assert proc.returncode == 2
    assert "is not a stream name" in proc.stderr
    assert "Parameter validation" not in proc.stderr


def test_help_describes_every_option_with_its_default() -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "stream", "--help"], capture_output=True, text=True,
                          env=cli_env(COLUMNS="200"), timeout=30)
    assert proc.returncode == 0
    # one entry per option: its line and the indented help lines under it
    entries = re.split(r"\n(?=  -)", proc.stdout.split("options:", 1)[1])
    options = [" ".join(e.split()) for e in entries if e.strip().startswith("--")]
    assert len(options) >= 17
    for entry in options:
        assert "default" in entry or "(required)" in entry, entry


def test_unknown_region_names_the_nearest_ones(endpoint: EndpointThread) -> None:
    aws = run_cli("--stream", "s", "--region", "us-wset-2", timeout=30)
    assert aws.returncode == 2
    assert "Unknown AWS region 'us-wset-2'" in aws.stderr
    assert "us-west-2" in aws.stderr
    # With the local endpoint, the endpoint refuses the signing region: still named as the region, not the keys.
    local = run_cli("--stream", "s", "--region", "us-wset-2", "--endpoint-url", endpoint.url, timeout=30)
    assert local.returncode == 2
    assert "Unknown AWS region 'us-wset-2'" in local.stderr
    assert "credentials" not in local.stderr


def test_no_credentials_says_how_to_use_the_local_endpoint(endpoint: EndpointThread) -> None:
    env = {k: v for k, v in cli_env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance metadata service to ask on this machine
    proc = subprocess.run([sys.executable, "-m", "app", "stream", "--stream", "s", "--region", "us-west-2"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "No AWS credentials found" in proc.stderr
    assert "kvs-studio local-endpoint" in proc.stderr
    assert "--endpoint-url" in proc.stderr


def test_missing_camera_prints_no_opencv_noise(endpoint: EndpointThread) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}  # as a user runs it
    env.update({k: v for k, v in cli_env().items() if k.startswith("AWS_")})
    proc = subprocess.run([sys.executable, "-m", "app", "stream", "--stream", "s", "--source", "camera:3",
                           "--endpoint-url", endpoint.url], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "kvs-studio stream: Camera 3 could not be opened: it is missing, busy, or not allowed. "
        "Pick another camera, or the test pattern."]


def test_a_display_that_does_not_answer_is_named_not_a_qt_abort() -> None:
    env = {k: v for k, v in cli_env().items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = ":97"  # no X server there
    proc = subprocess.run([sys.executable, "-m", "app", "gui"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("kvs-studio: cannot open display :97: no X server answers there. Use "
                                   "`xvfb-run -a kvs-studio`, or `kvs-studio demo` for the headless demo.")


def test_ctrl_c_closes_the_window(tmp_path: Path) -> None:
    """The window started from a terminal ends on Ctrl-C (draining first), as the CLI does."""
    env = cli_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-m", "app", "-v", "gui"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the window is up once it has listed the local endpoint's streams
            if re.search(r"streams? listed", line):
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("url", ["127.0.0.1:4567", "htp:/x", "ftp://127.0.0.1:4567"])
def test_an_endpoint_url_without_a_scheme_is_refused_by_the_parser(url: str) -> None:
    proc = run_cli("--stream", "s", "--endpoint-url", url, timeout=30)
    assert proc.returncode == 2
    assert "--endpoint-url: must start with http:// or https://" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_argument_is_one_line_and_a_pointer_to_help() -> None:
    proc = run_cli("--stream", "s", "--fragment-seconds", "0", timeout=30)
    assert proc.stderr.splitlines() == [
        "kvs-studio stream: error: argument --fragment-seconds: 0 s is out of range: it must be at least 1 s "
        "and at most 10 s",
        "Run `kvs-studio stream --help` for the options."]


def test_a_spool_that_cannot_be_written_is_refused_before_streaming(tmp_path: Path,
                                                                   endpoint: EndpointThread) -> None:
    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("x")
    proc = run_cli("--stream", "s", "--endpoint-url", endpoint.url, "--spool", str(not_a_dir), timeout=60)
    assert proc.returncode == 2
    assert f"--spool {not_a_dir}: cannot use it as a folder" in proc.stderr
    assert "Traceback" not in proc.stderr
