"""A city on real engines: PostgreSQL, Redis, two gunicorn app servers behind nginx (round robin),
two huey consumers on the Redis queue, media on one shared directory; a short load across both
servers, then four checks.

Run from the repo root: python bench/city.py --postgres URL [--viewers N] [--minutes T]
                                             [--lessons K] [--port-base P]

--postgres (default: $TEST_DATABASE_URL) names a PostgreSQL database whose public schema this run
resets. Everything else is started here, on loopback, in a temp dir, and stopped at the end (also
after an error): redis-server and nginx (Debian's packages) with their own config files, two
gunicorns with `make run`'s flags (bench/heartbeat.make_run_flags), two huey consumers started
as `make run` starts its one. The app's settings are the city lines of
docs/deploy/xuetang.env.example: DATABASE_URL on PostgreSQL, HUEY_BACKEND=redis,
RATELIMIT_STORAGE_URI on Redis, one MEDIA_ROOT, TRUSTED_PROXIES=1; nothing else differs from a
district (the sign-in limit is the default SIGNIN_RATE_LIMIT). Bounded: --viewers ≤ 1,000,
--minutes ≤ 10, --lessons ≤ 10.

1. Takeover across servers: one person opens the player on server 1, then on another device on
   server 2; server 1's next beat must say it was taken over, server 2's must not.
2. The sign-in limit is shared: failed sign-ins from one address through nginx (round robin, so
   over both servers) are refused from the (limit+1)th on; and one identifier's failures from
   several addresses lock it after SIGNIN_FREE_FAILURES, whichever server they reach.
3. Each transcode done once: K lectures are uploaded (through services.courses, as the upload
   endpoint does) while the viewers play; one consumer is restarted (gracefully, as a deploy
   does) while the other transcodes. Every lecture must end ready with one attempt, and ffmpeg
   must have encoded each rendition exactly once (an ffmpeg wrapper logs every run).
4. The load: bench/load.py's viewers, each from its own loopback address, through nginx; then its
   ground truth: every viewer's ledger minutes equal what it played behind a passed face check.
It prints the figures and PASS/FAIL per check, and exits 1 when any check failed.
"""

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aiohttp  # noqa: E402
import load  # noqa: E402  (bench helpers: the database, the viewers, the ground truth)
from heartbeat import free_port, start_gunicorn, stop  # noqa: E402  (make_run_flags inside)
from procstat import cpu_seconds, percentile, process_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What makes this a city rather than a district: the city lines of docs/deploy/xuetang.env.example
# (tests/test_deploy.py holds the two together). The other settings in City.env are a district's
# too (TRUSTED_PROXIES, MEDIA_ACCEL_REDIRECT) or this bench's instruments (FFMPEG_BINARY, ...).
CITY_SETTINGS = ("DATABASE_URL", "HUEY_BACKEND", "HUEY_REDIS_URL", "RATELIMIT_STORAGE_URI",
                 "MEDIA_ROOT")
MAX_VIEWERS, MAX_MINUTES, MAX_LESSONS = 1000, 10, 10
EXTRA_PEOPLE = 1  # trainees beside the viewers: the takeover check's person
SETTLE_S = 180  # how long transcodes may take after the load before the check gives up

NGINX_CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_body_buffer_size 128k;   # snapshots stay in memory
    # The city's upstream block (docs/deploy/nginx-city.conf): every app server, round robin.
    upstream xuetang {{
{servers}
        # No upstream keepalive: see docs/deploy/nginx.conf.
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 32m;
        location /_media/ {{ internal; alias {media}/; }}
        location / {{
            proxy_pass http://xuetang;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            add_header X-City-Upstream $upstream_addr always;
        }}
    }}
}}
"""

FFMPEG_WRAPPER = """#!/bin/sh
echo "$PPID $*" >> {log}
exec {ffmpeg} "$@"
"""


def consumer_args() -> list[str]:
    """The huey consumer's arguments exactly as `make run` passes them (read from the Makefile)."""
    makefile = (ROOT / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if "$(BIN)/huey_consumer" in line)
    return line.split("$(BIN)/huey_consumer", 1)[1].split("&", 1)[0].split()


# ---------------------------------------------------------------- the city's processes


