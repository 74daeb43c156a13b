"""Memory of a long live run: `kvs-studio stream` of the 720p30 test pattern into a local endpoint (its own
process) for N minutes, RSS sampled every 5 s from /proc. Reports RSS after the first minute (buffers and
caches filled), at the end, the difference, and the trend (least squares over the samples after the first
minute, in MB per hour), which a few MB of allocator noise at the end points does not fool.

    .venv/bin/python -m tests.bench.bench_memory [--minutes 30]
"""

from __future__ import annotations

import argparse

from tests.bench.harness import Row, kvs_studio, local_endpoint, print_table, run_measured, stream_env

WARMUP_S = 60.0


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 3600 * sum((t - mt) * (r - mr) for t, r in samples) / var if var else 0.0


def run(minutes: float = 30) -> list[Row]:
    seconds = minutes * 60
    with local_endpoint() as url:
        m = run_measured(kvs_studio("stream", "--stream", "bench-memory", "--create", "--endpoint-url", url,
                                    "--duration", f"{seconds:g}"), env=stream_env(), sample_every=5.0)
    if m.returncode != 0:
        raise RuntimeError(f"kvs-studio stream failed:\n{m.output[-2000:]}")
    warm = [(t, rss) for t, _cpu, rss in m.samples if t >= min(WARMUP_S, seconds / 2)]
    first, last = warm[0][1], warm[-1][1]
    peak = max(rss for _t, _c, rss in m.samples)
    return [
        Row(f"RSS, live 720p30 for {minutes:g} min (MB)", f"{first:.1f} at {warm[0][0]:.0f} s, {last:.1f} at "
            f"{warm[-1][0]:.0f} s, peak {peak:.1f}", note="one process: capture, x264, buffer, uploader"),
        Row("  drift after warm-up (MB)", f"{last - first:+.1f}", "goal: under 5 MB over 30 min"),
        Row("  trend (MB per hour, least squares)", f"{slope_mb_per_hour(warm):+.2f}"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    print_table("memory", run(ap.parse_args().minutes))


if __name__ == "__main__":
    main()
