"""The trainee's "my year" page."""


def test_year_page_shows_requirement_progress_and_sources(auth, client, trainee_id):
    auth.login(trainee_id)
    page = client.get("/study/year/2021").get_data(as_text=True)
    assert "2021 年度学时" in page
    assert "公需科目" in page and "30.00" in page
    assert "高级研修" in page and "40.00" in page
    assert "2021-12-31" in page and "逾期不再安排专业课补学" in page
    assert 'role="progressbar"' in page and ">人脸核验</a>" in page
    assert "370102********2316" in page and "370102198503122316" not in page


def test_htmx_year_switch_returns_only_the_fragment(auth, client, trainee_id):
    auth.login(trainee_id)
    part = client.get("/study/year/2021", headers={"HX-Request": "true"})
    text = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in text and 'id="year"' in text


def test_exempt_series_is_shown_as_exempt(auth, client):
    from xuetang.seed.demo import TRAINEES, demo_id

    auth.login(demo_id(TRAINEES[3][1]))
    page = client.get("/study/year").get_data(as_text=True)
    assert "不适用本年度学时要求" in page
    # Issue 9: nor the professional window, nor the face-check menu (no face checks apply).
    assert "专业课学习时间" not in page and "逾期不再安排" not in page
    assert ">人脸核验</a>" not in page


def test_unknown_year_is_404(auth, client, trainee_id):
    auth.login(trainee_id)
    assert client.get("/study/year/1999").status_code == 404


def test_trainee_sees_only_their_own_lines(auth, client):
    from xuetang.seed.demo import TRAINEES, demo_id

    auth.login(demo_id(TRAINEES[1][1]))  # 李秀梅
    page = client.get("/study/year/2021").get_data(as_text=True)
    assert "建设工程高级研修班" in page and "济南市软件开发技能竞赛" not in page


def test_year_page_figures_add_up(auth, client, db):
    """Issue 9: two public minutes showed 0.04 obtained and 29.95 missing of 30.00."""
    import re
    from decimal import Decimal

    from xuetang.models import LedgerLine, Person
    from xuetang.seed.demo import TRAINEES, demo_id

    trainee = demo_id(TRAINEES[2][1])  # 张志强: nothing on his 2021 record
    person = Person.get(Person.id_number == trainee)
    LedgerLine.append(person, 2021, "public", "online", minutes=2, evidence="线上学习：测试")
    auth.login(trainee)
    page = client.get("/study/year/2021").get_data(as_text=True)
    assert "<td>0.04</td><td>30.00</td><td>29.96</td>" in page
    figures = page[page.index("<tbody>", page.index('class="figures"')):page.index("</tbody>")]
    for row in re.findall(r"<tr><th>(.+?)</th>(.+?)</tr>", figures):
        obtained, required, missing = (Decimal(v) for v in re.findall(r"<td>([\d.]+)</td>", row[1]))
        if row[0] == "合计":  # also short when one category is, however much the other has
            assert obtained + missing >= required, row
        else:
            assert obtained + missing == required or (missing == 0 and obtained >= required), row
