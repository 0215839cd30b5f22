"""Subsidy evidence (资金监管): the verified minutes credited per course and per organization in a
period, with the face checks behind them — the reason study must be real-name.

A credit (StudyCredit) is behind its ledger line; the play sessions whose stretches it credited
are behind the credit; the face checks of those sessions are counted once per course and
organization: passed at the camera, failed (a failed, flagged or missed check that no reviewer
turned into a pass), and overridden (a reviewer changed a failed or flagged check to a pass).
The organization is the trainee's employer, the one whose staff training is subsidised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app

from xuetang import clock
from xuetang.db import database
from xuetang.models import Organization
from xuetang.services.completion import iterate
from xuetang.services.refusals import Refused
from xuetang.services.xlsx_stream import stream_xlsx

HEADER = ["课程", "开课机构", "用人单位", "学员人数", "学时记录数", "核验学习分钟数", "人脸核验通过",
          "人脸核验未通过（含超时）", "人工复核改判通过"]
WIDTHS = {"A": 30, "B": 26, "C": 30}
MAX_DAYS = 3 * 366  # a period longer than this is refused rather than scanned
NO_EMPLOYER = "（无单位）"

SQL = """
WITH credits AS (
  SELECT sc.id, sc.course_id, COALESCE(p.employer_id, 0) AS employer_id, sc.person_id, sc.minutes
  FROM study_credit sc JOIN person p ON p.id = sc.person_id
  WHERE sc.credited_at >= ? AND sc.credited_at < ?{employer}
), sessions AS (
  SELECT DISTINCT c.course_id, c.employer_id, ps.token
  FROM credits c
  JOIN watch_stretch ws ON ws.credit_id = c.id
  JOIN play_session ps ON ps.id = ws.play_session_id
), checks AS (
  SELECT s.course_id, s.employer_id,
         SUM(CASE WHEN fc.decision = 'pass' AND fc.review_decision IS NULL THEN 1 ELSE 0 END)
           AS passed,
         SUM(CASE WHEN COALESCE(fc.review_decision, fc.decision) <> 'pass' THEN 1 ELSE 0 END)
           AS failed,
         SUM(CASE WHEN fc.review_decision = 'pass' AND fc.decision <> 'pass' THEN 1 ELSE 0 END)
           AS overridden
  FROM sessions s JOIN face_check fc ON fc.play_session_id = s.token
  WHERE fc.decision IS NOT NULL
  GROUP BY s.course_id, s.employer_id
), totals AS (
  SELECT course_id, employer_id, COUNT(DISTINCT person_id) AS people, COUNT(*) AS credits,
         SUM(minutes) AS minutes
  FROM credits GROUP BY course_id, employer_id
)
SELECT t.employer_id, co.title, provider.name, employer.name, t.people, t.credits, t.minutes,
       COALESCE(ch.passed, 0), COALESCE(ch.failed, 0), COALESCE(ch.overridden, 0)
FROM totals t
JOIN course co ON co.id = t.course_id
JOIN organization provider ON provider.id = co.organization_id
LEFT JOIN organization employer ON employer.id = t.employer_id
LEFT JOIN checks ch ON ch.course_id = t.course_id AND ch.employer_id = t.employer_id
ORDER BY co.title, co.id, employer.name, t.employer_id
"""


@dataclass(frozen=True)
class Period:
    """Beijing dates, both included, and the employer filter (None: every organization)."""

    start: dt.date
    end: dt.date
    employer: Organization | None = None

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Credits are stored in UTC; the period is read in Beijing time."""
        zone = ZoneInfo(current_app.config["TIMEZONE"])
        start = dt.datetime.combine(self.start, dt.time(), zone)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), zone)
        return (start.astimezone(dt.UTC).replace(tzinfo=None),
                end.astimezone(dt.UTC).replace(tzinfo=None))


def _date(value: str | None, default: dt.date, label: str) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Refused(f"{label}格式应为YYYY-MM-DD") from None


def period_from(args) -> Period:
    """The period and organization asked for, checked; by default this year up to today."""
    today = clock.today()
    start = _date(args.get("start"), dt.date(today.year, 1, 1), "开始日期")
    end = _date(args.get("end"), today, "结束日期")
    if start > end:
        raise Refused("开始日期不能晚于结束日期")
    if (end - start).days > MAX_DAYS:
        raise Refused("统计期间不能超过三年，请分段导出")
    employer = None
    if raw := args.get("employer"):
        if not raw.isdigit() or len(raw) > 18:
            raise Refused("用人单位有误")
        employer = Organization.get_or_none((Organization.id == int(raw))
                                            & (Organization.kind == "employer"))
        if employer is None:
            raise Refused("用人单位不存在", status=404)
    return Period(start, end, employer)


def _query(period: Period) -> tuple[str, list]:
    start, end = period.utc_bounds()
    params: list = [start, end]
    employer = ""
    if period.employer is not None:
        employer = " AND p.employer_id = ?"
        params.append(period.employer.id)
    return SQL.format(employer=employer).replace("?", database.param), params


def _cells(values) -> list:
    _employer_id, title, provider, employer, *numbers = values
    return [title, provider, employer or NO_EMPLOYER, *(int(n or 0) for n in numbers)]


def subsidy_page(args) -> dict:
    """The evidence table on the page (the same rows the export has); each employer links to
    the table narrowed to it."""
    period = period_from(args)
    sql, params = _query(period)
    rows = [(values[0], _cells(values)) for values in database.execute_sql(sql, params).fetchall()]
    totals = [sum(cells[i] for _id, cells in rows) for i in range(3, len(HEADER))]
    return {"period": period, "rows": rows, "header": HEADER, "totals": totals}


def subsidy_xlsx(args):
    """The same table as a streamed XLSX."""
    period = period_from(args)
    sql, params = _query(period)
    return stream_xlsx(HEADER, (_cells(values) for values in iterate(sql, params)),
                       title="补贴核验明细", widths=WIDTHS)
