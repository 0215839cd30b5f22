"""The course plaza: who sees which courses, filters as htmx swaps and plain links, course pages."""

import json

import pytest

from tests.support.paths import ROOT
from xuetang.models import Course, Lesson, Organization
from xuetang.seed.demo import TRAINEES, demo_id

PUBLIC = "专业技术人员职业道德与诚信建设"
IT = "新一代信息技术前沿：人工智能与大数据"
HEALTH = "医疗质量与患者安全"
DRAFT = "（草稿）继续教育基地内部课程"


def trainee(name):
    return next(demo_id(stem) for n, stem, _s, _sp in TRAINEES if n == name)


def test_trainee_sees_public_and_own_series_only(client, auth):
    auth.login(trainee("王建华"))  # 工程技术
    html = client.get("/plaza/").get_data(as_text=True)
    assert PUBLIC in html and IT in html
    assert HEALTH not in html and DRAFT not in html
    auth.logout()
    auth.login(trainee("张志强"))  # 卫生技术
    html = client.get("/plaza/").get_data(as_text=True)
    assert PUBLIC in html and HEALTH in html and IT not in html


def test_staff_see_every_published_course(client, auth):
    auth.login("employer")
    html = client.get("/plaza/").get_data(as_text=True)
    assert PUBLIC in html and IT in html and HEALTH in html and DRAFT not in html


