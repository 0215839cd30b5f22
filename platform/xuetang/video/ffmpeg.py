"""ffmpeg for lecture videos: probe an upload, transcode it for weak connections, check faststart.

There is no ffprobe dependency: `probe` reads what `ffmpeg -hide_banner -i FILE` prints on stderr
(and, for files whose container declares no duration, the final `out_time_us` of a cheap
`-c copy -f null -` pass). Commands are built with ffmpeg-python (`plan`) and run with
subprocess so that `-progress pipe:1` can be read line by line.

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

Safety with uploaded files: inputs are opened with `-protocol_whitelist file` and a demuxer
whitelist (`INPUT_FORMATS`), so a playlist (HLS, concat) disguised as a video cannot make
ffmpeg read other local files or fetch URLs.

Crash safety: each output is written to a hidden temp name in out_dir (`.xt-<hex>-<name>.part`)
and renamed to its final name (`360p.mp4`, `240p.mp4`, `poster.jpg`) with os.replace only after
every ffmpeg run exited 0 and every output was checked (probes, right size and duration, moov
before mdat). A worker killed midway therefore never leaves a half-written file under a final
name; `remove_partials(out_dir)` sweeps temp files such a worker left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import ffmpeg as ffmpeg_python

# Demuxers an upload may be read with (ffmpeg matches any comma-separated component).
INPUT_FORMATS = "mov,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,rm"
INPUT_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": INPUT_FORMATS}
MAX_PIXELS = 7680 * 4320  # 8K; larger frames are refused before decoding
MIN_DURATION = Decimal("0.1")  # seconds
MAX_BOXES = 10_000  # top-level MP4 boxes walked at most
PROBE_TIMEOUT = 60  # seconds for `ffmpeg -i`
SCAN_TIMEOUT = 600  # seconds for the duration scan of files without a declared duration
KEYFRAME_SECONDS = 3
MAX_FPS = 30
POSTER_NAME = "poster.jpg"
POSTER_WIDTH = 320
POSTER_AT = Decimal("0.1")  # fraction of the duration
PARTIAL_PREFIX = ".xt-"
PARTIAL_SUFFIX = ".part"

MSG_EMPTY = "文件为空（0 字节），请重新选择视频文件。"
MSG_UNREADABLE = "无法识别该文件：它不是有效的视频文件（可能只是改了扩展名），请上传 MP4 等视频文件。"
MSG_FORMAT = "不支持的文件格式，请上传 MP4、MOV、MKV、WebM、AVI、FLV、TS、WMV 或 RMVB 视频文件。"
MSG_TRUNCATED = "视频文件不完整（缺少索引或数据被截断），可能上传或导出时中断，请重新上传完整文件。"
MSG_NO_VIDEO = "文件中没有视频画面（只有音频或其他数据），请上传视频文件。"
MSG_NO_SIZE = "无法读取视频画面尺寸，文件可能已损坏或编码不受支持。"
MSG_TOO_LARGE = "视频分辨率过大（超过 8K），请先压缩到 1080p 或以下再上传。"
MSG_ZERO = "视频时长为 0 或无法确定，请检查文件后重新上传。"
MSG_TIMEOUT = "读取视频超时，文件可能已损坏。"


class VideoError(Exception):
    """Base class; `message` is Chinese and fit to show to the uploader or the admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAVideo(VideoError):
    """The upload is not a usable video. The message tells the uploader why."""


class TranscodeError(VideoError):
    """ffmpeg is missing, failed, or produced a bad output. `stderr_tail`: ffmpeg's last lines."""

    def __init__(self, message: str, stderr_tail: str = ""):
        super().__init__(message)
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        return f"{self.message}\n{self.stderr_tail}" if self.stderr_tail else self.message


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured FFMPEG_BINARY if set, else `ffmpeg` on PATH, else imageio-ffmpeg's bundled one."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaInfo:
    """What probe found. width/height are as displayed (a 90-degree rotation swaps them)."""

    duration: Decimal  # seconds; ffmpeg prints centiseconds
    has_video: bool
    has_audio: bool
    width: int
    height: int
    video_codec: str
    audio_codec: str | None = None
    fps: float | None = None
    rotation: int = 0  # degrees from the display matrix, normalised to 0/90/180/270
    container: str = ""  # ffmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"

    @property
    def duration_ms(self) -> int:
        return int((self.duration * 1000).to_integral_value(rounding=ROUND_FLOOR))


# ---------------------------------------------------------------------------------------------
# MP4 boxes


