"""The filings area over HTTP: upload with an htmx preview, submit, review, the year page."""

import io
import re

import pytest
from werkzeug.test import EnvironBuilder

from tests.conftest import Auth, csrf_from
from tests.support.filings import person_id, roster_csv
from xuetang.db import database
from xuetang.models import Filing, LedgerLine, Person
from xuetang.rules.annual import FILING_SERIES, SEMINAR


@pytest.fixture
def industry(app, client, clock):
    Auth(client).login("industry")
    return client


def post_upload(client, kind, data, htmx=True, filename="名册.csv"):
    page = client.get(f"/filings/new/{kind}")
    token = csrf_from(page.get_data(as_text=True))
    builder = EnvironBuilder(path=f"/filings/new/{kind}", method="POST", data={
        "csrf_token": token, "year": "2021", "roster": (io.BytesIO(data), filename)},
        headers={"HX-Request": "true"} if htmx else {})
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def ids():
    with database.connection_context():
        return person_id("张志强"), person_id("王建华")


def test_htmx_upload_answers_the_preview_fragment_with_every_row(industry):
    zhang, wang = ids()
    data = roster_csv(FILING_SERIES, [
        ["张志强", zhang, "卫生技术", "卫生继续教育", "2021-09-01", "20"],
        ["王建华", wang, "工程技术", "卫生继续教育", "2021-09-01", "20"],
        ["张志强", zhang[:17] + ("1" if zhang[17] != "1" else "2"), "卫生技术", "x", "2021-09-01",
         "2"],
    ])
    with database.connection_context():
        before = Filing.select().count()
    response = post_upload(industry, FILING_SERIES, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert 'id="preview"' in html and "1 行通过" in html and "2 行有问题" in html
    assert "不是备案方式管理的系列" in html and "校验位错误" in html
    assert "尚未保存任何数据" in html and "提交审核" not in html
    with database.connection_context():
        assert Filing.select().count() == before


def test_a_clean_file_is_submitted_then_approved_and_shows_on_the_year_page(app, industry):
    zhang, _ = ids()
    data = roster_csv(FILING_SERIES, [["张志强", zhang, "卫生技术", "卫生继续教育", "2021-09-01",
                                       "20"]])
    html = post_upload(industry, FILING_SERIES, data, htmx=False).get_data(as_text=True)
    assert "<html" in html and "提交审核" in html
    submit_url = re.search(r'action="(/filings/\d+/submit)"', html).group(1)
    filing_id = int(submit_url.split("/")[2])
    # CSRF on every POST.
    assert industry.post(submit_url).status_code == 400
    done = industry.post(submit_url, data={"csrf_token": csrf_from(html)})
    assert done.status_code == 303
    listing = industry.get("/filings/").get_data(as_text=True)
    assert "待审核" in listing and "20.00" in listing
    assert "已通过 3 件，共 3 人次，填报公需 8.00 学时、专业 48.00 学时" in listing  # the demo's

    reviewer = app.test_client()
    Auth(reviewer).login("city")
    queue = reviewer.get("/filings/").get_data(as_text=True)
    with database.connection_context():
        reference = Filing.get_by_id(filing_id).reference
        waiting = Filing.select().where(Filing.status == "submitted",
                                        Filing.district.is_null()).count()
    assert f"待审核备案（{waiting}）" in queue and reference in queue
    page = reviewer.get(f"/filings/{filing_id}").get_data(as_text=True)
    approved = reviewer.post(f"/filings/{filing_id}/approve",
                             data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "已审核通过，学时已计入" in approved.get_data(as_text=True)
    again = reviewer.post(f"/filings/{filing_id}/approve", data={"csrf_token": csrf_from(page)},
                          follow_redirects=True)
    assert "学时不会重复计入" in again.get_data(as_text=True)
    assert "北京时间" in again.get_data(as_text=True)

    trainee = app.test_client()
    Auth(trainee).login(zhang)
    year = trainee.get("/study/year/2021").get_data(as_text=True)
    filed = year[year.index('id="filed"'):]
    assert "行业备案" in filed and "20.00" in filed and "济南市卫生健康委员会" in filed
    with database.connection_context():
        assert LedgerLine.select().where(LedgerLine.person == Person.get(
            Person.id_number == zhang), LedgerLine.year == 2021).count() == 1
    assert reference in filed


def test_an_unreadable_file_and_the_wrong_kind(industry):
    response = post_upload(industry, FILING_SERIES, b"\xd0\xcf\x11\xe0 old excel", htmx=False)
    assert response.status_code == 400 and "不支持旧版.xls格式" in response.get_data(as_text=True)
    # htmx swaps this endpoint's 4xx answers (base.html's htmx-config): the preview fragment
    # carries the message, with the refusal's own status.
    fragment = post_upload(industry, FILING_SERIES, b"\xd0\xcf\x11\xe0 old excel")
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 400 and "<html" not in html and "不支持旧版.xls格式" in html
    assert industry.get(f"/filings/new/{SEMINAR}").status_code == 403  # a CE base files those
    assert industry.get("/filings/new/nonsense").status_code == 404


def test_templates_have_chinese_headers(industry):
    response = industry.get("/filings/template/seminar.csv")
    text = response.get_data().decode("utf-8-sig")
    assert text.splitlines()[0] == "姓名,身份证号,职称系列,研修项目,证书编号,开始日期,天数"
    xlsx = industry.get("/filings/template/competition.xlsx")
    assert xlsx.status_code == 200 and xlsx.get_data().startswith(b"PK")


def test_another_filer_cannot_see_a_filing(app, industry):
    zhang, _ = ids()
    html = post_upload(industry, FILING_SERIES, roster_csv(FILING_SERIES, [
        ["张志强", zhang, "卫生技术", "卫生继续教育", "2021-09-02", "2"]])).get_data(as_text=True)
    filing_id = int(re.search(r"/filings/(\d+)/submit", html).group(1))
    other = app.test_client()
    Auth(other).login("cebase")
    assert other.get(f"/filings/{filing_id}").status_code == 404
    assert other.get(f"/filings/{filing_id}/export.csv").status_code == 404


def test_city_admin_sets_the_close_date_and_reopens(app, client, clock):
    Auth(client).login("city")
    page = client.get("/filings/years/2021").get_data(as_text=True)
    assert "2022-01-31" in page
    saved = client.post("/filings/years/2021", data={
        "csrf_token": csrf_from(page), "close_on": "2021-08-31", "reopened": "y"},
        follow_redirects=True).get_data(as_text=True)
    assert "已重新开放补报" in saved and "重新开放备案" in saved and "设置截止日期" in saved


def test_home_links_the_filings_area(app, client, clock):
    Auth(client).login("cebase")
    home = client.get("/").get_data(as_text=True)
    assert 'id="home-filings"' in home and "报送高级研修" in home
    Auth(client).logout()
    Auth(client).login("lixia")
    assert "待审核备案" in client.get("/").get_data(as_text=True)


def test_an_upload_after_the_close_date_is_refused_with_the_date(app, industry):
    import datetime as dt

    from tests.support.filings import viewer
    from xuetang.services import filing_review

    with app.app_context(), database.connection_context():
        filing_review.set_period(viewer("city"), 2021, dt.date(2021, 8, 31), False)
    zhang, _ = ids()
    response = post_upload(industry, FILING_SERIES, roster_csv(FILING_SERIES, [
        ["张志强", zhang, "卫生技术", "卫生继续教育", "2021-08-02", "2"]]))
    html = response.get_data(as_text=True)
    assert "2021年度备案已于2021-08-31截止" in html and 'id="preview"' in html


def test_reviewer_rejects_with_a_reason_and_the_filer_withdraws_an_applied_filing(app, industry):
    from xuetang.models import FilingEvent

    with database.connection_context():
        waiting = list(Filing.select().where(Filing.status == "submitted",
                                             Filing.district.is_null(),
                                             Filing.kind == "competition"))
        applied = Filing.get(Filing.status == "approved", Filing.kind == "competition")
    reviewer = app.test_client()
    Auth(reviewer).login("city")
    page = reviewer.get(f"/filings/{waiting[0].id}").get_data(as_text=True)
    token = csrf_from(page)
    empty = reviewer.post(f"/filings/{waiting[0].id}/reject", data={"csrf_token": token,
                                                                     "reason": ""},
                          follow_redirects=True).get_data(as_text=True)
    assert "请填写驳回理由" in empty
    done = reviewer.post(f"/filings/{waiting[0].id}/reject", data={
        "csrf_token": token, "reason": "比赛日期与通知不符"}, follow_redirects=True)
    assert "已驳回" in done.get_data(as_text=True) and "比赛日期与通知不符" in done.get_data(
        as_text=True)
    page = industry.get(f"/filings/{applied.id}").get_data(as_text=True)
    assert "撤回并冲正已计入的学时" in page
    withdrawn = industry.post(f"/filings/{applied.id}/withdraw", data={
        "csrf_token": csrf_from(page), "reason": "名单有误"}, follow_redirects=True)
    assert "已撤回" in withdrawn.get_data(as_text=True)
    with database.connection_context():
        assert LedgerLine.select().where(LedgerLine.evidence.contains(
            f"撤回备案{applied.reference}")).count() == 2  # public and professional lines
        assert FilingEvent.get(FilingEvent.filing == applied.id,
                               FilingEvent.action == "reversed").note == "名单有误"


def test_the_city_sees_district_filings_read_only(app, client, clock):
    with database.connection_context():
        district_filing = Filing.get(Filing.district.is_null(False))
    Auth(client).login("city")
    listing = client.get("/filings/").get_data(as_text=True)
    section = listing[listing.index('id="district-filings"'):]
    assert district_filing.reference in section and "历下区卫生健康局" in section
    page = client.get(f"/filings/{district_filing.id}").get_data(as_text=True)
    assert "审核通过并计入学时" not in page  # 历下区 reviews it
