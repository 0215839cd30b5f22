"""Where a snapshot is analysed: in this process's analysis pool (face/pool.py) or, with
FACE_ANALYSIS_PROCESSES = 0, in the calling thread.

One pool per process and setting, made at the first snapshot (not at import, not in the app
factory: the tests make many apps, and a gunicorn worker must make its own after the fork).
"""

from __future__ import annotations

import os
import threading

from flask import current_app

from xuetang.face import analysis, pool
from xuetang.face.quality import Limits
from xuetang.services.faces import FaceError

# True wherever it is shown: the player resends its snapshot by itself; the enrolment page
# shows this above its upload form.
BUSY_MESSAGE = "人脸核验服务繁忙，请稍候几秒后重新提交照片。"

_pools: dict[tuple, pool.AnalysisPool] = {}
_lock = threading.Lock()


def _pool(processes: int, waiting: int, timeout_s: float) -> pool.AnalysisPool:
    key = (os.getpid(), processes, waiting, timeout_s)  # a forked child makes its own
    found = _pools.get(key)
    if found is None:
        with _lock:
            found = _pools.get(key)
            if found is None:
                found = _pools[key] = pool.AnalysisPool(processes, waiting, timeout_s)
    return found


def analyse(data: bytes, limits: Limits | None = None) -> analysis.Analysis:
    """analysis.analyse under this app's FACE_ANALYSIS_* settings.

    Raises ImageRejected as analysis.analyse does, and FaceError "analysis_unavailable" (503,
    nothing written) when the pool is full, late or lost a process."""
    config = current_app.config
    processes = int(config["FACE_ANALYSIS_PROCESSES"])
    if processes <= 0:
        return analysis.analyse(data, limits=limits)
    workers = _pool(processes, int(config["FACE_ANALYSIS_WAITING"]),
                    float(config["FACE_ANALYSIS_TIMEOUT_S"]))
    try:
        return workers.analyse(data, limits)
    except pool.Unavailable as err:
        current_app.logger.warning("face analysis unavailable: %s", err.reason)
        raise FaceError("analysis_unavailable", BUSY_MESSAGE, 503, reason=err.reason) from err
