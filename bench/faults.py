"""kill -9 anywhere (issue 15, item 2): the `make run` configuration on loopback, its processes
SIGKILLed mid-work, and afterwards a check that nothing acknowledged was lost or doubled and
nothing half-written is left or served.

Run from the repo root: python bench/faults.py [--postgres URL] [--only NAME ...] [--quick]

Each scenario gets a fresh database (SQLite in a temp dir, or --postgres URL, whose public schema
is reset) with the demo data, and gunicorn with make run's flags (2 workers × 64 threads) on a
free loopback port. The app's clock is a file the script writes (faults_app.py below), so
minutes of play pass at once and the ground truth is exact.

heartbeats  N viewers play a public lesson, a beat every 15 s of server time. Twice, while a
            round of beats is in flight, every gunicorn worker is SIGKILLed; the master starts
            new ones and each viewer re-sends an unanswered beat with the same seq until it is
            acknowledged, as the player does. Truth: each viewer's online minutes on the ledger
            equal floor(position of its last acknowledged beat / 60 s) — none lost, none doubled.
face        N viewers open a professional lesson and answer its opening face check at once;
            every worker is SIGKILLed while the snapshots are being decided. Afterwards each
            check is decided with its evidence or untouched (never claimed without a decision),
            and a snapshot sent again for an untouched one is decided.
filing      the city approves a filing of many rows (POST /filings/<id>/approve); the workers
            are SIGKILLed after a delay that grows by 50 % each attempt until an approval
            finishes. After each kill: all of the filing's ledger lines or none.
roster      the same for an employer confirming a large staff roster
            (POST /staff/<org>/import/confirm): all of its people and accounts, or none.
transcode   the job worker (huey_consumer under xuetang.supervisor, as make run starts it) is
            SIGKILLed mid-transcode: no rendition row, no final-named file, the media endpoint
            answers 404; the supervisor restarts it, the interrupted job is re-queued and the
            lesson becomes ready with one version folder.

Prints one line per scenario (what was killed, how often, what was checked) and exits non-zero
if any check failed. The database outage and the full disk are pytest modules
(tests/web/test_database_unavailable.py, tests/web/test_disk_full.py): docs/faults.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookiejar
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT), str(Path(__file__).resolve().parent)]
from heartbeat import free_port, start_gunicorn, stop  # noqa: E402  (bench helpers)
from procstat import children, process_tree  # noqa: E402

PASSWORD = "faults-pass-1"
DEMO_PASSWORD = "xuetang-demo-1"
BEAT_S = 15
WAIT_S = 120  # generous: a respawned worker imports the app (dlib) on a loaded 2-core machine
FAULTS_APP = textwrap.dedent('''
    """The app as wsgi.py makes it, with its clock read from a file (bench/faults.py)."""
    import os
    from pathlib import Path

    from xuetang import create_app

    _clock = Path(os.environ["FAULTS_CLOCK_FILE"])
    app = create_app({"CLOCK": lambda: int(_clock.read_text()), "RATELIMIT_ENABLED": False})
''')


class FaultFailed(AssertionError):
    """A check after a kill did not hold."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise FaultFailed(message)


# ---------------------------------------------------------------- the site under test


