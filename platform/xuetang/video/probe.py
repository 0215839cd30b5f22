"""Probe an upload with ffmpeg: is it a usable video, and what is in it.

There is no ffprobe dependency: `probe` reads what `ffmpeg -hide_banner -i FILE` prints on stderr
(and, for files whose container declares no duration, the final `out_time_us` of a cheap
`-c copy -f null -` pass). An MP4/MOV is first walked box by box, so a file whose upload or export
was cut short is refused with a reason the uploader understands instead of ffmpeg's.

Safety with uploaded files: inputs are opened with `-protocol_whitelist file` and a demuxer
whitelist (`INPUT_FORMATS`), so a playlist (HLS, concat) disguised as a video cannot make
ffmpeg read other local files or fetch URLs. video/transcode.py opens its inputs the same way.

The errors live here because probing already raises both: `NotAVideo` for the uploader,
`TranscodeError` when ffmpeg itself cannot be run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

# Demuxers an upload may be read with (ffmpeg matches any comma-separated component).
INPUT_FORMATS = "mov,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,rm"
INPUT_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": INPUT_FORMATS}
MAX_PIXELS = 7680 * 4320  # 8K; larger frames are refused before decoding
MIN_DURATION = Decimal("0.1")  # seconds
MAX_BOXES = 10_000  # top-level MP4 boxes walked at most
PROBE_TIMEOUT = 60  # seconds for `ffmpeg -i`
SCAN_TIMEOUT = 600  # seconds for the duration scan of files without a declared duration

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


class DiskFull(TranscodeError):
    """The disk under the output folder filled up while transcoding (the outputs were removed)."""

    def __init__(self, stderr_tail: str = ""):
        super().__init__("服务器存储空间不足，转码未完成，未完成的文件已清理。"
                         "请联系管理员释放空间后点击“重试转码”。", stderr_tail)


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


def jpeg_size(path: Path) -> tuple[int, int] | None:
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


def inspect_media(binary: str, path: Path) -> MediaInfo:
    """Run `ffmpeg -i` and turn its report into MediaInfo, or raise NotAVideo.

    Without probe's upfront checks (empty file, cut-short MP4 boxes): transcode uses it on its own
    outputs, whose failures it reports in its own words."""
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
    return inspect_media(binary or ffmpeg_binary(None), path)
