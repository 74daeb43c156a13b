"""What sound costs: `kvs-studio stream` (a subprocess) to an in-process local endpoint, CPU (user+sys of the
child) and wall time, with and without an audio track, in the same run.

    .venv/bin/python -m tests.bench.bench_audio [--seconds 20]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from tests import mediagen
from tests.conftest import make_endpoint
from tests.e2e.test_stream_cli import run_cli


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(label: str, *args: str) -> None:
    cpu0, t0 = child_cpu(), time.perf_counter()
    proc = run_cli(*args, timeout=600)
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"{label:<44} wall {wall:6.2f} s   cpu {cpu:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    fps = 15
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        frames = args.seconds * fps
        aac = mediagen.make_av_clip(tmp / "aac.mp4", frames, fps)
        mp3 = mediagen.make_av_clip(tmp / "mp3.mkv", frames, fps, audio_codec="libmp3lame", rate=44100)
        ep = make_endpoint(tmp / "data")
        try:
            base = ["--endpoint-url", ep.url, "--create", "--pace", "fast"]
            print(f"{args.seconds} s clip, 320x240 at {fps} fps, --pace fast")
            measure("file, --no-audio", "--stream", "a", "--source", str(aac), "--no-audio", *base)
            measure("file, AAC copied", "--stream", "b", "--source", str(aac), *base)
            measure("file, MP3 re-encoded to AAC-LC", "--stream", "c", "--source", str(mp3), *base)
            live = ["--source", "testpattern", "--duration", str(args.seconds), "--width", "640", "--height", "360",
                    "--fps", "30", "--endpoint-url", ep.url, "--create"]
            print(f"test pattern 640x360 at 30 fps for {args.seconds} s (real time)")
            measure("test pattern", "--stream", "d", *live)
            measure("test pattern + --tone", "--stream", "e", "--tone", *live)
        finally:
            ep.stop()


if __name__ == "__main__":
    main()
