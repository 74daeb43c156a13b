"""Size and start-up of the Linux package: build time, .deb size, installed size, launch-to-window time
(the frozen program started under Xvfb until its main window is viewable), and self-test time.

    .venv/bin/python -m tests.bench.bench_installers [--no-build] [--runs 5]

Uses the installed /usr/bin/kvs-studio when the package is installed, else the bundle in dist/kvs-studio.
Aims (issue 10): .deb under 120 MB, window under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.packaging import xdisplay

ROOT = Path(__file__).resolve().parents[2]


def build() -> tuple[Path, float]:
    start = time.monotonic()
    proc = subprocess.run(["bash", "packaging/build-deb.sh"], cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(proc.stdout.strip().splitlines()[-1]), time.monotonic() - start


def program() -> str:
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "kvs-studio"], capture_output=True, text=True)
    if "install ok installed" in installed.stdout:
        return "/usr/bin/kvs-studio"
    return str(ROOT / "dist" / "kvs-studio" / "kvs-studio")


def window_times(exe: str, runs: int) -> list[float]:
    times = []
    with xdisplay.xvfb() as display:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as home:  # a first run each time: no saved settings
                env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
                env.update(DISPLAY=display, HOME=home)
                proc = subprocess.Popen([exe], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    times.append(xdisplay.wait_for_window(display, "KVS Studio", timeout_s=60, proc=proc))
                finally:
                    proc.terminate()
                    proc.wait(30)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-build", action="store_true", help="measure the existing dist/ output")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if args.no_build:
        deb = max((ROOT / "dist").glob("kvs-studio_*.deb"), key=lambda d: d.stat().st_mtime)
        print("build time:          (not measured: --no-build)")
    else:
        deb, seconds = build()
        print(f"build time:          {seconds:.0f} s (packaging/build-deb.sh, warm build venv if it existed)")
    size = subprocess.run(["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True, text=True,
                          check=True).stdout.strip()
    print(f".deb size:           {deb.stat().st_size / 1e6:.1f} MB  ({deb.name}; aim < 120 MB)")
    print(f"installed size:      {int(size) / 1024:.0f} MiB  (Installed-Size {size} KiB)")
    exe = program()
    times = window_times(exe, args.runs)
    print(f"launch to window:    median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s over {len(times)} runs of {exe} on Xvfb (aim < 2 s)")
    start = time.monotonic()
    check = subprocess.run([exe, "self-test", "--skip", "keyring"], capture_output=True, text=True,
                           env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    print(f"self-test:           {time.monotonic() - start:.1f} s, exit {check.returncode} (keyring skipped: "
          "it needs the test suite's D-Bus session)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