class City:
    """The processes of one run; `close()` stops every one that was started."""

    def __init__(self, tmp: Path, url: str, ports: list[int], check_interval: int):
        self.tmp, self.url, self.check_interval = tmp, url, check_interval
        self.redis_port, *self.app_ports, self.nginx_port = ports
        self.media = tmp / "media"
        self.ffmpeg_log = tmp / "ffmpeg-runs.log"
        self.stack = contextlib.ExitStack()
        self.consumers: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def app_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.app_ports[i]}"

    def env(self) -> dict:
        from xuetang.video.probe import ffmpeg_binary

        wrapper = self.tmp / "ffmpeg"
        wrapper.write_text(FFMPEG_WRAPPER.format(log=self.ffmpeg_log, ffmpeg=ffmpeg_binary(None)))
        wrapper.chmod(0o755)
        redis = f"redis://127.0.0.1:{self.redis_port}"
        return dict(os.environ, DATABASE_URL=self.url, SECRET_KEY="city", MEDIA_ROOT=str(self.media),
                    HUEY_BACKEND="redis", HUEY_REDIS_URL=f"{redis}/0",
                    RATELIMIT_STORAGE_URI=f"{redis}/1", TRUSTED_PROXIES="1",
                    MEDIA_ACCEL_REDIRECT="/_media/", FFMPEG_BINARY=str(wrapper),
                    FACE_CHECK_MEAN_INTERVAL_S=str(self.check_interval), DEMO_MEDIA="0",
                    PYTHONPATH=str(ROOT / "platform"))

    def start(self) -> None:
        env = self.env()
        self._start_redis()
        for i, port in enumerate(self.app_ports):
            folder = self.tmp / f"app{i + 1}"
            folder.mkdir()
            server = start_gunicorn(folder, "wsgi:app", port, env, ROOT)
            self.stack.callback(stop, server)
            self.servers.append(server)
        for _ in range(2):
            self.start_consumer(env)
        self._start_nginx()

    def _start_redis(self) -> None:
        import redis

        process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.tmp),
             "--logfile", str(self.tmp / "redis.log")], stdout=subprocess.DEVNULL)
        self.stack.callback(stop, process)
        client = redis.Redis(port=self.redis_port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
            finally:
                client.close()

    def start_consumer(self, env: dict | None = None) -> subprocess.Popen:
        huey = shutil.which("huey_consumer", path=str(Path(sys.executable).parent))
        log = open(self.tmp / f"consumer{len(self.consumers) + 1}.log", "wb")  # noqa: SIM115
        self.stack.callback(log.close)
        process = subprocess.Popen([huey, *consumer_args()], cwd=ROOT, env=env or self.env(),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.stack.callback(self.stop_consumer, process, signal.SIGTERM)
        self.consumers.append(process)
        return process

    @staticmethod
    def stop_consumer(process: subprocess.Popen, how=signal.SIGINT, grace: float = 60) -> None:
        """SIGINT: huey finishes the running task first (the signal goes to the consumer alone:
        an ffmpeg would stop on it); then the group (an ffmpeg left behind) is killed."""
        if process.poll() is None:
            process.send_signal(how)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _start_nginx(self) -> None:
        folder = self.tmp / "nginx"
        folder.mkdir()
        servers = "\n".join(f"        server 127.0.0.1:{port};" for port in self.app_ports)
        conf = folder / "nginx.conf"
        # As root, nginx's workers would run as nobody, who cannot enter this 0700 temp dir.
        conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "",
                                          dir=folder, servers=servers, port=self.nginx_port,
                                          media=self.media))
        process = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(folder),
                                    "-e", str(folder / "error.log"), "-c", str(conf),
                                    "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        self.stack.callback(stop, process)
        deadline = time.monotonic() + 20
        while upstream_of(self.base + "/auth/signin") is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()}")
            time.sleep(0.2)

    def close(self) -> None:
        self.stack.close()


def upstream_of(url: str) -> str | None:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", parts.path)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.getheader("X-City-Upstream") if response.status == 200 else None
    except OSError:
        return None


# ---------------------------------------------------------------- checks 1 and 2