def test_filters_are_plain_links_and_htmx_swaps(client, auth, db):
    auth.login("employer")
    from xuetang.models import Series

    it_series = Series.get(Series.name == "工程技术").id
    db.close()
    page = client.get("/plaza/").get_data(as_text=True)
    assert f'href="/plaza/?series={it_series}"' in page  # works without JS
    assert f'hx-get="/plaza/?series={it_series}"' in page
    filtered = client.get(f"/plaza/?series={it_series}")
    html = filtered.get_data(as_text=True)
    assert "<html" in html and IT in html and PUBLIC in html and HEALTH not in html
    fragment = client.get(f"/plaza/?series={it_series}&category=professional",
                          headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="plaza"' in body
    assert "HX-Request" in fragment.headers["Vary"]
    assert IT in body and PUBLIC not in body and HEALTH not in body
    public_only = client.get("/plaza/?category=public").get_data(as_text=True)
    assert PUBLIC in public_only and IT not in public_only


def test_search_by_title(client, auth):
    auth.login("employer")
    html = client.get("/plaza/", query_string={"q": "医疗"}).get_data(as_text=True)
    assert HEALTH in html and IT not in html and "匹配“医疗”" in html
    html = client.get("/plaza/", query_string={"q": "%"}).get_data(as_text=True)
    assert "共 0 门课程" in html or PUBLIC in html  # a wildcard is not a wildcard


@pytest.mark.parametrize("query", ["page=abc", "page=-3", "page=9999", "series=abc", "category=x"])
def test_odd_query_strings_still_render(client, auth, query):
    auth.login("employer")
    assert client.get(f"/plaza/?{query}").status_code == 200


def test_pagination(client, auth, db):
    org = Organization.get(Organization.kind == "ce_base")
    for i in range(12):
        Course.create(organization=org, title=f"分页测试课程{i:02d}", category="public",
                      declared_hours=1, published=True)
    db.close()
    auth.login("employer")
    first = client.get("/plaza/?q=分页测试").get_data(as_text=True)
    assert "共 12 门课程" in first and "第 1 / 2 页" in first
    assert first.count("分页测试课程") == 10
    second = client.get("/plaza/?q=分页测试&page=2", headers={"HX-Request": "true"})
    assert second.get_data(as_text=True).count("分页测试课程") == 2
    assert 'href="/plaza/?page=1&amp;q=' in second.get_data(as_text=True)


def test_course_page(client, auth, db):
    course = Course.get(Course.title == IT)
    lesson = Lesson.select().where(Lesson.course == course).first()
    poster = f"lessons/{lesson.id}/v0123456789abcdef/poster.jpg"
    (Lesson.update(status="ready", duration_ms=61_000, poster_name=poster, media_version="v0123456789abcdef")
     .where(Lesson.id == lesson.id).execute())
    db.close()
    auth.login(trainee("王建华"))
    html = client.get(f"/plaza/courses/{course.id}").get_data(as_text=True)
    assert IT in html and "课程学时 <strong>3</strong>" in html and "1:01" in html
    assert f'src="/media/lessons/{lesson.id}/poster.jpg?v=v0123456789abcdef"' in html
    assert 'loading="lazy"' in html
    assert f'href="/study/lesson/{lesson.id}"' in html  # the player (issue 4)


def test_course_page_hides_other_series_and_drafts(client, auth):
    auth.login(trainee("王建华"))
    health = Course.get(Course.title == HEALTH)
    draft = Course.get(Course.title == DRAFT)
    assert client.get(f"/plaza/courses/{health.id}").status_code == 404
    assert client.get(f"/plaza/courses/{draft.id}").status_code == 404
    assert client.get("/plaza/courses/999999").status_code == 404
    auth.logout()
    auth.login("uploader")  # another organization's draft
    assert client.get(f"/plaza/courses/{draft.id}").status_code == 404
    auth.logout()
    auth.login("cebase")  # its own draft: a preview
    assert "草稿（学员不可见）" in client.get(f"/plaza/courses/{draft.id}").get_data(as_text=True)


def test_qr_code_and_manifest(client, auth, app):
    auth.login(trainee("王建华"))
    page = client.get("/plaza/").get_data(as_text=True)
    assert 'src="/plaza/qr.svg"' in page
    qr = client.get("/plaza/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    app.config["PUBLIC_URL"] = "https://xuetang.example.cn/"
    assert client.get("/plaza/qr.svg").data != qr.data
    assert 'rel="manifest"' in page and 'rel="apple-touch-icon"' in page
    manifest = client.get("/static/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    data = json.loads(manifest.data)
    assert data["name"] == "泉城专技学堂" and data["display"] == "standalone"
    for icon in data["icons"]:
        path = ROOT / "static" / icon["src"]
        assert path.exists() and path.stat().st_size < 10_000
        size = int(icon["sizes"].split("x")[0])
        assert path.read_bytes()[16:24] == size.to_bytes(4, "big") * 2  # PNG IHDR width, height
        served = client.get(f"/static/{icon['src']}")
        assert served.status_code == 200 and served.data == path.read_bytes()
        served.close()
    manifest.close()


def test_pages_stay_small(client, auth):
    auth.login(trainee("王建华"))
    page = client.get("/plaza/")
    assert len(page.data) < 20_000
    assert "font-face" not in page.get_data(as_text=True)


def qr_svg(address: str) -> bytes:
    import io

    import qrcode
    import qrcode.image.svg

    buffer = io.BytesIO()
    qrcode.make(address, image_factory=qrcode.image.svg.SvgPathImage, border=2).save(buffer)
    return buffer.getvalue()


def test_qr_code_never_follows_an_untrusted_host_header(client, auth, app):
    auth.login(trainee("王建华"))
    session = client.get_cookie("session").value
    for host in ("evil.example", "192.168.1.20"):  # the test client sends cookies per host
        client.set_cookie("session", session, domain=host)
    forged = {"Host": "evil.example"}
    assert client.get("/plaza/qr.svg", headers=forged).status_code == 404
    assert "qr.svg" not in client.get("/plaza/", headers=forged).get_data(as_text=True)
    assert client.get("/plaza/qr.svg", headers={"Host": "192.168.1.20:8000"}).data == qr_svg(
        "http://192.168.1.20:8000/")
    app.config["PUBLIC_URL"] = "https://xuetang.example.cn/"
    assert client.get("/plaza/qr.svg", headers=forged).data == qr_svg("https://xuetang.example.cn/")


BUILDING = "建设工程绿色建造新技术"


def test_the_plaza_filters_by_specialty_too(client, auth, db):
    """Issue 9, defect 9: specialties exist (新一代信息技术, 建设工程 in 工程技术) but the plaza
    had no picker."""
    from xuetang.models import Specialty

    building = Specialty.get(Specialty.name == "建设工程").id
    db.close()
    auth.login(trainee("王建华"))  # 工程技术: the only series he sees, so its specialties show
    page = client.get("/plaza/").get_data(as_text=True)
    assert 'aria-label="专业方向"' in page and "新一代信息技术" in page
    assert f'href="/plaza/?specialty={building}"' in page
    fragment = client.get(f"/plaza/?specialty={building}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and BUILDING in body and IT not in body
    assert PUBLIC in body  # public courses count for every specialty
    auth.logout()
    auth.login("employer")  # staff: specialties appear once a series is picked
    assert 'aria-label="专业方向"' not in client.get("/plaza/").get_data(as_text=True)
    with_series = client.get(f"/plaza/?series={Specialty.get_by_id(building).series_id}"
                             f"&specialty={building}").get_data(as_text=True)
    assert BUILDING in with_series and IT not in with_series
