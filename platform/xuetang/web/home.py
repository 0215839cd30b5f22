"""The home page: one section per role the signed-in account holds."""

from flask import Blueprint
from flask_login import current_user
from peewee import fn

from xuetang.models import District, Organization, Person
from xuetang.web import render
from xuetang.web.access import signed_in

bp = Blueprint("home", __name__)


def district_overview(district_ids: set[int]) -> list[dict]:
    """Registrations per district: employers and registered people."""
    rows = []
    for district in District.select().where(District.id.in_(district_ids)).order_by(District.sort):
        employers = (Organization.select()
                     .where((Organization.district == district)
                            & (Organization.kind == "employer"))
                     .count())
        people = Person.select().where(Person.district == district).count()
        rows.append({"district": district, "employers": employers, "people": people})
    return rows


def city_overview() -> dict:
    by_kind = dict(
        Organization.select(Organization.kind, fn.COUNT(Organization.id))
        .group_by(Organization.kind)
        .tuples()
    )
    return {"people": Person.select().count(), "by_kind": by_kind}


@bp.route("/")
@signed_in
def index():
    """Each role's home, in one page: trainee, employer, district, city, uploader, filers."""
    context = {}
    if current_user.has_role("district_admin"):
        context["districts"] = district_overview(current_user.district_ids("district_admin"))
    if current_user.has_role("city_admin"):
        context["city"] = city_overview()
    org_ids = {g.organization_id for g in current_user.grants if g.organization_id}
    context["organizations"] = list(Organization.select().where(Organization.id.in_(org_ids)))
    return render("home/index.html", **context)
