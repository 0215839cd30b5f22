"""The employer's roster import: every row checked and shown before anything is written."""

import io

import pytest
from openpyxl import Workbook
from werkzeug.test import EnvironBuilder

from tests.conftest import csrf_from
from tests.support.sheets import excel_xlsx
from xuetang.db import database
from xuetang.models import Account, District, Organization, Person, RoleGrant
from xuetang.rules.idcard import check_char

HEADER = "姓名,身份证号,职称系列,手机号,专业\n"


def make_id(n: int, year: int = 1980) -> str:
    stem = f"370103{year}0101{n % 1000:03d}"
    return stem + check_char(stem)


JINAN_REGIONS = ("370102", "370103", "370104", "370105", "370112")


def ids(count: int, start: int = 0) -> list[str]:
    """Distinct valid ID numbers."""
    out = []
    n = start
    while len(out) < count:
        region = JINAN_REGIONS[n // 1000 % len(JINAN_REGIONS)]  # codes GB/T 2260 knows
        stem = f"{region}{1970 + n // 5000}0101{n % 1000:03d}"
        out.append(stem + check_char(stem))
        n += 1
    return out


@pytest.fixture
def employer_client(auth, client):
    auth.login("employer")
    return client


@pytest.fixture
def employer_id(app):
    with database.connection_context():
        return Organization.get(Organization.kind == "employer").id


def upload(client, org_id, data: bytes, filename="roster.csv"):
    page = client.get(f"/staff/{org_id}/import")
    token = csrf_from(page.get_data(as_text=True))
    # An explicit builder, closed after use: werkzeug spools big bodies to a temporary file.
    builder = EnvironBuilder(path=f"/staff/{org_id}/import", method="POST", data={
        "csrf_token": token, "roster": (io.BytesIO(data), filename)})
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def confirm(client, org_id, html: str):
    import re

    token = re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)
    return client.post(f"/staff/{org_id}/import/confirm",
                       data={"csrf_token": csrf_from(html), "token": token})


def count_people():
    with database.connection_context():
        return Person.select().count()


def test_csv_rows_are_checked_then_applied_on_confirm(employer_client, employer_id):
    a, b, c = ids(3, start=500)
    body = HEADER + f"甲,{a},工程技术,13900000001,建设工程\n乙,{b},不存在的系列,13900000002,\n" \
        f"丙,{c},会计,1390000,\n丁,{a},工程技术,13900000004,\n"
    before = count_people()
    preview = upload(employer_client, employer_id, body.encode())
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "1 行可导入" in html and "3 行有错误" in html
    assert "未知的职称系列“不存在的系列”" in html
    assert "手机号应为11位数字" in html
    assert "身份证号与第2行重复" in html
    assert "尚未写入任何数据" in html
    assert count_people() == before  # nothing written before confirmation
    done = confirm(employer_client, employer_id, html)
    assert done.status_code == 303
    assert count_people() == before + 1
    with database.connection_context():
        person = Person.get(Person.id_number == a)
        assert person.employer_id == employer_id and person.specialty.name == "建设工程"
        account = Account.get(Account.person == person)
        assert account.password_hash is None and account.must_change_password
        assert RoleGrant.get(RoleGrant.account == account).role == "trainee"


def test_gbk_csv_is_read(employer_client, employer_id):
    (a,) = ids(1, start=900)
    body = (HEADER + f"高强,{a},工程技术,13900000009,\n").encode("gbk")
    html = upload(employer_client, employer_id, body).get_data(as_text=True)
    assert "1 行可导入" in html and "高强" not in html.split("错误行")[-1]


def test_xlsx_with_numeric_cells_is_read(employer_client, employer_id):
    (a,) = ids(1, start=901)
    book = Workbook()
    book.active.append(["姓名", "身份证号", "职称系列", "手机号"])
    book.active.append(["钱多", a, "工程技术", 13900000010])  # Excel keeps phones as numbers
    buffer = io.BytesIO()
    book.save(buffer)
    html = upload(employer_client, employer_id, buffer.getvalue(), "r.xlsx").get_data(as_text=True)
    assert "1 行可导入" in html and "0 行有错误" in html


