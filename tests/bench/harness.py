"""What the benchmarks share: a local endpoint in its own process, a child process measured from outside
(CPU from the kernel, not from inside Python), and one table of figures next to their references.

CPU is user+sys seconds of the whole process (all its threads, x264's included), read from
/proc/<pid>/stat while it runs and from wait4() when it ends, so the producer and its reference are
measured the same way. Linux only, like CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDBENCHMARK0000001", "AWS_SECRET_ACCESS_KEY": "bench-secret-not-a-real-key-00000000000",
        "AWS_DEFAULT_REGION": "us-west-2"}
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Row:
    figure: str
    ours: str
    reference: str = ""
    ratio: float | None = None  # ours / reference, where both are the same kind of figure
    note: str = ""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE / 2**20


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    output: str
    returncode: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, cpu s, rss MB)

    def cpu_between(self, t1: float, t2: float) -> float:
        """CPU seconds per second of wall time between two moments (first samples at or after them)."""
        a = next(s for s in self.samples if s[0] >= t1)
        b = next((s for s in self.samples if s[0] >= t2), self.samples[-1])
        return (b[1] - a[1]) / (b[0] - a[0])


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, sample_every: float = 1.0,
                 cwd: Path = REPO) -> Measured:
    """Run ``cmd`` to its end, sampling its CPU and RSS; the final CPU comes from the kernel's rusage."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True)
    reader.start()
    samples: list[tuple[float, float, float]] = []
    next_sample = 0.0
    while True:
        now = time.monotonic() - t0
        if now >= next_sample:
            try:
                samples.append((now, cpu_seconds(proc.pid), rss_mb(proc.pid)))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
            next_sample += sample_every
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # reaped here, with its rusage
        if pid:
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    reader.join(10)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(wall, cpu, "".join(out), proc.returncode, samples)


def time_cmd(cmd: list[str], **kw: object) -> tuple[float, float]:
    """(wall s, user+sys s) of a command run to its end, from the kernel's accounting of the child."""
    t0 = time.monotonic()
    before = os.times()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    after = os.times()
    return (time.monotonic() - t0,
            (after.children_user - before.children_user) + (after.children_system - before.children_system))


@contextmanager
def local_endpoint(*extra: str) -> Iterator[str]:
    """A local endpoint in its own process (so its CPU is not counted as the producer's); yields its URL."""
    with tempfile.TemporaryDirectory(prefix="kvs-bench-") as d:
        proc = subprocess.Popen([PYTHON, "-m", "app", "local-endpoint", "--port", "0", "--data-dir", d,
                                 "--creating-seconds", "0", "--max-disk-mb", "4096", *extra],
                                cwd=REPO, env={**os.environ, **KEYS}, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    url = json.loads(line)["url"]
                    break
            else:
                raise RuntimeError("the local endpoint did not start")
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def kvs_studio(*args: str) -> list[str]:
    return [PYTHON, "-m", "app", *args]


def stream_env() -> dict[str, str]:
    return {**KEYS, "OPENCV_LOG_LEVEL": "OFF"}


LATENCY = re.compile(r"\b([RP])=(\d+)ms")


def ack_latencies(output: str) -> dict[str, list[int]]:
    """RECEIVED/PERSISTED latencies (ms) the CLI printed for each fragment, from its final lines."""
    found: dict[str, list[int]] = {"R": [], "P": []}
    for line in output.splitlines():
        if line.startswith("fragment") and " PERSISTED " in line:
            for kind, ms in LATENCY.findall(line):
                found[kind].append(int(ms))
    return found


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}\n")
    head = ("figure", "kvs-studio", "reference (same run)", "ratio", "note")
    cells = [head] + [(r.figure, r.ours, r.reference, f"{r.ratio:.2f}x" if r.ratio is not None else "", r.note)
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for i, c in enumerate(cells):
        print("  ".join(c[j].ljust(widths[j]) for j in range(4)) + (f"  {c[4]}" if c[4] else ""))
        if i == 0:
            print("  ".join("-" * w for w in widths))
