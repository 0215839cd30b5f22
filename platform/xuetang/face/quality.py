"""Input validation and image-quality measures for face snapshots (no dlib needed here).

Everything a user can get wrong has a code (for logs and tests) and a Chinese hint (for the page).
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

JPEG_MAGIC = b"\xff\xd8\xff"
# The next marker: 0xFF followed by anything but a stuffed 0x00, a restart marker (part of the
# entropy-coded data) or another 0xFF (a fill byte; the marker is the last 0xFF of the run).
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOS, _EOI = 0xDA, 0xD9
_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}  # TEM, SOI, RSTn stand alone
# During the decode Pillow gets the data in blocks this size, so the time budget is checked often.
DECODE_BLOCK = 16 * 1024
# Faces are resized to this side before measuring sharpness, so the number means "detail relative
# to the face" whatever the camera resolution; the descriptor itself sees a 150 px chip.
SHARPNESS_FACE_SIDE = 100

PROBLEM_MESSAGES = {
    "no_face": "未检测到人脸，请正对摄像头，让整张脸出现在画面中。",
    "multiple_faces": "画面中有多张人脸，请确保只有您本人在镜头前。",
    "face_too_small": "人脸太小，请靠近摄像头一些。",
    "too_dark": "光线太暗，请打开灯或面向光源。",
    "too_bright": "光线太亮或过曝，请避开强光直射。",
    "blurred": "照片模糊，请保持不动，必要时擦拭摄像头镜头。",
    "off_centre": "人脸不在画面中央，请把脸移到画面正中。",
}

REJECT_MESSAGES = {
    "empty": "没有收到图片，请重新拍摄。",
    "too_large": "图片文件过大，请压缩后重试。",
    "not_jpeg": "仅支持 JPEG（.jpg）格式的照片，请重新拍摄或上传 JPEG 图片。",
    "too_many_pixels": "图片尺寸过大，请缩小后重试。",
    "corrupt": "图片已损坏，无法读取，请重新拍摄或上传。",
    "too_many_scans": "图片编码过于复杂（渐进式扫描次数过多），请另存为普通 JPEG 后重试。",
    "too_slow": "图片解码耗时过长，请缩小图片或另存为普通 JPEG 后重试。",
}


@dataclass(frozen=True)
class Limits:
    """Input limits and quality thresholds; defaults tuned on tests/fixtures/faces (see README)."""

    max_bytes: int = 8 * 1024 * 1024  # a 12 MP phone photo is 3-6 MB
    # Checked on the header before decoding (decompression bombs); below Pillow's own 89 MP warning.
    max_pixels: int = 40_000_000
    # A baseline JPEG has 1-4 scans, libjpeg's progressive script 10 (mozjpeg's a few more); a
    # progressive decode costs about pixels x scans, so both are bounded before decoding.
    max_scans: int = 32
    max_scan_pixels: int = 200_000_000  # a 12 MP progressive photo (10 scans) fits; ~0.2 s
    # Wall-clock budget for the decode itself, checked between blocks of input.
    max_decode_seconds: float = 1.0
    # dlib's 5-point model and descriptor degrade on faces smaller than ~60 px; the fraction asks
    # the trainee to sit close enough on big frames too.
    min_face_px: int = 60
    min_face_fraction: float = 0.15
    # Mean 0-255 luma of the face box. Fixtures: a_dark 19, good frames 136-172, a_enroll
    # brightened 1.7x 237 (still detected, but washed out).
    min_luminance: float = 50.0
    max_luminance: float = 220.0
    # sharpness() units. Fixtures: good frames 6.9-59 (a_webcam 7.3, also when upscaled to
    # 640x480 or re-encoded at JPEG quality 30); Gaussian blur r=1.5 on a_enroll 2.5, r=1 on
    # a_webcam 1.4. a_blurred.jpg has no detectable face at all.
    min_sharpness: float = 3.0
    # A frame with no face found and less detail than this is called blurred, not "no face":
    # sharp fixture frames score 23 or more; a_webcam blurred with radius 3 (no face found) 3.4.
    min_frame_sharpness: float = 10.0
    # The face's centre may be this far (fraction of the frame) from the frame's centre; the
    # fixtures' faces sit within 0.09.
    max_centre_offset: float = 0.25


@dataclass(frozen=True)
class Problem:
    """One reason a snapshot cannot be used: a code and a Chinese hint for the user."""

    code: str
    message: str

    @classmethod
    def of(cls, code: str) -> Problem:
        return cls(code, PROBLEM_MESSAGES[code])


class ImageRejected(ValueError):
    """The upload is not an acceptable JPEG; str(err) is the Chinese message, .code the reason."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail  # English, for logs
        super().__init__(REJECT_MESSAGES[code])

    def __reduce__(self):
        # Raised in a pool process (face.pool) and pickled back: rebuild from the code, since
        # the default would pass the message where the code belongs.
        return type(self), (self.code, self.detail)