@pytest.mark.parametrize("data, message", [
    (b"", "文件为空"),
    (b"   \n", "文件为空"),
    ("姓名,手机号\n张三,13900000000\n".encode(), "缺少必需的列：身份证号、职称系列"),
    (HEADER.encode(), "没有数据行"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "不是XLSX或CSV表格"),
    (b"PK\x03\x04not really a zip", "无法读取该Excel文件"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "不支持旧版.xls"),
])
def test_unusable_files_get_a_clear_message_and_write_nothing(employer_client, employer_id,
                                                              data, message):
    before = count_people()
    response = upload(employer_client, employer_id, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count_people() == before


@pytest.mark.parametrize("data, message", [
    (excel_xlsx([["&a;", make_id(1), "工程技术", "13900000000"]],
                prolog='<!DOCTYPE sst [<!ENTITY a "' + "y" * 1000 + '">]>'), "DTD或实体"),
    (excel_xlsx([["x" * 100_000, make_id(1), "工程技术", "13900000000"]]), "超过1000个字符"),
    (f"{HEADER}{'x' * 200_000},{make_id(1)},工程技术,13900000000,\n".encode(), "单元格过长"),
])
def test_hostile_spreadsheets_are_refused_without_echo(employer_client, employer_id, data,
                                                       message):
    before = count_people()
    response = upload(employer_client, employer_id, data, "r.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert "yyyyyyyyyy" not in page and "xxxxxxxxxx" not in page and len(page) < 20_000
    assert count_people() == before


def test_values_echoed_in_the_error_table_are_clipped(employer_client, employer_id):
    body = f"{HEADER}{'甲' * 900},{'1' * 900},{'乙' * 900},13900000000,{'丙' * 900}\n"
    response = upload(employer_client, employer_id, body.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "1 行有错误" in page
    assert "甲" * 40 + "…" in page and "甲" * 41 not in page
    assert "乙" * 41 not in page and "*" * 41 not in page
    assert len(page) < 20_000


def test_ten_thousand_rows_with_a_few_bad_ones(employer_client, employer_id):
    good = ids(10000, start=10000)
    lines = [f"员工{i},{n},工程技术,139{i:08d}," for i, n in enumerate(good)]
    lines[17] = "员工17,37010219800101001X,工程技术,13900000017,"  # wrong check digit
    lines[4242] = f"员工4242,{good[4242][:-1]},工程技术,13900004242,"  # 17 characters
    lines[9999] = f"员工9999,{good[0]},工程技术,13900009999,"  # duplicate of row 2
    body = (HEADER + "\n".join(lines) + "\n").encode()
    before = count_people()
    html = upload(employer_client, employer_id, body).get_data(as_text=True)
    assert "9997 行可导入" in html and "3 行有错误" in html
    assert ">19<" in html and ">4244<" in html and ">10001<" in html  # row numbers as in the file
    assert count_people() == before
    assert confirm(employer_client, employer_id, html).status_code == 303
    assert count_people() == before + 9997


def test_people_already_registered_are_refused(employer_client, employer_id, app):
    a, b = ids(2, start=700)
    with database.connection_context():
        other = Organization.create(name="另一家单位", kind="employer",
                                    district=District.get(District.name == "市中区"))
        Person.create(real_name="已登记", id_number=a, phone="13900000000", employer=other)
    body = HEADER + f"已登记,{a},工程技术,13900000001,\n新人,{b},工程技术,13900000002,\n"
    html = upload(employer_client, employer_id, body.encode()).get_data(as_text=True)
    assert "该人员已由其他单位登记" in html
    confirm(employer_client, employer_id, html)
    html = upload(employer_client, employer_id, body.encode()).get_data(as_text=True)
    assert "该人员已在本单位名册中" in html and "0 行可导入" in html
    assert 'name="token"' not in html  # nothing left to confirm


def test_apply_is_all_or_nothing(employer_client, employer_id, monkeypatch):
    rows = ids(30, start=300)
    body = HEADER + "".join(f"人{i},{n},工程技术,139{i:08d},\n" for i, n in enumerate(rows))
    html = upload(employer_client, employer_id, body.encode()).get_data(as_text=True)
    before = count_people()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(RoleGrant, "insert_many", broken)
    with pytest.raises(RuntimeError):
        confirm(employer_client, employer_id, html)
    assert count_people() == before


def test_cannot_import_into_another_employer(employer_client, app):
    with database.connection_context():
        other = Organization.create(name="别家单位", kind="employer")
    (a,) = ids(1, start=800)
    before = count_people()
    response = upload(employer_client, other.id, (HEADER + f"某,{a},工程技术,13900000001,\n").encode())
    assert response.status_code == 403
    assert count_people() == before


def test_staff_list_search_returns_a_fragment_for_htmx(employer_client, employer_id):
    full = employer_client.get(f"/staff/{employer_id}/people")
    assert "<html" in full.get_data(as_text=True)
    assert "王建华" in full.get_data(as_text=True)
    part = employer_client.get(f"/staff/{employer_id}/people?q=李", headers={"HX-Request": "true"})
    text = part.get_data(as_text=True)
    assert "<html" not in text and "李秀梅" in text and "王建华" not in text
    assert "HX-Request" in part.headers["Vary"]
    # ID numbers are masked in the list.
    assert "370102********" in text


def test_edit_person_validates_and_saves(employer_client, employer_id, app):
    with database.connection_context():
        person = Person.get(Person.real_name == "王建华")
    url = f"/staff/{employer_id}/people/{person.id}/edit"
    token = csrf_from(employer_client.get(url).get_data(as_text=True))
    bad = employer_client.post(url, data={"csrf_token": token, "real_name": "王建华",
                                          "phone": "123", "series": person.series_id})
    assert bad.status_code == 400 and "手机号应为11位数字" in bad.get_data(as_text=True)
    good = employer_client.post(url, data={"csrf_token": token, "real_name": "王建华",
                                           "phone": "13700000000", "series": person.series_id})
    assert good.status_code == 303
    with database.connection_context():
        assert Person.get_by_id(person.id).phone == "13700000000"


def test_template_downloads(employer_client):
    xlsx = employer_client.get("/staff/template.xlsx")
    assert xlsx.data.startswith(b"PK") and "attachment" in xlsx.headers["Content-Disposition"]
    csv_file = employer_client.get("/staff/template.csv")
    assert csv_file.data.decode("utf-8-sig").startswith("姓名,身份证号,职称系列,手机号")
    assert csv_file.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two


def test_trainee_cannot_open_staff_pages(auth, client, employer_id, trainee_id):
    auth.login(trainee_id)
    assert client.get(f"/staff/{employer_id}/people").status_code == 403
