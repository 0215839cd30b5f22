"""The trainee's study area: the annual record ("my year")."""

from flask import Blueprint, abort
from flask_login import current_user

from xuetang.credit import year_view
from xuetang.models import StudyYear
from xuetang.web import render
from xuetang.web.access import roles_required

bp = Blueprint("study", __name__, url_prefix="/study")


@bp.route("/year")
@bp.route("/year/<int:year>")
@roles_required("trainee")
def my_year(year: int | None = None):
    """My year: hours by category and source against the year's requirement."""
    person = current_user.person
    if person is None:
        abort(403)
    study_year = StudyYear.for_year(year) if year else StudyYear.current()
    if study_year is None:
        abort(404)
    years = [y.year for y in StudyYear.select(StudyYear.year).order_by(StudyYear.year.desc())]
    return render("study/year.html", "study/_year.html",
                  view=year_view(person, study_year), person=person, years=years)
