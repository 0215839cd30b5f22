"""The heartbeat and signed media URLs are answered in front of Flask (web/hotpaths.py): with
Flask's request machinery unreachable they still work, with the same answers as the Flask views,
the same security headers, the same cookie rule and clear JSON errors."""

import pytest

from tests.conftest import Auth
from tests.support.study import Player, make_lesson, online_minutes, without_random_checks
from tests.web.test_media_links import player_links  # noqa: F401  (fixture)
from tests.web.test_media_streaming import clip  # noqa: F401  (fixture)
from xuetang.seed.demo import TRAINEES, demo_id
from xuetang.web import hotpaths
from xuetang.web.hotpaths import HotPaths

OTHER_TRAINEE = demo_id(TRAINEES[1][1])


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


@pytest.fixture
def player(client, auth, trainee_id, clock):
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, make_lesson(duration_s=600))
    assert tab.open().status_code == 200
    return tab


def _flask_unreachable(app, monkeypatch):
    """Every request HotPaths hands on fails loudly: what still answers was answered before
    Flask."""
    hot = app.wsgi_app
    assert isinstance(hot, HotPaths)

    def refuse(environ, start_response):
        raise AssertionError(f"reached Flask: {environ['REQUEST_METHOD']} {environ['PATH_INFO']}")

    monkeypatch.setattr(hot, "wsgi_app", refuse)


def test_heartbeats_are_answered_without_flask(app, player, clock, trainee_id, monkeypatch):
    _flask_unreachable(app, monkeypatch)
    answers = player.play(clock, 0, 120)
    assert all(a.status_code == 200 and a.get_json()["accepted"] for a in answers)
    assert online_minutes(trainee_id) == 2
    headers = answers[-1].headers
    assert headers["Content-Type"] == "application/json"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    with pytest.raises(AssertionError, match="reached Flask"):
        player.client.get("/study/year")


def test_the_flask_view_gives_the_same_answers(app, player, clock, trainee_id, monkeypatch):
    """Served without the wrapper (any WSGI server calling Flask directly), the URL still works."""
    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app.wsgi_app)
    answers = player.play(clock, 0, 120)
    assert all(a.status_code == 200 and a.get_json()["accepted"] for a in answers)
    assert online_minutes(trainee_id) == 2
    assert player.post({"session": player.session}).status_code == 400


def test_a_beat_from_a_browser_signed_in_as_another_account_is_refused(app, player, clock):
    clock.advance(15)
    assert player.beat(15, "start").status_code == 200
    other = app.test_client()
    assert Auth(other).login(OTHER_TRAINEE).status_code == 303
    intruder = Player(other, player.lesson_id)
    intruder.session, intruder.seq = player.session, player.seq
    clock.advance(15)
    refused = intruder.beat(30)
    assert refused.status_code == 404 and "播放会话" in refused.get_json()["error"]
    # A tampered cookie is no cookie (as Flask reads it): the token alone decides.
    stranger = app.test_client()
    stranger.set_cookie("session", "forged.value.here")
    answer = stranger.post("/study/heartbeat", json={
        "lesson": player.lesson_id, "session": player.session, "seq": player.seq + 1,
        "position": 30, "playing": True, "rate": 1, "event": "tick"})
    assert answer.status_code == 200


def test_an_expired_session_cookie_is_not_read(app, player, clock):
    """The cookie's age is checked on every beat, even when its signature was verified before."""
    other = app.test_client()
    assert Auth(other).login(OTHER_TRAINEE).status_code == 303
    intruder = Player(other, player.lesson_id)
    intruder.session = player.session
    assert intruder.beat(0, "start").status_code == 404  # the other account's cookie is read
    app.config["PERMANENT_SESSION_LIFETIME"] = -1  # every cookie is now past its age
    assert intruder.beat(0, "start", seq=1).status_code == 200  # the token alone decides


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b'{"session": "x"}', {"Content-Type": "application/json", "Content-Length": "x"}, 411),
    (b"x" * 70_000, {"Content-Type": "application/json"}, 413),
    (b"not json", {"Content-Type": "application/json"}, 400),
    (b'{"session": "x"}', {"Content-Type": "text/plain"}, 400),
])
def test_unreadable_beats_get_a_clear_json_error(app, player, body, headers, status):
    length = headers.pop("Content-Length", None)
    answer = player.client.post("/study/heartbeat", data=body, headers=headers,
                                environ_overrides={"CONTENT_LENGTH": length} if length else None)
    assert answer.status_code == status
    assert answer.get_json()["ok"] is False and answer.get_json()["error"]


def test_signed_media_is_answered_without_flask(app, player_links, monkeypatch):  # noqa: F811
    _flask_unreachable(app, monkeypatch)
    url = player_links["sources"]["240p"]
    client = app.test_client()
    reply = client.get(url, headers={"Range": "bytes=0-99"})
    assert reply.status_code == 206 and reply.data == player_links["data"][:100]
    assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
    head = client.head(url)
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(player_links["data"])
    assert client.get(url.replace("md5=", "md5=x")).status_code == 403
    # A path of another shape is Flask's (its 404), never the hot path's.
    with pytest.raises(AssertionError, match="reached Flask"):
        client.get("/media/s/1/2/x")


def test_a_signed_link_to_a_file_gone_is_a_404_the_player_understands(
        app, player_links, monkeypatch):  # noqa: F811
    url = player_links["sources"]["240p"]
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(app.config["MEDIA_ROOT"]) + "-moved")
    reply = app.test_client().get(url)
    assert reply.status_code == 404 and reply.get_json()["code"] == "not_found"


def _environ(host: str, scheme: str = "http", script: str = "") -> dict:
    return {"HTTP_HOST": host, "wsgi.url_scheme": scheme, "SCRIPT_NAME": script,
            "REQUEST_METHOD": "POST", "PATH_INFO": "/study/heartbeat", "SERVER_NAME": "x",
            "SERVER_PORT": "80"}


def test_the_url_map_bound_for_a_beat_is_the_one_of_its_own_host_and_stays_bounded(app):
    hot = app.wsgi_app
    built = [hot._url_adapter(_environ(*key)).build("study.heartbeat", force_external=True)
             for key in (("a.example",), ("b.example", "https"), ("a.example", "http", "/xt"),
                         ("a.example",))]
    assert built == ["http://a.example/study/heartbeat", "https://b.example/study/heartbeat",
                     "http://a.example/xt/study/heartbeat", "http://a.example/study/heartbeat"]
    for n in range(3 * hotpaths.URL_ADAPTERS):  # the Host header is the client's to choose
        hot._url_adapter(_environ(f"h{n}.example"))
    assert len(hot._adapters) <= hotpaths.URL_ADAPTERS
