"""Scheduled face-data job: delete snapshot images past their retention period (daily, huey).

Registered on the shared queue of xuetang.jobs. The web app imports this module when it registers
the proctor blueprint, and the huey consumer creates the app at start-up (to recover transcodes),
so the consumer's scheduler sees the task; importing it from xuetang.jobs would be more direct.
Without a consumer, run `flask --app wsgi proctor purge` from cron instead.
"""

from huey import crontab

from xuetang.jobs import huey


def run_purge() -> int:
    """Purge old snapshot images in an app context; returns how many were deleted."""
    from xuetang import proctor_service
    from xuetang.db import database
    from xuetang.jobs import _app

    app = _app()
    with app.app_context(), database.connection_context():
        return proctor_service.purge_snapshots()


@huey.periodic_task(crontab(hour="3", minute="17"))
def purge_face_snapshots():
    """Daily at 03:17 (server time): snapshot images older than FACE_SNAPSHOT_RETENTION_DAYS."""
    return run_purge()
