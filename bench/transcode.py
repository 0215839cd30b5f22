"""Transcoding wall time: our transcode() against the same ffmpeg commands run bare.

Run from the repo root: python bench/transcode.py [--repeat N] [--seconds S]
  ours   xuetang.video.transcode.transcode: probe the source, run the 360p, 240p and poster commands
         while reading -progress, probe and check every output, rename into place
  bare   the identical argv lists (from xuetang.video.transcode.plan, the builder transcode uses)
         run one after another with subprocess.run, output discarded, nothing checked
Also timed alone: the probes and checks ours adds (probe source, probe and box-walk each output).
The source is a generated 640x480 25 fps testsrc + sine video (H.264/AAC, 60 s by default).
Runs alternate (ours, bare, ours, ...) so machine noise hits both alike.
"""

import argparse
import datetime as dt
import os
import platform as platform_module
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

import warnings  # noqa: E402

warnings.simplefilter("ignore", DeprecationWarning)  # ffmpeg-python imports 'future'

from xuetang.video.probe import MediaInfo, ffmpeg_binary, moov_before_mdat, probe  # noqa: E402
from xuetang.video.transcode import plan, transcode  # noqa: E402


def make_source(path: Path, seconds: int, binary: str) -> None:
    subprocess.run(
        [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size=640x480:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1500k", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", str(path)],
        check=True,
    )


def run_ours(src: Path, out: Path, binary: str) -> float:
    t0 = time.perf_counter()
    transcode(src, out, lambda fraction: None, binary=binary)
    return time.perf_counter() - t0


def run_bare(src: Path, out: Path, binary: str, info: MediaInfo) -> float:
    out.mkdir()
    jobs = plan(src, out, info, binary=binary)  # built before the clock starts
    t0 = time.perf_counter()
    for job in jobs:
        subprocess.run(job.args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    for job in jobs:
        job.temp.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    binary = ffmpeg_binary(os.environ.get("FFMPEG_BINARY"))
    version = subprocess.run([binary, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "source.mp4"
        make_source(src, args.seconds, binary)
        info = probe(src, binary=binary)
        ours, bare = [], []
        for i in range(args.repeat):
            ours.append(run_ours(src, tmp / f"ours{i}", binary))
            bare.append(run_bare(src, tmp / f"bare{i}", binary, info))
            print(f"run {i + 1}: ours {ours[-1]:.2f} s, bare {bare[-1]:.2f} s", flush=True)
        result = transcode(src, tmp / "check", binary=binary)
        checks = []  # the work ours adds around the same commands: probes and box walks
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            probe(src, binary=binary)
            for r in result.renditions:
                probe(r.path, binary=binary)
                moov_before_mdat(r.path)
            checks.append(time.perf_counter() - t0)
        sizes = ", ".join(f"{r.name} {r.size_bytes / 1024:.0f} KiB ({r.bitrate_kbps} kb/s)"
                          for r in result.renditions)  # fmt: skip
        poster_kib = result.poster.stat().st_size / 1024
        src_kib = src.stat().st_size / 1024
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print()
    print(f"date      {dt.date.today().isoformat()}")
    print(f"machine   nproc {os.cpu_count()}, {platform_module.machine()}, Python {platform_module.python_version()}")
    print(f"ffmpeg    {version}")
    print(f"source    {args.seconds} s 640x480 25 fps H.264/AAC, {src_kib:.0f} KiB")
    print(f"outputs   {sizes}, poster {poster_kib:.0f} KiB")
    print(f"median of {args.repeat}: ours {m_ours:.2f} s, bare {m_bare:.2f} s, "
          f"ratio ours/bare {m_ours / m_bare:.3f} ({(m_ours - m_bare) * 1000:+.0f} ms), "
          f"speed {args.seconds / m_ours:.1f}x real time")  # fmt: skip
    print(f"probes and checks alone (source + both outputs): median {statistics.median(checks) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
