"""The player page and the evidence page ("how was this counted"): content, fragments, ownership."""

from tests.conftest import Auth
from tests.support.study import Player, make_lesson
from xuetang.db import database
from xuetang.models import LedgerLine, Person, StudyCredit
from xuetang.seed.demo import TRAINEES, demo_id


def test_player_page_shows_the_video_the_switch_and_progress(app, client, auth, trainee_id, clock):
    lesson_id = make_lesson(renditions=("240p", "360p"), title="数字化转型导论")
    assert auth.login(trainee_id).status_code == 303
    html = client.get(f"/study/lesson/{lesson_id}").get_data(as_text=True)
    assert "数字化转型导论" in html and "<video" in html
    assert 'id="rendition"' in html and "240p" in html and "360p" in html
    assert "player.js" in html and f'data-interval="{app.config["HEARTBEAT_SECONDS"]}"' in html
    assert 'id="study-notice" class="flash error" role="status" hidden' in html
    fragment = client.get(f"/study/lesson/{lesson_id}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and 'id="study-progress"' in text


def test_evidence_page_shows_sessions_stretches_and_refusals(app, client, auth, trainee_id, clock):
    lesson_id = make_lesson(title="网络安全基础")
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    tab.open()
    tab.play(clock, 0, 30)
    clock.advance(1)
    tab.beat(400, "tick")  # a jump: refused with a reason
    tab.beat(400, "pause", playing=False)
    tab.open()
    tab.play(clock, 30, 60)
    with database.connection_context():
        credit = StudyCredit.get()
        line_id = credit.ledger_line_id
    year_page = client.get("/study/year/2021").get_data(as_text=True)
    assert f"/study/evidence/{line_id}" in year_page
    html = client.get(f"/study/evidence/{line_id}").get_data(as_text=True)
    assert "学时计算明细" in html and "网络安全基础" in html
    # Continuous play is one stretch per run (services.beats extends it beat by beat).
    assert "0:00 – 0:30" in html and "0:45 – 1:00" in html and "6:40" not in html
    assert "播放进度快于实际经过时间" in html  # the refused jump of the first session
    assert html.count("播放会话 #") == 2


def test_evidence_of_another_person_is_not_found(app, client, auth, trainee_id, clock):
    lesson_id = make_lesson()
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    tab.open()
    tab.play(clock, 0, 60)
    with database.connection_context():
        line_id = StudyCredit.get().ledger_line_id
    other = app.test_client()
    assert Auth(other).login(demo_id(TRAINEES[1][1])).status_code == 303
    assert other.get(f"/study/evidence/{line_id}").status_code == 404
    assert other.get("/study/evidence/999999").status_code == 404


def test_evidence_of_a_line_without_play_says_so(app, client, auth, trainee_id):
    with database.connection_context():
        person = Person.get(Person.id_number == trainee_id)
        line = LedgerLine.get((LedgerLine.person == person) & (LedgerLine.source == "online"))
    assert auth.login(trainee_id).status_code == 303
    html = client.get(f"/study/evidence/{line.id}").get_data(as_text=True)
    assert "没有播放明细" in html
