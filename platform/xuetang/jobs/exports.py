"""Export jobs: a large person-by-person XLSX written in the background (services/exports.py),
and the hourly clean-up of expired export files."""

from huey import crontab


def register(huey, app):
    """Register the export task and its hourly purge on `huey`; returns the export task."""

    @huey.task(name="export_people")
    def export_people(export_id: int):
        """Write one queued export's file."""
        from xuetang.db import database
        from xuetang.services import exports

        with app.app_context():
            opened = database.connect(reuse_if_open=True)
            try:
                return exports.run(export_id)
            finally:
                if opened:
                    database.close()

    @huey.periodic_task(crontab(minute="41"), name="purge_exports")
    def purge_exports():
        """Expired export files and rows."""
        from xuetang.db import database
        from xuetang.services import exports

        with app.app_context():
            opened = database.connect(reuse_if_open=True)
            try:
                return exports.purge_expired()
            finally:
                if opened:
                    database.close()

    return export_people
