"""Completion statistics (应学尽学) by SQL aggregation over the ledger.

The rule is `rules.annual.annual_status`, applied in SQL the same way: each person's lines of the
year are summed per (source, category) — read from ledger_total, which triggers on the ledger
keep as every line is written (models.ledger.LedgerTotal, m0016), so a report reads one row per
person, source and category instead of every line; a net negative source counts as zero;
competition hours are capped per category; the public and professional sums are compared with
the policy's minimums. Amounts stay exact integers: one hour is `100 * minutes_per_hour` units,
so a minute is 100 units and an hour stored as hundredths (HoursField) is `minutes_per_hour`
units per hundredth. A person is met (or exempt), in progress (some counted hours) or not
started.

`person_status_sql` is the one query every figure is built on; the group queries fold it by
district, employer or series, and `people` lists it person by person.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

from xuetang.db import database, is_postgres
from xuetang.models import StudyYear
from xuetang.rules.annual import COMPETITION, PROFESSIONAL, PUBLIC

MET, IN_PROGRESS, NOT_STARTED, EXEMPT = "met", "in_progress", "not_started", "exempt"
STATUS_LABELS = {MET: "已达标", IN_PROGRESS: "学习中", NOT_STARTED: "未开始", EXEMPT: "单独学分"}
NOT_MET = "not_met"  # the employer's filter: in progress or not started
STATUS_FILTERS = {"": "全部", NOT_MET: "未达标", MET: "已达标", IN_PROGRESS: "学习中",
                  NOT_STARTED: "未开始", EXEMPT: "单独学分"}

# The scopes a query may be narrowed to: a fixed column each, never user text in the SQL.
SCOPE_COLUMNS = {"district": "p.district_id", "employer": "p.employer_id", "series": "p.series_id"}
GROUP_COLUMNS = SCOPE_COLUMNS


@dataclass(frozen=True)
class Units:
    """The policy's numbers in integer units (1 hour = per_hour units)."""

    per_hour: int
    minute: int
    hundredth: int
    required_total: int
    required_public: int
    required_professional: int
    cap_public: int
    cap_professional: int

    @classmethod
    def of(cls, study_year: StudyYear) -> Units:
        policy = study_year.as_policy()
        per_hour = 100 * policy.minutes_per_hour

        def hours(value) -> int:
            return int(Fraction(value) * per_hour)

        return cls(per_hour=per_hour, minute=100, hundredth=policy.minutes_per_hour,
                   required_total=hours(policy.min_total_hours),
                   required_public=hours(policy.min_public_hours),
                   required_professional=hours(policy.min_professional_hours),
                   cap_public=hours(policy.competition_public_cap),
                   cap_professional=hours(policy.competition_professional_cap))

    def hours(self, units: int | None) -> Fraction:
        return Fraction(int(units or 0), self.per_hour)  # PostgreSQL sums are Decimals


def _sql(text: str) -> str:
    """Our SQL is written with `?`; PostgreSQL's driver takes `%s`."""
    return text.replace("?", database.param)


def person_status_sql(units: Units, year: int, scope: tuple[str, int] | None,
                      started_only: bool = False) -> tuple[str, list]:
    """SELECT person id, district, employer, series, exempt, counted public and professional
    units, status — for every registered person in `scope` (None: the city), or with
    `started_only` for those who have lines in the year (joined by primary key: cheaper)."""
    scope_where, scope_params, ledger_join = "", [], ""
    if scope is not None:
        column = SCOPE_COLUMNS[scope[0]]
        scope_where = f" AND {column} = ?"
        scope_params = [scope[1]]
        # Narrow the totals to the scope's people before folding them.
        ledger_join = f" JOIN person p ON p.id = t.person_id{scope_where}"
    people_from = ("counted c JOIN person p ON p.id = c.person_id" if started_only
                   else "person p LEFT JOIN counted c ON c.person_id = p.id")
    sql = f"""
    WITH sums AS (
      SELECT t.person_id, t.source, t.category, t.minutes * ? + t.hours * ? AS units
      FROM ledger_total t{ledger_join}
      WHERE t.year = ?
    ), counted AS (
      SELECT person_id,
             SUM(CASE WHEN category = ? THEN c ELSE 0 END) AS pub,
             SUM(CASE WHEN category = ? THEN c ELSE 0 END) AS pro
      FROM (SELECT person_id, category,
                   CASE WHEN units <= 0 THEN 0
                        WHEN source = ? AND category = ? AND units > ? THEN ?
                        WHEN source = ? AND category = ? AND units > ? THEN ?
                        ELSE units END AS c
            FROM sums) AS capped
      GROUP BY person_id
    ), people AS (
      SELECT p.id, p.district_id, p.employer_id, p.series_id,
             CASE WHEN p.exempt OR COALESCE(s.exempt, ?) THEN 1 ELSE 0 END AS exempt,
             COALESCE(c.pub, 0) AS pub, COALESCE(c.pro, 0) AS pro
      FROM {people_from}
      LEFT JOIN series s ON s.id = p.series_id
      WHERE 1 = 1{scope_where}
    )
    SELECT id, district_id, employer_id, series_id, exempt, pub, pro,
           CASE WHEN exempt = 1 THEN '{EXEMPT}'
                WHEN pub >= ? AND pro >= ? AND pub + pro >= ? THEN '{MET}'
                WHEN pub + pro > 0 THEN '{IN_PROGRESS}'
                ELSE '{NOT_STARTED}' END AS status
    FROM people"""  # noqa: S608  (fixed fragments; every value is a bound parameter)
    params = [units.minute, units.hundredth, *scope_params, year,
              PUBLIC, PROFESSIONAL,
              COMPETITION, PUBLIC, units.cap_public, units.cap_public,
              COMPETITION, PROFESSIONAL, units.cap_professional, units.cap_professional,
              False, *scope_params,
              units.required_public, units.required_professional, units.required_total]
    return _sql(sql), params


