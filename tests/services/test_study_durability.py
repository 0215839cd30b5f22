"""kill -9 between (and inside) heartbeats: no acknowledged minute is lost, none is credited twice.

The app runs in a real server process (werkzeug, threaded) on the test database. Its clock is a
file the test writes, so minutes pass instantly. A kill switch file makes the server SIGKILL
itself at a chosen point of the next heartbeat: inside the transaction (nothing may be kept), or
after the commit but before the answer (everything must be kept, and the player's retry of the
same seq must not count again).
"""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.clock import local_ms
from tests.support.paths import ROOT
from tests.support.study import make_lesson, online_minutes
from xuetang.db import database
from xuetang.seed.demo import DEMO_PASSWORD

SERVER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from werkzeug.serving import make_server
    from xuetang import create_app
    from xuetang.services import crediting, study

    clock_file, kill_file, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

    def kill_if(point):
        if kill_file.exists() and kill_file.read_text() == point:
            kill_file.unlink()
            os.kill(os.getpid(), signal.SIGKILL)

    settle = crediting.settle
    def settle_then_maybe_die(*args, **kwargs):
        minutes = settle(*args, **kwargs)
        kill_if("in_transaction")
        return minutes
    crediting.settle = settle_then_maybe_die

    record = study.record_heartbeat
    def record_then_maybe_die(*args, **kwargs):
        result = record(*args, **kwargs)
        kill_if("after_commit")
        return result
    study.record_heartbeat = record_then_maybe_die

    app = create_app({"SECRET_KEY": "durability", "DATABASE_URL": os.environ["DATABASE_URL"],
                      "RATELIMIT_ENABLED": False,
                      "CLOCK": lambda: int(clock_file.read_text())})
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp_path: Path, database_url: str):
        self.script = tmp_path / "server.py"
        self.script.write_text(SERVER)
        self.clock = tmp_path / "clock"
        self.kill_switch = tmp_path / "kill"
        self.database_url = database_url
        self.port = free_port()
        self.process = None

    def start(self):
        env = {**os.environ, "DATABASE_URL": self.database_url,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
        self.process = subprocess.Popen(
            [sys.executable, str(self.script), str(self.clock), str(self.kill_switch),
             str(self.port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        assert self.process.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill9(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.reap()

    def reap(self):
        """Wait for the (killed) process and close its pipe."""
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill9()
        elif self.process and not self.process.stdout.closed:
            self.process.stdout.close()

    def set_clock(self, ms: int):
        self.clock.write_text(str(ms))


class Browser:
    """Cookies and CSRF over plain urllib."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = None

    def request(self, path, data=None, json_body=None):
        headers = {}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", "X-CSRFToken": self.csrf}
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(self.base + path, data=body, headers=headers)  # noqa: S310
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def sign_in(self, identifier):
        _, page = self.request("/auth/signin")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        self.request("/auth/signin", data={"identifier": identifier, "password": DEMO_PASSWORD,
                                           "csrf_token": token})
        _, page = self.request("/study/year")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


@pytest.fixture
def server(app, tmp_path):
    database.close() if not database.is_closed() else None
    srv = Server(tmp_path, app.config["DATABASE_URL"])
    yield srv
    srv.stop()


def test_kill_9_loses_no_acknowledged_minute_and_credits_none_twice(app, server, trainee_id):
    lesson_id = make_lesson(duration_s=600)
    now = local_ms(2021, 9, 1, 10, 0, 0)
    server.set_clock(now)
    server.start()
    tab = Browser(f"http://127.0.0.1:{server.port}")
    tab.sign_in(trainee_id)
    status, body = tab.request(f"/study/lesson/{lesson_id}/session", json_body={})
    assert status == 200
    session = json.loads(body)["session"]
    seq = 0

    def beat(position, event="tick"):
        nonlocal seq, now
        seq += 1
        return send(seq, position, event)

    def send(number, position, event="tick"):
        payload = {"lesson": lesson_id, "session": session, "seq": number, "position": position,
                   "playing": True, "rate": 1, "event": event}
        try:
            status, text = tab.request("/study/heartbeat", json_body=payload)
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
            return None
        assert status == 200, text
        return json.loads(text)

    assert beat(0, "start")["accepted"]
    acknowledged = 0
    for position in range(15, 121, 15):  # two minutes, acknowledged beat by beat
        now += 15_000
        server.set_clock(now)
        acknowledged = beat(position)["lesson_minutes"]
    assert acknowledged == 2

    # 1. Killed between beats: everything acknowledged is on the ledger after the restart.
    server.kill9()
    assert online_minutes(trainee_id, 2021) == 2
    server.start()

    # 2. Killed inside the transaction of the beat that completes minute 3: nothing of it stays,
    #    and the player's retry of the same seq after the restart counts once.
    for position in (135, 150, 165):
        now += 15_000
        server.set_clock(now)
        assert beat(position)["lesson_minutes"] == 2
    now += 15_000
    server.set_clock(now)
    server.kill_switch.write_text("in_transaction")
    seq += 1
    assert send(seq, 180) is None
    server.reap()
    assert online_minutes(trainee_id, 2021) == 2
    server.start()
    retry = send(seq, 180)
    assert retry["accepted"] and retry["lesson_minutes"] == 3

    # 3. Killed after the commit, before the answer: the minute is kept; the retry is a duplicate.
    for position in (195, 210, 225):
        now += 15_000
        server.set_clock(now)
        assert beat(position)["lesson_minutes"] == 3
    now += 15_000
    server.set_clock(now)
    server.kill_switch.write_text("after_commit")
    seq += 1
    assert send(seq, 240) is None
    server.reap()
    assert online_minutes(trainee_id, 2021) == 4
    server.start()
    retry = send(seq, 240)
    assert retry["accepted"] is False and retry["codes"] == ["duplicate_seq"]
    assert retry["lesson_minutes"] == 4
    now += 15_000
    server.set_clock(now)
    assert beat(255)["codes"] == []
    assert online_minutes(trainee_id, 2021) == 4
