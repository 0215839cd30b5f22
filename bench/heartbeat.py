"""Heartbeats per second under gunicorn (the `make run` configuration) vs a bare Flask hello world.

Run from the repo root: python bench/heartbeat.py [--seconds S] [--viewers N] [--concurrency C]
                                                  [--rounds R] [--reset-postgres URL]

What it does, all on loopback, bounded in time and count:
1. Builds a fresh SQLite database in a temp dir (migrations, demo data, N trainees, one public
   lesson of 10 hours) and starts two gunicorn servers with the `make run` flags
   (read from the Makefile: --workers 2 --threads 64, access log on): the app (`wsgi:app`) and a one-route Flask app that
   answers "hello".
2. Starts a SECOND process (this file with --load) that signs the N trainees in, opens one play
   session each, and then
   - saturation: C threads, each with a keep-alive connection, send back-to-back requests for S
     seconds (heartbeats: honest 1x positions from each viewer's own wall clock, seq increasing;
     hello: GET /) -> requests per second, and the ratio heartbeat/hello; in --rounds rounds
     (3), each a hello and a heartbeat phase next to each other (every other round heartbeat
     first), reported as medians, the ratio as the median of the rounds' own ratios;
   - fixed rate: 333 requests per second (10,000 viewers at one beat per 30 s) for S seconds,
     open loop; latency is measured from each request's SCHEDULED time, so a stalled server
     cannot hide its queueing (no coordinated omission) -> p50 / p99.
3. In this process, with the app's test client and a settable server clock: what a beat costs
   when each viewer beats every 15 s or 30 s of server time, as real players do (then one beat in
   four or two completes a minute and takes the full path), beside an in-process hello world.
   The loaded servers' viewers beat many times a second, so almost all their beats are the
   common case; this line says what the mix of a real district costs.
4. Prints a Markdown table (make bench puts it in docs/benchmarks.md) and stops both servers.
"""

import argparse
import http.client
import json
import os
import platform as platform_module
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 333
MAX_REQUESTS = 200_000  # a hard bound on any one phase

