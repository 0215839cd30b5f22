"""Demo filings of each kind, applied and pending, made through the real upload and review steps,
so the year pages, the filers' lists and the reviewers' queues are not empty on first run."""

import csv
import datetime as dt
import io
from decimal import Decimal

from xuetang.models import Account, Filing, Organization, Person
from xuetang.rules.annual import COMPETITION, FILING_SERIES, REGISTERED_QUALIFICATION, SEMINAR
from xuetang.services import accounts, filing_review, filings
from xuetang.services.filing_checks import template_headers

# A district-level industry department, so the 历下区 HR admin has a queue too.
DISTRICT_FILER = ("lixia-health", "历下区卫生健康局", "历下区")


def _viewer(username: str):
    from xuetang.web.access import SignedIn  # the same signed-in view the pages act with

    return SignedIn(Account.get(Account.username == username))


def _file(username: str, kind: str, year: int, rows: list[list[str]], approve_as: str | None):
    """Upload one roster through the checks, submit it and, with `approve_as`, approve it."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([template_headers(kind), *rows])
    data = buffer.getvalue().encode("utf-8-sig")
    shown = filings.upload_filing(_viewer(username), kind, year, data, f"演示-{kind}.csv")
    if shown.filing is None:
        problems = [(r.number, r.errors) for r in shown.check.invalid]
        raise RuntimeError(f"demo filing {kind} does not pass its checks: {problems}")
    filing_review.submit(_viewer(username), shown.filing.id)
    if approve_as:
        filing_review.approve(_viewer(approve_as), shown.filing.id)


def _district_filer(password: str) -> None:
    from xuetang.models import District

    username, name, district_name = DISTRICT_FILER
    org, _ = Organization.get_or_create(name=name, kind="industry_dept", defaults={
        "district": District.get(District.name == district_name)})
    account = Account.get_or_none(Account.username == username)
    if account is None:
        account = Account.create(username=username, password_hash=accounts.hash_password(password),
                                 must_change_password=False)
    accounts.grant(account, "industry_dept", organization=org)


def load(people: dict[str, Person], password: str, today: dt.date) -> None:
    """Filings of this year for the demo trainees (once: nothing is added when any exists)."""
    _district_filer(password)
    if Filing.select().exists() or filing_review.period(today.year).close_on < today:
        return
    year = today.year
    wang, li, zhang = people["王建华"], people["李秀梅"], people["张志强"]

    def row(person: Person, *cells) -> list[str]:
        return [person.real_name, person.id_number, person.series.name, *cells]

    day = f"{year}-09-06"
    _file("cebase", SEMINAR, year, [row(li, "建设工程高级研修班", f"JNZS{year}-0001", day, "2")],
          approve_as="city")
    _file("cebase", SEMINAR, year, [row(wang, "新一代信息技术高级研修班", f"JNZS{year}-0002",
                                        f"{year}-10-11", "3")], approve_as=None)
    _file("industry", COMPETITION, year, [row(li, "全市建筑行业技术比武", f"{year}-10-16", "8", "12")],
          approve_as="city")
    _file("industry", COMPETITION, year, [row(wang, "济南市软件开发技能竞赛", f"{year}-11-20",
                                              "3", "10")], approve_as=None)
    _file("industry", REGISTERED_QUALIFICATION, year,
          [row(li, "一级注册建造师继续教育", f"{year}-09-20", str(Decimal(24)))], approve_as="city")
    _file("industry", REGISTERED_QUALIFICATION, year,
          [row(wang, "注册信息安全专业人员继续教育", f"{year}-11-02", "16")], approve_as=None)
    _file("industry", FILING_SERIES, year, [row(zhang, "卫生专业技术人员岗位培训", day, "12")],
          approve_as="city")
    _file(DISTRICT_FILER[0], FILING_SERIES, year,
          [row(zhang, "历下区基层卫生适宜技术培训", f"{year}-10-28", "8")], approve_as=None)
