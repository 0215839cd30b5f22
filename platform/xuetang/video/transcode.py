"""Transcode a checked upload for weak connections: small faststart renditions and a poster.

Commands are built with ffmpeg-python (`plan`) and run with subprocess so that `-progress pipe:1`
can be read line by line; bench/transcode.py runs the very same argv bare to price our checks.

Renditions (`RENDITIONS`): 360p (H.264 capped at 400 kb/s, AAC 48 kb/s mono) and 240p (capped at
180 kb/s, AAC 32 kb/s mono). Video is constant-quality (CRF) under a VBV ceiling (maxrate and
bufsize), not a fixed average: a talking head or slides come out well below the cap, which is
what a 2G/3G phone wants, while busy footage never bursts above it for long. `-preset veryfast`,
main profile, yuv420p, a keyframe every 3 s (seeking and resuming land close), at most 30 fps,
`-movflags +faststart` (index first, so a phone can start playing after a few kilobytes), no
metadata copied from the upload. "360p" means the SHORT side: a portrait video becomes 360 px
wide. Sources are never upscaled: a rendition's short side is min(target, source short side),
so a 240-line upload gives two 240-line renditions. An input without audio gives renditions
without audio (no silent track is added: it would cost bytes on every play for nothing, and
every player handles video-only MP4). The poster is one JPEG frame at 10 % of the duration,
320 px wide.

Crash safety: each output is written to a hidden temp name in out_dir (`.xt-<hex>-<name>.part`)
and renamed to its final name (`360p.mp4`, `240p.mp4`, `poster.jpg`) with os.replace only after
every ffmpeg run exited 0 and every output was checked (probes, right size and duration, moov
before mdat). A worker killed midway therefore never leaves a half-written file under a final
name; `remove_partials(out_dir)` sweeps temp files such a worker left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import ffmpeg as ffmpeg_python

from xuetang.video.media_store import is_disk_full
from xuetang.video.probe import (
    INPUT_OPTIONS,
    DiskFull,
    MediaInfo,
    NotAVideo,
    TranscodeError,
    ffmpeg_binary,
    inspect_media,
    jpeg_size,
    moov_before_mdat,
    probe,
)

KEYFRAME_SECONDS = 3
MAX_FPS = 30
POSTER_NAME = "poster.jpg"
POSTER_WIDTH = 320
POSTER_AT = Decimal("0.1")  # fraction of the duration
PARTIAL_PREFIX = ".xt-"
PARTIAL_SUFFIX = ".part"


class TranscodeTimeout(TranscodeError):
    """ffmpeg ran past the time budget it was given and was killed (not worth retrying)."""


@dataclass(frozen=True)
class TimeBudget:
    """How long ffmpeg may run for one source: base_s plus per_s for each second of it."""

    base_s: float
    per_s: float

    def seconds(self, duration: Decimal) -> float:
        return self.base_s + self.per_s * float(duration)


@dataclass(frozen=True)
class RenditionSpec:
    name: str  # also the file stem: 360p -> 360p.mp4
    short_side: int  # target height of a landscape video
    video_kbps: int  # ceiling (VBV maxrate); quiet footage such as slides comes out well below
    bufsize_kbps: int  # VBV buffer: bounds how long a burst above video_kbps may last
    crf: int  # quality aimed at while under the ceiling
    audio_kbps: int

    @property
    def filename(self) -> str:
        return f"{self.name}.mp4"

    @property
    def nominal_kbps(self) -> int:
        """Upper bound of the stream's bitrate (video ceiling + audio), for choosing a rendition."""
        return self.video_kbps + self.audio_kbps


RENDITIONS = (
    RenditionSpec("360p", 360, video_kbps=400, bufsize_kbps=800, crf=26, audio_kbps=48),
    RenditionSpec("240p", 240, video_kbps=180, bufsize_kbps=360, crf=28, audio_kbps=32),
)


@dataclass(frozen=True)
class Rendition:
    name: str  # "360p" / "240p"
    path: Path  # final path in out_dir
    width: int
    height: int
    duration_ms: int
    size_bytes: int
    bitrate_kbps: int  # measured: file size * 8 / duration, for the player's choice


@dataclass(frozen=True)
class Renditions:
    source: MediaInfo
    renditions: tuple[Rendition, ...]  # largest first, in RENDITIONS order
    poster: Path
    poster_width: int
    poster_height: int
    duration: Decimal  # seconds, of the first rendition (what the player plays)

    @property
    def duration_ms(self) -> int:
        return int((self.duration * 1000).to_integral_value(rounding=ROUND_FLOOR))

    def get(self, name: str) -> Rendition:
        for rendition in self.renditions:
            if rendition.name == name:
                return rendition
        raise KeyError(name)


@dataclass(frozen=True)
class Job:
    """One ffmpeg run: args (complete argv), the temp file it writes and the final name."""

    name: str
    args: list[str]
    temp: Path
    final: Path
    weight: float  # share of the progress bar
    spec: RenditionSpec | None = None  # None for the poster
    short_side: int = 0  # expected short side of the output


