"""Study-hours certificates (学时证明): issue one with its content frozen, reissue (the old code
then verifies as superseded), and the public verification of a code.

The content is the year's standing as services.ledger computes it (the rules module's caps),
turned into strings once: an issued certificate shows exactly what it showed that day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from peewee import IntegrityError

from xuetang import clock
from xuetang.db import database, for_update, locked
from xuetang.models import Certificate, Person, StudyYear
from xuetang.rules import certificates as codes
from xuetang.rules.annual import CATEGORY_LABELS, PROFESSIONAL, PUBLIC, to_decimal
from xuetang.rules.idcard import mask
from xuetang.services import audit, ledger
from xuetang.services.refusals import Refused

CODE_ATTEMPTS = 5  # a random 80-bit code colliding even once is already astronomically unlikely


class CertificateRefused(Refused):
    pass


def content_for(person: Person, study_year: StudyYear) -> dict:
    """What a certificate issued now would show (plain strings and booleans, JSON-ready)."""
    view = ledger.year_view(person, study_year)
    status = view.status
    return {
        "year": study_year.year,
        "name": person.real_name,
        "id_masked": mask(person.id_number),
        "employer": person.employer.name if person.employer_id else "",
        "series": person.series.name if person.series_id else "",
        "specialty": person.specialty.name if person.specialty_id else "",
        "exempt": status.exempt,
        "met": status.met,
        "required": {"public": str(to_decimal(status.required_public)),
                     "professional": str(to_decimal(status.required_professional)),
                     "total": str(to_decimal(status.required_total))},
        "hours": {"public": str(to_decimal(status.public)),
                  "professional": str(to_decimal(status.professional)),
                  "total": str(to_decimal(status.total))},
        "categories": {PUBLIC: CATEGORY_LABELS[PUBLIC], PROFESSIONAL: CATEGORY_LABELS[PROFESSIONAL]},
        "by_source": [{"source": row["source"], "category": row["category"],
                       "hours": str(to_decimal(row["counted"])), "capped": row["capped"]}
                      for row in view.rows],
        "lines": len(view.lines),
    }


def _comparable(content: dict) -> dict:
    return {k: v for k, v in content.items() if k not in ("issued_on",)}


@dataclass
class CertificatePage:
    """The trainee's certificate page for a year: the current issued one, if any."""

    study_year: StudyYear
    certificate: Certificate | None
    content: dict | None
    changed_since: bool  # the live record no longer matches the issued certificate


def page_for(person: Person, year: int) -> CertificatePage:
    study_year = StudyYear.for_year(year)
    if study_year is None:
        raise CertificateRefused("该年度尚未设置学时政策，无法开具学时证明。", status=404)
    current = current_certificate(person, year)
    if current is None:
        return CertificatePage(study_year, None, None, False)
    frozen = current.frozen
    changed = _comparable(frozen) != _comparable(content_for(person, study_year))
    return CertificatePage(study_year, current, frozen, changed)


def current_certificate(person: Person, year: int) -> Certificate | None:
    return (Certificate.select()
            .where((Certificate.person == person) & (Certificate.year == year)
                   & Certificate.superseded_by.is_null())
            .order_by(Certificate.id.desc())
            .first())


def issue(person: Person, year: int, actor_id: int | None) -> Certificate:
    """Issue (or reissue) the person's certificate for `year`: a new code and frozen content;
    the previous current one is marked superseded by it, in one transaction."""
    study_year = StudyYear.for_year(year)
    if study_year is None:
        raise CertificateRefused("该年度尚未设置学时政策，无法开具学时证明。", status=404)
    with locked():
        # Serialise a person's issues: two clicks never leave two current certificates.
        for_update(Person.select().where(Person.id == person.id)).get()
        previous = current_certificate(person, year)
        content = content_for(person, study_year)
        content["issued_on"] = clock.local_time(clock.utcnow(), "%Y-%m-%d")
        certificate = _create(person, year, content, actor_id)
        if previous is not None:
            previous.superseded_by = certificate
            previous.superseded_at = certificate.issued_at
            previous.save()
        audit.record("certificates", "reissued" if previous else "issued", actor_id,
                     subject=f"{content['name']}（{content['id_masked']}）{year} 年度学时证明",
                     note=codes.grouped(certificate.code))
    return certificate


def _create(person, year, content, actor_id) -> Certificate:
    for _ in range(CODE_ATTEMPTS):
        try:
            with database.atomic():
                return Certificate.create(person=person, year=year, code=codes.new_code(),
                                          content=json.dumps(content, ensure_ascii=False),
                                          issued_by=actor_id)
        except IntegrityError:
            continue
    raise CertificateRefused("生成验证码失败，请重试。", status=503)


@dataclass
class Verification:
    """What the public verification page (and its JSON) shows for a known code."""

    certificate: Certificate
    content: dict
    masked_name: str
    superseded: bool
    superseded_on: str | None

    def as_json(self) -> dict:
        c = self.content
        return {"code": codes.grouped(self.certificate.code), "valid": not self.superseded,
                "status": "superseded" if self.superseded else "current",
                "superseded_on": self.superseded_on,
                "year": c["year"], "name": self.masked_name, "id_number": c["id_masked"],
                "employer": c["employer"], "series": c["series"], "exempt": c["exempt"],
                "met": c["met"], "hours": c["hours"], "required": c["required"],
                "issued_on": c["issued_on"]}


def verify(raw_code: str) -> Verification:
    """The frozen content behind a code with the name partly masked; refuses a malformed code
    (without a lookup) and an unknown one, both as 404."""
    code = codes.normalize(raw_code)
    if code is None:
        raise CertificateRefused("验证码格式不正确：应为16位字母和数字（如 ABCD-EFGH-JKMN-PQRS）。",
                                 status=404)
    certificate = Certificate.get_or_none(Certificate.code == code)
    if certificate is None:
        raise CertificateRefused("未找到该验证码对应的学时证明，请核对验证码。", status=404)
    content = certificate.frozen
    superseded = certificate.superseded_by_id is not None
    return Verification(certificate, content, codes.mask_name(content["name"]), superseded,
                        clock.local_time(certificate.superseded_at, "%Y-%m-%d")
                        if superseded else None)
