"""Shared by the credentials tests: `kvs-studio` run as a user runs it (a pipe or a terminal, no AWS setup)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def user_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """A user's environment with no AWS configuration at all (no AWS_* variables, no ~/.aws files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, PYTHONDONTWRITEBYTECODE="1")
    if home is not None:
        for sub in ("tmp", ".config", ".local/share", ".cache"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env.update(HOME=str(home), TMPDIR=str(home / "tmp"), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local/share"), XDG_CACHE_HOME=str(home / ".cache"))
    env.update(extra)
    return env


def kvs(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`kvs-studio ARGS` in a subprocess, stdin a pipe (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, env=env if env is not None else user_env(),
                          timeout=timeout, cwd=REPO)


def kvs_on_tty(args: Sequence[str], answers: Sequence[tuple[bytes, str]], env: dict[str, str],
               timeout: float = 60) -> tuple[int, str]:
    """`kvs-studio ARGS` on a pseudo-terminal that is its controlling terminal; each answer is typed once its
    prompt appears. Returns the exit code and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is stdin/stdout/stderr and the controlling terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "app", *args], env)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if pending and pending[0][0] in shown[shown.rfind(b"\n", 0, len(shown) - 1) + 1:]:
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"no exit within {timeout} s; the terminal showed: {shown!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")