def _iter_boxes(path: Path):
    """Yield (type, offset, size, complete) for the top-level ISO BMFF boxes of a file.

    size is the declared size (a size-0 box runs to the end of the file); complete is False when
    the declared box runs past the end of the file. Stops at a header that is not a box, and
    after MAX_BOXES boxes (a real file has a handful; this bounds the work on a crafted one).
    """
    file_size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        for _ in range(MAX_BOXES):
            if offset + 8 > file_size:
                return
            f.seek(offset)
            header = f.read(16)
            size = int.from_bytes(header[0:4], "big")
            box_type = header[4:8]
            if not all(0x20 <= b < 0x7F for b in box_type):
                return
            header_len = 8
            if size == 1:
                if len(header) < 16:
                    return
                size = int.from_bytes(header[8:16], "big")
                header_len = 16
            elif size == 0:
                size = file_size - offset
            if size < header_len:
                return
            yield box_type.decode("ascii"), offset, size, offset + size <= file_size
            offset += size


_ISO_FIRST_BOXES = {"ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot"}


def _is_iso_bmff(path: Path) -> bool:
    for box_type, _offset, _size, _complete in _iter_boxes(path):
        return box_type in _ISO_FIRST_BOXES
    return False


def _iso_bmff_truncated(path: Path) -> bool:
    """True when an MP4/MOV has no moov box, or its moov or mdat runs past the end of the file.
    (After MAX_BOXES boxes without a verdict, False: ffmpeg decides.)"""
    seen_moov = False
    count = 0
    for box_type, _offset, _size, complete in _iter_boxes(path):
        count += 1
        if box_type in ("moov", "mdat") and not complete:
            return True
        seen_moov = seen_moov or box_type == "moov"
    return not seen_moov and count < MAX_BOXES


def moov_before_mdat(path: str | os.PathLike) -> bool:
    """True when the top-level moov box (the index) comes before the first mdat (faststart)."""
    for box_type, _offset, _size, _complete in _iter_boxes(Path(path)):
        if box_type == "moov":
            return True
        if box_type == "mdat":
            return False
    return False


# ---------------------------------------------------------------------------------------------
# probe

