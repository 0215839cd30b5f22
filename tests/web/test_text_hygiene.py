"""Issue 10, Low 13: names and titles lose control and bidi characters on the way in, and every
export the platform writes escapes cells a spreadsheet program would run as a formula."""

import io

from openpyxl import load_workbook

from tests.conftest import Auth, csrf_from
from tests.web.test_staff_roster import HEADER, confirm, ids, upload
from xuetang.db import database
from xuetang.models import Course, Lesson, Organization, Person, Series
from xuetang.services.accounts import create_staff_account

SPOOFED = "张\u202e三\x07"  # a right-to-left override and a bell


def test_a_roster_import_stores_names_without_control_and_bidi_characters(auth, client):
    auth.login("employer")
    with database.connection_context():
        employer_id = Organization.get(Organization.kind == "employer").id
    (number,) = ids(1, start=700)
    body = HEADER + f"{SPOOFED},{number},工程技术,13900000001,\n"
    preview = upload(client, employer_id, body.encode())
    assert "1 行可导入" in preview.get_data(as_text=True)
    assert confirm(client, employer_id, preview.get_data(as_text=True)).status_code == 303
    with database.connection_context():
        assert Person.get(Person.id_number == number).real_name == "张三"


def test_a_person_edit_stores_the_name_without_them(auth, client):
    auth.login("employer")
    with database.connection_context():
        person = Person.get(Person.real_name == "王建华")
    url = f"/staff/{person.employer_id}/people/{person.id}/edit"
    token = csrf_from(client.get(url).get_data(as_text=True))
    saved = client.post(url, data={"csrf_token": token, "real_name": "王\u202e建华\x1b",
                                   "phone": "13700000000", "series": person.series_id})
    assert saved.status_code == 303
    with database.connection_context():
        assert Person.get_by_id(person.id).real_name == "王建华"


def test_course_and_lesson_titles_are_stored_without_them(auth, client):
    auth.login("uploader")
    token = auth.csrf("/courses/new")
    with database.connection_context():
        series = Series.get(Series.name == "工程技术").id
    reply = client.post("/courses/new", data={
        "csrf_token": token, "title": "云计算\u202e安全\x00", "description": "第一段\n第二段\u2066",
        "category": "professional", "series": [str(series)], "declared_hours": "2"})
    assert reply.status_code == 303
    course_id = int(reply.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/courses/{course_id}/lessons",
                data={"csrf_token": token, "title": "\u202e第一讲\x07"})
    with database.connection_context():
        course = Course.get_by_id(course_id)
        assert (course.title, course.description) == ("云计算安全", "第一段\n第二段")
        assert [lesson.title for lesson in Lesson.select().where(Lesson.course == course)] \
            == ["第一讲"]


def test_the_activation_sheet_escapes_a_formula_like_name(app):
    name = '=HYPERLINK("http://evil.example","点此")'
    with app.app_context(), database.connection_context():
        employer = Organization.get(Organization.kind == "employer")
        person = Person.create(real_name=name, id_number="11010519491231002X",
                               phone="13900000000", series=Series.get(Series.name == "工程技术"),
                               employer=employer)
        create_staff_account(person)
    admin = app.test_client()
    Auth(admin).login("employer")
    page = admin.get(f"/staff/{employer.id}/activation").get_data(as_text=True)
    response = admin.post(f"/staff/{employer.id}/activation", data={"csrf_token": csrf_from(page)})
    cells = [row[0] for row in load_workbook(io.BytesIO(response.data)).active.iter_rows(min_row=2)]
    (cell,) = [c for c in cells if "HYPERLINK" in str(c.value)]
    assert cell.data_type == "s" and cell.value == "'" + name


def test_templates_escape_every_cell(app):
    from xuetang.services.spreadsheets import csv_bytes, xlsx_bytes

    rows = [["姓名", "备注"], ["=1+1", "-2"], ["@SUM(A1)", "张三"]]
    text = csv_bytes(rows).decode("utf-8-sig").splitlines()
    assert text == ["姓名,备注", "'=1+1,'-2", "'@SUM(A1),张三"]
    sheet = load_workbook(io.BytesIO(xlsx_bytes(rows))).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == \
        [["姓名", "备注"], ["'=1+1", "'-2"], ["'@SUM(A1)", "张三"]]
