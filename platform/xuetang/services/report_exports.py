"""The report's tables as XLSX: the same rows, numbers and Chinese headers as the pages.

Person lists stream from the database through `completion.iterate` into `xlsx_stream`, so a
city of 200,000 people is never held in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from xuetang.models import StudyYear
from xuetang.rules.annual import to_decimal
from xuetang.rules.charts import percent_text
from xuetang.services import completion
from xuetang.services.people import Viewer
from xuetang.services.reports import Table, check_scope, may_see_ids, staff_row
from xuetang.services.xlsx_stream import stream_xlsx

TABLE_HEADER = ["实名登记人数", "应学人数", "单独学分人数", "已达标", "学习中", "未开始", "完成率",
                "公需学时", "专业学时", "总学时"]
STAFF_HEADER = ["姓名", "身份证号", "区县", "用人单位", "职称系列", "公需学时", "专业学时", "总学时",
                "完成情况"]
TABLE_WIDTHS = {"A": 30}
STAFF_WIDTHS = {"A": 12, "B": 22, "C": 12, "D": 30, "E": 16}


def table_cells(row) -> list:
    """A table row as the page shows it (hours rounded down, the rate with one decimal)."""
    return [row.label, row.registered, row.must_study, row.exempt, row.met, row.in_progress,
            row.not_started, percent_text(row.rate), to_decimal(row.public),
            to_decimal(row.professional), to_decimal(row.total)]


def table_xlsx(table: Table) -> Iterator[bytes]:
    """A completion table (city, district or series level) with its total row."""
    rows = [table_cells(row) for row in [*table.rows, table.total]]
    return stream_xlsx([table.first_column, *TABLE_HEADER], rows, title=table.first_column,
                       widths=TABLE_WIDTHS)


def staff_xlsx(viewer: Viewer, study_year: StudyYear, scope: tuple[str, int] | None,
               status_filter: str = "") -> Iterator[bytes]:
    """Every person in the scope (checked here) with the year's hours and status."""
    check_scope(viewer, scope)
    return staff_sheet(staff_cells(study_year, scope, status_filter, may_see_ids(viewer, scope)))


def staff_cells(study_year: StudyYear, scope: tuple[str, int] | None, status_filter: str,
                full_ids: bool) -> Iterator[list]:
    """The person rows of an already checked scope, as the cells of STAFF_HEADER."""
    units = completion.Units.of(study_year)
    sql, params = completion.person_rows_sql(study_year, scope, status_filter)
    for values in completion.iterate(sql, params):
        row = staff_row(values, units, full_ids)
        yield [row.name, row.id_number, row.district, row.employer, row.series, row.public,
               row.professional, row.total, row.status_label]


def staff_sheet(cells: Iterable[list]) -> Iterator[bytes]:
    """The person list's XLSX bytes (the direct download and the background job alike)."""
    return stream_xlsx(STAFF_HEADER, cells, title="人员完成情况", widths=STAFF_WIDTHS)
