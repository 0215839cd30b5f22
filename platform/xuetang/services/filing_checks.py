"""Reading a filed roster and checking every row: nothing is written here.

Each row is checked on its own (ID number, known person, series, numbers, dates), then against
the rest of the file (duplicates), earlier filings (duplicates) and the person's competition hours
already on the ledger (what the cap lets through). The whole file comes back with every problem on
its row.
"""

import io
from dataclasses import dataclass, field
from decimal import Decimal

from openpyxl import load_workbook
from peewee import fn

from xuetang.models import Filing, FilingRow, LedgerLine, Person, Series, StudyYear
from xuetang.models.filings import HOLDING
from xuetang.rules import filings as rules
from xuetang.rules.annual import COMPETITION, PROFESSIONAL, PUBLIC, SEMINAR
from xuetang.rules.filings import RowError
from xuetang.rules.idcard import IdNumberError, mask, normalize
from xuetang.services.spreadsheets import read_sheet

COMMON = {
    "name": ("姓名",),
    "id_number": ("身份证号", "身份证号码", "公民身份号码"),
    "series": ("职称系列", "系列"),
}
# Per kind: the columns besides COMMON, as (key, accepted headers); the first header is the
# template's. Order is the template's column order.
KIND_COLUMNS = {
    SEMINAR: [("activity", ("研修项目", "项目名称")),
              ("certificate", ("证书编号", "继续教育证书编号")),
              ("day", ("开始日期", "日期")),
              ("days", ("天数", "研修天数"))],
    COMPETITION: [("activity", ("竞赛名称", "比赛名称", "项目名称")),
                  ("day", ("比赛日期", "日期")),
                  ("public", ("公需学时",)),
                  ("professional", ("专业学时",))],
    rules.REGISTERED_QUALIFICATION: [("activity", ("资格名称", "项目名称")),
                                     ("day", ("培训日期", "日期")),
                                     ("professional", ("专业学时", "学时"))],
    rules.FILING_SERIES: [("activity", ("培训项目", "项目名称")),
                          ("day", ("培训日期", "日期")),
                          ("professional", ("专业学时", "学时"))],
}
EXAMPLES = {
    SEMINAR: ["新一代信息技术高级研修班", "JNZS2021-0001", "2021-09-06", "5"],
    COMPETITION: ["济南市软件开发技能竞赛", "2021-10-16", "5", "20"],
    rules.REGISTERED_QUALIFICATION: ["一级注册建造师继续教育", "2021-09-20", "24"],
    rules.FILING_SERIES: ["2021年度卫生专业技术人员继续教育", "2021-11-30", "60"],
}
LOOKUP_CHUNK = 500


def required_columns(kind: str) -> dict[str, tuple[str, ...]]:
    return {**COMMON, **dict(KIND_COLUMNS[kind])}


def template_headers(kind: str) -> list[str]:
    return [names[0] for names in COMMON.values()] + [names[0] for _, names in KIND_COLUMNS[kind]]


def template_example(kind: str) -> list[str]:
    return ["张三", "370102199001011237", "工程技术"] + EXAMPLES[kind]


@dataclass
class CheckedRow:
    number: int
    name: str
    id_number: str  # normalized when valid, else as given
    series_name: str
    activity: str
    certificate: str = ""
    day: object = None  # datetime.date once read
    days: int | None = None
    public: Decimal = Decimal(0)
    professional: Decimal = Decimal(0)
    counted_public: Decimal = Decimal(0)
    counted_professional: Decimal = Decimal(0)
    person_id: int | None = None
    key: str = ""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)


@dataclass
class FilingCheck:
    kind: str
    year: int
    rows: list[CheckedRow]
    notice: str = ""  # about the file as a whole (an ignored extra sheet)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(row.ok for row in self.rows)

    @property
    def invalid(self) -> list[CheckedRow]:
        return [row for row in self.rows if not row.ok]

    def total(self, name: str) -> Decimal:
        return sum((getattr(row, name) for row in self.rows if row.ok), Decimal(0))


def extra_sheets_notice(data: bytes) -> str:
    """For an XLSX with more than one sheet: which one was read (the reader takes the first)."""
    if not data.startswith(b"PK\x03\x04"):
        return ""
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        names = book.sheetnames
    finally:
        book.close()
    if len(names) < 2:
        return ""
    return (f"文件含{len(names)}个工作表，只读取了第一个工作表“{names[0]}”，"
            f"其余（{'、'.join(names[1:])}）未读取")