class Site:
    """A fresh database with the demo data, a media folder and the app's clock file."""

    def __init__(self, tmp: Path, postgres_url: str | None = None):
        from tests.support.clock import local_ms

        self.tmp = tmp
        self.url = postgres_url or f"sqlite:///{tmp / 'faults.sqlite3'}"
        self.media = tmp / "media"
        self.clock_file = tmp / "clock"
        self.now = local_ms(2021, 9, 1, 10, 0, 0)
        self.set_clock(self.now)
        (tmp / "faults_app.py").write_text(FAULTS_APP)
        self.app = self._build(postgres_url is not None)
        self.server = None
        self.port = 0

    def _build(self, postgres: bool):
        from xuetang import create_app, migrations
        from xuetang.db import database
        from xuetang.seed import demo

        app = create_app({"DATABASE_URL": self.url, "SECRET_KEY": "faults", "DEMO_MEDIA": False,
                          "MEDIA_ROOT": str(self.media), "RATELIMIT_ENABLED": False,
                          "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                          "CLOCK": lambda: int(self.clock_file.read_text())})
        with app.app_context(), database.connection_context():
            if postgres:
                database.execute_sql("DROP SCHEMA public CASCADE")
                database.execute_sql("CREATE SCHEMA public")
            migrations.upgrade()
            demo.load()
        return app

    def set_clock(self, ms: int) -> None:
        self.now = ms
        temp = self.clock_file.with_suffix(".tmp")
        temp.write_text(str(ms))
        temp.replace(self.clock_file)  # a worker never reads a half-written clock

    def advance(self, seconds: int) -> None:
        self.set_clock(self.now + seconds * 1000)

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUEY_", "FFMPEG"))}
        env.update(DATABASE_URL=self.url, SECRET_KEY="faults", MEDIA_ROOT=str(self.media),
                   FAULTS_CLOCK_FILE=str(self.clock_file), DEMO_MEDIA="0",
                   HUEY_SQLITE_PATH=str(self.tmp / "huey.sqlite3"),
                   PLAY_SESSIONS_PER_MINUTE="100000",
                   PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(ROOT)]))
        env.update(extra)
        return env

    def start(self, **env) -> None:
        self.port = free_port()
        self.server = start_gunicorn(self.tmp, "faults_app:app", self.port, self.env(**env),
                                     self.tmp)

    def stop(self) -> None:
        if self.server is not None:
            stop(self.server)
            self.server = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """gunicorn's workers: the master's children (each worker's face-analysis processes,
        under its forkserver, die with it and are not started again until a snapshot comes)."""
        return children(self.server.pid)

    def kill_workers(self, pids: list[int] | None = None) -> list[int]:
        """SIGKILL every gunicorn worker (the master stays and starts new ones)."""
        killed = pids or self.workers()
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return killed

    def wait_for_workers(self, killed: list[int]) -> None:
        """Until the master has started as many workers as were killed and one answers."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            alive = [pid for pid in self.workers() if pid not in killed]
            if len(alive) >= len(killed):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    conn.request("GET", "/auth/signin")
                    conn.getresponse().read()
                    conn.close()
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        raise FaultFailed("gunicorn did not start new workers")

    def db(self):
        """A context manager with the app context and a connection, for counting rows."""
        from contextlib import ExitStack

        from xuetang.db import database

        stack = ExitStack()
        stack.enter_context(self.app.app_context())
        stack.enter_context(database.connection_context())
        return stack


class Browser:
    """Cookies and CSRF over plain urllib; a request that gets no answer returns (0, "")."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def request(self, path, *, data=None, json_body=None, body=None, headers=None,
                timeout=WAIT_S):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        if body is not None and self.csrf:
            headers.setdefault("X-CSRFToken", self.csrf)
        req = urllib.request.Request(self.base + path, data=body, headers=headers)  # noqa: S310
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            err.close()
            return err.code, text
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, TimeoutError):
            return 0, ""

    def until_answered(self, path, **kwargs):
        """Re-send until a non-5xx answer (the player's retry; a beat is idempotent by seq)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            status, text = self.request(path, **kwargs)
            if 0 < status < 500:
                return status, text
            time.sleep(0.2)
        raise FaultFailed(f"{path} got no answer for {WAIT_S} s")

    def sign_in(self, identifier: str, password: str, page: str = "/study/year") -> None:
        _, text = self.until_answered("/auth/signin")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text).group(1)
        self.until_answered("/auth/signin", data={"identifier": identifier, "password": password,
                                                  "csrf_token": token})
        self.page_token(page)

    def page_token(self, path: str) -> str:
        status, text = self.until_answered(path)
        found = re.search(r'"X-CSRFToken": "([^"]+)"', text)
        expect(status == 200 and found is not None, f"{path}: {status} without a CSRF token")
        self.csrf = found.group(1)
        return text


def make_trainees(site: Site, count: int, series_name: str = "工程技术") -> list[str]:
    """count trainees with a known password (through services.accounts); their ID numbers."""
    import datetime as dt

    from xuetang.db import database
    from xuetang.models import Account, Person, Series
    from xuetang.rules.idcard import check_char
    from xuetang.services import accounts

    ids = []
    with site.db(), database.atomic():
        series = Series.get(Series.name == series_name)
        password = accounts.hash_password(PASSWORD)
        for i in range(count):
            stem = f"370102{dt.date(1960, 1, 1) + dt.timedelta(days=i // 500):%Y%m%d}{500 + i % 500:03d}"
            person = Person.create(real_name=f"故障学员{i}", id_number=stem + check_char(stem),
                                   series=series)
            account = Account.create(person=person, password_hash=password,
                                     must_change_password=False)
            accounts.grant(account, "trainee")
            ids.append(person.id_number)
    return ids


def online_minutes(site: Site, ids: list[str]) -> dict[str, int]:
    from xuetang.models import LedgerLine, Person

    with site.db():
        rows = (LedgerLine.select(Person.id_number, LedgerLine.minutes).join(Person)
                .where((LedgerLine.source == "online") & Person.id_number.in_(ids)).tuples())
        totals: dict[str, int] = {}
        for id_number, minutes in rows:
            totals[id_number] = totals.get(id_number, 0) + minutes
    return totals


@dataclass
class Outcome:
    name: str
    engine: str
    kills: int = 0
    details: list[str] = field(default_factory=list)
    ok: bool = True
    error: str = ""

    def line(self) -> str:
        verdict = "OK" if self.ok else f"FAILED: {self.error}"
        return f"{self.name:<10} {self.engine:<10} kills {self.kills:>2}  {'; '.join(self.details)}  {verdict}"


# ---------------------------------------------------------------- heartbeats


@dataclass
class Viewer:
    id_number: str
    browser: Browser
    session: str = ""
    seq: int = 0
    acknowledged: float = 0.0  # the position of the last acknowledged beat
    resent: int = 0
    duplicates: int = 0  # re-sent beats the server had already kept (its answer was lost)


def heartbeats(site: Site, outcome: Outcome, viewers: int = 30, rounds: int = 16,
               kill_rounds: tuple[int, ...] = (4, 7, 10, 13),
               require_interrupted: bool = True) -> None:
    """Beats in rounds of server time; every worker SIGKILLed during the kill rounds.
    require_interrupted: fail unless some beat was cut off by a kill (when and how many depends
    on the machine's speed, so the pytest module only reports it)."""
    from tests.support.study import make_lesson

    ids = make_trainees(site, viewers)
    with site.db():
        lesson = make_lesson(duration_s=rounds * BEAT_S + 600)
    site.start()
    people = []
    for id_number in ids:
        viewer = Viewer(id_number, Browser(site.base))
        viewer.browser.sign_in(id_number, PASSWORD, f"/study/lesson/{lesson}")
        status, text = viewer.browser.until_answered(f"/study/lesson/{lesson}/session",
                                                     json_body={})
        expect(status == 200, f"session: {status} {text[:200]}")
        viewer.session = json.loads(text)["session"]
        people.append(viewer)

    def beat(viewer: Viewer, position: float, event: str, playing: bool = True) -> None:
        viewer.seq += 1
        payload = {"lesson": lesson, "session": viewer.session, "seq": viewer.seq,
                   "position": position, "playing": playing, "rate": 1, "event": event}
        status, text = viewer.browser.request("/study/heartbeat", json_body=payload, timeout=30)
        if status == 0 or status >= 500:  # no answer: the same seq again, until one comes
            viewer.resent += 1
            status, text = viewer.browser.until_answered("/study/heartbeat", json_body=payload)
            viewer.duplicates += status == 200 and "duplicate_seq" in text
        expect(status == 200, f"beat: {status} {text[:200]}")
        viewer.acknowledged = position

    def one_round(position: float, event: str, kill: bool, playing: bool = True) -> None:
        workers = site.workers()
        threads = [threading.Thread(target=beat, args=(v, position, event, playing))
                   for v in people]
        for thread in threads:
            thread.start()
        if kill:
            time.sleep(random.uniform(0.0, 0.01))  # the beats are on the wire or being written
            killed = site.kill_workers(workers)
            outcome.kills += 1
            site.wait_for_workers(killed)
        for thread in threads:
            thread.join()

    one_round(0, "start", False)
    for r in range(1, rounds + 1):
        site.advance(BEAT_S)
        one_round(r * BEAT_S, "tick", r in kill_rounds)
    site.advance(1)
    one_round(rounds * BEAT_S, "pause", False, playing=False)
    site.stop()

    ledger = online_minutes(site, ids)
    wrong = [(v.id_number, int(v.acknowledged // 60), ledger.get(v.id_number, 0)) for v in people
             if ledger.get(v.id_number, 0) != int(v.acknowledged // 60)]
    resent = sum(v.resent for v in people)
    outcome.details.append(
        f"{viewers} viewers × {rounds} beats, {resent} beats re-sent after a kill "
        f"({sum(v.duplicates for v in people)} of them already kept), "
        f"{sum(ledger.values())} minutes on the ledger")
    expect(not wrong, f"ledger ≠ acknowledged play for {len(wrong)} viewers, e.g. {wrong[:3]}")
    expect(resent > 0 or not require_interrupted,
           "no beat was in flight when the workers were killed")
    outcome.details.append("every viewer's minutes = its acknowledged play")


# ---------------------------------------------------------------- face decision


def face(site: Site, outcome: Outcome, viewers: int = 8, max_rounds: int = 7) -> None:
    """Opening face checks answered together; every worker SIGKILLed while they are decided."""
    from load import live_capture
    from PIL import Image, ImageOps

    from tests.support.study import make_lesson
    from xuetang.face import analysis
    from xuetang.models import FaceCheck, FaceConsent, FaceReference, Person

    ids = make_trainees(site, viewers)
    faces = ROOT / "tests" / "fixtures" / "faces"
    enrolled = analysis.get_engine().analyse((faces / "a_enroll.jpg").read_bytes())
    with site.db():
        lesson = make_lesson(category="professional", series=("工程技术",), duration_s=3600)
        for person in Person.select().where(Person.id_number.in_(ids)):
            FaceConsent.create(person=person, agreed=True, text_version="faults")
            FaceReference.create(person=person, descriptor=analysis.descriptor_to_bytes(
                enrolled.descriptor), image_name="none", image_sha256="0" * 64, luminance=120.0,
                sharpness=100.0, signature=enrolled.signature)
    source = ImageOps.mirror(Image.open(faces / "a_webcam.jpg").convert("RGB"))
    rng = random.Random(15)
    site.start()
    browsers = []
    for id_number in ids:
        browser = Browser(site.base)
        browser.sign_in(id_number, PASSWORD, f"/study/lesson/{lesson}")
        browsers.append(browser)

    def snapshot(browser: Browser, url: str, patient: bool = False) -> tuple[int, str]:
        send = browser.until_answered if patient else browser.request
        return send(url, body=live_capture(source, rng), headers={"Content-Type": "image/jpeg"})

    delay, rounds, tally = 0.4, [], {"decided": 0, "open": 0, "unanswered": 0}
    while True:
        checks = []
        for browser in browsers:  # a new play session asks for a new opening check
            status, text = browser.until_answered(f"/study/lesson/{lesson}/session", json_body={})
            expect(status == 200, f"session: {status} {text[:200]}")
            check = (json.loads(text).get("face") or {}).get("check")
            expect(check is not None, "a professional lesson opened without a face check")
            checks.append((browser, check["url"]))
        answers: dict[int, int] = {}

        def answer(i: int, answers=answers, checks=checks) -> None:
            answers[i] = snapshot(*checks[i])[0]

        threads = [threading.Thread(target=answer, args=(i,)) for i in range(len(checks))]
        workers = site.workers()
        for thread in threads:
            thread.start()
        threads[-1].join(delay)
        finished = not any(thread.is_alive() for thread in threads)
        if not finished:
            site.kill_workers(workers)
            outcome.kills += 1
        for thread in threads:
            thread.join()
        if not finished:
            site.wait_for_workers(workers)
        with site.db():
            rows = {r.nonce: r for r in FaceCheck.select().join(Person)
                    .where(Person.id_number.in_(ids) & (FaceCheck.kind == "before_play"))}
        half = [r.id for r in rows.values() if r.used_at is not None and r.decision is None]
        expect(not half, f"checks claimed without a decision: {half}")
        expect(all(r.snapshot_name and r.decided_at for r in rows.values()
                   if r.decision not in (None, "timeout")), "a decided check without its evidence")
        decided = 0
        for browser, url in checks:
            nonce = url.rstrip("/").rsplit("/", 1)[-1]
            row = next((r for n, r in rows.items() if n in url), None)
            expect(row is not None, f"no check row for {nonce}")
            if row.decision:
                decided += 1
                continue
            status, text = snapshot(browser, url, patient=True)  # the player sends a fresh one
            expect(status == 200 and '"passed":true' in text.replace(" ", ""),
                   f"a re-sent snapshot was not decided: {status} {text[:200]}")
        tally["decided"] += decided
        tally["open"] += len(checks) - decided
        tally["unanswered"] += sum(1 for status in answers.values() if status == 0)
        rounds.append(f"{delay:.2f}s→{decided}/{len(checks)} decided" if not finished
                      else f"{delay:.2f}s→all answered")
        if finished or len(rounds) == max_rounds:
            break
        delay *= 1.5
    site.stop()
    outcome.details.append(
        f"{viewers} snapshots a round, kill after " + ", ".join(rounds) + f"; {tally['unanswered']} "
        f"unanswered by a kill, {tally['decided']} decided with evidence, {tally['open']} left "
        "open and decided when sent again, 0 half-decided")


# ---------------------------------------------------------------- all-or-nothing applies


def kill_during(site: Site, outcome: Outcome, prepare, send, count, before: int, rows: int,
                first_delay: float = 0.25, what: str = "rows") -> None:
    """send() in a thread, SIGKILL every worker after a growing delay, until one send finishes;
    after each kill count() must be `before` (nothing) or `before + rows` (everything)."""
    delay, outcomes = first_delay, []
    while True:
        answer: dict[str, int] = {}
        prepare()

        def sending(answer=answer) -> None:
            answer["status"] = send()

        thread = threading.Thread(target=sending)
        thread.start()
        thread.join(delay)
        if not thread.is_alive():
            expect(answer["status"] in (200, 303), f"the apply answered {answer['status']}")
            now = count()
            expect(now == before + rows, f"applied: {now - before} of {rows} rows")
            outcomes.append(f"{delay:.2f}s→done")
            break
        killed = site.kill_workers()
        outcome.kills += 1
        thread.join()
        now = count()
        expect(now in (before, before + rows), f"PARTIAL after a kill at {delay:.2f} s: "
                                               f"{now - before} of {rows} rows")
        outcomes.append(f"{delay:.2f}s→{'all' if now == before + rows else 'none'}")
        site.wait_for_workers(killed)
        if now == before + rows:
            break
        delay *= 1.5
        expect(delay < 120, "the apply never finished")
    outcome.details.append(f"{what}; kill after " + ", ".join(outcomes))


def filing(site: Site, outcome: Outcome, people: int = 250, activities: int = 12) -> None:
    """The city approves a large filing; killed again and again until it is approved once."""
    from tests.support.filings import new_person, roster_csv, viewer
    from xuetang.models import Filing, LedgerLine, Series
    from xuetang.rules.annual import FILING_SERIES
    from xuetang.services import filing_review, filings

    with site.app.test_request_context(), site.db():
        series = Series.get(Series.name == "会计")
        staff = [new_person(5000 + n, f"会计员{n}", series) for n in range(people)]
        rows = [[p.real_name, p.id_number, "会计", f"会计继续教育第{k}期", "2021-10-01", "1"]
                for k in range(activities) for p in staff]
        shown = filings.upload_filing(viewer("industry"), FILING_SERIES, 2021,
                                      roster_csv(FILING_SERIES, rows), "会计.csv")
        expect(shown.filing is not None, "the filing did not check out")
        filing_review.submit(viewer("industry"), shown.filing.id)
        filing_id = shown.filing.id
        before = LedgerLine.select().count()
    site.start()
    city = Browser(site.base)
    city.sign_in("city", DEMO_PASSWORD, f"/filings/{filing_id}")

    def count() -> int:
        with site.db():
            return LedgerLine.select().count()

    def send() -> int:
        status, _ = city.request(f"/filings/{filing_id}/approve",
                                 data={"csrf_token": city.csrf}, timeout=WAIT_S)
        return 303 if status == 200 else status  # urllib follows the 303 to the filing's page

    kill_during(site, outcome, lambda: city.page_token(f"/filings/{filing_id}"), send, count,
                before, len(rows), what=f"{len(rows)} filed rows")
    with site.db():
        expect(Filing.get_by_id(filing_id).status == "approved", "the filing is not approved")
    again = city.request(f"/filings/{filing_id}/approve", data={"csrf_token": city.csrf})[0]
    expect(count() == before + len(rows), "a second approval changed the ledger")
    site.stop()
    outcome.details.append(f"approved once; a second approval answered {again} and wrote nothing")


def roster(site: Site, outcome: Outcome, rows: int = 6000, first_delay: float = 0.25) -> None:
    """An employer confirms a large roster; killed again and again until it is applied once."""
    import csv
    import datetime as dt
    import io

    from xuetang.models import Account, Organization, Person
    from xuetang.rules.idcard import check_char

    with site.db():
        org = Organization.get(Organization.name == _employer_name())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["姓名", "身份证号", "职称系列", "手机号"])
    for i in range(rows):
        birth = dt.date(1955, 1, 1) + dt.timedelta(days=i // 900)
        stem = f"370112{birth:%Y%m%d}{100 + i % 900:03d}"
        writer.writerow([f"名册员工{i}", stem + check_char(stem), "工程技术", f"139{i:08d}"])
    data = buffer.getvalue().encode("utf-8-sig")
    site.start()
    admin = Browser(site.base)
    admin.sign_in("employer", DEMO_PASSWORD, f"/staff/{org.id}/import")
    status, page = _post_file(admin, f"/staff/{org.id}/import", data)
    expect(status == 200, f"the roster check answered {status}")
    token = re.search(r'name="token"[^>]*value="([^"]+)"', page)
    expect(token is not None, "no confirm token on the preview page: " + page[:300])

    def count() -> int:
        with site.db():
            people = Person.select().where(Person.employer == org.id)
            accounts = Account.select().join(Person).where(Person.employer == org.id).count()
            return people.count() + accounts

    before = count()

    def send() -> int:
        status, _ = admin.request(f"/staff/{org.id}/import/confirm",
                                  data={"token": token.group(1), "csrf_token": admin.csrf})
        return 303 if status == 200 else status

    kill_during(site, outcome, lambda: admin.page_token(f"/staff/{org.id}/import"), send, count,
                before, 2 * rows, first_delay, what=f"{rows} people and their accounts")
    site.stop()


def _employer_name() -> str:
    from xuetang.models import Account, Organization, RoleGrant

    account = Account.get(Account.username == "employer")
    grant = (RoleGrant.select()
             .where((RoleGrant.account == account) & RoleGrant.organization.is_null(False)).get())
    return Organization.get_by_id(grant.organization_id).name


def _post_file(browser: Browser, path: str, data: bytes) -> tuple[int, str]:
    boundary = f"----faults{random.getrandbits(64):x}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
             f"{browser.csrf}\r\n".encode(),
             f'--{boundary}\r\nContent-Disposition: form-data; name="roster"; '
             f'filename="roster.csv"\r\nContent-Type: text/csv\r\n\r\n'.encode(), data,
             f"\r\n--{boundary}--\r\n".encode()]
    return browser.request(path, body=b"".join(parts),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


# ---------------------------------------------------------------- the job worker


def transcode(site: Site, outcome: Outcome) -> None:
    """huey_consumer under the supervisor, SIGKILLed mid-transcode; restarted, it finishes."""
    from tests.support.videos import make_video
    from xuetang import jobs
    from xuetang.models import Course, Lesson, Organization, Rendition
    from xuetang.services import courses
    from xuetang.video import media_store

    video = make_video(site.tmp / "long.mp4", seconds=20, size="640x360")
    site.app.config.update(HUEY_IMMEDIATE=False, HUEY_SQLITE_PATH=str(site.tmp / "huey.sqlite3"))
    jobs.init_app(site.app)
    with site.db():
        org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
        course = Course.create(organization=org, title="转码故障", category="public",
                               declared_hours=1, published=True)
        lesson = Lesson.create(course=course, title="第一讲", position=1)
        name = media_store.new_source_name(lesson.id)
        path = media_store.resolve(str(site.media), name)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, path)
        Lesson.update(source_name=name, status="uploaded").where(Lesson.id == lesson.id).execute()
        courses.enqueue_transcode(Lesson.get_by_id(lesson.id))
    site.start()
    trainee = Browser(site.base)
    trainee.sign_in("370102198503122316", DEMO_PASSWORD)
    huey = shutil.which("huey_consumer", path=str(Path(sys.executable).parent)) or "huey_consumer"
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "xuetang.supervisor", "--", huey, "worker.huey", "--workers", "1",
         "--worker-type", "thread", "--quiet"], cwd=ROOT, env=site.env(),
        stdout=subprocess.DEVNULL, stderr=open(site.tmp / "worker.err", "wb"))  # noqa: SIM115

    def state():
        with site.db():
            row = Lesson.get_by_id(lesson.id)
            return row, list(Rendition.select().where(Rendition.lesson == lesson.id))

    def wait(predicate, what):
        deadline = time.monotonic() + WAIT_S * 2
        while time.monotonic() < deadline:
            row, renditions = state()
            if predicate(row):
                return row, renditions
            time.sleep(0.1)
        raise FaultFailed(f"the lesson never became {what} (it is {row.status} {row.progress}%)")

    try:
        wait(lambda row: row.status == "transcoding" and row.progress >= 5, "transcoding")
        workers = [pid for pid in process_tree(supervisor.pid) if pid != supervisor.pid]
        consumer = next(pid for pid in workers if "huey" in Path(f"/proc/{pid}/cmdline").read_text())
        os.kill(consumer, signal.SIGKILL)
        outcome.kills += 1
        row, renditions = state()
        finals = [p for p in media_store.lesson_dir(str(site.media), lesson.id).rglob("*")
                  if p.is_file() and not p.name.endswith(".part") and "source-" not in p.name]
        media = trainee.request(f"/media/lessons/{lesson.id}/360p")[0]
        expect(row.status != "ready" and not renditions and not finals,
               f"after the kill: {row.status}, renditions {renditions}, files {finals}")
        expect(media == 404, f"the media endpoint answered {media} for an unfinished rendition")
        outcome.details.append(f"killed at {row.progress}%: no rendition row, no final file, "
                               f"media {media}")
        row, renditions = wait(lambda row: row.status in ("ready", "failed"), "ready or failed")
        expect(row.status == "ready", f"the retried job failed: {row.failure_reason}")
        versions = [p.name for p in media_store.lesson_dir(str(site.media), lesson.id).iterdir()
                    if p.is_dir()]
        expect(versions == [row.media_version], f"version folders {versions}")
        media = trainee.request(f"/media/lessons/{lesson.id}/360p",
                                headers={"Range": "bytes=0-99"})[0]
        expect(media == 206, f"the finished rendition answered {media}")
        outcome.details.append(f"restarted by the supervisor: ready after {row.attempts} attempts "
                               f"with {sorted(r.name for r in renditions)}, media {media}")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)
        site.stop()


SCENARIOS = {"heartbeats": heartbeats, "face": face, "filing": filing, "roster": roster,
             "transcode": transcode}
QUICK = {  # --quick: small sizes for tests/test_faults.py (a few kills each)
    "heartbeats": {"viewers": 10, "rounds": 8, "kill_rounds": (3, 6), "require_interrupted": False},
    "face": {"viewers": 4, "max_rounds": 3},
    "filing": {"people": 100, "activities": 5},
    "roster": {"rows": 1500, "first_delay": 0.05},
    "transcode": {},
}


def run(name: str, postgres_url: str | None = None, **kwargs) -> Outcome:
    """One scenario on a fresh site; the outcome says what happened and whether it held."""
    engine = "PostgreSQL" if postgres_url else "SQLite"
    outcome = Outcome(name, engine)
    with tempfile.TemporaryDirectory(prefix="xuetang-faults-") as tmp_name:
        site = Site(Path(tmp_name), postgres_url)
        try:
            SCENARIOS[name](site, outcome, **kwargs)
        except FaultFailed as failure:
            outcome.ok, outcome.error = False, str(failure)
        finally:
            site.stop()
            from xuetang.db import database

            if not database.is_closed():
                database.close()
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose public schema each scenario resets")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small sizes (tests/test_faults.py)")
    args = parser.parse_args()
    print(f"engine: {'PostgreSQL' if args.postgres else 'SQLite'}; machine: {os.cpu_count()} cores;"
          f" load average {os.getloadavg()[0]:.1f}")
    failed = 0
    for name in args.only:
        started = time.monotonic()
        outcome = run(name, args.postgres, **(QUICK[name] if args.quick else {}))
        print(f"{outcome.line()}  ({time.monotonic() - started:.0f} s)", flush=True)
        failed += not outcome.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
