"""A generated demo city: employers in every district, thousands of people across the series
with a spread of progress (met, in progress, not started, exempt), online and filed hours,
competitions over their cap and withdrawn lines — so the reports have something to show.

Rows are made by plain generators (`employer_names`, `person_rows`, `ledger_rows`) that
bench/report.py and the report tests reuse at their own sizes; `load` inserts a demo-sized city
in bulk, once. Everything is drawn from a seeded random generator: the same city every time.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

from peewee import fn

from xuetang import clock
from xuetang.db import database
from xuetang.models import District, LedgerLine, Organization, Person, Series
from xuetang.rules.annual import (
    COMPETITION,
    FILING_SERIES,
    ONLINE,
    PROFESSIONAL,
    PUBLIC,
    REGISTERED_QUALIFICATION,
    SEMINAR,
)
from xuetang.rules.idcard import check_char

DEMO_EMPLOYERS = 300
DEMO_PEOPLE = 4000
DEMO_EMPLOYER_STAFF = 60  # generated staff of the demo login's employer (济南泉城示范科技有限公司)
BATCH = 500
MARK = "（演示）"  # every generated employer's name ends with it: the load is done once

# GB/T 2260 codes of Jinan's districts; the functional areas register under their host district.
REGION_CODES = {
    "历下区": "370102", "市中区": "370103", "槐荫区": "370104", "天桥区": "370105",
    "历城区": "370112", "长清区": "370113", "章丘区": "370114", "济阳区": "370115",
    "莱芜区": "370116", "钢城区": "370117", "平阴县": "370124", "商河县": "370126",
    "高新区": "370102", "南部山区": "370112", "起步区": "370105",
}
SERIES_WEIGHTS = {
    "工程技术": 30, "卫生技术": 14, "中小学教师": 10, "会计": 7, "经济": 7, "技能人才": 5,
    "农业技术": 4, "高等学校教师": 4, "中等职业学校教师": 3, "统计": 3, "审计": 2, "新闻": 2,
    "出版": 1, "档案": 1, "律师": 1, "公证员": 1, "基层卫生技术": 3, "艺术": 1, "实验技术": 1,
}
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
            "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文辉鹏飞宇航晓东海燕雪梅婷"
FIRMS = ["华信", "泉城", "齐鲁", "鲁能", "明湖", "趵突", "千佛", "黄河", "浪潮", "舜耕", "泺源", "龙奥",
         "汇通", "正大", "恒远", "中建", "金桥", "天成", "鼎立", "博远"]
TRADES = ["科技", "建设工程", "信息技术", "医疗器械", "会计师事务所", "农业发展", "智能装备", "检测认证",
          "设计研究院", "环保工程", "交通工程", "生物医药", "软件", "电力工程", "水务"]
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "中心"]


def employer_names(rng: random.Random, count: int, districts: list[str]) -> Iterator[tuple[str, str]]:
    """(name, district) pairs with unique names: 济南<firm><trade><suffix>（演示）; past the
    firm x trade combinations a district and a number tell them apart."""
    combos = [(firm, trade) for firm in FIRMS for trade in TRADES]
    rng.shuffle(combos)
    for index in range(count):
        district = districts[index % len(districts)]
        firm, trade = combos[index % len(combos)]
        extra = "" if index < len(combos) else f"{district[:2]}{index // len(combos)}号"
        yield f"济南{firm}{extra}{trade}{rng.choice(SUFFIXES)}{MARK}", district


def id_number(index: int, district: str) -> str:
    """A valid, unique ID number for the index-th generated person: the birth day and the
    sequence code together encode the index (days from 1966-01-01 cycle every 12,000)."""
    born = dt.date(1966, 1, 1) + dt.timedelta(days=index % 12000)
    stem = f"{REGION_CODES[district]}{born:%Y%m%d}{index // 12000 + 1:03d}"
    return stem + check_char(stem)


def person_rows(rng: random.Random, count: int, employers: list[tuple[int, int, str]],
                series: list[Series], start: int = 0) -> Iterator[dict]:
    """Person rows; `employers` are (employer id, district id, district name)."""
    names = [s.name for s in series]
    weights = [SERIES_WEIGHTS.get(name, 0) for name in names]
    by_name = {s.name: s for s in series}
    for index in range(start, start + count):
        employer_id, district_id, district = employers[index % len(employers)]
        chosen = by_name[rng.choices(names, weights)[0]]
        yield {"real_name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
               "id_number": id_number(index, district), "phone": f"139{index:08d}",
               "series": chosen.id, "employer": employer_id, "district": district_id,
               "exempt": chosen.exempt}


def ledger_rows(rng: random.Random, person_id: int, filing_mode: bool, year: int,
                progress: float, split: int = 1) -> Iterator[tuple]:
    """(person, year, category, source, minutes, hours, evidence) of one person's year at about
    `progress` (0..1.3) of the 30 + 60 hours; `split` cuts online study into more lines."""
    public_minutes = int(30 * 45 * progress * rng.uniform(0.9, 1.2))
    parts = max(1, split * rng.randint(2, 5))
    for part in range(parts):
        minutes = public_minutes // parts + (public_minutes % parts if part == 0 else 0)
        if minutes:
            yield (person_id, year, PUBLIC, ONLINE, minutes, None, f"{year}年公需课在线学习")
    professional = Decimal(int(60 * progress * rng.uniform(0.85, 1.25)))
    if professional <= 0:
        return
    if rng.random() < 0.15:  # a competition, sometimes over the 30-hour cap
        hours = Decimal(rng.choice((8, 12, 20, 36)))
        yield (person_id, year, PROFESSIONAL, COMPETITION, None, hours, "行业技术比武")
        professional = max(Decimal(0), professional - min(hours, Decimal(30)))
    if filing_mode:
        yield (person_id, year, PROFESSIONAL, FILING_SERIES, None, professional, "行业备案")
        return
    if rng.random() < 0.3 and professional >= 16:
        days = min(int(professional // 8), 5)
        yield (person_id, year, PROFESSIONAL, SEMINAR, None, Decimal(8 * days), f"高级研修班（{days}天）")
        professional -= 8 * days
    if rng.random() < 0.1 and professional >= 8:
        yield (person_id, year, PROFESSIONAL, REGISTERED_QUALIFICATION, None, Decimal(8),
               "注册类职业资格继续教育")
        professional -= 8
    minutes = int(professional * 45)
    parts = max(1, split * rng.randint(2, 6))
    for part in range(parts):
        share = minutes // parts + (minutes % parts if part == 0 else 0)
        if share:
            yield (person_id, year, PROFESSIONAL, ONLINE, share, None, f"{year}年专业课在线学习")


def progress_for(rng: random.Random, closed_year: bool) -> float:
    """Met, in progress or not started, in the proportions of a closed or a running year."""
    draw = rng.random()
    met, started = (0.72, 0.93) if closed_year else (0.35, 0.75)
    if draw < met:
        return rng.uniform(1.0, 1.3)
    if draw < started:
        return rng.uniform(0.1, 0.95)
    return 0.0


LEDGER_COLUMNS = (LedgerLine.person, LedgerLine.year, LedgerLine.category, LedgerLine.source,
                  LedgerLine.minutes, LedgerLine.hours, LedgerLine.evidence, LedgerLine.created_at)


def _insert(model, fields, rows: list) -> None:
    for start in range(0, len(rows), BATCH):
        model.insert_many(rows[start:start + BATCH], fields=fields).execute()


def load(today: dt.date | None = None, people: int = DEMO_PEOPLE,
         employers: int = DEMO_EMPLOYERS, seed: int = 13) -> bool:
    """Build the demo city once (False when it is already there)."""
    today = today or clock.today()
    if Organization.select().where(Organization.name.endswith(MARK)).exists():
        return False
    rng = random.Random(seed)
    districts = {d.name: d for d in District.select()}
    series = list(Series.select().order_by(Series.sort))
    filing_mode = {s.id: s.filing_mode for s in series}
    with database.atomic():
        Organization.insert_many(
            [{"name": name, "kind": "employer", "district": districts[district].id}
             for name, district in employer_names(rng, employers, list(REGION_CODES))]).execute()
        orgs = [(o.id, o.district_id, o.district.name) for o in
                Organization.select(Organization, District).join(District)
                .where(Organization.name.endswith(MARK)).order_by(Organization.id)]
        demo_employer = Organization.get_or_none(Organization.name == "济南泉城示范科技有限公司")
        if demo_employer is not None:
            staff_of_demo = [(demo_employer.id, demo_employer.district_id, "历下区")]
            rows = list(person_rows(rng, DEMO_EMPLOYER_STAFF, staff_of_demo, series))
        else:
            rows = []
        rows += list(person_rows(rng, people - len(rows), orgs, series, start=len(rows)))
        before = Person.select(fn.MAX(Person.id)).scalar() or 0
        _insert(Person, None, rows)
        made = list(Person.select(Person.id, Person.series).where(Person.id > before))
        years = [(2021, True)] + ([(today.year, False)] if today.year != 2021 else [])
        lines, now = [], clock.utcnow()
        for person in made:
            for year, closed in years:
                made_lines = ledger_rows(rng, person.id, filing_mode[person.series_id], year,
                                         progress_for(rng, closed))
                lines.extend((*row, now) for row in made_lines)
        _insert(LedgerLine, LEDGER_COLUMNS, lines)
        _withdrawn_lines(rng, [p.id for p in made])
    return True


def _withdrawn_lines(rng: random.Random, person_ids: list[int]) -> None:
    """A few filed hours withdrawn again: a line and its reversing line, as a withdrawal makes."""
    for person_id in rng.sample(person_ids, min(40, len(person_ids))):
        line = LedgerLine.append(person_id, 2021, PROFESSIONAL, SEMINAR, hours=Decimal(16),
                                 evidence="高级研修班（2天，证书有误已撤回）")
        line.reverse("备案撤回：证书编号有误")
