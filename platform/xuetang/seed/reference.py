"""Reference data from the notice: Jinan's districts, the title series, the 2021 policy."""

import datetime as dt
from decimal import Decimal

from xuetang import clock
from xuetang.db import database
from xuetang.models import District, Series, Specialty, StudyYear

DISTRICTS = [
    ("历下区", "district"), ("市中区", "district"), ("槐荫区", "district"), ("天桥区", "district"),
    ("历城区", "district"), ("长清区", "district"), ("章丘区", "district"), ("济阳区", "district"),
    ("莱芜区", "district"), ("钢城区", "district"), ("平阴县", "county"), ("商河县", "county"),
    ("高新区", "functional"), ("南部山区", "functional"), ("起步区", "functional"),
]

SERIES = [
    "高等学校教师", "哲学社会科学研究", "自然科学研究", "卫生技术", "基层卫生技术", "工程技术",
    "农业技术", "新闻", "出版", "图书资料", "文物博物", "档案", "工艺美术", "技工院校教师", "体育",
    "翻译", "播音主持", "会计", "统计", "经济", "审计", "实验技术", "中等职业学校教师",
    "中小学教师", "艺术", "律师", "公证员", "船舶", "民用航空飞行技术", "技能人才",
]
# 2021: professional hours of these series arrive as industry filings (备案方式).
FILING_MODE = {"卫生技术", "基层卫生技术", "农业技术", "会计", "律师", "公证员", "档案", "出版",
               "播音主持"}
EXEMPT = {"中小学教师"}  # separate credit scheme (济教人字〔2015〕23号)

SPECIALTIES = {
    "工程技术": [
        ("新一代信息技术", "学习指南：人工智能、大数据、云计算、工业互联网与信息安全的新进展，"
                          "以及新一代信息技术在本行业的应用。"),
        ("建设工程", "学习指南：建筑业新技术、绿色建造与装配式建筑、工程质量安全法规与标准。"),
    ],
    "技能人才": [
        ("技能人才", "学习指南：职业技能等级制度、工匠精神、新技术新工艺与安全生产。"),
    ],
}


def policy_2021() -> dict:
    return {
        "year": 2021,
        "min_total_hours": Decimal(90),
        "min_public_hours": Decimal(30),
        "min_professional_hours": Decimal(60),
        "window_start": dt.date(2021, 8, 1),
        "window_end": dt.date(2021, 12, 31),
        "minutes_per_hour": 45,
        "filing_close": dt.date(2021, 8, 6),
        "competition_public_cap": Decimal(5),
        "competition_professional_cap": Decimal(30),
        "seminar_hours_per_day": Decimal(8),
    }


def policy_like_2021(year: int) -> dict:
    """A later year's policy on 2021's terms, until the city admin edits it."""
    values = policy_2021()
    values.update(year=year, window_start=dt.date(year, 8, 1), window_end=dt.date(year, 12, 31),
                  filing_close=dt.date(year, 8, 6))
    return values


def ensure_reference_data(current_year: int | None = None) -> None:
    """Insert what is missing; never overwrites what an admin has edited."""
    current_year = current_year or clock.today().year
    with database.atomic():
        for sort, (name, kind) in enumerate(DISTRICTS):
            District.get_or_create(name=name, defaults={"kind": kind, "sort": sort})
        for sort, name in enumerate(SERIES):
            Series.get_or_create(name=name, defaults={
                "filing_mode": name in FILING_MODE, "exempt": name in EXEMPT, "sort": sort})
        for series_name, specialties in SPECIALTIES.items():
            series = Series.get(Series.name == series_name)
            for name, guide in specialties:
                Specialty.get_or_create(series=series, name=name, defaults={"guide": guide})
        if StudyYear.for_year(2021) is None:
            StudyYear.create(**policy_2021())
        if StudyYear.for_year(current_year) is None:
            StudyYear.create(**policy_like_2021(current_year))