class _DecodeDeadline(Exception):
    """Raised from inside Pillow's load loop when the decode runs past its budget."""


class _DeadlineReader(io.BytesIO):
    """JPEG bytes that, once armed, hand out small blocks and stop when the budget is spent."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.deadline: float | None = None

    def arm(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def read(self, size: int | None = -1) -> bytes:
        if self.deadline is None:
            return super().read(size)
        if time.monotonic() > self.deadline:
            raise _DecodeDeadline
        if size is None or size < 0 or size > DECODE_BLOCK:
            size = DECODE_BLOCK
        return super().read(size)


def count_scans(data: bytes) -> int:
    """How many scans (SOS segments) libjpeg would decode in the first image of these bytes.

    Walks the marker segments by their lengths (so a thumbnail inside EXIF is skipped) and jumps
    over each scan's entropy-coded data to the next marker, stopping at EOI or the end.
    """
    scans, pos = 0, 2  # after SOI
    while True:
        found = _MARKER.search(data, pos)
        if found is None:
            return scans
        marker, pos = data[found.start() + 1], found.end()
        if marker == _EOI:
            return scans
        if marker in _NO_LENGTH:
            continue
        if pos + 2 > len(data):
            return scans
        length = int.from_bytes(data[pos:pos + 2], "big")
        if marker == _SOS:
            scans += 1
        pos += length  # the entropy-coded data after an SOS header is skipped by the search


def _check_scans(data: bytes, width: int, height: int, limits: Limits) -> None:
    scans = count_scans(data)
    if scans > limits.max_scans or scans * width * height > limits.max_scan_pixels:
        raise ImageRejected("too_many_scans", f"{scans} scans of {width}x{height}")


def decode_jpeg(data: bytes, max_side: int, limits: Limits) -> np.ndarray:
    """Validate JPEG bytes and return an RGB uint8 array whose longer side is <= max_side."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected JPEG bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ImageRejected("empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes > {limits.max_bytes}")
    # Magic bytes first: cheap, and keeps Pillow's other decoders (PNG, GIF, TIFF...) out of it.
    if not data.startswith(JPEG_MAGIC):
        raise ImageRejected("not_jpeg", f"starts with {data[:4]!r}")
    try:
        # Only the JPEG decoder (it also opens the multi-picture "MPO" JPEGs some phones write).
        source = _DeadlineReader(data)
        img = Image.open(source, formats=["JPEG"])
        width, height = img.size  # from the header only: nothing decoded yet
        if width * height > limits.max_pixels:
            raise ImageRejected("too_many_pixels", f"{width}x{height}")
        _check_scans(data, width, height, limits)
        # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale: big phone photos stay cheap.
        img.draft("RGB", (max_side, max_side))
        source.arm(limits.max_decode_seconds)
        try:
            img.load()
        except _DecodeDeadline as err:
            raise ImageRejected("too_slow", f"over {limits.max_decode_seconds} s") from err
        img = ImageOps.exif_transpose(img)  # phone photos are often stored sideways
        img = img.convert("RGB")
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # Pillow's own check inside open() fires first above 89 MP (a warning, which is an
        # error under warnings-as-errors) and 179 MP (an error).
        raise ImageRejected("too_many_pixels", str(err)) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageRejected("corrupt", str(err)) from err
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(img)


def grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma as float64 (the same weights Pillow's convert('L') uses)."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def laplacian_variance(img: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior of a 2-D float image."""
    if img.shape[0] < 3 or img.shape[1] < 3:
        return 0.0
    lap = (
        img[:-2, 1:-1] + img[2:, 1:-1] + img[1:-1, :-2] + img[1:-1, 2:] - 4.0 * img[1:-1, 1:-1]
    )
    return float(lap.var())


def sharpness(face_grey: np.ndarray) -> float:
    """Laplacian variance of the face resized to 100 px, as a percentage of its grey variance.

    Raw Laplacian variance depends on face size (an upscaled 640x480 frame of a sharp 320x240 face
    scores 4x lower) and on light (a dim face scores lower though no blurrier), so normalise both.
    """
    side = SHARPNESS_FACE_SIDE
    small = Image.fromarray(np.clip(face_grey, 0, 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BILINEAR
    )
    norm = np.asarray(small, dtype=np.float64)
    contrast = float(norm.var())
    if contrast < 1e-6:
        return 0.0  # a flat patch has no detail at all
    return 100.0 * laplacian_variance(norm) / contrast


def frame_problems(rgb: np.ndarray, limits: Limits) -> list[Problem]:
    """Why no face was found, when the whole frame tells: too dark, too bright, or too blurred for
    the detector (a_blurred.jpg scores 0.7 as a frame, every sharp fixture 23 or more); [] when
    the frame looks usable and there simply is no face in it."""
    frame = grey(rgb)
    luminance = float(frame.mean()) if frame.size else 0.0
    if luminance < limits.min_luminance:
        return [Problem.of("too_dark")]
    if luminance > limits.max_luminance:
        return [Problem.of("too_bright")]
    if sharpness(frame) < limits.min_frame_sharpness:
        return [Problem.of("blurred")]
    return []


def quality_problems(
    box: tuple[int, int, int, int], image_shape: tuple[int, ...], luminance: float,
    sharp: float, limits: Limits,
) -> list[Problem]:
    """The quality problems of one detected face (box is left, top, right, bottom)."""
    problems = []
    left, top, right, bottom = box
    face_side = min(right - left, bottom - top)
    min_side = max(limits.min_face_px, limits.min_face_fraction * min(image_shape[:2]))
    if face_side < min_side:
        problems.append(Problem.of("face_too_small"))
    elif off_centre(box, image_shape, limits):
        problems.append(Problem.of("off_centre"))
    if luminance < limits.min_luminance:
        problems.append(Problem.of("too_dark"))
    elif luminance > limits.max_luminance:
        problems.append(Problem.of("too_bright"))
    # Blur is judged only on an otherwise usable face: a tiny face is upscaled to be measured and
    # looks soft, a dark or washed-out one loses contrast to JPEG noise. The other hint is the one
    # that helps the user.
    if not problems and sharp < limits.min_sharpness:
        problems.append(Problem.of("blurred"))
    return problems


def off_centre(box: tuple[int, int, int, int], image_shape: tuple[int, ...], limits: Limits) -> bool:
    """Whether the face's centre is further from the frame's centre than max_centre_offset."""
    left, top, right, bottom = box
    height, width = image_shape[:2]
    dx = abs((left + right) / 2 / width - 0.5)
    dy = abs((top + bottom) / 2 / height - 0.5)
    return max(dx, dy) > limits.max_centre_offset