def _even_floor(n: int) -> int:
    return max(2, n - n % 2)


def _global(stream):
    return stream.global_args("-hide_banner", "-nostdin", "-loglevel", "warning",
                              "-progress", "pipe:1", "-nostats").overwrite_output()  # fmt: skip


def plan(src: str | os.PathLike, out_dir: str | os.PathLike, info: MediaInfo, *, binary: str) -> list[Job]:
    """The ffmpeg commands `transcode` runs, built with ffmpeg-python (bench/transcode.py runs the
    very same argv bare). Temp names are fresh for every call."""
    src, out_dir = Path(src).absolute(), Path(out_dir).absolute()
    tag = secrets.token_hex(4)
    landscape = info.width >= info.height
    source_short = min(info.width, info.height)
    jobs: list[Job] = []
    for spec in RENDITIONS:
        short = min(spec.short_side, _even_floor(source_short))
        inp = ffmpeg_python.input(str(src), **INPUT_OPTIONS)
        video = inp["V:0"]
        if info.fps and info.fps > MAX_FPS + 0.5:
            video = video.filter("fps", fps=MAX_FPS)
        video = video.filter("scale", -2 if landscape else short, short if landscape else -2)
        video = video.filter("setsar", 1)
        streams = [video, inp["a:0"]] if info.has_audio else [video]
        options = {
            "f": "mp4",
            "c:v": "libx264",
            "preset": "veryfast",
            "profile:v": "main",
            "pix_fmt": "yuv420p",
            "crf": spec.crf,
            "maxrate": f"{spec.video_kbps}k",
            "bufsize": f"{spec.bufsize_kbps}k",
            "force_key_frames": f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
            "movflags": "+faststart",
            "map_metadata": -1,
            "map_chapters": -1,
            "sn": None,
            "dn": None,
        }
        if info.has_audio:
            options.update({"c:a": "aac", "b:a": f"{spec.audio_kbps}k", "ac": 1, "ar": 44100})
        temp = out_dir / f"{PARTIAL_PREFIX}{tag}-{spec.filename}{PARTIAL_SUFFIX}"
        args = _global(ffmpeg_python.output(*streams, str(temp), **options)).compile(cmd=binary)
        encode_cost = short * short * 16 / 9 + 40_000  # encoding ~ output pixels, plus decoding
        jobs.append(Job(spec.name, args, temp, out_dir / spec.filename, encode_cost, spec, short))
    seek = (info.duration * POSTER_AT).quantize(Decimal("0.001"))
    poster_temp = out_dir / f"{PARTIAL_PREFIX}{tag}-{POSTER_NAME}{PARTIAL_SUFFIX}"
    poster_in = ffmpeg_python.input(str(src), ss=str(seek), **INPUT_OPTIONS)
    poster_video = poster_in["V:0"].filter("scale", POSTER_WIDTH, -2).filter("setsar", 1)
    poster_out = ffmpeg_python.output(
        poster_video, str(poster_temp), f="image2", update=1, **{"c:v": "mjpeg", "frames:v": 1, "q:v": 4}
    )
    poster_share = 0.02
    total_cost = sum(job.weight for job in jobs)
    jobs = [replace(job, weight=job.weight / total_cost * (1 - poster_share)) for job in jobs]
    args = _global(poster_out).compile(cmd=binary)
    jobs.append(Job("poster", args, poster_temp, out_dir / POSTER_NAME, poster_share))
    return jobs


def _tail(err_file, lines: int = 15) -> str:
    err_file.seek(0)
    text = err_file.read().decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def run_job(job: Job, duration: Decimal, on_fraction: Callable[[float], None] | None = None,
            deadline: float | None = None) -> None:
    """Run one job, reporting its own progress 0..1 from `-progress pipe:1`. On any exception
    (including one raised by on_fraction) ffmpeg is killed and waited for before re-raising.

    `deadline` (a time.monotonic() value): ffmpeg still running then is killed and
    TranscodeTimeout raised, even when it stopped printing progress."""
    total_us = max(1, int(duration * 1_000_000))
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                job.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                text=True, encoding="utf-8", errors="replace",
            )  # fmt: skip
        except OSError as exc:
            raise TranscodeError(f"无法启动 ffmpeg（{job.args[0]}）：{exc}") from exc
        timed_out = threading.Event()

        def kill_late() -> None:
            timed_out.set()
            proc.kill()

        timer = None
        if deadline is not None:
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), kill_late)
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if on_fraction is not None and line.startswith("out_time_us="):
                    value = line.partition("=")[2].strip()
                    if value.isdigit():
                        on_fraction(min(1.0, int(value) / total_us))
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if proc.stdout is not None:
                proc.stdout.close()
        if timed_out.is_set():
            raise TranscodeTimeout(f"转码超时（{job.name}），已停止。视频可能过长或过于复杂，"
                                   "请压缩到 1080p 以下或分段后重新上传。", _tail(err))
        if returncode != 0:
            raise TranscodeError(f"ffmpeg 转码失败（{job.name}，退出码 {returncode}）。", _tail(err))