def without_stray_bom(data: bytes) -> bytes:
    """A GBK CSV that some editors saved with a UTF-8 byte-order mark in front: drop the mark, or
    it would be read as two GBK characters glued to the first header."""
    bom = b"\xef\xbb\xbf"
    if not data.startswith(bom):
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data[len(bom):]
    return data


def read_filing(data: bytes, kind: str, study_year: StudyYear) -> FilingCheck:
    """Read the file and check every row (SpreadsheetError when the file as a whole is unusable)."""
    sheet = read_sheet(without_stray_bom(data), required_columns(kind))
    cells = [(number, values) for number, values in sheet.rows]
    check = check_rows(cells, kind, study_year)
    check.notice = extra_sheets_notice(data)
    return check


def _parse(row: CheckedRow, values: dict, kind: str, study_year: StudyYear) -> None:
    policy = study_year.as_policy()
    if not row.name:
        row.errors.append("姓名为空")
    try:
        row.id_number = normalize(row.id_number)
    except IdNumberError as err:
        row.errors.append(str(err))
    if not row.activity:
        row.errors.append("项目名称为空")
    elif len(row.activity) > 200:
        row.errors.append("项目名称过长（最多200字）")
    try:
        row.day = rules.check_in_year(rules.parse_date(values.get("day", "")), study_year.year)
    except RowError as err:
        row.errors.append(str(err))
    try:
        if kind == SEMINAR:
            if not row.certificate:
                row.errors.append("证书编号为空（高级研修须有《专业技术人员继续教育证书》编号）")
            row.days = rules.parse_days(values.get("days", ""))
            row.professional = rules.seminar_row_hours(policy, row.days)
        else:
            row.professional = rules.check_hours_sane(
                rules.parse_hours(values.get("professional", ""), "专业学时"), PROFESSIONAL, policy)
            if kind == COMPETITION:
                row.public = rules.check_hours_sane(
                    rules.parse_hours(values.get("public", ""), "公需学时"), PUBLIC, policy)
            if row.public + row.professional <= 0:
                row.errors.append("学时应大于0")
    except RowError as err:
        row.errors.append(str(err))


def _chunks(items: list):
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start:start + LOOKUP_CHUNK]


def _people(id_numbers: list[str]) -> dict[str, Person]:
    found = {}
    for chunk in _chunks(id_numbers):
        for person in Person.select().where(Person.id_number.in_(chunk)):
            found[person.id_number] = person
    return found


def _held_keys(keys: list[str], exclude_filing: int | None) -> dict[str, str]:
    """Row keys already held by a submitted or approved filing -> that filing's reference."""
    held = {}
    for chunk in _chunks(keys):
        query = (FilingRow.select(FilingRow.key, Filing.reference)
                 .join(Filing)
                 .where(FilingRow.key.in_(chunk) & Filing.status.in_(HOLDING)))
        if exclude_filing is not None:
            query = query.where(Filing.id != exclude_filing)
        held.update(dict(query.tuples()))
    return held


def _competition_on_ledger(person_ids: list[int], year: int) -> dict[tuple[int, str], Decimal]:
    """The competition hours already on each person's ledger this year, per category."""
    totals = {}
    for chunk in _chunks(person_ids):
        query = (LedgerLine.select(LedgerLine.person, LedgerLine.category,
                                   fn.SUM(LedgerLine.hours).coerce(False))
                 .where(LedgerLine.person.in_(chunk) & (LedgerLine.year == year)
                        & (LedgerLine.source == COMPETITION))
                 .group_by(LedgerLine.person, LedgerLine.category))
        for person_id, category, hundredths in query.tuples():
            totals[(person_id, category)] = Decimal(int(hundredths or 0)).scaleb(-2)
    return totals


