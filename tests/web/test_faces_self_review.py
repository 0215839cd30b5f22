"""Nobody reviews their own face: a trainee who also holds a reviewer role is refused."""

from tests.support.faces import account_of, enrol, raw, wang
from tests.web.test_faces import WANG, failed_check, lesson, setup  # noqa: F401 (fixtures)
from xuetang.models import FaceCheck, FaceReview, ReferenceChange
from xuetang.services import faces
from xuetang.services.accounts import grant


def make_reviewer(role="city_admin"):
    grant(account_of(wang()), role)


def test_own_failed_check_cannot_be_overridden(auth, client, setup, lesson):  # noqa: F811
    check = failed_check(setup, lesson)
    setup(make_reviewer)
    auth.login(WANG)
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/reviews/{check.id}", data={
        "csrf_token": token, "decision": "pass", "reason": "我本人确认是我自己"})
    assert response.status_code == 403 and "本人" in response.get_data(as_text=True)
    assert setup(lambda: FaceReview.select().count()) == 0
    assert not setup(lambda: FaceCheck.get_by_id(check.id).passed)


def test_own_reference_change_cannot_be_approved(auth, client, setup):  # noqa: F811
    setup(enrol, wang(), "a_enroll")
    change = setup(lambda: faces.add_reference(wang(), account_of(wang()), raw("b_enroll"),
                                                 request_review=True).request)
    setup(make_reviewer)
    auth.login(WANG)
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/changes/{change.id}", data={
        "csrf_token": token, "decision": "approve", "reason": "换一张我的新照片"})
    assert response.status_code == 403 and "本人" in response.get_data(as_text=True)
    assert setup(lambda: ReferenceChange.get_by_id(change.id).status) == "pending"
