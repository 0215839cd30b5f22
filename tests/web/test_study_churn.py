"""Issue 9, defect 1: churning play sessions never earns faster than time passes (HTTP)."""

import pytest

from tests.support.study import Player, make_lesson, online_minutes, without_random_checks


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


@pytest.fixture
def tab(client, auth, trainee_id, clock):
    assert auth.login(trainee_id).status_code == 303
    return Player(client, make_lesson(duration_s=3600, declared=1))


def churn(tab, clock, seconds: float, wait_s: float, claim_s: float = 2.1) -> list[int]:
    """Open a fresh session every two beats and claim `claim_s` after `wait_s` in each."""
    statuses, position, end = [], 0.0, clock.ms + int(seconds * 1000)
    while clock.ms < end:
        statuses.append(tab.open().status_code)
        clock.advance(wait_s)
        tab.beat(position, "start")
        clock.advance(wait_s)
        position += claim_s
        tab.beat(position)
        if wait_s == 0:
            clock.advance(0.2)  # the loop itself still has to end
    return statuses


@pytest.mark.parametrize(("wait_s", "claim_s"), [(0.1, 2.1), (0, 2.0)])
def test_churning_sessions_earns_no_more_than_an_honest_viewer(app, tab, clock, trainee_id,
                                                                wait_s, claim_s):
    """Issue 9 measured 12 minutes in 60 s this way; an honest viewer earns 1 in that time."""
    app.config["PLAY_SESSIONS_PER_MINUTE"] = 10**6  # the wall-clock bound alone holds it
    churn(tab, clock, 60, wait_s, claim_s)
    assert online_minutes(trainee_id, 2021) <= 1


def test_opening_sessions_is_rate_limited_with_a_chinese_reason(tab, clock, trainee_id):
    statuses = churn(tab, clock, 20, 0.1)
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}
    answer = tab.open().get_json()
    assert answer["ok"] is False and "过于频繁" in answer["error"]
    clock.advance(61)
    assert tab.open().status_code == 200
    assert online_minutes(trainee_id, 2021) == 0


def test_an_honest_viewer_still_earns_every_minute_across_a_reload(tab, clock, trainee_id):
    assert tab.open().status_code == 200
    tab.play(clock, 0, 300)
    assert tab.open().status_code == 200  # a reload: a new session continues
    tab.play(clock, 300, 600)
    assert online_minutes(trainee_id, 2021) == 10
