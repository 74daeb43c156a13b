"""One table of every performance figure, each next to its reference measured in the same run.

    .venv/bin/python -m tests.bench.report                # about 12 minutes on 2 cores
    .venv/bin/python -m tests.bench.report --quick        # shorter runs, about 5 minutes
    .venv/bin/python -m tests.bench.report --memory-minutes 30 --only memory

Not a test: nothing here passes or fails on a figure. Run it on an otherwise idle machine; the ratios are
what carry over between machines, the absolute figures are this machine's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import time
from collections.abc import Callable

from tests.bench.harness import Row, print_table

# name -> (module, its function giving table rows, that function's argument: full and --quick values)
SECTIONS: dict[str, tuple[str, str, float, float]] = {
    "file": ("tests.bench.bench_file", "run", 60, 20),
    "live": ("tests.bench.bench_live", "run", 60, 25),
    "copy": ("tests.bench.bench_copy", "table_rows", 300, 60),
    "window": ("tests.bench.bench_window", "run", 30, 15),
    "memory": ("tests.bench.bench_memory", "run", 5, 1.5),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections")
    ap.add_argument("--memory-minutes", type=float, help="length of the memory run (default 5, or 1.5 with --quick)")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg CLI is the reference for several figures: apt-get install ffmpeg")
    rows: list[Row] = []
    started = time.monotonic()
    for name in args.only or SECTIONS:
        module, func, full, quick = SECTIONS[name]
        value = quick if args.quick else full
        if name == "memory" and args.memory_minutes:
            value = args.memory_minutes
        try:
            run: Callable[[float], list[Row]] = getattr(importlib.import_module(module), func)
        except ModuleNotFoundError:
            rows.append(Row(name, "not built", note=f"{module} is missing"))
            continue
        print(f"[{time.monotonic() - started:5.0f} s] {name} ...", flush=True)
        try:
            rows += run(value)
        except Exception as exc:  # one failing section still leaves the others' figures
            rows.append(Row(name, "failed", note=str(exc).splitlines()[0][:200]))
    print_table(f"KVS Studio benchmarks — {os.cpu_count()} cores, {platform.machine()}, "
                f"{time.strftime('%Y-%m-%d %H:%M')}, {time.monotonic() - started:.0f} s", rows)


if __name__ == "__main__":
    main()
