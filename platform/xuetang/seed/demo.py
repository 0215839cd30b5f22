"""Idempotent demo data: one account per role, a few trainees with ledger lines."""

import datetime as dt
from decimal import Decimal

from xuetang import clock
from xuetang.db import database
from xuetang.models import Account, District, LedgerLine, Organization, Person, Series, Specialty
from xuetang.rules.idcard import check_char
from xuetang.seed import demo_filings
from xuetang.seed.reference import ensure_reference_data
from xuetang.services import accounts

DEMO_PASSWORD = "xuetang-demo-1"  # noqa: S105  (printed by `make run`; demo only)

# username, organization name, organization kind, district, role label for the printout
ORG_ADMINS = [
    ("city", "济南市人力资源和社会保障局", "city_hr", None),
    ("lixia", "历下区人力资源和社会保障局", "district_hr", "历下区"),
    ("employer", "济南泉城示范科技有限公司", "employer", "历下区"),
    ("industry", "济南市卫生健康委员会", "industry_dept", None),
    ("cebase", "济南市专业技术人员继续教育基地", "ce_base", None),
    ("uploader", "工程技术职称评审委员会办事机构", "title_office", None),
]

# name, ID number stem (17 digits), series, specialty
TRAINEES = [
    ("王建华", "37010219850312231", "工程技术", "新一代信息技术"),
    ("李秀梅", "37010219900721452", "工程技术", "建设工程"),
    ("张志强", "37010219780905673", "卫生技术", None),
    ("赵丽娟", "37010219920118184", "中小学教师", None),
]


def demo_id(stem: str) -> str:
    return stem + check_char(stem)


def _org(name: str, kind: str, district_name: str | None) -> Organization:
    district = District.get(District.name == district_name) if district_name else None
    org, _ = Organization.get_or_create(name=name, kind=kind, defaults={"district": district})
    return org


def _admin(username: str, org: Organization) -> None:
    account = (Account.get_or_none(Account.username == username)
               or accounts.create_admin_account(username, DEMO_PASSWORD,
                                                must_change_password=False))
    accounts.grant_org_admin(account, org)
    if org.kind == "ce_base":  # a CE base also uploads its own courses
        accounts.grant(account, "uploader", organization=org)


def _trainee(name, stem, series_name, specialty_name, employer) -> Person:
    series = Series.get(Series.name == series_name)
    specialty = (Specialty.get_or_none((Specialty.series == series)
                                       & (Specialty.name == specialty_name))
                 if specialty_name else None)
    person, created = Person.get_or_create(id_number=demo_id(stem), defaults={
        "real_name": name, "phone": "1380000" + stem[-4:], "series": series,
        "specialty": specialty, "employer": employer, "district": employer.district,
        "exempt": series.exempt})
    if Account.get_or_none(Account.person == person) is None:
        account = Account.create(person=person,
                                 password_hash=accounts.hash_password(DEMO_PASSWORD),
                                 must_change_password=False)
        accounts.grant(account, "trainee")
    return person


def _ledger(person: Person, year: int, entries) -> None:
    if LedgerLine.select().where(LedgerLine.person == person).exists():
        return
    for category, source, amount, evidence in entries:
        if isinstance(amount, int):
            LedgerLine.append(person, year, category, source, minutes=amount, evidence=evidence)
        else:
            LedgerLine.append(person, year, category, source, hours=amount, evidence=evidence)


def load(today: dt.date | None = None, city: bool = False) -> None:
    """The demo accounts, trainees, filings and courses; with `city` also the generated city
    (seed.demo_city) that `flask demo` builds for the reports."""
    today = today or clock.today()
    ensure_reference_data(today.year)
    with database.atomic():
        orgs = {}
        for username, org_name, kind, district in ORG_ADMINS:
            orgs[kind] = _org(org_name, kind, district)
            _admin(username, orgs[kind])
        people = [_trainee(*row, employer=orgs["employer"]) for row in TRAINEES]
        wang, li, zhang, _zhao = people
        _ledger(wang, 2021, [
            ("public", "online", 30 * 45, "2021年公需课在线学习"),
            ("professional", "seminar", Decimal(40), "高级研修班（5天）"),
            ("professional", "competition", Decimal(8), "济南市软件开发技能竞赛"),
        ])
        _ledger(li, 2021, [
            ("public", "online", 32 * 45, "2021年公需课在线学习"),
            ("professional", "seminar", Decimal(24), "建设工程高级研修班（3天）"),
            ("professional", "competition", Decimal(36), "全市建筑行业技术比武（超出上限部分不计）"),
        ])
        _ledger(zhang, today.year, [
            ("public", "online", 12 * 45, f"{today.year}年公需课在线学习"),
            ("professional", "filing_series", Decimal(60), "卫生系统继续教育备案"),
        ])
    demo_filings.load({p.real_name: p for p in people}, DEMO_PASSWORD, today)
    _demo_notices_and_certificates({p.real_name: p for p in people})
    _demo_courses(orgs)
    if city:
        from xuetang.seed import demo_city

        demo_city.load(today)


def _demo_notices_and_certificates(people: dict) -> None:
    """Published series notices (seed/demo_notices.py) and issued certificates
    (seed/demo_certificates.py; issuing needs the app for its clock and time zone)."""
    from flask import current_app, has_app_context

    from xuetang.seed import demo_certificates, demo_notices

    demo_notices.load(current_app.config["MEDIA_ROOT"] if has_app_context() else None)
    if has_app_context():
        demo_certificates.load(people)


def _demo_courses(orgs: dict) -> None:
    """Demo courses; with DEMO_MEDIA (default on) their lectures are made and transcoded."""
    from flask import current_app, has_app_context

    from xuetang.seed import demo_media
    from xuetang.video.probe import ffmpeg_binary

    with database.atomic():
        courses = demo_media.ensure_courses(orgs)
    if has_app_context() and current_app.config.get("DEMO_MEDIA"):
        binary = ffmpeg_binary(current_app.config.get("FFMPEG_BINARY"))
        demo_media.generate(courses, current_app.config["MEDIA_ROOT"], binary)
    else:
        demo_media.publish_without_media(courses)


def logins_text() -> str:
    lines = [f"演示账号（密码均为 {DEMO_PASSWORD}）："]
    for username, org_name, _kind, _district in ORG_ADMINS:
        lines.append(f"  {username:<10} {org_name}")
    lines.append(f"  {demo_filings.DISTRICT_FILER[0]:<10} {demo_filings.DISTRICT_FILER[1]}")
    for name, stem, series, _sp in TRAINEES:
        lines.append(f"  {demo_id(stem)}  学员 {name}（{series}）")
    return "\n".join(lines)