def check_rows(cells: list[tuple[int, dict]], kind: str, study_year: StudyYear,
               exclude_filing: int | None = None) -> FilingCheck:
    """Check every row of a filing (the cells as text) for `kind` in `study_year`."""
    rows = []
    for number, values in cells:
        row = CheckedRow(number, values.get("name", "").strip(), values.get("id_number", ""),
                         values.get("series", "").strip(), values.get("activity", "").strip(),
                         certificate=values.get("certificate", "").strip())
        _parse(row, values, kind, study_year)
        rows.append(row)
    valid_ids = [row.id_number for row in rows if len(row.id_number) == 18]
    people = _people(sorted(set(valid_ids)))
    series = {s.id: s for s in Series.select()}
    series_named = {s.name: s for s in series.values()}
    first_seen: dict[str, int] = {}
    certificates: dict[str, tuple[str, int]] = {}
    for row in rows:
        person = people.get(row.id_number)
        if person is None:
            if any("身份证号" in e for e in row.errors):
                continue
            if not _registrable(row, kind, series_named.get(row.series_name)):
                continue
        else:
            row.person_id = person.id
            _matches_person(row, kind, person, series.get(person.series_id))
        if row.day is not None:
            row.key = rules.row_key(kind, study_year.year, row.id_number, row.activity, row.day,
                                    row.certificate)
            if row.key in first_seen:
                row.errors.append(f"与第{first_seen[row.key]}行重复")
            else:
                first_seen[row.key] = row.number
        if kind == SEMINAR and row.certificate:
            # One certificate belongs to one person: the same number for another is a mistake.
            holder = certificates.setdefault(row.certificate.upper(), (row.id_number, row.number))
            if holder[0] != row.id_number:
                row.errors.append(f"证书编号与第{holder[1]}行（另一人）相同")
    held = _held_keys(list(first_seen), exclude_filing)
    for row in rows:
        if row.key and row.key in held and first_seen.get(row.key) == row.number:
            row.errors.append(f"已在备案{held[row.key]}中报送，不能重复备案")
    _count(rows, kind, study_year)
    return FilingCheck(kind, study_year.year, rows)


def _registrable(row: CheckedRow, kind: str, named) -> bool:
    """An unregistered person may be filed in a filing-mode roster: approval registers them."""
    if kind != rules.FILING_SERIES:
        row.errors.append("未找到该身份证号的实名登记人员，请先由用人单位导入名册")
        return False
    if named is None:
        row.errors.append("该人员尚未实名登记，且职称系列为空或未知，无法登记")
        return False
    reason = rules.series_fits(kind, named.filing_mode, named.exempt)
    if reason:
        row.errors.append(reason)
        return False
    row.notes.append("该人员尚未实名登记，审核通过时将登记")
    return True


def _matches_person(row: CheckedRow, kind: str, person: Person, registered) -> None:
    """A registered person's row must agree with the registry and fit the kind."""
    if row.name and row.name != person.real_name:
        row.errors.append("姓名与该身份证号登记的姓名不一致")
    if row.series_name and registered and row.series_name != registered.name:
        row.errors.append(f"职称系列与登记信息（{registered.name}）不一致")
    reason = rules.series_fits(kind, bool(registered and registered.filing_mode),
                               person.is_exempt)
    if reason:
        row.errors.append(reason)


def _count(rows: list[CheckedRow], kind: str, study_year: StudyYear) -> None:
    """How much of each good row will count: competitions share the person's yearly cap."""
    if kind != COMPETITION:
        for row in rows:
            row.counted_public, row.counted_professional = row.public, row.professional
        return
    policy = study_year.as_policy()
    done = _competition_on_ledger(sorted({r.person_id for r in rows if r.person_id}),
                                  study_year.year)
    for row in rows:
        if not row.ok:
            continue
        public_key, professional_key = (row.person_id, PUBLIC), (row.person_id, PROFESSIONAL)
        counted = rules.competition_counts(policy, done.get(public_key, Decimal(0)),
                                           done.get(professional_key, Decimal(0)),
                                           row.public, row.professional)
        row.counted_public, row.counted_professional = counted.public, counted.professional
        if counted.note:
            row.notes.append(counted.note)
        # Later rows of the file see this one's filed hours (the cap applies to what is filed).
        done[public_key] = done.get(public_key, Decimal(0)) + row.public
        done[professional_key] = done.get(professional_key, Decimal(0)) + row.professional


def stored_cells(row: FilingRow) -> dict[str, str]:
    """A stored row as the cells it was read from."""
    return {"name": row.name, "id_number": row.id_number, "series": row.series_name,
            "activity": row.activity, "certificate": row.certificate,
            "day": row.day.isoformat(), "days": str(row.days or ""),
            "public": str(row.public_hours), "professional": str(row.professional_hours)}


def recheck(filing: Filing) -> FilingCheck:
    """Check a stored filing's rows again against today's registry and other filings."""
    cells = [(row.number, stored_cells(row))
             for row in FilingRow.select().where(FilingRow.filing == filing)
             .order_by(FilingRow.number)]
    return check_rows(cells, filing.kind, StudyYear.for_year(filing.year),
                      exclude_filing=filing.id)
