"""Scheduled face-data job: delete snapshot images past their retention period (daily).

Without a running worker, `flask --app wsgi faces purge` from cron does the same.
"""

from huey import crontab


def register(huey, app):
    """Register the daily purge (03:17 server time) on `huey`; returns the periodic task."""

    @huey.periodic_task(crontab(hour="3", minute="17"), name="purge_face_snapshots")
    def purge_face_snapshots():
        """Snapshot images older than FACE_SNAPSHOT_RETENTION_DAYS."""
        from xuetang.db import database
        from xuetang.services import faces

        with app.app_context(), database.connection_context():
            return faces.purge_snapshots()

    return purge_face_snapshots
