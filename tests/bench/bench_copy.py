"""Copy mode (`kvs-studio stream --copy --pace fast`) into a local endpoint process: MB/s and CPU per GB, for
the producer and the endpoint apart (both share this machine's cores), next to the official C producer's
offline sample pushing the same H.264 when it is built.

    .venv/bin/python -m tests.bench.bench_copy [--seconds 300] [--rounds 3]
    KVS_C_PRODUCER_BIN=/work/peers/producer-c/build/kvsVideoOnlyRealtimeStreamingSample \\
    KVS_C_PRODUCER_SAMPLES=/work/peers/producer-c/samples .venv/bin/python -m tests.bench.bench_copy

The H.264 is the C producer's own sample frames (640x480, 25 fps, an IDR every 45 frames) looped to
``seconds`` when ``KVS_C_PRODUCER_SAMPLES`` is set, else a clip of the same shape made with libx264. Ours
sends it as a raw Annex-B ``.h264`` (converted to AVCC on the way) and as an MP4 (AVCC already).

Figures per row: MB (fragment bytes the endpoint stored), wall s of the producer process from start to
exit (start-up, the demux pre-pass and waiting for the last acks included), MB/s over that wall time,
upload MB/s from the first to the last fragment stored (server timestamps: the sending itself), and CPU
s per GB for the producer (user+sys of its process) and for the endpoint (its process, same run). Each
producer runs ``rounds`` times, alternating with the others; the round with the median wall time is shown
(other work on a shared machine shifts single runs a lot). Our process's fixed cost (Python start-up and
imports, botocore, the connection: about 0.8 s of CPU) is in these figures; on 150 MB it is over half.
``run(seconds, rounds)`` returns the rows for a combined report.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tests.bench import harness
from tests.conftest import REGION, TEST_KEYS, client
from tests.localkvs.helpers import EndpointProcess

FPS = 25
GOP = 45  # the C producer's sample: an IDR every 45 frames
OFFLINE_SAMPLE = "kvsVideoOnlyOfflineStreamingSample"


@dataclass(frozen=True)
class Row:
    name: str
    mb: float
    wall_s: float
    upload_s: float
    cpu_s: float
    endpoint_cpu_s: float
    fragments: int

    @property
    def mb_per_s(self) -> float:
        return self.mb / self.wall_s if self.wall_s else 0.0

    @property
    def upload_mb_per_s(self) -> float:
        return self.mb / self.upload_s if self.upload_s else 0.0

    @property
    def cpu_s_per_gb(self) -> float:
        return self.cpu_s / (self.mb / 1000) if self.mb else 0.0

    @property
    def endpoint_cpu_s_per_gb(self) -> float:
        return self.endpoint_cpu_s / (self.mb / 1000) if self.mb else 0.0


def _proc_cpu(pid: int) -> float:
    """user+sys seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def sample_frames() -> list[Path] | None:
    samples = os.environ.get("KVS_C_PRODUCER_SAMPLES", "")
    folder = Path(samples) / "h264SampleFrames"
    files = sorted(folder.glob("frame-*.h264")) if samples else []
    return files or None


def make_media(folder: Path, seconds: float) -> tuple[Path, Path]:
    """The same H.264 as a raw Annex-B stream and as an MP4 (remuxed by FFmpeg, not re-encoded)."""
    frames = round(seconds * FPS)
    raw = folder / "copy.h264"
    files = sample_frames()
    with raw.open("wb") as out:
        if files:
            for i in range(frames):
                out.write(files[i % len(files)].read_bytes())
        else:
            _encode_like_the_sample(raw, frames)
    mp4 = folder / "copy.mp4"
    with av.open(str(raw)) as inp, av.open(str(mp4), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, FPS * 1000)
        for i, p in enumerate(pkt for pkt in inp.demux(ist) if pkt.size):
            p.stream = ost  # raw H.264 has no timestamps: frame numbers at 25 fps
            p.time_base = Fraction(1, FPS)
            p.pts = p.dts = i
            p.duration = 1
            out.mux(p)
    return raw, mp4


def _encode_like_the_sample(path: Path, frames: int) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x480:r={FPS}",
                    "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP),
                    "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "0", "-qp", "12", "-f", "h264", str(path)],
                   check=True)


def _stored(url: str, stream: str) -> tuple[float, float, int]:
    """(MB stored, seconds from the first fragment stored to the last, fragments)."""
    frags = client("kinesis-video-archived-media", url).list_fragments(StreamName=stream)["Fragments"]
    if not frags:
        return 0.0, 0.0, 0
    size = sum(f["FragmentSizeInBytes"] for f in frags)
    stamps = sorted(f["ServerTimestamp"].timestamp() for f in frags)
    return size / 1e6, stamps[-1] - stamps[0], len(frags)


def _measure(name: str, ep: EndpointProcess, stream: str, cmd: list[str], env: dict[str, str],
             cwd: Path) -> Row:
    """One run of a producer command into a new stream."""
    kv = client("kinesisvideo", ep.url)
    kv.create_stream(StreamName=stream, DataRetentionInHours=2, MediaType="video/h264")
    ep_cpu0, cpu0 = _proc_cpu(ep.proc.pid), _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    time.sleep(0.5)  # let the endpoint finish storing what it acknowledged before reading its CPU
    ep_cpu = _proc_cpu(ep.proc.pid) - ep_cpu0
    mb, upload, fragments = _stored(ep.url, stream)
    return Row(name, mb, wall, upload, cpu, ep_cpu, fragments)