@dataclass
class Row:
    """One line of a completion table: a district, an employer or a series (key = its id)."""

    key: int | None
    registered: int = 0
    exempt: int = 0
    met: int = 0
    in_progress: int = 0
    not_started: int = 0
    public: Fraction = Fraction(0)
    professional: Fraction = Fraction(0)
    label: str = ""

    @property
    def must_study(self) -> int:
        return self.registered - self.exempt

    @property
    def total(self) -> Fraction:
        return self.public + self.professional

    @property
    def rate(self) -> Fraction | None:
        """Met among those who must study; None when nobody must."""
        return Fraction(self.met, self.must_study) if self.must_study else None

    def add(self, other: Row) -> None:
        for name in ("registered", "exempt", "met", "in_progress", "not_started",
                     "public", "professional"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@contextmanager
def _serial_plan():
    """Without parallel workers on PostgreSQL: its parallel plan of the grouped query repeats the
    whole per-person fold in each worker (`loops=2` under a Parallel Index Scan of person), 0.65 s
    against 0.35 s serial at city scale (docs/performance.md). SET LOCAL ends with the
    transaction."""
    if not is_postgres():
        yield
        return
    with database.atomic():
        database.execute_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def grouped(study_year: StudyYear, group: str, scope: tuple[str, int] | None = None
            ) -> dict[int | None, Row]:
    """The completion figures of every person in `scope`, folded by `group` (a column name).

    Two queries: the registered and exempt people per group from the person table, and the
    statuses of those with lines in the year; a person without lines has no hours, so is not
    started (or met, under a policy that requires nothing)."""
    units = Units.of(study_year)
    column = {"district": "district_id", "employer": "employer_id", "series": "series_id",
              "city": "NULL"}[group]
    group_by = "" if group == "city" else f"GROUP BY {column}"  # PostgreSQL refuses GROUP BY NULL
    scope_where, scope_params = "", []
    if scope is not None:
        scope_where, scope_params = f" AND {SCOPE_COLUMNS[scope[0]]} = ?", [scope[1]]
    people_sql = _sql(f"""
    SELECT {column} AS key, COUNT(*),
           SUM(CASE WHEN p.exempt OR COALESCE(s.exempt, ?) THEN 1 ELSE 0 END)
    FROM person p LEFT JOIN series s ON s.id = p.series_id
    WHERE 1 = 1{scope_where}
    {group_by.replace(column, "p." + column) if group_by else ""}""")  # noqa: S608  (fixed)
    inner, params = person_status_sql(units, study_year.year, scope, started_only=True)
    started_sql = f"""
    SELECT {column} AS key,
           SUM(CASE WHEN status <> '{EXEMPT}' THEN 1 ELSE 0 END),
           SUM(CASE WHEN status = '{MET}' THEN 1 ELSE 0 END),
           SUM(CASE WHEN status = '{IN_PROGRESS}' THEN 1 ELSE 0 END),
           SUM(CASE WHEN status = '{NOT_STARTED}' THEN 1 ELSE 0 END),
           SUM(pub), SUM(pro)
    FROM ({inner}) AS statuses
    {group_by}"""  # noqa: S608  (a column from a fixed table)
    nothing_required = (units.required_total <= 0 and units.required_public <= 0
                        and units.required_professional <= 0)
    rows = {}
    with _serial_plan():
        registered_rows = database.execute_sql(people_sql, [False, *scope_params]).fetchall()
        started_rows = database.execute_sql(started_sql, params).fetchall()
    for key, registered, exempt in registered_rows:
        row = rows[key] = Row(key, int(registered), int(exempt or 0))
        if nothing_required:  # until their lines say otherwise, as people without lines are
            row.met = row.must_study
        else:
            row.not_started = row.must_study
    for key, started, met, progress, not_started, pub, pro in started_rows:
        row = rows[key]
        if nothing_required:
            row.met -= int(started or 0)
        else:
            row.not_started -= int(started or 0)
        row.met += int(met or 0)
        row.in_progress += int(progress or 0)
        row.not_started += int(not_started or 0)
        row.public, row.professional = units.hours(pub), units.hours(pro)
    return rows


@dataclass
class PersonStatus:
    """One person's counted hours and status, as the report shows them."""

    person_id: int
    status: str
    public: Fraction
    professional: Fraction

    @property
    def total(self) -> Fraction:
        return self.public + self.professional

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def statuses(study_year: StudyYear, scope: tuple[str, int] | None, status_filter: str = ""
             ) -> list[PersonStatus]:
    """Every person's status in `scope`, optionally only one status (or NOT_MET)."""
    units = Units.of(study_year)
    inner, params = person_status_sql(units, study_year.year, scope)
    where = ""
    if status_filter == NOT_MET:
        where = f" WHERE status IN ('{IN_PROGRESS}', '{NOT_STARTED}')"
    elif status_filter in STATUS_LABELS:
        where = " WHERE status = ?"
        params = [*params, status_filter]
    sql = _sql(f"SELECT id, status, pub, pro FROM ({inner}) AS statuses{where}")  # noqa: S608
    return [PersonStatus(pid, status, units.hours(pub), units.hours(pro))
            for pid, status, pub, pro in database.execute_sql(sql, params).fetchall()]


PERSON_ORDER = "d.sort, o.name, p.real_name, p.id"


def person_rows_sql(study_year: StudyYear, scope: tuple[str, int] | None, status_filter: str = "",
                    limit: int | None = None, offset: int = 0) -> tuple[str, list]:
    """The person-by-person table: id, name, ID number, district, employer, series, counted
    public and professional units, status; ordered by district, employer and name."""
    units = Units.of(study_year)
    inner, params = person_status_sql(units, study_year.year, scope)
    where = ""
    if status_filter == NOT_MET:
        where = f" WHERE st.status IN ('{IN_PROGRESS}', '{NOT_STARTED}')"
    elif status_filter in STATUS_LABELS:
        where = " WHERE st.status = ?"
        params = [*params, status_filter]
    page = ""
    if limit is not None:
        page = " LIMIT ? OFFSET ?"
        params = [*params, limit, offset]
    sql = f"""
    SELECT p.id, p.real_name, p.id_number, d.name, o.name, s.name, st.pub, st.pro, st.status
    FROM ({inner}) AS st
    JOIN person p ON p.id = st.id
    LEFT JOIN district d ON d.id = p.district_id
    LEFT JOIN organization o ON o.id = p.employer_id
    LEFT JOIN series s ON s.id = p.series_id{where}
    ORDER BY {PERSON_ORDER}{page}"""  # noqa: S608  (fixed fragments, bound values)
    return _sql(sql), params


def people_count(scope: tuple[str, int] | None) -> int:
    """The registered people of a scope (the rows of its unfiltered person list), cheaply."""
    where, params = "", []
    if scope is not None:
        where, params = f" WHERE {SCOPE_COLUMNS[scope[0]]} = ?", [scope[1]]
    sql = _sql("SELECT COUNT(*) FROM person p" + where)  # noqa: S608  (a fixed column name)
    return database.execute_sql(sql, params).fetchone()[0]


def iterate(sql: str, params: list, batch: int = 2000):
    """Rows of a large query without holding them all: a server-side cursor on PostgreSQL
    (DECLARE ... FETCH in a transaction), the cursor itself on SQLite."""
    if is_postgres():
        with database.atomic():
            # A cursor is planned for its first rows by default (cursor_tuple_fraction 0.1);
            # an export reads them all.
            database.execute_sql("SET LOCAL cursor_tuple_fraction = 1.0")
            database.execute_sql("DECLARE xuetang_rows NO SCROLL CURSOR FOR " + sql, params)
            while chunk := database.execute_sql(f"FETCH {int(batch)} FROM xuetang_rows").fetchall():
                yield from chunk
            database.execute_sql("CLOSE xuetang_rows")
        return
    cursor = database.execute_sql(sql, params)
    while chunk := cursor.fetchmany(batch):
        yield from chunk


def raw_group_by_sql(units: Units, year: int) -> tuple[str, list]:
    """The bare GROUP BY over the ledger's lines that every figure rests on (ledger_total holds
    its result, kept as lines are written); bench/report.py times the report beside it."""
    return _sql("""SELECT person_id, source, category,
                          SUM(COALESCE(minutes, 0) * ? + COALESCE(hours, 0) * ?) AS units
                   FROM ledger_line WHERE year = ?
                   GROUP BY person_id, source, category"""), [units.minute, units.hundredth, year]
