"""One face, one account: search a probe descriptor against every enrolled descriptor at once.

Descriptors are stored as 512-byte float32 blobs (analysis.descriptor_to_bytes), so the search
needs no image decoding: `stack` turns the blobs into one (n, 128) float32 matrix with a single
copy and `nearest` computes every distance in one vectorised pass (200,000 people: see
bench/face.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DESCRIPTOR_DIMS = 128
DESCRIPTOR_BYTES = DESCRIPTOR_DIMS * 4


@dataclass(frozen=True)
class Hit:
    """An enrolled descriptor within the threshold of the probe."""

    owner: int  # whatever id the caller stacked with the descriptor (a person id)
    distance: float


def stack(blobs: Sequence[bytes]) -> np.ndarray:
    """An (n, 128) float32 matrix of stored descriptors; a blob of the wrong size is an error."""
    if not blobs:
        return np.zeros((0, DESCRIPTOR_DIMS), dtype=np.float32)
    joined = b"".join(blobs)
    if len(joined) != DESCRIPTOR_BYTES * len(blobs):
        raise ValueError("a stored descriptor is not 512 bytes")
    return np.frombuffer(joined, dtype="<f4").reshape(len(blobs), DESCRIPTOR_DIMS)


def distances(probe, matrix: np.ndarray) -> np.ndarray:
    """Euclidean distance of the probe to every row, as float32 (the stored precision)."""
    probe = np.asarray(probe, dtype=np.float32).reshape(DESCRIPTOR_DIMS)
    if not matrix.shape[0]:
        return np.zeros(0, dtype=np.float32)
    # |a-b|^2 = |a|^2 + |b|^2 - 2ab in one matrix-vector product: no (n, 128) temporary.
    squared = np.einsum("ij,ij->i", matrix, matrix) + float(probe @ probe) - 2.0 * (matrix @ probe)
    return np.sqrt(np.maximum(squared, 0.0))


def nearest(probe, matrix: np.ndarray, owners: Sequence[int], threshold: float,
            limit: int = 5) -> list[Hit]:
    """The owners whose descriptors lie below threshold, nearest first (one hit per owner)."""
    if len(owners) != matrix.shape[0]:
        raise ValueError("one owner per descriptor")
    found = distances(probe, matrix)
    below = np.flatnonzero(found < threshold)
    hits: dict[int, float] = {}
    for index in below[np.argsort(found[below], kind="stable")]:
        owner = int(owners[index])
        if owner not in hits:
            hits[owner] = float(found[index])
            if len(hits) >= limit:
                break
    return [Hit(owner, distance) for owner, distance in hits.items()]
