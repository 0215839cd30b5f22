"""Signed, expiring rendition links (issue 14): the player gets them, the media endpoint serves
them without a cookie or a database query, and an expired or tampered link is a 403 the player
understands. The signature is nginx's secure_link_md5 format (video/links.py)."""

import base64
import hashlib
import html
import json
import re
import time

import pytest

from tests.support.study import make_lesson
from tests.web.test_media_streaming import clip, ready_lesson  # noqa: F401  (fixtures)
from xuetang.db import database
from xuetang.models import Person
from xuetang.video import links


def test_the_signature_is_nginx_secure_link_md5():
    # What `secure_link_md5 "$secure_link_expires$uri secret"` computes (nginx docs: the binary
    # MD5, base64 with + / replaced by - _ and the padding removed).
    expected = base64.b64encode(
        hashlib.md5(b"2147483647/media/s/1/2/v0123456789abcdef/240p.mp4 secret").digest()  # noqa: S324
    ).decode().replace("+", "-").replace("/", "_").rstrip("=")
    assert links.signature("secret", "/media/s/1/2/v0123456789abcdef/240p.mp4", 2147483647) == expected


@pytest.fixture
def player_links(app, client, auth, trainee_id, clip):  # noqa: F811
    lesson = ready_lesson(app, clip)
    assert auth.login(trainee_id).status_code == 303
    page = client.get(f"/study/lesson/{lesson.id}").get_data(as_text=True)
    sources = json.loads(html.unescape(re.search(r"data-sources='([^']*)'", page).group(1)))
    return {"lesson": lesson, "sources": {s["name"]: s["url"] for s in sources},
            "data": clip[0].read_bytes()}


def test_the_player_gets_signed_links_served_without_cookie_or_query(app, player_links,
                                                                     trainee_id, monkeypatch):
    url = player_links["sources"]["240p"]
    with database.connection_context():
        person = Person.get(Person.id_number == trainee_id)
    assert url.startswith(f"/media/s/{person.id}/{player_links['lesson'].id}/")
    assert "md5=" in url and "expires=" in url
    queries = []
    real = database.obj.execute_sql
    monkeypatch.setattr(database.obj, "execute_sql",
                        lambda *a, **k: queries.append(a[0]) or real(*a, **k))
    stranger = app.test_client()  # no cookie at all
    reply = stranger.get(url, headers={"Range": "bytes=100-1099"})
    assert reply.status_code == 206 and reply.data == player_links["data"][100:1100]
    assert reply.headers["Content-Range"].startswith("bytes 100-1099/")
    assert queries == []


def _with(url: str, **changes) -> str:
    path, _, query = url.partition("?")
    args = dict(part.split("=", 1) for part in query.split("&"))
    path = changes.pop("path", path)
    args.update(changes)
    return path + "?" + "&".join(f"{k}={v}" for k, v in args.items())


def test_tampered_links_are_refused(app, player_links):
    url = player_links["sources"]["240p"]
    client = app.test_client()
    other_person = re.sub(r"^/media/s/(\d+)/", lambda m: f"/media/s/{int(m.group(1)) + 1}/", url)
    for bad in (url.replace("240p.mp4", "360p.mp4"), other_person.split("?")[0] + "?" + url.split("?")[1],
                _with(url, expires=str(int(time.time()) + 10 ** 6)), _with(url, md5="A" * 22),
                url.split("?")[0], _with(url, expires="12x")):
        reply = client.get(bad)
        assert reply.status_code == 403, bad
        assert reply.get_json()["code"] == "link_invalid"


def test_an_expired_link_says_so_and_fresh_links_are_given(app, client, player_links):
    lesson = player_links["lesson"]
    path = player_links["sources"]["240p"].split("?")[0]
    from xuetang.web.media import link_secret

    expired = links.signed_url(link_secret(app.config), path, int(time.time()) - 1)
    reply = app.test_client().get(expired)
    assert reply.status_code == 403
    assert reply.get_json()["code"] == "link_expired" and "过期" in reply.get_json()["error"]
    fresh = client.get(f"/study/lesson/{lesson.id}/media").get_json()
    assert fresh["ok"] is True
    renewed = {s["name"]: s["url"] for s in fresh["sources"]}["240p"]
    assert renewed.split("?")[0] == path
    reply = app.test_client().get(renewed, headers={"Range": "bytes=0-9"})
    assert reply.status_code == 206 and reply.data == player_links["data"][:10]


def test_a_rotated_secret_invalidates_every_link(app, player_links):
    url = player_links["sources"]["360p"]
    app.config["MEDIA_LINK_SECRET"] = "rotated-" + "x" * 32
    assert app.test_client().get(url).status_code == 403


def test_fresh_links_only_for_a_lesson_the_trainee_may_play(client, player_links):
    hidden = make_lesson(published=False)
    assert client.get(f"/study/lesson/{hidden}/media").status_code == 404
