"""The employer's real-name staff roster: check every row, show all errors, then apply or not."""

from dataclasses import dataclass, field

from xuetang.db import database
from xuetang.models import Account, Organization, Person, Series, Specialty
from xuetang.rules.idcard import IdNumberError, mask, normalize
from xuetang.services import accounts
from xuetang.services.people import NAME_MAX, PHONE, PHONE_ERROR
from xuetang.services.spreadsheets import clip, read_sheet, template_csv, template_xlsx

REQUIRED = {
    "name": ("姓名",),
    "id_number": ("身份证号", "身份证号码", "公民身份号码"),
    "series": ("职称系列", "系列"),
    "phone": ("手机号", "手机号码", "联系电话"),
}
OPTIONAL = {"specialty": ("专业", "专业方向")}
TEMPLATE_HEADERS = ["姓名", "身份证号", "职称系列", "手机号", "专业"]
TEMPLATE_EXAMPLE = ["张三", "370102199001011237", "工程技术", "13800000000", "建设工程"]
TEMPLATE_MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@dataclass
class RosterRow:
    number: int
    name: str
    id_number: str  # normalized when valid, else as given
    series_name: str
    phone: str
    specialty_name: str
    errors: list[str] = field(default_factory=list)
    series_id: int | None = None
    specialty_id: int | None = None
    existing_person_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def masked_id(self) -> str:
        return clip(mask(self.id_number))

    @property
    def shown_name(self) -> str:
        """The name as the error table echoes it: cut short, however long the cell was."""
        return clip(self.name)


@dataclass
class RosterCheck:
    rows: list[RosterRow]

    @property
    def valid(self) -> list[RosterRow]:
        return [r for r in self.rows if r.ok]

    @property
    def invalid(self) -> list[RosterRow]:
        return [r for r in self.rows if not r.ok]


def _lookup_people(id_numbers: list[str]) -> dict[str, Person]:
    found = {}
    for start in range(0, len(id_numbers), 500):
        chunk = id_numbers[start:start + 500]
        for person in Person.select().where(Person.id_number.in_(chunk)):
            found[person.id_number] = person
    return found


def check_roster(data: bytes, employer: Organization) -> RosterCheck:
    """Read and check every row; raises SpreadsheetError when the file as a whole is unusable."""
    sheet = read_sheet(data, REQUIRED, OPTIONAL)
    series = {s.name: s for s in Series.select()}
    specialties = {(sp.series_id, sp.name): sp.id for sp in Specialty.select()}
    rows: list[RosterRow] = []
    first_seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        row = RosterRow(number, cells["name"], cells["id_number"], cells["series"],
                        cells["phone"].replace(" ", ""), cells.get("specialty", ""))
        if not row.name:
            row.errors.append("姓名为空")
        elif len(row.name) > NAME_MAX:
            row.errors.append("姓名过长")
        try:
            row.id_number = normalize(row.id_number)
        except IdNumberError as err:
            row.errors.append(str(err))
        else:
            if row.id_number in first_seen:
                row.errors.append(f"身份证号与第{first_seen[row.id_number]}行重复")
            else:
                first_seen[row.id_number] = number
        if row.series_name not in series:
            row.errors.append(f"未知的职称系列“{clip(row.series_name)}”" if row.series_name
                              else "职称系列为空")
        else:
            row.series_id = series[row.series_name].id
            if row.specialty_name:
                row.specialty_id = specialties.get((row.series_id, row.specialty_name))
                if row.specialty_id is None:
                    row.errors.append(
                        f"系列“{row.series_name}”下没有专业“{clip(row.specialty_name)}”")
        if not PHONE.match(row.phone):
            row.errors.append(PHONE_ERROR)
        rows.append(row)
    existing = _lookup_people([r.id_number for r in rows if r.id_number in first_seen])
    for row in rows:
        person = existing.get(row.id_number)
        if person is None or first_seen.get(row.id_number) != row.number:
            continue
        if person.employer_id == employer.id:
            row.errors.append("该人员已在本单位名册中")
        elif person.employer_id is not None:
            row.errors.append("该人员已由其他单位登记，需原单位调出后才能导入")
        else:
            row.existing_person_id = person.id
    return RosterCheck(rows)


def apply_roster(check: RosterCheck, employer: Organization) -> int:
    """Write every valid row in one transaction (all or none); returns how many were applied."""
    valid = check.valid
    if not valid:
        return 0
    exempt_series = {s.id for s in Series.select().where(Series.exempt == True)}  # noqa: E712
    with database.atomic():
        new_rows = [r for r in valid if r.existing_person_id is None]
        for start in range(0, len(new_rows), 200):
            Person.insert_many([
                {"real_name": r.name, "id_number": r.id_number, "phone": r.phone,
                 "series": r.series_id, "specialty": r.specialty_id, "employer": employer.id,
                 "district": employer.district_id, "exempt": r.series_id in exempt_series}
                for r in new_rows[start:start + 200]
            ]).execute()
        for r in valid:
            if r.existing_person_id is not None:
                Person.update(employer=employer.id, district=employer.district_id,
                              series=r.series_id, specialty=r.specialty_id, phone=r.phone,
                              ).where(Person.id == r.existing_person_id).execute()
        people = _lookup_people([r.id_number for r in valid])
        with_account = {
            a.person_id for a in Account.select(Account.person)
            .where(Account.person.in_([p.id for p in people.values()]))
        }
        accounts.create_staff_accounts([p for p in people.values() if p.id not in with_account])
    return len(valid)


def roster_template(kind: str) -> tuple[bytes, str]:
    """The roster template to fill in, as `kind` (xlsx or csv) bytes and its MIME type."""
    make = template_xlsx if kind == "xlsx" else template_csv
    return make(TEMPLATE_HEADERS, TEMPLATE_EXAMPLE), TEMPLATE_MIMETYPES[kind]
