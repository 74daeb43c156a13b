"""Encoding speed of our pipeline stage (PyAV libx264 straight from I420 frames, as the test pattern and files
give them; and from BGR arrays, as cameras do, through cvtColor) against the ffmpeg CLI on the same raw
frames, measured in the same run.

    .venv/bin/python -m tests.bench.bench_encode [--frames 300] [--size 1280x720] [--preset veryfast]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import cv2

from app.media.encoder import H264Encoder
from app.media.frames import RawFrame
from app.media.sources import TestPatternSource


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--preset", default="veryfast")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    pattern = TestPatternSource(w, h, 30)
    frames = [pattern.render(i, 1_764_000_000_000 + i * 33) for i in range(args.frames)]
    video_frames = [pattern.video_frame(i, 1_764_000_000_000 + i * 33) for i in range(args.frames)]
    bgr = [cv2.cvtColor(f, cv2.COLOR_YUV2BGR_I420) for f in frames]

    def encode(images: list) -> tuple[float, float, int]:
        enc = H264Encoder(w, h, 30, 2_000_000, args.preset)
        cpu0, t0 = time.process_time(), time.perf_counter()
        size = 0
        for i, img in enumerate(images):
            for p in enc.encode(RawFrame(i, 1_764_000_000_000 + i * 33, img), i % 60 == 0):
                size += len(p.data)
        for p in enc.flush():
            size += len(p.data)
        return time.perf_counter() - t0, time.process_time() - cpu0, size

    ours, ours_cpu, size = encode(video_frames)
    ours_bgr, ours_bgr_cpu, _ = encode(bgr)

    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "in.yuv")
        with open(raw, "wb") as fh:
            for img in frames:
                fh.write(img.tobytes())
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "30",
               "-i", raw, "-c:v", "libx264", "-preset", args.preset, "-tune", "zerolatency", "-g", "60",
               "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0", "-b:v", "2M", "-f", "h264",
               os.path.join(d, "out.h264")]
        t0 = time.perf_counter()
        before = os.times()
        subprocess.run(cmd, check=True)
        after = os.times()
        cli = time.perf_counter() - t0
        cli_cpu = after.children_user + after.children_system - before.children_user - before.children_system

    n = args.frames
    print(f"frames {n} at {w}x{h}, preset {args.preset}")
    print(f"kvs-studio encoder, I420 frames:       {n / ours:7.1f} fps  ({ours:.2f} s, cpu {ours_cpu:.2f} s,"
          f" {size / 1e6:.2f} MB)")
    print(f"kvs-studio encoder, BGR (cvtColor):    {n / ours_bgr:7.1f} fps  ({ours_bgr:.2f} s, "
          f"cpu {ours_bgr_cpu:.2f} s)")
    print(f"ffmpeg CLI (raw I420 from disk + x264): {n / cli:7.1f} fps  ({cli:.2f} s, cpu {cli_cpu:.2f} s)")
    print(f"CPU ratio ours/ffmpeg: I420 {ours_cpu / cli_cpu:.2f}x, BGR {ours_bgr_cpu / cli_cpu:.2f}x")


if __name__ == "__main__":
    main()