def _ours(source: Path) -> list[str]:
    return [sys.executable, "-m", "app", "stream", "--stream", "{stream}", "--source", str(source), "--copy",
            "--pace", "fast"]


def _offline_sample() -> Path | None:
    named = os.environ.get("KVS_C_PRODUCER_BIN", "")
    if not named or not sample_frames():
        return None
    path = Path(named)
    path = path if path.name == OFFLINE_SAMPLE else path.with_name(OFFLINE_SAMPLE)
    return path if path.is_file() else None


def _samples_for_offline(folder: Path) -> Path:
    """The offline sample reads the h265 folder and names unless told h265 (an upstream bug, see
    peer-clients.md), so give it the H.264 frames under those names."""
    files = sample_frames()
    assert files is not None
    dest = folder / "samples" / "h265SampleFrames"
    dest.mkdir(parents=True)
    for f in files:
        (dest / f.name.replace(".h264", ".h265")).symlink_to(f)
    return folder / "samples"


def run(seconds: float = 300, rounds: int = 3) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        folder = Path(tmp)
        raw, mp4 = make_media(folder, seconds)
        ep = EndpointProcess(folder / "data", "--max-disk-mb", "100000")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=TEST_KEYS.access_key, AWS_SECRET_ACCESS_KEY=TEST_KEYS.secret_key,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        producers: list[tuple[str, list[str], dict[str, str]]] = [
            (f"kvs-studio --copy ({what})", [*_ours(source), "--endpoint-url", ep.url], env)
            for source, what in ((raw, "raw .h264, Annex-B to AVCC"), (mp4, "MP4, AVCC as is"))]
        sample = _offline_sample()
        if sample is not None:
            cmd = [str(sample), "{stream}", "h264", str(round(seconds)), str(_samples_for_offline(folder))]
            producers.append(("C producer offline sample", cmd,
                              dict(env, CONTROL_PLANE_URI=ep.url, AWS_KVS_LOG_LEVEL="4")))
        runs: dict[str, list[Row]] = {}
        try:
            for n in range(rounds):
                for i, (name, cmd, penv) in enumerate(producers):
                    stream = f"p{i}-r{n}"
                    cmd = [stream if a == "{stream}" else a for a in cmd]
                    runs.setdefault(name, []).append(_measure(name, ep, stream, cmd, penv, folder))
        finally:
            ep.terminate()
    return [_median(rows) for rows in runs.values()]


def _median(rows: list[Row]) -> Row:
    wall = statistics.median_low([r.wall_s for r in rows])
    return next(r for r in rows if r.wall_s == wall)


def report(rows: list[Row], seconds: float) -> str:
    load = os.getloadavg()[0]
    lines = [f"copy mode into a local endpoint process, {seconds:g} s of 640x480 H.264 at {FPS} fps "
             f"(IDR every {GOP}), {os.cpu_count()} cores shared by producer and endpoint, load {load:.1f} at the end",
             f"{'producer':<44} {'MB':>7} {'frags':>5} {'wall s':>7} {'MB/s':>7} {'upload MB/s':>11} "
             f"{'CPU s/GB':>8} {'endpoint CPU s/GB':>17}"]
    for r in rows:
        lines.append(f"{r.name:<44} {r.mb:7.1f} {r.fragments:5d} {r.wall_s:7.2f} {r.mb_per_s:7.1f} "
                     f"{r.upload_mb_per_s:11.1f} {r.cpu_s_per_gb:8.2f} {r.endpoint_cpu_s_per_gb:17.2f}")
    if not any(r.name.startswith("C producer") for r in rows):
        lines.append("(C producer row: set KVS_C_PRODUCER_BIN and KVS_C_PRODUCER_SAMPLES, see peer-clients.md)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300.0, help="video length (default %(default)g)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each producer; the median is shown (default 3)")
    args = ap.parse_args()
    print(report(run(args.seconds, args.rounds), args.seconds))


if __name__ == "__main__":
    main()


def table_rows(seconds: float = 300) -> list[harness.Row]:
    """The figures for tests.bench.report's table: one round, the C producer as the reference when built."""
    rows = run(seconds, rounds=1)
    peer = next((r for r in rows if r.name.startswith("C producer")), None)
    out: list[harness.Row] = []
    for r in rows:
        if r is peer:
            continue
        out.append(harness.Row(
            f"{r.name}: MB/s sending (whole process)", f"{r.upload_mb_per_s:.0f} ({r.mb_per_s:.0f})",
            f"C producer {peer.upload_mb_per_s:.0f} ({peer.mb_per_s:.0f})" if peer else "C producer not built",
            r.upload_mb_per_s / peer.upload_mb_per_s if peer else None, note=f"{r.mb:.0f} MB, {seconds:g} s of video"))
        out.append(harness.Row(
            "  CPU s per GB: producer / endpoint", f"{r.cpu_s_per_gb:.1f} / {r.endpoint_cpu_s_per_gb:.1f}",
            f"C producer {peer.cpu_s_per_gb:.1f} / {peer.endpoint_cpu_s_per_gb:.1f}" if peer else "",
            r.cpu_s_per_gb / peer.cpu_s_per_gb if peer else None))
    return out
