"""Each study year's policy, as the city admin reads and edits it."""

from decimal import Decimal

from flask import current_app

from xuetang.db import database
from xuetang.models import StudyYear
from xuetang.rules.annual import CATEGORY_LABELS, PROFESSIONAL, PUBLIC
from xuetang.services import audit
from xuetang.services.refusals import Refused

# The policy fields the city admin may edit; `year` itself is fixed once created.
EDITABLE_FIELDS = (
    "min_total_hours", "min_public_hours", "min_professional_hours", "window_start", "window_end",
    "minutes_per_hour", "filing_close", "competition_public_cap", "competition_professional_cap",
    "seminar_hours_per_day",
)
# How the policy form and the audit log name each field.
POLICY_LABELS = {
    "min_total_hours": "总学时不少于",
    "min_public_hours": f"{CATEGORY_LABELS[PUBLIC]}不少于",
    "min_professional_hours": f"{CATEGORY_LABELS[PROFESSIONAL]}不少于",
    "window_start": "专业课学习开始日期",
    "window_end": "专业课学习截止日期",
    "minutes_per_hour": "每学时分钟数",
    "filing_close": "评委会办事机构发布指南截止日期",
    "competition_public_cap": "竞赛可抵公需学时上限",
    "competition_professional_cap": "竞赛可抵专业学时上限",
    "seminar_hours_per_day": "高级研修每天折算学时",
}
CENT = Decimal("0.01")


def study_years_page() -> dict:
    """Every year's policy, newest first."""
    return {"years": list(StudyYear.select().order_by(StudyYear.year.desc()))}


def study_year(year: int) -> StudyYear:
    """The year's policy row, or a 404 refusal."""
    found = StudyYear.for_year(year)
    if found is None:
        raise Refused("没有该年度的政策", status=404)
    return found


def update_study_year(row: StudyYear, values: dict, account_id: int) -> None:
    """Save new policy values if they hold together; the change is logged with who made it."""
    if values["window_start"] > values["window_end"]:
        raise Refused("学习开始日期不能晚于截止日期")
    if values["min_public_hours"] + values["min_professional_hours"] > values["min_total_hours"]:
        raise Refused("公需与专业学时要求之和不能超过总学时要求")
    before = StudyYear.get_by_id(row.id)
    for name in EDITABLE_FIELDS:
        value = values[name]
        if isinstance(value, Decimal):
            value = value.quantize(CENT)  # hours are stored in hundredths
        setattr(row, name, value)
    changed = [name for name in EDITABLE_FIELDS if getattr(row, name) != getattr(before, name)]
    with database.atomic():
        row.save()
        audit.record("policy", "year_edited", account_id, subject=f"{row.year} 年度政策",
                     note="；".join(f"{POLICY_LABELS[name]}：{getattr(before, name)} → {getattr(row, name)}"
                                   for name in changed))
    current_app.logger.info("study year %s edited by account %s", row.year, account_id)