async def takeover(city: City, id_number: str, lesson: int) -> tuple[bool, str]:
    """One person, two devices on the two servers: the first is told it was taken over."""
    stats = load.Stats()
    images = load.fixture_images()
    first = load.Viewer(city.app_url(0), id_number, lesson, "right", stats)
    second = load.Viewer(city.app_url(1), id_number, lesson, "right", stats)
    jar = aiohttp.CookieJar
    async with (aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as a,
                aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as b):
        opened_first = await first.open_player(a, images)
        opened_second = await second.open_player(b, images)
        await asyncio.sleep(2)  # the next beats are real play later
        after_first = await first.beat(a, "tick", time.monotonic())
        after_second = await second.beat(b, "tick", time.monotonic())
    ok = (opened_first is not None and opened_second is not None
          and after_first.get("superseded") is True and after_second.get("superseded") is False)
    return ok, (f"device 1 on :{city.app_ports[0]} superseded={after_first.get('superseded')}, "
                f"device 2 on :{city.app_ports[1]} superseded={after_second.get('superseded')}")


async def failed_sign_ins(base: str, address: str, identifiers: list[str],
                          pages: int = 1) -> list[tuple[int, str]]:
    """POST a wrong password for each identifier from one loopback address: (status, upstream).
    `pages` sign-in pages first (each moves nginx's round robin on by one)."""
    out = []
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(pages):
            async with http.get(base + "/auth/signin") as response:
                token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', await response.text())
        for identifier in identifiers:
            async with http.post(base + "/auth/signin", allow_redirects=False,
                                 data={"identifier": identifier, "password": "wrong-password-1",
                                       "csrf_token": token.group(1)}) as response:
                await response.read()
                out.append((response.status, response.headers.get("X-City-Upstream", "")))
    return out


async def shared_limits(city: City, settings: dict) -> tuple[bool, str]:
    limit = int(settings["SIGNIN_RATE_LIMIT"].split()[0])
    answers = await failed_sign_ins(city.base, "127.2.0.1",
                                     [f"nobody{i}" for i in range(limit + 3)])
    statuses = [status for status, _ in answers]
    upstreams = {upstream for _, upstream in answers[:limit]}
    by_address = statuses[:limit] == [401] * limit and statuses[limit:] == [429] * 3
    free = settings["SIGNIN_FREE_FAILURES"]
    locked = []
    for i in range(free + 1):  # one identifier, each try from another address
        locked += await failed_sign_ins(city.base, f"127.3.0.{i + 1}", ["370102197001010001"],
                                        pages=1 + i % 2)
    lock_statuses = [status for status, _ in locked]
    lock_upstreams = {upstream for _, upstream in locked[:free]}
    by_identifier = lock_statuses == [401] * free + [429]
    ok = by_address and by_identifier and len(upstreams) == 2 and len(lock_upstreams) == 2
    return ok, (f"{settings['SIGNIN_RATE_LIMIT']} per address: statuses {statuses} over "
                f"{sorted(upstreams)}; {free} free failures per identifier: {lock_statuses} over "
                f"{sorted(lock_upstreams)}")


# ---------------------------------------------------------------- check 3


def make_lecture(path: Path, seconds: int) -> Path:
    from xuetang.video.probe import ffmpeg_binary

    subprocess.run([ffmpeg_binary(None), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(path)], check=True, timeout=120)
    return path


def upload_lectures(app, count: int, video: Path) -> list[int]:
    """K lectures in place as the upload endpoint leaves them, each then enqueued on Redis."""
    from xuetang.db import database
    from xuetang.models import Course, Lesson, Organization
    from xuetang.services import courses
    from xuetang.video import media_store

    ids = []
    with app.app_context(), database.connection_context():
        office = Organization.get(Organization.name == "负载测试职称办")  # load.build_database
        course = Course.create(organization=office, title="城市转码测试", category="public",
                               declared_hours=1)
        for position in range(1, count + 1):
            lesson = Lesson.create(course=course, title=f"第{position}讲", position=position)
            name = media_store.new_source_name(lesson.id)
            path = media_store.resolve(app.config["MEDIA_ROOT"], name)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(video, path)
            Lesson.update(source_name=name, status="uploaded").where(
                Lesson.id == lesson.id).execute()
            courses.enqueue_transcode(Lesson.get_by_id(lesson.id))
            ids.append(lesson.id)
    return ids


def ffmpeg_children(pid: int) -> int:
    return len(process_tree(pid)) - 1


