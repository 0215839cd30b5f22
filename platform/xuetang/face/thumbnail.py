"""The reference photo as its owner sees it: small and watermarked, never the stored image.

A full-quality copy served back to the trainee could be shown to the camera (or fed to a virtual
one) as a "live" snapshot; a 96 px thumbnail crossed by a watermark is too small for a face check
(face_too_small) and, if rescaled, its chip still matches the reference (too_similar_to_reference).
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageOps

THUMBNAIL_SIDE = 96


def watermarked_thumbnail(jpeg: bytes, mark: str = "XUETANG") -> bytes:
    """A THUMBNAIL_SIDE px JPEG (quality 60) with diagonal lines and `mark` written across it."""
    img = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    img.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = img.size
    for start in range(-height, width, 12):
        draw.line([(start, height), (start + height, 0)], fill=(255, 255, 255, 90), width=1)
    for row in range(0, height, 24):
        draw.text((2, row + 4), mark, fill=(255, 255, 255, 150))
    marked = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    marked.save(out, "JPEG", quality=60)
    return out.getvalue()
