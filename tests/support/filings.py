"""Filed rosters made in the tests (CSV in UTF-8 or GBK, XLSX) and the accounts that file them."""

import csv
import io

from openpyxl import Workbook

from xuetang.models import Account, District, Organization, Person
from xuetang.rules.idcard import check_char
from xuetang.services.accounts import grant, hash_password
from xuetang.services.filing_checks import template_headers
from xuetang.web.access import SignedIn

PASSWORD = "Filing-pass-1"


def roster_csv(kind: str, rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(template_headers(kind))
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def roster_xlsx(kind: str, rows: list[list], extra_sheet: bool = False,
                merged_header: bool = False) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "备案名册"
    headers = template_headers(kind)
    if merged_header:
        sheet.append(["备案名册"] + [""] * (len(headers) - 1))
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    else:
        sheet.append(headers)
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("说明").append(["填表说明"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def person_id(name: str) -> str:
    return Person.get(Person.real_name == name).id_number


def new_person(n: int, name: str, series, district_name: str = "历下区") -> Person:
    """A registered person with a valid ID number built from n."""
    stem = f"37010219{70 + n // 1000 % 30:02d}0101{n % 1000:03d}"
    return Person.create(real_name=name, id_number=stem + check_char(stem), series=series,
                         district=District.get(District.name == district_name))


def filer_account(username: str, role: str, org_name: str, kind: str,
                  district_name: str | None = None) -> Account:
    """An organization and its admin account holding `role` (a district-level filer if given)."""
    district = District.get(District.name == district_name) if district_name else None
    org, _ = Organization.get_or_create(name=org_name, kind=kind, defaults={"district": district})
    account = Account.create(username=username, password_hash=hash_password(PASSWORD),
                             must_change_password=False)
    grant(account, role, organization=org)
    return account


def reviewer_account(username: str, role: str, district_name: str | None = None) -> Account:
    district = District.get(District.name == district_name) if district_name else None
    account = Account.create(username=username, password_hash=hash_password(PASSWORD),
                             must_change_password=False)
    grant(account, role, district=district)
    return account


def viewer(username: str) -> SignedIn:
    return SignedIn(Account.get(Account.username == username))
