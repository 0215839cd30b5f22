"""Course CRUD, lessons, publishing, and who manages which organization's courses."""

from decimal import Decimal

import pytest

from xuetang.models import Course, CourseSeries, Lesson, Organization, Series


@pytest.fixture
def signed_uploader(client, auth):
    auth.login("uploader")
    return auth.csrf("/courses/new")


def series_id(name):
    return Series.get(Series.name == name).id


def course_form(token, **changes):
    data = {"csrf_token": token, "title": "云计算与信息安全", "description": "简介",
            "category": "professional", "series": [str(series_id("工程技术"))],
            "declared_hours": "2.5"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_create_professional_course(client, signed_uploader, db):
    before = Course.select().count()
    reply = client.post("/courses/new", data=course_form(signed_uploader))
    assert reply.status_code == 303
    course = Course.get(Course.title == "云计算与信息安全")
    assert reply.headers["Location"] == f"/courses/{course.id}"
    assert Course.select().count() == before + 1
    assert course.declared_hours == Decimal("2.5") and not course.published
    assert course.organization.kind == "title_office"
    assert [link.series.name for link in course.series_links] == ["工程技术"]


def test_public_course_belongs_to_all_series(client, signed_uploader, db):
    reply = client.post("/courses/new", data=course_form(signed_uploader, category="public"))
    assert reply.status_code == 303
    course = Course.get(Course.title == "云计算与信息安全")
    assert course.category == "public" and list(course.series_links) == []


@pytest.mark.parametrize("changes, message", [
    ({"title": ""}, "请填写课程名称"),
    ({"title": "长" * 101}, "课程名称不超过100字"),
    ({"category": None}, "请选择科目类别"),
    ({"category": "hobby"}, "不是有效的选择"),
    ({"series": None}, "专业科目至少选择一个职称系列"),
    ({"series": ["999999"]}, "所选职称系列不存在"),
    ({"series": ["abc"]}, "选择无效"),
    ({"declared_hours": ""}, "请填写课程学时"),
    ({"declared_hours": "0"}, "课程学时应在 0.5 到 100 之间"),
    ({"declared_hours": "1000"}, "课程学时应在 0.5 到 100 之间"),
    ({"declared_hours": "1.234"}, "课程学时最多保留两位小数"),
    ({"declared_hours": "abc"}, "不是有效的小数"),
    ({"organization": "999999"}, "不是有效的选择"),
])
def test_bad_course_input_is_refused(client, signed_uploader, db, changes, message):
    before = Course.select().count()
    db.close()
    reply = client.post("/courses/new", data=course_form(signed_uploader, **changes))
    assert reply.status_code == 400
    assert message in reply.get_data(as_text=True)
    assert Course.select().count() == before


def test_edit_course_switches_series(client, signed_uploader, db):
    client.post("/courses/new", data=course_form(signed_uploader))
    course = Course.get(Course.title == "云计算与信息安全")
    db.close()
    form = client.get(f"/courses/{course.id}/edit").get_data(as_text=True)
    assert 'checked id="series-' in form and f'value="{series_id("工程技术")}"' in form
    reply = client.post(f"/courses/{course.id}/edit", data=course_form(
        signed_uploader, title="云计算（修订）", series=[str(series_id("工程技术")), str(series_id("经济"))]))
    assert reply.status_code == 303
    course = Course.get_by_id(course.id)
    assert course.title == "云计算（修订）"
    assert {link.series.name for link in course.series_links} == {"工程技术", "经济"}


def test_uploaders_see_only_their_organization(client, auth, db):
    mine = Course.get(Course.title == "新一代信息技术前沿：人工智能与大数据")
    theirs = Course.get(Course.title == "医疗质量与患者安全")
    db.close()
    auth.login("uploader")
    html = client.get("/courses/").get_data(as_text=True)
    assert mine.title in html and theirs.title not in html
    assert client.get(f"/courses/{theirs.id}").status_code == 403
    assert client.get(f"/courses/{theirs.id}/edit").status_code == 403
    token = auth.csrf("/courses/")
    assert client.post(f"/courses/{theirs.id}/publish", data={"csrf_token": token}).status_code == 403
    auth.logout()
    auth.login("city")
    html = client.get("/courses/").get_data(as_text=True)
    assert mine.title in html and theirs.title in html
    assert client.get(f"/courses/{theirs.id}").status_code == 200


def test_city_admin_chooses_the_organization(client, auth, db):
    auth.login("city")
    form = client.get("/courses/new").get_data(as_text=True)
    ce_base = Organization.get(Organization.kind == "ce_base")
    db.close()
    assert f'<option value="{ce_base.id}"' in form
    token = auth.csrf("/courses/new")
    reply = client.post("/courses/new", data=course_form(token, organization=str(ce_base.id)))
    assert reply.status_code == 303
    assert Course.get(Course.title == "云计算与信息安全").organization_id == ce_base.id


def test_lessons_add_move_delete(client, signed_uploader, db):
    client.post("/courses/new", data=course_form(signed_uploader))
    course = Course.get(Course.title == "云计算与信息安全")
    db.close()
    empty = client.post(f"/courses/{course.id}/lessons", data={"csrf_token": signed_uploader, "title": " "})
    assert empty.status_code == 400 and "请填写课时名称" in empty.get_data(as_text=True)
    long = client.post(f"/courses/{course.id}/lessons",
                       data={"csrf_token": signed_uploader, "title": "长" * 101})
    assert long.status_code == 400 and "课时名称不超过100字" in long.get_data(as_text=True)
    assert Lesson.select().where(Lesson.course == course).count() == 0
    db.close()
    for title in ("第一讲", "第二讲", "第三讲"):
        assert client.post(f"/courses/{course.id}/lessons",
                           data={"csrf_token": signed_uploader, "title": title}).status_code == 303

    def order():
        db.close()
        return [lesson.title for lesson in
                Lesson.select().where(Lesson.course == course).order_by(Lesson.position)]

    assert order() == ["第一讲", "第二讲", "第三讲"]
    third = Lesson.get(Lesson.title == "第三讲")
    db.close()
    client.post(f"/courses/lessons/{third.id}/move", data={"csrf_token": signed_uploader, "direction": "up"})
    assert order() == ["第一讲", "第三讲", "第二讲"]
    client.post(f"/courses/lessons/{third.id}/delete", data={"csrf_token": signed_uploader})
    assert order() == ["第一讲", "第二讲"]
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "待上传" in page and 'data-start-url="/courses/lessons/' in page


def test_publish_needs_every_lesson_playable(client, signed_uploader, db):
    client.post("/courses/new", data=course_form(signed_uploader))
    course = Course.get(Course.title == "云计算与信息安全")
    db.close()
    publish = {"csrf_token": signed_uploader, "publish": "1"}
    reply = client.post(f"/courses/{course.id}/publish", data=publish)
    assert reply.status_code == 400 and "课程还没有课时" in reply.get_data(as_text=True)
    client.post(f"/courses/{course.id}/lessons", data={"csrf_token": signed_uploader, "title": "第一讲"})
    reply = client.post(f"/courses/{course.id}/publish", data=publish)
    assert reply.status_code == 400 and "全部课时可播放后才能发布" in reply.get_data(as_text=True)
    assert not Course.get_by_id(course.id).published
    Lesson.update(status="ready").where(Lesson.course == course).execute()
    db.close()
    assert client.post(f"/courses/{course.id}/publish", data=publish).status_code == 303
    assert Course.get_by_id(course.id).published
    db.close()
    lesson = Lesson.get(Lesson.course == course)
    db.close()
    refused = client.post(f"/courses/lessons/{lesson.id}/delete", data={"csrf_token": signed_uploader})
    assert refused.status_code == 400 and "已发布的课程不能删除课时" in refused.get_data(as_text=True)
    client.post(f"/courses/{course.id}/publish", data={"csrf_token": signed_uploader, "publish": "0"})
    assert not Course.get_by_id(course.id).published


def test_trainee_cannot_manage(client, auth, trainee_id):
    auth.login(trainee_id)
    assert client.get("/courses/").status_code == 403
    assert client.get("/courses/new").status_code == 403


def test_course_series_links_are_unique(db):
    course = Course.get(Course.title == "新一代信息技术前沿：人工智能与大数据")
    assert CourseSeries.select().where(CourseSeries.course == course).count() == 1


def test_a_professional_course_names_its_specialty(client, signed_uploader, db):
    """Issue 9, defect 9: the plaza filters by specialty, so uploaders set it."""
    from xuetang.models import Specialty

    building = Specialty.get(Specialty.name == "建设工程")
    db.close()
    page = client.get("/courses/new").get_data(as_text=True)
    assert "专业方向" in page and "工程技术 · 建设工程" in page
    other = series_id("高等学校教师")
    db.close()
    refused = client.post("/courses/new", data=course_form(
        signed_uploader, series=[str(other)], specialty=str(building.id)))
    assert refused.status_code == 400
    assert "所选专业方向不属于所选的职称系列" in refused.get_data(as_text=True)
    reply = client.post("/courses/new", data=course_form(signed_uploader,
                                                         specialty=str(building.id)))
    assert reply.status_code == 303, reply.get_data(as_text=True)[-3000:]
    assert Course.get(Course.title == "云计算与信息安全").specialty_id == building.id
