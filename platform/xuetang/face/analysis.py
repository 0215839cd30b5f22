"""Face enrolment and face checks with dlib: HOG detector, 5-point landmarks, ResNet descriptor.

analyse() turns JPEG bytes into an Analysis (quality problems, 128-d descriptor); compare()
decides whether a descriptor matches the enrolled references. Importable without Flask/peewee;
dlib is imported when the engine is first built.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from xuetang import config
from xuetang.face import likeness
from xuetang.face.quality import (
    PROBLEM_MESSAGES,
    REJECT_MESSAGES,
    ImageRejected,
    Limits,
    Problem,
    decode_jpeg,
    frame_problems,
    grey,
    quality_problems,
    sharpness,
)

__all__ = [
    "DEFAULT_THRESHOLD", "DESCRIPTOR_BYTES", "PROBLEM_MESSAGES", "REJECT_MESSAGES",
    "REPLAY_DISTANCE", "Analysis", "FaceEngine", "ImageRejected", "Limits", "Match", "Problem",
    "analyse", "compare", "descriptor_from_bytes", "descriptor_to_bytes", "get_engine",
]

# The match threshold's one home is the FACE_MATCH_THRESHOLD setting (config.py says why 0.5).
DEFAULT_THRESHOLD = config.default("FACE_MATCH_THRESHOLD")
# Different camera frames of one person did not come this close on the fixtures (>= 0.11), while
# the enrolment image merely rescaled stays below it (0.04): the photo itself was fed back
# (virtual camera, file). Re-encoded at JPEG quality 30-70 it drifts to 0.07-0.10, so this flag
# only catches near-verbatim replays; it is a hint for review, not liveness detection.
REPLAY_DISTANCE = 0.05
DESCRIPTOR_DIMS = 128
DESCRIPTOR_BYTES = DESCRIPTOR_DIMS * 4
# dlib's frontal HOG detector scans an 80 px window over an image pyramid (each level 5/6 of the
# one above), so it finds faces of 80 px and more. dlib's own upsampling doubles a small frame (a
# 320x240 webcam snapshot) to find 40 px faces, at 4x the pixels. Instead the frame is scaled to
# the level of that doubled pyramid which still finds the smallest face the quality rules accept
# (Limits.min_face_px: 2 * (5/6)**2 = 1.39x finds 58 px): the detector then scans those same
# levels, so it finds the same faces in the same boxes (within a pixel on the fixtures), at 1.9x
# the pixels (bench/face.py: 8 vs 19 ms on dlib-bin). A face too small to accept does not count,
# as the trainee's face or as a second one; only when none is found is the frame doubled, so that
# a face too small to accept is reported as such.
HOG_WINDOW_PX = 80
HOG_PYRAMID_STEP = 5 / 6
UPSAMPLE_BELOW_SIDE = 400

Box = tuple[int, int, int, int]  # left, top, right, bottom in the analysed (downsized) image


@dataclass(frozen=True)
class Analysis:
    """What analyse() found. descriptor is set only when there are no problems."""

    descriptor: np.ndarray | None  # float64, shape (128,)
    box: Box | None  # the single face, clipped to the image
    boxes: tuple[Box, ...]  # every detected face
    face_count: int
    luminance: float | None  # mean 0-255 luma of the face box
    sharpness: float | None  # see quality.sharpness
    image_size: tuple[int, int]  # width, height after downsizing
    detect_scale: float  # the frame was scaled by this for the detector (see HOG_WINDOW_PX)
    problems: tuple[Problem, ...]
    # face.likeness.signature of the aligned chip (set with the descriptor): replay detection.
    signature: bytes | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.descriptor is not None

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


@dataclass(frozen=True)
class Match:
    """The result of comparing one descriptor with the enrolled references."""

    distance: float  # smallest Euclidean distance to any reference
    passed: bool  # distance < threshold
    # Distance below REPLAY_DISTANCE: probably the enrolment photo replayed. The caller decides
    # (hold for review); passed only reflects the threshold.
    suspicious_replay: bool
    threshold: float
    best_index: int  # which reference was closest


def _model_paths() -> tuple[str, str]:
    """Paths of the 5-point predictor and the ResNet model shipped by face_recognition_models."""
    try:
        # Its __init__ imports pkg_resources, which newer setuptools flags as deprecated. This
        # runs once per engine at start-up, so the (process-global) filter change is harmless.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            import face_recognition_models as frm

        return frm.pose_predictor_five_point_model_location(), frm.face_recognition_model_location()
    except ImportError:
        # setuptools without pkg_resources: find the package directory without importing it.
        import importlib.util

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        return (
            str(models / "shape_predictor_5_face_landmarks.dat"),
            str(models / "dlib_face_recognition_resnet_model_v1.dat"),
        )


class FaceEngine:
    """dlib models loaded once; safe to share between threads.

    Locking: dlib documents its object_detector as unsafe for concurrent calls on one instance,
    and the ResNet keeps per-call buffers inside the net. Per-thread copies are not worth it here:
    building a detector takes ~1 s (dlib deserialises it), and measured on dlib-bin 20.0.1 the
    descriptor holds the GIL anyway (two threads, two nets: no speed-up). The HOG detector does
    release the GIL, so it gets its own lock: one thread's detection overlaps another's
    descriptor. Scale beyond that with processes (gunicorn workers), one engine each.
    """

    def __init__(self, predictor_path: str | None = None, descriptor_path: str | None = None):
        # A dlib built against OpenBLAS (`make faster-face`) would otherwise start a BLAS thread
        # per core in every worker process: one check per core is the unit we scale by
        # (gunicorn workers), and idle-spinning BLAS threads slow the other workers down.
        # Read when libopenblas loads, i.e. at the first `import dlib` of the process.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        import dlib

        default_predictor, default_descriptor = _model_paths()
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(predictor_path or default_predictor)
        self._net = dlib.face_recognition_model_v1(descriptor_path or default_descriptor)
        self._detect_lock = threading.Lock()
        self._describe_lock = threading.Lock()
        self._dlib = dlib

    def detect(self, image: np.ndarray, upsample: int) -> list:
        """dlib rectangles of the faces in a uint8 array: greyscale (what analyse passes) or RGB."""
        with self._detect_lock:
            return list(self._detector(image, upsample))

    def describe(self, rgb: np.ndarray, rect) -> np.ndarray:
        """The 128-d descriptor of the face in rect (a dlib.rectangle)."""
        with self._describe_lock:
            shape = self._predictor(rgb, rect)
            return np.array(self._net.compute_face_descriptor(rgb, shape), dtype=np.float64)

    def face_chip(self, rgb: np.ndarray, rect, size: int = 150) -> np.ndarray:
        """The aligned face chip the descriptor sees (for benchmarks and debugging)."""
        with self._describe_lock:
            shape = self._predictor(rgb, rect)
        return self._dlib.get_face_chip(rgb, shape, size=size)

    def describe_with_chip(self, rgb: np.ndarray, rect) -> tuple[np.ndarray, np.ndarray]:
        """The descriptor and the aligned 150x150 chip it is computed from, the landmarks found
        once (what `describe` would compute; the chip is also what likeness compares)."""
        with self._describe_lock:
            shape = self._predictor(rgb, rect)
            chip = self._dlib.get_face_chip(rgb, shape, size=150)
            return np.array(self._net.compute_face_descriptor(chip), dtype=np.float64), chip

    def describe_chip(self, chip: np.ndarray) -> np.ndarray:
        """The descriptor of an already aligned 150x150 chip."""
        with self._describe_lock:
            return np.array(self._net.compute_face_descriptor(chip), dtype=np.float64)

    def analyse(
        self, jpeg_bytes: bytes, max_side: int = 640, limits: Limits | None = None
    ) -> Analysis:
        """Validate, downsize, detect, check quality and describe one snapshot.

        Raises ImageRejected when the bytes are not an acceptable JPEG.
        """
        limits = limits or Limits()
        rgb = decode_jpeg(jpeg_bytes, max_side, limits)
        height, width = rgb.shape[:2]
        rects, scale = self._find_faces(rgb, limits)
        boxes = tuple(_clip(r, width, height) for r in rects)
        result = dict(
            descriptor=None, box=None, boxes=boxes, face_count=len(rects), luminance=None,
            sharpness=None, image_size=(width, height), detect_scale=scale,
        )
        if len(rects) > 1:
            return Analysis(**result, problems=(Problem.of("multiple_faces"),))
        if not rects:
            # A frame too blurred or too dark to find a face in says so: "no face" would send
            # the trainee looking for the wrong fix.
            problems = frame_problems(rgb, limits) or [Problem.of("no_face")]
            return Analysis(**result, problems=tuple(problems))

        box = boxes[0]
        left, top, right, bottom = box
        face = grey(rgb[top:bottom, left:right])
        luminance = float(face.mean()) if face.size else 0.0
        sharp = sharpness(face) if face.size else 0.0
        problems = quality_problems(box, rgb.shape, luminance, sharp, limits)
        # No descriptor for a poor frame: a dark face still gets one, but it drifts (a_dark is
        # 0.44 from a_enroll, same person) and could pass or fail for the wrong reason.
        descriptor = chip = None
        if not problems:
            descriptor, face_chip = self.describe_with_chip(rgb, rects[0])
            chip = likeness.signature(face_chip)
        result.update(descriptor=descriptor, box=box, luminance=luminance, sharpness=sharp,
                      signature=chip)
        return Analysis(**result, problems=tuple(problems))

    def _find_faces(self, rgb: np.ndarray, limits: Limits) -> tuple[list, float]:
        """The faces' dlib rectangles in `rgb`'s coordinates and the scale they were found at.

        HOG on the greyscale frame: on RGB dlib takes the strongest gradient of three channels,
        three times the gradient work for the same faces (bench/face.py: ~25 % of detection). The
        luma comes from the downsized frame, so detection never sees more than 640 px."""
        luma = _luma8(rgb)
        height, width = luma.shape
        if min(width, height) >= UPSAMPLE_BELOW_SIDE:
            return self.detect(luma, 0), 1.0
        scale = _detect_scale(limits.min_face_px)
        size = (round(width * scale), round(height * scale))
        scaled = np.asarray(Image.fromarray(luma).resize(size, Image.Resampling.BILINEAR))
        found = self.detect(scaled, 0)
        if found:
            sx, sy = size[0] / width, size[1] / height
            rectangle = self._dlib.rectangle
            return [rectangle(round(r.left() / sx), round(r.top() / sy),
                              round(r.right() / sx), round(r.bottom() / sy)) for r in found], scale
        return self.detect(luma, 1), 2.0


def _detect_scale(min_face_px: int) -> float:
    """The level of dlib's doubled pyramid (2, 2 * 5/6, ...) closest to 1 that still finds
    faces of min_face_px (1.0 when the detector finds them unscaled)."""
    needed = HOG_WINDOW_PX / min_face_px
    if needed <= 1.0:
        return 1.0
    scale = 2.0
    while scale * HOG_PYRAMID_STEP >= needed:
        scale *= HOG_PYRAMID_STEP
    return scale


def _luma8(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an RGB uint8 frame as a contiguous uint8 array (dlib's grey image)."""
    return np.ascontiguousarray(np.clip(grey(rgb) + 0.5, 0, 255).astype(np.uint8))


