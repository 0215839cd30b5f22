"""The public home page at / for a visitor: published notices and study guides (series, office,
Beijing date, a link that opens without sign-in), sign-in and certificate verification; a
signed-in account keeps its role home."""

import datetime as dt
import re

from xuetang.models import Notice, Organization, Series

ENGINEERING = "关于做好2021年度工程技术系列专业科目继续教育的通知"


def _draft(title="尚未发布的草稿通知") -> Notice:
    office = Organization.get(Organization.name == "工程技术职称评审委员会办事机构")
    return Notice.create(series=Series.get(Series.name == "工程技术"), year=2021, kind="notice",
                         organization=office, title=title, body_md="草稿", body_html="<p>草稿</p>")


def test_visitor_sees_published_notices_with_series_office_and_beijing_date(client, db):
    _draft()
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "学堂继续教育平台" in page
    notice = Notice.get(Notice.title == ENGINEERING)
    row = re.search(rf'<li><a href="/notices/{notice.id}">{ENGINEERING}</a>.*?</li>', page, re.S)
    assert row, page
    assert "工程技术" in row.group(0) and "工程技术职称评审委员会办事机构" in row.group(0)
    assert "发布于 <time datetime=\"2021-08-03\">2021-08-03</time>" in row.group(0)
    assert "学习指南" in page and "关于2021年度卫生技术系列专业科目继续教育的通知" in page
    assert "尚未发布的草稿通知" not in page
    assert 'href="/auth/signin"' in page and 'action="/verify"' in page


def test_the_beijing_date_is_the_local_day_not_the_utc_one(client, db):
    notice = Notice.get(Notice.title == ENGINEERING)
    notice.first_published_at = dt.datetime(2021, 8, 4, 17, 30)  # 2021-08-05 01:30 in Beijing
    notice.save()
    assert '<time datetime="2021-08-05">' in client.get("/").get_data(as_text=True)


def test_public_home_is_small_one_stylesheet_and_no_script(client):
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert page.count('rel="stylesheet"') == 1 and "<script" not in page
    assert len(response.data) < 12 * 1024  # a 2G phone: the page itself stays a few KB


def test_visitor_opens_a_listed_notice_without_signing_in(client, db):
    page = client.get("/").get_data(as_text=True)
    link = re.search(r'<li><a href="(/notices/\d+)">', page).group(1)
    notice = client.get(link)
    assert notice.status_code == 200 and "<h1>" in notice.get_data(as_text=True)


def test_a_withdrawn_notice_leaves_the_public_home(client, db):
    notice = Notice.get(Notice.title == ENGINEERING)
    notice.published = False
    notice.save()
    assert ENGINEERING not in client.get("/").get_data(as_text=True)
    assert client.get(f"/notices/{notice.id}").status_code == 404


def test_signed_in_accounts_keep_their_role_home(client, auth):
    auth.login("city")
    page = client.get("/").get_data(as_text=True)
    assert "全市概况" in page and 'id="public-home"' not in page


def test_verification_form_goes_on_to_the_code_address(client):
    response = client.get("/verify?code=abcd-efgh-jkmn-pqrs")
    assert response.status_code == 303 and response.headers["Location"] == "/verify/ABCDEFGHJKMNPQRS"
    odd = client.get("/verify?code=12/../x")
    assert odd.status_code == 303 and odd.headers["Location"] == "/verify/12x"
    assert client.get(odd.headers["Location"]).status_code == 404  # the page says it is malformed
    empty = client.get("/verify?code=")
    assert empty.status_code == 303 and empty.headers["Location"] == "/"