HELLO = '''from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- setup (parent process)


def build_database(tmp: Path, viewers: int, postgres_url: str | None = None
                   ) -> tuple[str, int, list[str]]:
    """A migrated database with demo data, `viewers` trainees and one long public lesson."""
    sys.path.insert(0, str(ROOT / "platform"))
    from decimal import Decimal

    from xuetang import create_app, migrations
    from xuetang.db import database
    from xuetang.models import Account, Course, Lesson, Organization, Person, Rendition
    from xuetang.rules.idcard import check_char
    from xuetang.seed import demo
    from xuetang.services import accounts

    url = postgres_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DEMO_MEDIA": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    ids = []
    with app.app_context(), database.connection_context():
        if postgres_url:  # --reset-postgres: an empty schema for this run
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        migrations.upgrade()
        demo.load()
        org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
        with database.atomic():
            course = Course.create(organization=org, title="基准测试课程", category="public",
                                   declared_hours=Decimal(100), published=True)
            lesson = Lesson.create(course=course, position=1, title="第一讲", status="ready",
                                   duration_ms=10 * 3600 * 1000)
            Rendition.create(lesson=lesson, name="240p", file_name="none", size_bytes=1,
                             width=320, height=240, bitrate_kbps=180)
            password = accounts.hash_password("bench-pass-1")
            for i in range(viewers):
                stem = f"37010219900101{i:03d}"  # a valid birth date; up to 1000 viewers
                id_number = stem + check_char(stem)
                person = Person.create(real_name=f"学员{i}", id_number=id_number)
                account = Account.create(person=person, password_hash=password,
                                         must_change_password=False)
                accounts.grant(account, "trainee")
                ids.append(id_number)
    return url, lesson.id, ids


def make_run_flags(port: int) -> list[str]:
    """gunicorn's flags exactly as `make run` passes them (read from the Makefile), with this
    run's address and without the app spec."""
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*\?=\s*(\S+)", makefile, re.MULTILINE))
    variables.update(HOST="127.0.0.1", PORT=str(port))
    line = next(line for line in makefile.splitlines() if "$(BIN)/gunicorn" in line)
    args = shlex.split(line.split("$(BIN)/gunicorn", 1)[1])
    args = [re.sub(r"\$\((\w+)\)", lambda m: variables[m.group(1)], a) for a in args]
    return [a for a in args if a != "wsgi:app"]


def start_gunicorn(tmp: Path, app_spec: str, port: int, env: dict, chdir: Path):
    """gunicorn with the `make run` flags; returns the process once the port answers."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    process = subprocess.Popen(
        [gunicorn, *make_run_flags(port), "--chdir", str(chdir), app_spec],
        env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{app_spec.split(':')[0]}.err", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/auth/signin" if app_spec == "wsgi:app" else "/")
            conn.getresponse().read()
            conn.close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn {app_spec} did not start")


def stop(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def path_mix(url: str, lesson_id: int, id_number: str, beats: int = 200) -> dict:
    """In-process ms per beat at one beat per 15 s and per 30 s of server time, the share that
    took the full path (services.study._full_beat), and an in-process hello world."""
    from flask import Flask

    from xuetang import create_app
    from xuetang.services import study

    now = [time.time() * 1000 + 3_600_000]  # past the load phase on the viewer's clock
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DEMO_MEDIA": False,
                      "SIGNIN_RATE_LIMIT": "100000 per minute", "CLOCK": lambda: now[0]})
    full = [0]
    original = study._full_beat

    def counted(*args, **kwargs):
        full[0] += 1
        return original(*args, **kwargs)

    study._full_beat = counted
    client = app.test_client()
    page = client.get("/auth/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/auth/signin", data={"identifier": id_number, "password": "bench-pass-1",
                                      "csrf_token": token})
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/study/year").get_data(as_text=True))
    headers = {"X-CSRFToken": csrf.group(1)}
    result = {}
    position = 0  # the second session goes on where the first stopped (no rewatching)
    try:
        for step_s in (15, 30):
            session = client.post(f"/study/lesson/{lesson_id}/session", json={},
                                  headers=headers).get_json()["session"]
            full[0] = 0
            started = time.perf_counter()
            for seq in range(1, beats + 1):
                body = {"lesson": lesson_id, "session": session, "seq": seq, "position": position,
                        "playing": True, "rate": 1, "event": "start" if seq == 1 else "tick"}
                answer = client.post("/study/heartbeat", json=body, headers=headers)
                if answer.status_code != 200 or answer.get_json()["codes"]:
                    raise RuntimeError(answer.get_data(as_text=True)[:300])
                now[0] += step_s * 1000
                position += step_s
            result[step_s] = {"ms": 1000 * (time.perf_counter() - started) / beats,
                              "full_share": full[0] / beats}
            now[0] += 120_000  # the next session opens later (the per-minute opening limit)
    finally:
        study._full_beat = original
    hello = Flask("hello")
    hello.add_url_rule("/", "hello", lambda: "hello")
    hello_client = hello.test_client()
    started = time.perf_counter()
    for _ in range(beats):
        hello_client.get("/")
    result["hello_ms"] = 1000 * (time.perf_counter() - started) / beats
    return result


# ---------------------------------------------------------------- load (second process)


RECONNECT = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected,
             http.client.CannotSendRequest)


def send(client, method, path, body, headers):
    """One request on the client's keep-alive connection; reconnect once if the server closed it
    (gunicorn's gthread worker drops idle keep-alive connections after a few seconds)."""
    try:
        client.conn.request(method, path, body=body, headers=headers)
        return client.conn.getresponse()
    except RECONNECT:
        client.conn.close()
        client.conn = http.client.HTTPConnection("127.0.0.1", client.conn.port, timeout=30)
        client.conn.request(method, path, body=body, headers=headers)
        return client.conn.getresponse()


class Viewer:
    """One signed-in trainee with a play session, on its own keep-alive connection."""

    def __init__(self, port: int, id_number: str, lesson_id: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.lesson_id = lesson_id
        self.seq = 0
        page = self.call("GET", "/auth/signin")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"identifier": id_number, "password": "bench-pass-1",
                                       "csrf_token": token})
        self.call("POST", "/auth/signin", form, {"Content-Type": "application/x-www-form-urlencoded"})
        page = self.call("GET", "/study/year")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        answer = json.loads(self.call("POST", f"/study/lesson/{lesson_id}/session", "{}",
                                      self.json_headers()))
        self.session = answer["session"]
        self.started = time.monotonic()

    def json_headers(self) -> dict:
        return {"Content-Type": "application/json", "X-CSRFToken": self.csrf}

    def call(self, method, path, body=None, headers=None) -> str:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = send(self, method, path, body, headers)
        text = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:200]}")
        return text

    def beat(self) -> None:
        """An honest beat: the position is this viewer's own wall-clock play time."""
        self.seq += 1
        position = round(time.monotonic() - self.started, 3)
        body = json.dumps({"lesson": self.lesson_id, "session": self.session, "seq": self.seq,
                           "position": position, "playing": True, "rate": 1,
                           "event": "start" if self.seq == 1 else "tick"})
        answer = json.loads(self.call("POST", "/study/heartbeat", body, self.json_headers()))
        if not answer.get("ok"):
            raise RuntimeError(answer)


class Hello:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def beat(self) -> None:
        response = send(self, "GET", "/", None, {})
        response.read()
        if response.status != 200:
            raise RuntimeError(response.status)


def saturate(clients_by_thread: list[list], seconds: float) -> dict:
    """Back-to-back requests from each thread for `seconds`; returns requests per second."""
    counts = [0] * len(clients_by_thread)
    errors = []
    stop_at = time.monotonic() + seconds

    def run(i):
        clients = clients_by_thread[i]
        k = 0
        try:
            while time.monotonic() < stop_at and sum(counts) < MAX_REQUESTS:
                clients[k % len(clients)].beat()
                counts[i] += 1
                k += 1
        except Exception as err:  # noqa: BLE001 - reported, and the run fails below
            errors.append(repr(err))

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients_by_thread))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(errors[:3])
    return {"requests": sum(counts), "seconds": elapsed, "rps": sum(counts) / elapsed}


def fixed_rate(clients_by_thread: list[list], seconds: float, rate: int) -> dict:
    """Open loop at `rate` req/s; latency from each request's scheduled send time."""
    total = min(int(seconds * rate), MAX_REQUESTS)
    lock = threading.Lock()
    next_index = [0]
    latencies = []
    errors = []
    start = time.monotonic() + 0.2

    def run(i):
        clients = clients_by_thread[i]
        k = 0
        while True:
            with lock:
                n = next_index[0]
                if n >= total:
                    return
                next_index[0] += 1
            scheduled = start + n / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                clients[k % len(clients)].beat()
            except Exception as err:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(repr(err)[:300])
            k += 1
            with lock:
                latencies.append(time.monotonic() - scheduled)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients_by_thread))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    achieved = len(latencies) / (max(latencies) + total / rate) if latencies else 0
    return {"requests": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_ms": 1000 * latencies[-1], "achieved_rps": achieved,
            "errors": len(errors), "first_errors": errors[:2]}


def load_main(args) -> None:
    config = json.loads(args.load)
    concurrency = config["concurrency"]
    ids = config["ids"]
    viewers = [Viewer(config["app_port"], id_number, config["lesson_id"]) for id_number in ids]
    by_thread = [viewers[i::concurrency] for i in range(concurrency)]
    hellos = [[Hello(config["hello_port"])] for _ in range(concurrency)]
    # A fixed-rate thread pool big enough that slow answers do not throttle the schedule.
    rate_threads = max(concurrency, 32)
    rate_viewers = [viewers[i::rate_threads] for i in range(rate_threads)]
    rate_hellos = [[Hello(config["hello_port"])] for _ in range(rate_threads)]
    seconds = config["seconds"]
    # Saturation in rounds, hello and heartbeat next to each other (every other round heartbeat
    # first): on a shared machine a slow spell then falls on both sides of a round's ratio.
    rounds = []
    for number in range(config["rounds"]):
        pair = [("hello", hellos), ("heartbeat", by_thread)]
        measured = {name: saturate(clients, seconds)
                    for name, clients in (pair if number % 2 == 0 else pair[::-1])}
        rounds.append(measured)
    ratios = sorted(r["heartbeat"]["rps"] / r["hello"]["rps"] for r in rounds)
    result = {
        "rounds": rounds,
        "ratio": {"median": statistics.median(ratios), "low": ratios[0], "high": ratios[-1]},
        "hello": {"rps": statistics.median(r["hello"]["rps"] for r in rounds)},
        "heartbeat": {"rps": statistics.median(r["heartbeat"]["rps"] for r in rounds)},
        "hello_333": fixed_rate(rate_hellos, seconds, RATE),
        "heartbeat_333": fixed_rate(rate_viewers, seconds, RATE),
    }
    # Also at a rate the server can sustain (60 % of its saturated rate), where latency is not
    # queueing: what viewers see below capacity.
    sustainable = max(1, int(0.6 * result["heartbeat"]["rps"]))
    result["sustainable_rate"] = sustainable
    result["heartbeat_sustainable"] = fixed_rate(rate_viewers, seconds, sustainable)
    print(json.dumps(result))


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    parser.add_argument("--viewers", type=int, default=64, help="signed-in trainees")
    parser.add_argument("--concurrency", type=int, default=16, help="saturation threads")
    parser.add_argument("--rounds", type=int, default=3,
                        help="saturation rounds, each a hello and a heartbeat phase")
    parser.add_argument("--reset-postgres", metavar="URL",
                        help="run against this PostgreSQL database instead of SQLite; "
                             "its public schema is DROPPED first")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return
    if args.viewers < max(args.concurrency, 32):
        parser.error("--viewers must be at least max(concurrency, 32): one viewer per thread")

    with tempfile.TemporaryDirectory(prefix="xt-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # One trainee more than the load signs in: path_mix's own, with nothing watched yet.
        url, lesson_id, ids = build_database(tmp, args.viewers + 1, args.reset_postgres)
        (tmp / "hello_app.py").write_text(HELLO)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "DEMO_MEDIA": "0",
               "SIGNIN_RATE_LIMIT": "100000 per minute",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
        app_port, hello_port = free_port(), free_port()
        app_server = start_gunicorn(tmp, "wsgi:app", app_port, env, ROOT)
        try:
            hello_server = start_gunicorn(tmp, "hello_app:app", hello_port, env, tmp)
            try:
                load = json.dumps({"app_port": app_port, "hello_port": hello_port,
                                   "lesson_id": lesson_id, "ids": ids[:-1],
                                   "concurrency": args.concurrency, "seconds": args.seconds,
                                   "rounds": args.rounds})
                out = subprocess.run([sys.executable, __file__, "--load", load], env=env,
                                     capture_output=True, text=True,
                                     timeout=120 + (4 + 2 * args.rounds) * args.seconds)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                errors = (tmp / "wsgi.err").read_text(errors="replace")
                if "Traceback" in errors:
                    print("server errors (last 3000 characters):\n" + errors[-3000:])
                result = json.loads(out.stdout.strip().splitlines()[-1])
            finally:
                stop(hello_server)
        finally:
            stop(app_server)

        mix = path_mix(url, lesson_id, ids[-1])

    hello, beat = result["hello"], result["heartbeat"]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform_module.machine()} · nproc {os.cpu_count()} · "
          f"Python {platform_module.python_version()} · load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} · "
          f"{'PostgreSQL' if args.reset_postgres else 'SQLite'} · gunicorn "
          f"{' '.join(a for a in make_run_flags(0) if a.startswith('--w') or a.isdigit())}")
    print(f"# saturation: {args.concurrency} threads x {args.seconds:g} s, {args.rounds} rounds "
          f"(medians; the ratio is the median of the rounds' ratios); fixed rate: {RATE} req/s "
          f"x {args.seconds:g} s; {args.viewers} viewers\n")
    print("| route | saturated req/s | ratio to hello | p50 ms at 333/s | p99 ms at 333/s | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, sat, fixed in (("hello world (bare Flask)", hello, result["hello_333"]),
                             ("heartbeat (POST /study/heartbeat)", beat, result["heartbeat_333"])):
        ratio = result["ratio"]["median"] if sat is beat else 1.0
        print(f"| {name} | {sat['rps']:.0f} | {ratio:.3f} | "
              f"{fixed['p50_ms']:.1f} | {fixed['p99_ms']:.1f} | {fixed['errors']} |")
    low = result["heartbeat_sustainable"]
    spread = result["ratio"]
    print(f"\nheartbeat/hello ratio: {spread['median']:.3f} (rounds {spread['low']:.3f}-"
          f"{spread['high']:.3f})")
    print(f"heartbeat at {result['sustainable_rate']} req/s (60 % of saturation): "
          f"p50 {low['p50_ms']:.1f} ms, p99 {low['p99_ms']:.1f} ms, errors {low['errors']}")
    for step_s in (15, 30):
        m = mix[step_s]
        print(f"in-process, one beat per {step_s} s of server time: {m['ms']:.2f} ms per beat "
              f"({100 * m['full_share']:.0f} % full path), hello world {mix['hello_ms']:.2f} ms: "
              f"ratio {mix['hello_ms'] / m['ms']:.3f}")
    print(f"raw: {json.dumps({**result, 'mix': mix})}")


if __name__ == "__main__":
    main()
