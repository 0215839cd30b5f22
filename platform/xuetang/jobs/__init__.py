"""Background jobs (huey): transcoding uploaded lectures, the daily face-snapshot purge, large
report exports.

The app factory calls `init_app(app)`: it builds the queue from the app's settings, registers the
tasks on it and keeps both in `app.extensions["jobs"]`. Web code enqueues through
`services.courses.enqueue_transcode`; the worker process is `huey_consumer worker.huey` (worker.py at
the repository root creates the app, so the consumer runs the same registered tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from huey import Huey
from huey.api import TaskWrapper

from xuetang.jobs import exports, purge, transcode
from xuetang.jobs.queue import make_huey


@dataclass
class Jobs:
    """The app's queue and the tasks registered on it."""

    huey: Huey
    transcode: TaskWrapper
    purge: TaskWrapper
    export: TaskWrapper


def init_app(app) -> Jobs:
    """Build the queue for this app's settings and register its tasks (again after a change)."""
    huey = make_huey(app.config)
    jobs = Jobs(huey=huey, transcode=transcode.register(huey, app), purge=purge.register(huey, app),
                export=exports.register(huey, app))
    app.extensions["jobs"] = jobs
    return jobs


def current() -> Jobs:
    """The queue of the app in context."""
    return current_app.extensions["jobs"]
