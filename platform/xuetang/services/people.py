"""The employer's staff list: who may see which employer, searching the list, editing a person."""

import re
from typing import Protocol

from peewee import fn

from xuetang.models import Organization, Person, RoleGrant, Series
from xuetang.rules.text import clean_text
from xuetang.services.refusals import Refused

PAGE_SIZE = 20
NAME_MAX = 40  # a real name, as the roster and the edit form accept it
PHONE = re.compile(r"^1\d{10}$")  # a mainland mobile number
PHONE_ERROR = "手机号应为11位数字"


class Viewer(Protocol):
    """The signed-in account and its role grants (web.access.SignedIn is one)."""

    grants: list[RoleGrant]

    def has_role(self, *roles: str) -> bool: ...
    def org_ids(self, role: str) -> set[int]: ...
    def district_ids(self, role: str) -> set[int]: ...


def visible_employer(viewer: Viewer, org_id: int, write: bool = False) -> Organization:
    """The employer if `viewer` may see its staff (or, with `write`, change them); else refused.

    Only the employer's own admin writes; district admins read their district, the city reads all.
    """
    org = Organization.get_or_none((Organization.id == org_id) & (Organization.kind == "employer"))
    if org is None:
        raise Refused("用人单位不存在", status=404)
    if org.id in viewer.org_ids("employer_admin"):
        return org
    if write:
        raise Refused("只有本单位管理员可以修改名册", status=403)
    if viewer.has_role("city_admin"):
        return org
    if org.district_id and org.district_id in viewer.district_ids("district_admin"):
        return org
    raise Refused("无权查看该单位名册", status=403)


def employers_page(viewer: Viewer) -> dict:
    """The employers whose staff `viewer` may see, with how many people each has registered."""
    query = Organization.select().where(Organization.kind == "employer")
    if not viewer.has_role("city_admin"):
        own = viewer.org_ids("employer_admin")
        districts = viewer.district_ids("district_admin")
        query = query.where(Organization.id.in_(own) | Organization.district.in_(districts))
    employers = list(query.order_by(Organization.name))
    counts = dict(Person.select(Person.employer, fn.COUNT(Person.id))
                  .where(Person.employer.in_([e.id for e in employers]))
                  .group_by(Person.employer)
                  .tuples())
    return {"employers": employers, "counts": counts}


def staff_list_page(viewer: Viewer, org_id: int, query: str, page: int) -> dict:
    """One page of an employer's staff, matching `query` by name, ID number prefix or phone."""
    org = visible_employer(viewer, org_id)
    q = query.strip()[:NAME_MAX]
    page = max(1, page)
    people = Person.select().where(Person.employer == org)
    if q:
        people = people.where(Person.real_name.contains(q)
                              | Person.id_number.startswith(q.upper())
                              | Person.phone.startswith(q))
    total = people.count()
    rows = list(people.order_by(Person.real_name, Person.id).paginate(page, PAGE_SIZE))
    return {"org": org, "rows": rows, "q": q, "page": page,
            "pages": max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE), "total": total,
            "can_edit": org.id in viewer.org_ids("employer_admin")}


def editable_person(viewer: Viewer, org_id: int, person_id: int) -> tuple[Organization, Person]:
    """The employer and one of its people, if `viewer` is that employer's admin."""
    org = visible_employer(viewer, org_id, write=True)
    person = Person.get_or_none((Person.id == person_id) & (Person.employer == org))
    if person is None:
        raise Refused("该人员不在本单位名册中", status=404)
    return org, person


def series_in_order() -> list[Series]:
    """The title series a person can belong to, in their official order."""
    return list(Series.select().order_by(Series.sort))


def update_person(person: Person, real_name: str, phone: str, series_id: int) -> None:
    """Save name, phone and series; the ID number is fixed.

    A new series drops the specialty (it belongs to the old series) and brings its exemption.
    """
    series = Series.get_by_id(series_id)
    (Person
     .update(real_name=clean_text(real_name), phone=phone, series=series,
             specialty=None if series.id != person.series_id else person.specialty_id,
             exempt=series.exempt)
     .where(Person.id == person.id)
     .execute())
