"""The match threshold in force: the city admin's latest setting (audited, read on every
decision, so it takes effect without a restart), else the installation default
FACE_MATCH_THRESHOLD."""

from __future__ import annotations

import datetime as dt
import math

from flask import current_app

from xuetang.clock import utcnow
from xuetang.models import Account, FaceThreshold
from xuetang.services.faces import FaceError

# The city may set a threshold in this range: outside it dlib either refuses most genuine
# photos (< 0.30: same-person photos land 0.3-0.5) or accepts strangers (> 0.70).
MIN_THRESHOLD, MAX_THRESHOLD = 0.30, 0.70


def current() -> float:
    latest = FaceThreshold.select().order_by(FaceThreshold.set_at.desc(), FaceThreshold.id.desc()).first()
    if latest is not None:
        return float(latest.value)
    return float(current_app.config["FACE_MATCH_THRESHOLD"])


def history(limit: int = 20) -> list[FaceThreshold]:
    return list(FaceThreshold.select(FaceThreshold, Account).join(Account)
                .order_by(FaceThreshold.set_at.desc(), FaceThreshold.id.desc()).limit(limit))


def set_threshold(admin: Account, raw_value, reason: str,
                  now: dt.datetime | None = None) -> FaceThreshold:
    """Record a new threshold (FaceError with a Chinese reason for a bad value or reason)."""
    try:
        value = round(float(str(raw_value).strip()), 3)
    except ValueError:
        raise FaceError("threshold", "请输入阈值，例如 0.50。") from None
    if not math.isfinite(value) or not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        raise FaceError("threshold", f"阈值须在 {MIN_THRESHOLD:.2f} 到 {MAX_THRESHOLD:.2f} 之间。")
    reason = (reason or "").strip()
    if len(reason) < 4 or len(reason) > 1000:
        raise FaceError("reason", "请填写调整理由（4–1000 字），将记入审计记录。")
    return FaceThreshold.create(value=value, reason=reason, set_by=admin, set_at=now or utcnow())