async def restart_a_consumer_mid_transcode(city: City, env: dict, timeout_s: float = 90) -> str:
    """Once one consumer has an ffmpeg running, restart the other (it recovers at start-up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = [c for c in city.consumers if c.poll() is None and ffmpeg_children(c.pid)]
        idle = [c for c in city.consumers if c.poll() is None and c not in busy]
        if busy and idle:
            await asyncio.to_thread(City.stop_consumer, idle[0])
            city.consumers.remove(idle[0])
            city.start_consumer(env)
            await asyncio.sleep(5)  # about a consumer's start-up, when it recovers
            still = "still" if ffmpeg_children(busy[0].pid) else "no longer"
            return (f"restarted consumer pid {idle[0].pid} while pid {busy[0].pid} transcoded "
                    f"({still} transcoding 5 s later)")
        await asyncio.sleep(0.1)
    return "no moment with one consumer transcoding and the other idle: nothing restarted"


def transcode_outcome(app, ids: list[int], log: Path) -> tuple[bool, str]:
    from xuetang.db import database
    from xuetang.models import Lesson, Rendition
    from xuetang.video import media_store
    from xuetang.video.transcode import RENDITIONS

    deadline = time.monotonic() + SETTLE_S
    while True:
        with app.app_context(), database.connection_context():
            lessons = list(Lesson.select().where(Lesson.id.in_(ids)))
            if all(lesson.status in ("ready", "failed") for lesson in lessons):
                break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    with app.app_context(), database.connection_context():
        files = [media_store.resolve(app.config["MEDIA_ROOT"], r.file_name)
                 for r in Rendition.select().where(Rendition.lesson.in_(ids))]
    runs = [line.split(" ", 1) for line in log.read_text().splitlines()] if log.exists() else []
    encodes = [ppid for ppid, args in runs if "libx264" in args]
    by_consumer = {ppid: encodes.count(ppid) for ppid in sorted(set(encodes))}
    statuses = [lesson.status for lesson in lessons]
    attempts = [lesson.attempts for lesson in lessons]
    ok = (statuses == ["ready"] * len(ids) and attempts == [1] * len(ids)
          and len(encodes) == len(ids) * len(RENDITIONS)
          and len(files) == len(encodes) and all(f.exists() for f in files))
    return ok, (f"{len(ids)} lectures: statuses {statuses}, attempts {attempts}; "
                f"{len(encodes)} rendition encodes (expected {len(ids) * len(RENDITIONS)}) by "
                f"consumer pid {by_consumer}; {len(files)} rendition files in the shared media")


# ---------------------------------------------------------------- one run


def run(args) -> int:
    from xuetang import config, create_app

    settings = {name: config.default(name) for name in ("SIGNIN_RATE_LIMIT", "SIGNIN_FREE_FAILURES",
                                                        "HEARTBEAT_SECONDS")}
    ports = ([args.port_base + i for i in range(4)] if args.port_base
             else [free_port() for _ in range(4)])
    results: dict[str, tuple[bool, str]] = {}
    with tempfile.TemporaryDirectory(prefix="xuetang-city-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"setup: {args.viewers} viewers and {EXTRA_PEOPLE} more trainee on PostgreSQL ...")
        url, lesson, ids = load.build_database(tmp, args.viewers + EXTRA_PEOPLE, args.postgres)
        viewers, spare = ids[:args.viewers], ids[args.viewers:]
        video = make_lecture(tmp / "lecture.mp4", args.lecture_seconds)
        city = City(tmp, url, ports, args.check_interval)
        try:
            city.start()
            env = city.env()
            print(f"redis :{city.redis_port}, app servers :{city.app_ports[0]} and "
                  f":{city.app_ports[1]}, nginx :{city.nginx_port}, consumers pid "
                  f"{[c.pid for c in city.consumers]}")
            results["1 one active device per person"] = asyncio.run(
                takeover(city, spare[0], lesson))
            results["2 sign-in limits shared"] = asyncio.run(shared_limits(city, settings))
            app = create_app({"DATABASE_URL": url, "SECRET_KEY": "city", "MEDIA_ROOT": str(city.media),
                              "HUEY_BACKEND": "redis", "HUEY_REDIS_URL": env["HUEY_REDIS_URL"]})
            servers = [pid for s in city.servers for pid in process_tree(s.pid)]
            cpu_before = cpu_seconds(servers)

            ramp_s = min(30.0, args.viewers / 20)

            async def uploads_then_restart():
                # While the viewers play, after they all started: a start beat answered late
                # behind ffmpeg makes the next one "too fast" for the server's clock (the
                # saturation effect of bench/load.py), which is not what this run is about.
                await asyncio.sleep(ramp_s + 10)
                uploads = await asyncio.to_thread(upload_lectures, app, args.lessons, video)
                return uploads, await restart_a_consumer_mid_transcode(city, env)

            async def load_and_uploads():
                transcodes = asyncio.create_task(uploads_then_restart())
                stats, sims, elapsed = await load.drive(
                    city.base, viewers, lesson, args.minutes, settings["HEARTBEAT_SECONDS"],
                    wrong=0.05, silent=0.05, ramp_s=ramp_s,
                    source_address=lambda i: f"127.1.{i // 250}.{i % 250 + 1}")
                return *await transcodes, stats, sims, elapsed

            uploads, restarted, stats, sims, elapsed = asyncio.run(load_and_uploads())
            cpu = cpu_seconds(servers) - cpu_before
            ok, detail = transcode_outcome(app, uploads, city.ffmpeg_log)
            if stats.errors:
                print("nginx's error log ends:", *(tmp / "nginx" / "error.log").read_text(
                    errors="replace").splitlines()[-3:], sep="\n  ")
            results["3 each transcode done once"] = (ok, f"{restarted}; {detail}")
        finally:
            city.close()
        ledger = load.credited_minutes(url)
    mismatches = load.ground_truth(sims, ledger)
    errors = sum(stats.errors.values())
    requests = sum(len(v) for v in stats.latencies.values())
    beats = stats.latencies.get("heartbeat", [])
    earning = sum(1 for sim in sims if sim.behaviour == "right" and sim.truth_ms >= 60_000)
    over = sum(1 for _, _, expected, got in mismatches if got > expected)
    results["4 ledger equals the ground truth"] = (
        not mismatches and errors == 0 and earning > 0,
        f"{len(mismatches)} mismatches ({over} credited more than played), {errors} errors; "
        f"{sum(ledger.values())} minutes credited to {earning} viewers who earned (none: too short "
        "a run to prove anything)")
    print(f"\nload: {args.viewers} viewers for {args.minutes} min through nginx, "
          f"{requests / elapsed:.1f} req/s over {elapsed:.0f} s; heartbeat p50 "
          f"{percentile(beats, 50):.0f} ms, p99 {percentile(beats, 99):.0f} ms; app servers' CPU "
          f"{cpu:.0f} s ({cpu / elapsed:.2f} cores); load average {os.getloadavg()[0]:.2f}")
    for sample in stats.error_samples:
        print("  error:", sample)
    for mismatch in mismatches[:5]:
        print("  id {} ({}): expected {} min, ledger {} min".format(*mismatch))
    for name, (ok, detail) in results.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 0 if all(ok for ok, _ in results.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a PostgreSQL URL whose public schema this run resets")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--lessons", type=int, default=4, help="lectures uploaded and transcoded")
    # Long enough that a transcode outlasts a consumer's start-up (the restart in check 3).
    parser.add_argument("--lecture-seconds", type=int, default=60)
    parser.add_argument("--check-interval", type=int, default=45,
                        help="mean seconds of play between random face checks (short runs need "
                             "checks to have credited minutes to compare)")
    parser.add_argument("--port-base", type=int, help="four ports from here (default: free ones)")
    args = parser.parse_args()
    if not (args.postgres or "").startswith("postgres"):
        parser.error("a city runs on PostgreSQL: --postgres URL or TEST_DATABASE_URL")
    if not (1 <= args.viewers <= MAX_VIEWERS and 0 < args.minutes <= MAX_MINUTES
            and 1 <= args.lessons <= MAX_LESSONS and 1 <= args.lecture_seconds <= 300):
        parser.error(f"--viewers 1..{MAX_VIEWERS}, --minutes up to {MAX_MINUTES}, "
                     f"--lessons 1..{MAX_LESSONS}, --lecture-seconds 1..300")
    for tool in ("redis-server", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            parser.error(f"{tool} is missing: apt-get install redis-server nginx")
    sys.path.insert(0, str(ROOT / "platform"))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