_INPUT_RE = re.compile(r"^Input #0, (.+?), from ")
_DURATION_RE = re.compile(r"^\s+Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)")
_STREAM_RE = re.compile(
    r"^\s+Stream #0:\d+(?:\[0x[0-9a-fA-F]+\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): (.*)$"
)
_SIZE_RE = re.compile(r", (\d+)x(\d+)(?=[ ,\[]|$)")
_FPS_RE = re.compile(r", (\d+(?:\.\d+)?)(k?) (?:fps|tbr)\b")
_ROTATION_RE = re.compile(r"^\s+display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_OUT_TIME_RE = re.compile(r"^out_time_us=(\d+)\s*$", re.MULTILINE)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise TranscodeError(f"找不到 ffmpeg 程序（{args[0]}），请检查 FFMPEG_BINARY 设置。") from exc
    except subprocess.TimeoutExpired as exc:
        raise NotAVideo(MSG_TIMEOUT) from exc


def _parse(stderr: str) -> dict:
    """Parse the input section that `ffmpeg -i` prints. Only lines indented like ffmpeg's own
    count, so metadata values (printed after 'key : ') cannot forge a stream line."""
    found: dict = {"container": None, "duration": None, "streams": []}
    in_input = False
    last_video: dict | None = None
    for line in stderr.splitlines():
        if not in_input:
            m = _INPUT_RE.match(line)
            if m:
                found["container"] = m.group(1)
                in_input = True
            continue
        if line.startswith(("Output #", "Input #", "At least one output", "Stream mapping")):
            break
        m = _DURATION_RE.match(line)
        if m and found["duration"] is None and m.group(1) is not None:
            h, mi, s = m.groups()
            found["duration"] = int(h) * 3600 + int(mi) * 60 + Decimal(s)
            continue
        m = _STREAM_RE.match(line)
        if m:
            kind, rest = m.groups()
            stream = {"kind": kind, "codec": rest.split(" ", 1)[0].rstrip(","), "rest": rest}
            stream["attached_pic"] = "(attached pic)" in rest
            size = _SIZE_RE.search(rest)
            stream["size"] = (int(size.group(1)), int(size.group(2))) if size else None
            fps = _FPS_RE.search(rest)
            stream["fps"] = float(fps.group(1)) * (1000 if fps.group(2) else 1) if fps else None
            stream["rotation"] = 0
            found["streams"].append(stream)
            last_video = stream if kind == "Video" else None
            continue
        m = _ROTATION_RE.match(line)
        if m and last_video is not None:
            last_video["rotation"] = round(float(m.group(1))) % 360
    return found


def _scan_duration(binary: str, path: Path) -> Decimal | None:
    """Duration of a file whose container does not declare one: stream-copy the video to the
    null muxer (no decoding) and take the last out_time_us."""
    args = [binary, "-hide_banner", "-nostdin", "-loglevel", "error",
            *_input_args(path), "-map", "0:V:0", "-c", "copy", "-f", "null", "-",
            "-progress", "pipe:1", "-nostats"]  # fmt: skip
    done = _run(args, SCAN_TIMEOUT)
    times = _OUT_TIME_RE.findall(done.stdout.decode("utf-8", "replace"))
    if done.returncode != 0 or not times:
        return None
    return Decimal(int(times[-1])) / 1_000_000


def _input_args(path: Path) -> list[str]:
    args: list[str] = []
    for key, value in INPUT_OPTIONS.items():
        args += [f"-{key}", value]
    return [*args, "-i", str(path)]


def _inspect(binary: str, path: Path) -> MediaInfo:
    """Run `ffmpeg -i` and turn its report into MediaInfo, or raise NotAVideo."""
    done = _run([binary, "-hide_banner", "-nostdin", *_input_args(path)], PROBE_TIMEOUT)
    stderr = done.stderr.decode("utf-8", "replace")
    found = _parse(stderr)
    if found["container"] is None:
        if "not on whitelist" in stderr:
            raise NotAVideo(MSG_FORMAT)
        raise NotAVideo(MSG_UNREADABLE)
    videos = [s for s in found["streams"] if s["kind"] == "Video" and not s["attached_pic"]]
    audios = [s for s in found["streams"] if s["kind"] == "Audio"]
    if not videos:
        raise NotAVideo(MSG_NO_VIDEO)
    video = videos[0]
    if not video["size"] or 0 in video["size"]:
        raise NotAVideo(MSG_NO_SIZE)
    width, height = video["size"]
    if width * height > MAX_PIXELS:
        raise NotAVideo(MSG_TOO_LARGE)
    if video["rotation"] in (90, 270):
        width, height = height, width
    duration = found["duration"]
    if duration is None:
        duration = _scan_duration(binary, path)
    if duration is None or duration < MIN_DURATION:
        raise NotAVideo(MSG_ZERO)
    return MediaInfo(
        duration=duration,
        has_video=True,
        has_audio=bool(audios),
        width=width,
        height=height,
        video_codec=video["codec"],
        audio_codec=audios[0]["codec"] if audios else None,
        fps=video["fps"],
        rotation=video["rotation"],
        container=found["container"],
    )


def probe(path: str | os.PathLike, *, binary: str | None = None) -> MediaInfo:
    """Describe a video file, or raise NotAVideo (Chinese message) when it cannot be one.

    Refused: an empty file, anything ffmpeg cannot open (a text file renamed .mp4), formats
    outside INPUT_FORMATS (playlists, images), an MP4/MOV whose moov is missing or whose moov or
    mdat is cut short (an interrupted upload or export), files without a video stream (audio
    only; cover art does not count), a duration under 0.1 s, frames larger than 8K.
    FileNotFoundError if the path does not exist; TranscodeError if ffmpeg cannot be run.
    """
    path = Path(path).absolute()
    if path.stat().st_size == 0:
        raise NotAVideo(MSG_EMPTY)
    if _is_iso_bmff(path) and _iso_bmff_truncated(path):
        raise NotAVideo(MSG_TRUNCATED)
    return _inspect(binary or ffmpeg_binary(None), path)


# ---------------------------------------------------------------------------------------------
# transcode


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


def run_job(job: Job, duration: Decimal, on_fraction: Callable[[float], None] | None = None) -> None:
    """Run one job, reporting its own progress 0..1 from `-progress pipe:1`. On any exception
    (including one raised by on_fraction) ffmpeg is killed and waited for before re-raising."""
    total_us = max(1, int(duration * 1_000_000))
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                job.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                text=True, encoding="utf-8", errors="replace",
            )  # fmt: skip
        except OSError as exc:
            raise TranscodeError(f"无法启动 ffmpeg（{job.args[0]}）：{exc}") from exc
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
            if proc.stdout is not None:
                proc.stdout.close()
        if returncode != 0:
            raise TranscodeError(f"ffmpeg 转码失败（{job.name}，退出码 {returncode}）。", _tail(err))


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker, None if it is not a JPEG."""
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def _check_rendition(binary: str, job: Job, source: MediaInfo) -> MediaInfo:
    try:
        out = _inspect(binary, job.temp)
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
) -> Renditions:
    """Probe src, write RENDITIONS and the poster into out_dir, return what was made.

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

            run_job(job, info.duration, job_progress)
            if job.spec is not None:
                checked[job.name] = _check_rendition(binary, job, info)
            done_weight += job.weight
            report(min(0.999, done_weight))
        poster_job = jobs[-1]
        poster_size = _jpeg_size(poster_job.temp) if poster_job.temp.exists() else None
        if poster_size is None:
            raise TranscodeError("封面图生成失败：输出不是 JPEG 图片。")
        for job in jobs:
            os.replace(job.temp, job.final)
        _fsync_dir(out_dir)
        success = True
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
