"""File re-encode: `kvs-studio stream --source FILE --pace fast` (decode, x264, fragments, PutMedia into a local
endpoint in its own process) against `ffmpeg -i FILE` with the same x264 settings writing MKV to /dev/null,
in the same run. The file is made here: H.264 1280x720@30 from ffmpeg's testsrc2.

    .venv/bin/python -m tests.bench.bench_file [--seconds 60]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from tests.bench.bench_live import X264
from tests.bench.harness import Row, kvs_studio, local_endpoint, print_table, run_measured, stream_env


def make_clip(path: Path, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                    "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-g", "60",
                    "-pix_fmt", "yuv420p", "-y", str(path)], check=True)


def run(seconds: float = 60) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="kvs-bench-") as d:
        clip = Path(d) / "clip.mp4"
        make_clip(clip, seconds)
        with local_endpoint() as url:
            ours = run_measured(kvs_studio("stream", "--stream", "bench-file", "--create", "--endpoint-url", url,
                                           "--source", str(clip), "--pace", "fast"), env=stream_env())
        if ours.returncode != 0:
            raise RuntimeError(f"kvs-studio stream failed:\n{ours.output[-2000:]}")
        ref = run_measured(["ffmpeg", "-v", "error", "-i", str(clip), *X264])
        one = Path(d) / "one.mp4"
        make_clip(one, 1)
        with local_endpoint() as url:
            fixed = run_measured(kvs_studio("stream", "--stream", "bench-file", "--create", "--endpoint-url", url,
                                            "--source", str(one), "--pace", "fast"), env=stream_env())
    return [
        Row(f"file re-encode {seconds:g} s 720p30: CPU s", f"{ours.cpu_s:.1f}", f"ffmpeg -i {ref.cpu_s:.1f}",
            ours.cpu_s / ref.cpu_s),
        Row("  wall s (x real time)", f"{ours.wall_s:.1f} ({seconds / ours.wall_s:.1f}x)",
            f"{ref.wall_s:.1f} ({seconds / ref.wall_s:.1f}x)", ours.wall_s / ref.wall_s),
        Row("  fixed cost: the same for a 1 s file, CPU s", f"{fixed.cpu_s:.1f}",
            note="start-up: imports, credentials, DescribeStream, GetDataEndpoint, TLS-less connect"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    print_table("file re-encode", run(ap.parse_args().seconds))


if __name__ == "__main__":
    main()
