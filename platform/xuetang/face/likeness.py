"""Is a snapshot the reference photo fed back, or the same frame sent again?

The descriptor alone cannot tell: the reference resized or re-encoded lands 0.06-0.17 from
itself on the fixtures, live-looking frames 0.16-0.25. The aligned face chip can: a copy of a
photo, however rescaled, re-encoded, shifted, rotated or brightened, keeps the photo's exact
shading, so its chip correlates with the original's at 0.92 or more, while another capture of the
same person (other pose, light, expression) does not (0.28-0.84 on the fixtures). The calibration
is in docs/face-checks.md. A hint for review, not liveness detection.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIGNATURE_SIDE = 32
SIGNATURE_BYTES = SIGNATURE_SIDE * SIGNATURE_SIDE
# Chip correlation at or above this: a copy of the reference (replays 0.924-0.999, other
# captures <= 0.84 on the fixtures; see docs/face-checks.md).
SIMILAR_LIKENESS = 0.90
# Descriptor distance below this to the reference: a copy whatever the chip says (kept from the
# first replay rule; re-encodes of the very file land 0.01-0.04).
SIMILAR_DISTANCE = 0.05
# Two snapshots whose whole frames (32x24 grey) differ by less than this mean absolute level are
# one frame sent again (a looping still, a virtual camera): on the fixtures re-encoding a frame
# (JPEG 40-95) or adding sensor noise (sigma 3-6) moves it 0.08-0.73, while any motion of the
# scene, a 1 px shift or a 0.25 degree turn, moves it 1.0-10. The descriptor cannot tell: a
# re-encode alone moves a 320x240 face 0.05-0.11, as much as another frame does.
FRAME_SIZE = (32, 24)
SAME_FRAME_DIFFERENCE = 0.9


def signature(chip_rgb: np.ndarray) -> bytes:
    """The aligned face chip as 32x32 grey bytes (what `likeness` compares)."""
    grey = Image.fromarray(np.asarray(chip_rgb, dtype=np.uint8)).convert("L")
    small = grey.resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BILINEAR)
    return small.tobytes()


def likeness(a: bytes, b: bytes) -> float:
    """Normalised correlation of two signatures, -1..1 (1: the same picture up to light)."""
    if len(a) != SIGNATURE_BYTES or len(b) != SIGNATURE_BYTES:
        raise ValueError("a chip signature is 32x32 bytes")
    x = np.frombuffer(a, dtype=np.uint8).astype(np.float64)
    y = np.frombuffer(b, dtype=np.uint8).astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    norm = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y) / norm if norm > 1e-9 else 0.0


def too_similar(distance: float, chip_likeness: float | None) -> bool:
    """Nearer the reference than a live capture plausibly is."""
    if distance < SIMILAR_DISTANCE:
        return True
    return chip_likeness is not None and chip_likeness >= SIMILAR_LIKENESS


def frame_signature(jpeg: bytes) -> bytes:
    """The whole snapshot as 32x24 grey bytes (call on bytes already validated by analyse)."""
    img = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    img.draft("L", (FRAME_SIZE[0] * 4, FRAME_SIZE[1] * 4))  # libjpeg decodes at 1/8 scale
    return img.convert("L").resize(FRAME_SIZE, Image.Resampling.BILINEAR).tobytes()


def frame_difference(a: bytes, b: bytes) -> float:
    """Mean absolute grey-level difference of two frame signatures."""
    if len(a) != len(b) or len(a) != FRAME_SIZE[0] * FRAME_SIZE[1]:
        raise ValueError("a frame signature is 32x24 bytes")
    x = np.frombuffer(a, dtype=np.uint8).astype(np.int16)
    y = np.frombuffer(b, dtype=np.uint8).astype(np.int16)
    return float(np.abs(x - y).mean())


def same_frame(a: bytes, b: bytes) -> bool:
    """Two snapshots (of different checks) that are one frame sent twice."""
    return frame_difference(a, b) < SAME_FRAME_DIFFERENCE
