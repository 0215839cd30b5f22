"""Large person-list exports as background jobs (services/exports.py): the progress page and its
polled fragment, the file read back with the same rows as the direct download, ownership,
failure, interruption and expiry. Forced onto the job path with EXPORT_BACKGROUND_ROWS = 0; the
queue runs inline in tests (HUEY_IMMEDIATE)."""

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import Auth
from xuetang.db import database
from xuetang.models import Account, Export, Organization
from xuetang.seed import demo_city
from xuetang.services import exports
from xuetang.services.accounts import grant, hash_password

YEAR = 2021


@pytest.fixture
def city(app):
    """The demo plus a small generated city; the job path for every person list."""
    with app.app_context(), database.connection_context():
        demo_city.load(dt.date(2021, 10, 1), people=120, employers=8, seed=11)
        employer = Organization.get(Organization.name == "济南泉城示范科技有限公司")
    app.config["EXPORT_BACKGROUND_ROWS"] = 0
    return {"employer": employer.id}


def _rows(data: bytes) -> list[list]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _download(client, path: str) -> bytes:
    response = client.get(path)
    try:
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.mimetype.endswith("spreadsheetml.sheet")
        return response.get_data()
    finally:
        response.close()


def _queue(client, query: str = "") -> int:
    response = client.get(f"/reports/{YEAR}/people.xlsx{query}")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return int(re.fullmatch(r"/reports/exports/(\d+)", response.headers["Location"]).group(1))


