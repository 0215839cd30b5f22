"""The city admin's audit log: every trail in one time line (certificates, notices, policy,
filings, activation codes), filtered by area, actor and Beijing-time days."""

import datetime as dt

import pytest

from xuetang.models import Account, AuditEvent, FilingEvent, Person
from xuetang.services import certificates
from xuetang.services.audit_log import Filters, log_page


def test_log_merges_every_trail_newest_first(app, db):
    with app.app_context():
        page = log_page(Filters())
    areas = {row["area"] for row in page.rows}
    # The demo issues certificates, publishes notices, files and approves, issues codes.
    assert {"学时证明", "学时备案"} <= areas
    assert page.total >= FilingEvent.select().count() + AuditEvent.select().count()
    times = [row["at"] for row in page.rows]
    assert times == sorted(times, reverse=True)
    assert all(isinstance(t, dt.datetime) for t in times)


def test_filters_by_area_actor_and_day(app, db, set_clock):
    set_clock(int(dt.datetime(2021, 9, 1, 16, 30, tzinfo=dt.UTC).timestamp() * 1000))
    with app.app_context():
        wang = Person.get(Person.real_name == "王建华")
        account = Account.get(Account.person == wang)
        certificates.issue(wang, 2021, account.id)
        only = log_page(Filters(area="certificates", actor="王建华"))
        assert [r["action"] for r in only.rows] == ["开具学时证明"]
        assert only.rows[0]["actor"] == "王建华" and "王建华" in only.rows[0]["subject"]
        # 16:30 UTC on 1 September is 00:30 on 2 September in Beijing.
        assert log_page(Filters(area="certificates", actor="王建华",
                                since=dt.date(2021, 9, 2), until=dt.date(2021, 9, 2))).total == 1
        assert log_page(Filters(area="certificates", actor="王建华",
                                until=dt.date(2021, 9, 1))).total == 0
        assert log_page(Filters(actor="nobody-like-this")).total == 0
        filings = log_page(Filters(area="filings"))
        assert filings.total == FilingEvent.select().count()
        assert {r["area"] for r in filings.rows} == {"学时备案"}


def test_policy_edit_is_in_the_log(client, auth, db):
    auth.login("city")
    token = auth.csrf("/admin/years/2021")
    response = client.post("/admin/years/2021", data={
        "csrf_token": token, "min_total_hours": "90", "min_public_hours": "30",
        "min_professional_hours": "60", "window_start": "2021-08-01",
        "window_end": "2021-12-31", "minutes_per_hour": "45", "filing_close": "2021-08-09",
        "competition_public_cap": "5", "competition_professional_cap": "30",
        "seminar_hours_per_day": "8"})
    assert response.status_code == 303
    event = AuditEvent.get(AuditEvent.area == "policy")
    assert "评委会办事机构发布指南截止日期：2021-08-06 → 2021-08-09" in event.note
    page = client.get("/admin/audit/?area=policy").get_data(as_text=True)
    assert "修改年度政策" in page and "2021 年度政策" in page


def test_city_admin_page_and_htmx_fragment(client, auth):
    auth.login("city")
    assert 'href="/admin/audit/"' in client.get("/").get_data(as_text=True)
    page = client.get("/admin/audit/")
    assert page.status_code == 200 and "操作日志" in page.get_data(as_text=True)
    part = client.get("/admin/audit/?area=filings&actor=&since=2021-01-01",
                      headers={"HX-Request": "true"})
    text = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in text and 'id="audit-log"' in text


@pytest.mark.parametrize("query", ["since=notadate", "until=2021-13-40", "area=<script>",
                                   "page=99999999999999999999999", "actor=" + "%" * 300])
def test_bad_filters_are_handled(client, auth, query):
    auth.login("city")
    response = client.get(f"/admin/audit/?{query}")
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True).split('<main id="main"')[1]
