"""Live path: `kvs-studio stream` of the 1280x720@30 test pattern into a local endpoint (its own process),
against the ffmpeg CLI encoding in real time (-re) with the same x264 settings, measured in the same run:
- ffmpeg's own test source (testsrc2), as the issue's first measure did;
- the same pictures as ours (our test pattern written to a raw I420 file), so x264 gets the same work.
Also the frames dropped at capture and the acknowledgement latencies the CLI printed.

    .venv/bin/python -m tests.bench.bench_live [--seconds 60]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.harness import (
    Measured,
    Row,
    ack_latencies,
    kvs_studio,
    local_endpoint,
    percentile,
    print_table,
    run_measured,
    stream_env,
)

X264 = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "2M", "-g", "60",
        "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0", "-f", "matroska", "-y", "/dev/null"]
WARMUP_S = 10  # steady state is measured after this, so imports and connecting do not count


def write_pattern(path: Path, frames: int) -> None:
    from app.media.sources import TestPatternSource

    pattern = TestPatternSource(1280, 720, 30)
    t0 = int(time.time() * 1000)
    with path.open("wb") as fh:
        for i in range(frames):
            fh.write(pattern.render(i, t0 + i * 33).tobytes())


def _steady(m: Measured, seconds: float) -> float:
    return m.cpu_between(WARMUP_S, seconds - 1)


def run(seconds: float = 60) -> list[Row]:
    with local_endpoint() as url:
        ours = run_measured(kvs_studio("stream", "--stream", "bench-live", "--create", "--endpoint-url", url,
                                       "--duration", f"{seconds:g}"), env=stream_env())
    if ours.returncode != 0:
        raise RuntimeError(f"kvs-studio stream failed:\n{ours.output[-2000:]}")
    frames = int(re.search(r"(\d+) frames;", ours.output).group(1))  # type: ignore[union-attr]
    dropped = re.search(r"(\d+) frames dropped at capture", ours.output)
    testsrc = run_measured(["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                            "-t", f"{seconds:g}", *X264])
    with tempfile.TemporaryDirectory(prefix="kvs-bench-") as d:
        raw = Path(d) / "pattern.yuv"
        write_pattern(raw, 300)  # 10 s, looped: the pattern repeats every 320 frames anyway
        same = run_measured(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-f", "rawvideo", "-pix_fmt",
                             "yuv420p", "-s", "1280x720", "-r", "30", "-i", str(raw), "-t", f"{seconds:g}", *X264])
    lat = ack_latencies(ours.output)
    s_ours, s_testsrc, s_same = (_steady(m, seconds) for m in (ours, testsrc, same))
    rows = [
        Row(f"live 720p30 {seconds:g} s: CPU s, whole run", f"{ours.cpu_s:.1f}",
            f"ffmpeg -re testsrc2 {testsrc.cpu_s:.1f}", ours.cpu_s / testsrc.cpu_s),
        Row("  same pictures as ours", f"{ours.cpu_s:.1f}", f"ffmpeg -re our pattern {same.cpu_s:.1f}",
            ours.cpu_s / same.cpu_s),
        Row(f"live: CPU after {WARMUP_S} s (% of a core)", f"{100 * s_ours:.1f}",
            f"ffmpeg -re testsrc2 {100 * s_testsrc:.1f}", s_ours / s_testsrc),
        Row("  same pictures as ours", f"{100 * s_ours:.1f}", f"ffmpeg -re our pattern {100 * s_same:.1f}",
            s_ours / s_same),
        Row("live: frames sent / dropped at capture", f"{frames} / {int(dropped.group(1)) if dropped else 0}",
            f"{round(seconds * 30)} captured at 30 fps"),
    ]
    for kind, name in (("R", "RECEIVED"), ("P", "PERSISTED")):
        if lat[kind]:
            rows.append(Row(f"ack latency to {name}, loopback (ms)",
                            f"median {statistics.median(lat[kind]):.0f}, p95 {percentile(lat[kind], 0.95):.0f}",
                            note="as the CLI prints it (see the ledger for where it is measured from)"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg CLI is the reference: install it (apt-get install ffmpeg)")
    print_table("live path", run(args.seconds))


if __name__ == "__main__":
    main()