def _clip(rect, width: int, height: int) -> Box:
    """A dlib rectangle as a (left, top, right, bottom) box inside the image."""
    return (
        max(0, rect.left()), max(0, rect.top()),
        min(width, rect.right() + 1), min(height, rect.bottom() + 1),
    )


_engine: FaceEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The process-wide engine, built on first use (1.5-2 s, mostly the HOG detector)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:  # another thread may have built it while we waited
                _engine = FaceEngine()
    return _engine


def analyse(jpeg_bytes: bytes, max_side: int = 640, limits: Limits | None = None) -> Analysis:
    """FaceEngine.analyse on the process-wide engine."""
    return get_engine().analyse(jpeg_bytes, max_side, limits)


def _as_descriptor(value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (DESCRIPTOR_DIMS,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"a face descriptor is {DESCRIPTOR_DIMS} finite floats, got {arr.shape}")
    return arr


def compare(
    descriptor, references: Sequence, threshold: float = DEFAULT_THRESHOLD
) -> Match:
    """Match a descriptor against one or more enrolled reference descriptors."""
    probe = _as_descriptor(descriptor)
    refs = [_as_descriptor(r) for r in references]
    if not refs:
        raise ValueError("no reference descriptors to compare with")
    distances = np.linalg.norm(np.stack(refs) - probe, axis=1)
    best = int(np.argmin(distances))
    distance = float(distances[best])
    return Match(
        distance=distance,
        passed=distance < threshold,
        suspicious_replay=distance < REPLAY_DISTANCE,
        threshold=threshold,
        best_index=best,
    )


def descriptor_to_bytes(descriptor) -> bytes:
    """512 bytes: 128 float32 little-endian (float32 keeps distances to ~1e-7)."""
    return _as_descriptor(descriptor).astype("<f4").tobytes()


def descriptor_from_bytes(data: bytes) -> np.ndarray:
    """The inverse of descriptor_to_bytes, as float64."""
    if len(data) != DESCRIPTOR_BYTES:
        raise ValueError(f"a stored descriptor is {DESCRIPTOR_BYTES} bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<f4").astype(np.float64)