def _check_rendition(binary: str, job: Job, source: MediaInfo) -> MediaInfo:
    try:
        out = inspect_media(binary, job.temp)
    except NotAVideo as exc:
        raise TranscodeError(f"转码输出无法读取（{job.name}）：{exc.message}") from exc
    problems = []
    if min(out.width, out.height) != job.short_side:
        problems.append(f"画面 {out.width}x{out.height}，短边应为 {job.short_side}")
    tolerance = max(Decimal("0.5"), source.duration * Decimal("0.02"))
    if abs(out.duration - source.duration) > tolerance:
        problems.append(f"时长 {out.duration}s，源文件 {source.duration}s")
    if out.has_audio != source.has_audio:
        problems.append("音轨与源文件不一致")
    if not moov_before_mdat(job.temp):
        problems.append("索引（moov）不在文件开头")
    if problems:
        raise TranscodeError(f"转码输出校验失败（{job.name}）：" + "；".join(problems))
    return out


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def transcode(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    on_progress: Callable[[float], None] | None = None,
    *,
    binary: str | None = None,
    budget: TimeBudget | None = None,
) -> Renditions:
    """Probe src, write RENDITIONS and the poster into out_dir, return what was made.

    budget: how long all ffmpeg runs together may take, from the probed duration; past it
    ffmpeg is killed and TranscodeTimeout raised. None: no limit.

    on_progress(fraction) is called with non-decreasing values in 0..1 and finally exactly 1.0,
    after the outputs are under their final names. If it raises, ffmpeg is killed, temp files
    are removed and the exception propagates. Raises NotAVideo for a bad source and
    TranscodeError (with ffmpeg's stderr tail) when ffmpeg fails or an output does not check out.
    Existing outputs in out_dir are replaced atomically, and only when everything succeeded.
    """
    binary = binary or ffmpeg_binary(None)
    src = Path(src).absolute()
    out_dir = Path(out_dir).absolute()
    info = probe(src, binary=binary)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan(src, out_dir, info, binary=binary)
    deadline = None if budget is None else time.monotonic() + budget.seconds(info.duration)
    reported = 0.0

    def report(value: float) -> None:
        nonlocal reported
        value = min(1.0, max(reported, value))
        if on_progress is not None and (value >= reported + 0.005 or value == 1.0 and reported < 1.0):
            reported = value
            on_progress(value)

    done_weight = 0.0
    checked: dict[str, MediaInfo] = {}
    success = False
    try:
        for job in jobs:
            def job_progress(f: float, base: float = done_weight, weight: float = job.weight) -> None:
                report(min(0.999, base + weight * f))

            run_job(job, info.duration, job_progress, deadline)
            if job.spec is not None:
                checked[job.name] = _check_rendition(binary, job, info)
            done_weight += job.weight
            report(min(0.999, done_weight))
        poster_job = jobs[-1]
        poster_size = jpeg_size(poster_job.temp) if poster_job.temp.exists() else None
        if poster_size is None:
            raise TranscodeError("封面图生成失败：输出不是 JPEG 图片。")
        for job in jobs:
            os.replace(job.temp, job.final)
        _fsync_dir(out_dir)
        success = True
    except (TranscodeError, OSError) as exc:
        # ffmpeg on a full disk may exit 0 with a truncated output: judge by the free space too
        # (the temp outputs are still there).
        if not isinstance(exc, TranscodeTimeout) and is_disk_full(exc, out_dir):
            raise DiskFull(getattr(exc, "stderr_tail", "")) from exc
        raise
    finally:
        if not success:
            for job in jobs:
                with contextlib.suppress(FileNotFoundError):
                    job.temp.unlink()
    renditions = tuple(
        Rendition(
            name=job.name,
            path=job.final,
            width=checked[job.name].width,
            height=checked[job.name].height,
            duration_ms=checked[job.name].duration_ms,
            size_bytes=(size := job.final.stat().st_size),
            bitrate_kbps=round(size * 8 / max(1, checked[job.name].duration_ms)),
        )
        for job in jobs
        if job.spec is not None
    )
    report(1.0)
    return Renditions(
        source=info,
        renditions=renditions,
        poster=poster_job.final,
        poster_width=poster_size[0],
        poster_height=poster_size[1],
        duration=checked[RENDITIONS[0].name].duration,
    )


def remove_partials(out_dir: str | os.PathLike) -> list[Path]:
    """Delete temp outputs (`.xt-*.part`) left in out_dir by a killed transcode. Do not call it
    while a transcode into the same out_dir is running."""
    removed = []
    for path in Path(out_dir).glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