def test_city_export_runs_as_a_job_and_matches_the_direct_download(app, client, auth, city):
    auth.login("city")
    export_id = _queue(client)
    page = client.get(f"/reports/exports/{export_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="export-progress"' in html
    assert "文件已生成" in html and f'href="/reports/exports/{export_id}/file"' in html
    assert "hx-trigger" not in html  # done: the fragment stops polling
    fragment = client.get(f"/reports/exports/{export_id}", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'id="export-download"' in fragment.get_data(as_text=True)
    background = _rows(_download(client, f"/reports/exports/{export_id}/file"))
    app.config["EXPORT_BACKGROUND_ROWS"] = 10**9
    direct = _rows(_download(client, f"/reports/{YEAR}/people.xlsx"))
    assert background == direct and len(direct) > 120
    assert all("*" in row[1] for row in direct[1:])  # the city's list masks ID numbers
    export = Export.get_by_id(export_id)
    assert export.status == "done" and export.rows_written == len(direct) - 1
    assert re.fullmatch(r"[0-9a-f]{32}\.xlsx", export.file_name)
    assert (exports_folder(app) / export.file_name).is_file()
    assert not list(exports_folder(app).glob("*.part"))


def exports_folder(app) -> Path:
    return Path(app.config["MEDIA_ROOT"]) / "exports"


def test_employer_job_keeps_full_ids_and_the_status_filter(app, client, auth, city):
    auth.login("employer")
    export_id = _queue(client, f"?employer={city['employer']}&status=not_met")
    assert "未达标" in client.get(f"/reports/exports/{export_id}").get_data(as_text=True)
    background = _rows(_download(client, f"/reports/exports/{export_id}/file"))
    app.config["EXPORT_BACKGROUND_ROWS"] = 10**9
    direct = _rows(_download(client, f"/reports/{YEAR}/people.xlsx?employer={city['employer']}"
                                     "&status=not_met"))
    assert background == direct and len(direct) > 1
    assert all("*" not in row[1] for row in direct[1:])  # its own admin sees full ID numbers
    assert all(row[8] in ("学习中", "未开始") for row in direct[1:])


def _other_city_admin(app) -> Auth:
    with app.app_context(), database.connection_context():
        account = Account.create(username="city-two", password_hash=hash_password("Other-pass-1"),
                                 must_change_password=False)
        grant(account, "city_admin", organization=Organization.get(Organization.kind == "city_hr"))
    other = app.test_client()
    assert Auth(other).login("city-two", "Other-pass-1").status_code == 303
    return other


def test_only_the_owner_may_poll_or_download(app, client, auth, city):
    auth.login("city")
    export_id = _queue(client)
    other = _other_city_admin(app)  # the same role, not the owner
    assert other.get(f"/reports/exports/{export_id}").status_code == 404
    polled = other.get(f"/reports/exports/{export_id}", headers={"HX-Request": "true"})
    assert polled.status_code == 404 and "<html" not in polled.get_data(as_text=True)
    assert other.get(f"/reports/exports/{export_id}/file").status_code == 404
    employer = app.test_client()
    Auth(employer).login("employer")
    assert employer.get(f"/reports/exports/{export_id}/file").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/reports/exports/{export_id}/file").status_code == 302
    assert anonymous.get(f"/reports/exports/{export_id}",
                         headers={"HX-Request": "true"}).status_code == 401
    assert client.get(f"/reports/exports/{export_id}").status_code == 200  # the owner still can


def test_another_employers_list_is_refused_before_any_job(client, auth, city):
    auth.login("employer")
    other = (Organization.select().where((Organization.kind == "employer")
                                         & (Organization.id != city["employer"])).first())
    assert client.get(f"/reports/{YEAR}/people.xlsx?employer={other.id}").status_code == 403
    assert client.get(f"/reports/{YEAR}/people.xlsx").status_code == 403  # the city's
    assert Export.select().count() == 0


def test_a_failing_job_says_so_in_chinese_and_leaves_no_file(app, client, auth, city,
                                                             monkeypatch):
    def broken(*args):
        yield ["张三", "x", "", "", "", 0, 0, 0, "未开始"]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exports, "staff_cells", broken)
    auth.login("city")
    export_id = _queue(client)
    html = client.get(f"/reports/exports/{export_id}").get_data(as_text=True)
    assert "导出失败" in html and 'role="alert"' in html and "hx-trigger" not in html
    assert "disk on fire" not in html
    assert client.get(f"/reports/exports/{export_id}/file").status_code == 404
    assert Export.get_by_id(export_id).status == "failed"
    assert not list(exports_folder(app).glob("*"))


def test_a_job_that_stopped_reporting_shows_as_interrupted(app, client, auth, city, monkeypatch):
    monkeypatch.setattr(app.extensions["jobs"], "export", lambda export_id: None)  # never runs
    auth.login("city")
    export_id = _queue(client)
    page = client.get(f"/reports/exports/{export_id}").get_data(as_text=True)
    assert "排队等待中" in page and 'hx-trigger="every 2s"' in page
    assert f'hx-get="/reports/exports/{export_id}"' in page
    Export.update(updated_at=dt.datetime(2020, 1, 1)).where(Export.id == export_id).execute()
    page = client.get(f"/reports/exports/{export_id}").get_data(as_text=True)
    assert "导出中断" in page and "hx-trigger" not in page


def test_progress_is_reported_from_its_own_connection_while_rows_are_written(app, client, auth,
                                                                             city, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_ROWS", 7)
    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 0)  # report at every look
    seen = []
    real = exports.ProgressWriter._write

    def recording(self):
        real(self)
        seen.append(self.reports)

    monkeypatch.setattr(exports.ProgressWriter, "_write", recording)
    auth.login("city")
    export = Export.get_by_id(_queue(client))
    assert export.status == "done" and export.rows_written > 120
    assert 1 <= seen[0] <= export.rows_written // 7


def test_expired_exports_are_purged_with_their_files(app, client, auth, city):
    auth.login("city")
    export_id = _queue(client)
    export = Export.get_by_id(export_id)
    path = exports_folder(app) / export.file_name
    assert path.is_file()
    Export.update(expires_at=dt.datetime(2020, 1, 1)).where(Export.id == export_id).execute()
    assert client.get(f"/reports/exports/{export_id}/file").status_code == 404
    with app.app_context():
        assert exports.purge_expired() == 1
    assert not path.exists() and Export.get_or_none(Export.id == export_id) is None


def test_small_lists_still_stream_directly(app, client, auth, city):
    app.config["EXPORT_BACKGROUND_ROWS"] = 20_000
    auth.login("employer")
    response = client.get(f"/reports/{YEAR}/people.xlsx?employer={city['employer']}")
    try:
        assert response.status_code == 200 and response.is_streamed
    finally:
        response.close()
    assert Export.select().count() == 0
