"""Application wiring, in one place: what connects to what once the app exists.

create_app calls `init_app` after the blueprints are registered. Importing any xuetang module
does no work; everything that must happen per application happens here (or in an extension's
init_app that this calls).
"""

import mimetypes

from xuetang import clock, jobs
from xuetang.models import ROLES
from xuetang.rules.annual import CATEGORY_LABELS, SOURCE_LABELS, to_decimal, to_decimal_up
from xuetang.rules.charts import percent_text
from xuetang.rules.idcard import mask
from xuetang.rules.notices import KINDS as NOTICE_KINDS
from xuetang.services import crediting, face_checks


def init_app(app) -> None:
    # The job queue (transcodes, the daily face-snapshot purge) for this app's settings.
    jobs.init_app(app)

    # A decided or overridden face check releases the play it held: credit it.
    face_checks.check_decided.connect(crediting.settle_after_check)
    face_checks.check_overridden.connect(crediting.settle_after_check)

    # Phones install the site from its manifest; the static server needs the type.
    mimetypes.add_type("application/manifest+json", ".webmanifest")

    app.jinja_env.filters["hours"] = to_decimal
    app.jinja_env.filters["hours_missing"] = to_decimal_up
    app.jinja_env.filters["masked"] = mask
    app.jinja_env.filters["local"] = clock.local_time  # Beijing time (TIMEZONE)
    app.jinja_env.filters["percent"] = percent_text  # a completion rate, e.g. "87.5%"

    @app.context_processor
    def _labels():
        # One home for each label: templates read them from here, never re-type them.
        return {"ROLE_LABELS": ROLES, "CATEGORY_LABELS": CATEGORY_LABELS,
                "SOURCE_LABELS": SOURCE_LABELS, "NOTICE_KINDS": NOTICE_KINDS}
