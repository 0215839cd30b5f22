"""Range throughput: the app's media endpoint under gunicorn against nginx serving the same file.

Run from the repo root: python bench/stream.py [--seconds 5] [--connections 8] [--size-mb 32]
                                               [--range-kb 256,4096] [--rounds 3]
  gunicorn      GET /media/lessons/<id>/360p with a random `Range: bytes=a-b` each request, a
                signed-in session, gunicorn 2 workers x 4 threads: the endpoint checks access,
                then gunicorn sends the range with sendfile(2)
  signed        the player's signed, expiring link (/media/s/...; video/links.py): checked by the
                app without a cookie or a query, sent with sendfile
  nginx         the same file, same ranges, straight from an nginx static location (the ceiling)
  nginx+link    nginx checks the same signed link itself (secure_link; docs/deploy/nginx.conf)
  nginx+accel   the deployment of docs/deploy/nginx.conf: the app checks access and answers with
                X-Accel-Redirect, nginx sends the bytes
The app's own anchor is a one-route Flask hello world on the same gunicorn flags (`make run`'s,
read from the Makefile), loaded the same way: requests/s of `signed` at 256 KiB / hello.
Every server is measured once a round, for --rounds rounds (every other one in reverse order),
each ratio's two sides next to each other; the table gives medians, a ratio as the median of the
rounds' own ratios with their range (a slow spell of a shared machine lands on both sides).
The load comes from wrk (Debian package wrk) with a Lua script picking random ranges; without
wrk, from Python threads (slower: then the client is the bottleneck, and the script says so).
nginx is Debian's (nginx-light); without it the nginx columns are skipped with a note.
Everything listens on 127.0.0.1 and lives in a temporary folder.
"""

import argparse
import datetime as dt
import http.client
import os
import platform as platform_module
import random
import re
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
sys.path.insert(0, str(ROOT / "platform"))

import warnings  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from heartbeat import HELLO, make_run_flags  # noqa: E402

LINK_SECRET = "bench-link-secret-0123456789abcdef"

warnings.simplefilter("ignore", DeprecationWarning)  # ffmpeg-python imports 'future'

NGINX_CONF = r"""
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ video/mp4 mp4; image/jpeg jpg; }}
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    upstream app {{ server 127.0.0.1:{accel_app_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{static_port};
        location /files/ {{ alias {media}/; }}
    }}
    server {{
        listen 127.0.0.1:{link_port};
        location ~ "^/media/s/[0-9]+/([0-9]+)/(v[0-9a-f]{{16}})/(360p|240p)\.mp4$" {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 403; }}
            alias {media}/lessons/$1/$2/$3.mp4;
        }}
    }}
    server {{
        listen 127.0.0.1:{accel_port};
        location /_media/ {{ internal; alias {media}/; }}
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""

WRK_SCRIPT = """
local size, range, path, cookie = {size}, {range}, "{path}", "{cookie}"
math.randomseed(os.time())
request = function()
  local first = math.random(0, size - range)
  local headers = {{["Range"] = "bytes=" .. first .. "-" .. (first + range - 1)}}
  if cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", path, headers)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def prepare(tmp: Path, size_mb: int) -> dict:
    """A database with the demo accounts and one published lesson whose 360p is size_mb bytes."""
    from xuetang import create_app, migrations
    from xuetang.db import database
    from xuetang.models import Course, Lesson, Organization, Rendition
    from xuetang.seed import demo as demo_data
    from xuetang.video import links, media_store

    env = {"DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "MEDIA_ROOT": str(tmp / "media"),
           "MEDIA_LINK_SECRET": LINK_SECRET,
           "SECRET_KEY": "bench-secret", "DEMO_MEDIA": "0", "SIGNIN_RATE_LIMIT": "1000 per minute",
           "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3")}
    app = create_app({k: v for k, v in env.items() if k != "DEMO_MEDIA"} | {"DEMO_MEDIA": False})
    with app.app_context(), database.connection_context():
        migrations.upgrade()
        demo_data.load()
        org = Organization.get(Organization.kind == "ce_base")
        course = Course.create(organization=org, title="流媒体基准", category="public",
                               declared_hours=1, published=True)
        version = media_store.new_version()
        lesson = Lesson.create(course=course, title="基准", status="ready", duration_ms=60_000,
                               media_version=version)
        name = media_store.version_name(lesson.id, version, "360p.mp4")
        path = media_store.resolve(env["MEDIA_ROOT"], name)
        path.parent.mkdir(parents=True)
        with path.open("wb") as f:
            for _ in range(size_mb):
                f.write(random.randbytes(1024 * 1024))
        Rendition.create(lesson=lesson, name="360p", file_name=name, size_bytes=path.stat().st_size,
                         width=640, height=360, bitrate_kbps=450)
    media = Path(env["MEDIA_ROOT"])
    for folder in [media, *media.rglob("*")]:  # nginx workers may run as another user
        if folder.is_dir():
            folder.chmod(0o755)
    tmp.chmod(0o755)
    link = links.signed_url(LINK_SECRET, links.link_path(1, lesson.id, version, "360p.mp4"),
                            int(time.time()) + 24 * 3600)
    return {"env": env, "lesson": lesson.id, "file": path, "name": name, "size": path.stat().st_size,
            "link": link}


def start_gunicorn(env: dict, port: int, tmp: Path, extra_env: dict | None = None,
                   app_spec: str = "wsgi:app", chdir: Path = ROOT) -> subprocess.Popen:
    """gunicorn with `make run`'s flags (bench/heartbeat.py reads them from the Makefile)."""
    full = {**os.environ, **env, **(extra_env or {}),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *make_run_flags(port), "--log-level", "warning",
         "--chdir", str(chdir), app_spec],
        cwd=chdir, env=full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(tmp / f"gunicorn-{port}.log").open("wb"), start_new_session=True)
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sign_in(port: int) -> str:
    """The session cookie of the demo account `employer` (it may see every published course)."""
    from xuetang.seed.demo import DEMO_PASSWORD

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/auth/signin")
    reply = conn.getresponse()
    page = reply.read().decode()
    cookie = reply.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"identifier": "employer", "password": DEMO_PASSWORD,
                                   "csrf_token": token})
    conn.request("POST", "/auth/signin", body, {"Cookie": cookie,
                                                "Content-Type": "application/x-www-form-urlencoded"})
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 303, f"sign-in failed: {reply.status}"
    return reply.getheader("Set-Cookie").split(";", 1)[0]


def check_range(port: int, path: str, cookie: str, data: bytes) -> None:
    """One request up front: the server must answer 206 with exactly the asked bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    first = len(data) // 3
    conn.request("GET", path, headers={"Range": f"bytes={first}-{first + 99999}", "Cookie": cookie})
    reply = conn.getresponse()
    body = reply.read()
    assert reply.status == 206 and body == data[first:first + 100000], (reply.status, len(body))


def run_wrk(port, path, cookie, size, range_bytes, seconds, connections, tmp) -> dict:
    script = tmp / "ranges.lua"
    script.write_text(WRK_SCRIPT.format(size=size, range=range_bytes, path=path, cookie=cookie))
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "mb_s": rps * range_bytes / 1024**2, "bad": int(bad.group(1)) if bad else 0,
            "errors": errors.group(1) if errors else ""}


def run_threads(port, path, cookie, size, range_bytes, seconds, connections, tmp) -> dict:
    counts = [0] * connections
    bad = [0] * connections
    deadline = time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        rng = random.Random(i)
        while time.monotonic() < deadline:
            first = rng.randrange(size - range_bytes)
            headers = {"Range": f"bytes={first}-{first + range_bytes - 1}"}
            if cookie:
                headers["Cookie"] = cookie
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            reply.read()
            counts[i] += 1
            bad[i] += reply.status != 206

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rps = sum(counts) / seconds
    return {"rps": rps, "mb_s": rps * range_bytes / 1024**2, "bad": sum(bad), "errors": ""}


def median_ratio(runs: list[dict], anchors: list[dict], key: str) -> tuple[float, float, float]:
    """The median, lowest and highest of the per-round ratios (round i of `runs` over round i of
    `anchors`): each pair was measured minutes apart at most, so a slow spell of the machine
    weighs on both sides of the ratio it falls into, not on one."""
    ratios = sorted(run[key] / anchor[key] for run, anchor in zip(runs, anchors, strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--size-mb", type=int, default=32)
    parser.add_argument("--range-kb", default="256,4096", help="range sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3,
                        help="every server is measured once a round, rounds one after another")
    args = parser.parse_args()
    load = run_wrk if shutil.which("wrk") else run_threads
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None)
    sizes = [int(kb) * 1024 for kb in args.range_kb.split(",")]
    results: dict[tuple[str, int], list[dict]] = {}
    hello: list[dict] = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="xuetang-stream-") as tmp_name:
        tmp = Path(tmp_name)
        setup = prepare(tmp, args.size_mb)
        data = setup["file"].read_bytes()
        app_path = f"/media/lessons/{setup['lesson']}/360p"
        procs = []
        conf = None
        try:
            app_port, hello_port = free_port(), free_port()
            procs.append(start_gunicorn(setup["env"], app_port, tmp))
            (tmp / "hello_app.py").write_text(HELLO)
            procs.append(start_gunicorn(setup["env"], hello_port, tmp, app_spec="hello_app:app",
                                        chdir=tmp))
            cookie = sign_in(app_port)
            check_range(app_port, app_path, cookie, data)
            check_range(app_port, setup["link"], "", data)
            # (name, port, path, cookie) of every server measured: each ratio's two sides next
            # to each other in a round (hello world, then the signed link it anchors; nginx, then
            # what is compared with it)
            servers = [("signed", app_port, setup["link"], "")]
            if nginx:
                accel_app_port, static_port, accel_port = free_port(), free_port(), free_port()
                link_port = free_port()
                procs.append(start_gunicorn(setup["env"], accel_app_port, tmp,
                                            {"MEDIA_ACCEL_REDIRECT": "/_media/"}))
                conf = tmp / "nginx.conf"
                conf.write_text(NGINX_CONF.format(
                    tmp=tmp, media=setup["env"]["MEDIA_ROOT"], static_port=static_port,
                    accel_port=accel_port, accel_app_port=accel_app_port, link_port=link_port,
                    secret=LINK_SECRET,
                    user="user root;" if os.geteuid() == 0 else ""))
                subprocess.run([str(nginx), "-c", str(conf)], check=True)
                wait_port(static_port)
                static_path = f"/files/{setup['name']}"
                check_range(static_port, static_path, "", data)
                accel_cookie = sign_in(accel_port)
                check_range(accel_port, app_path, accel_cookie, data)
                check_range(link_port, setup["link"], "", data)
                servers += [("nginx", static_port, static_path, ""),
                            ("nginx+link", link_port, setup["link"], ""),
                            ("nginx+accel", accel_port, app_path, accel_cookie)]
            else:
                notes.append("nginx not installed (apt-get install nginx-light): nginx columns skipped")
            servers.append(("gunicorn", app_port, app_path, cookie))
            plan = [("hello", hello_port, "/", "", sizes[0])] + [
                (*server, rb) for rb in sizes for server in servers]
            for number in range(args.rounds):
                # every other round backwards, so a drift of the machine's speed during a round
                # falls on both sides of each pair alike
                for name, port, path, server_cookie, rb in plan if number % 2 == 0 else plan[::-1]:
                    run = load(port, path, server_cookie, setup["size"], rb, args.seconds,
                               args.connections, tmp)
                    (hello if name == "hello" else results.setdefault((name, rb), [])).append(run)
        finally:
            if conf is not None:
                subprocess.run([str(nginx), "-c", str(conf), "-s", "stop"], check=False)
            for proc in procs:
                stop(proc)
    if load is run_threads:
        notes.append("wrk not installed: load from Python threads, which may be the bottleneck")
    print(f"# bench/stream.py {dt.date.today()} {platform_module.machine()} nproc={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f} file={args.size_mb} MiB "
          f"connections={args.connections} seconds={args.seconds} rounds={args.rounds} "
          f"client={load.__name__}")
    print(f"app hello world (same gunicorn flags): "
          f"{statistics.median(h['rps'] for h in hello):.0f} requests/s (median of the rounds)")
    print("Medians of the rounds; a ratio is the median of the rounds' own ratios (lowest-highest).")
    print()
    print("| server | range | requests/s | MiB/s | / nginx | / app hello (req/s) | non-206 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (name, rb), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        reference = results.get(("nginx", rb))
        ratio = "{:.2f} ({:.2f}-{:.2f})".format(*median_ratio(runs, reference, "mb_s")) \
            if reference else "—"
        to_hello = "{:.2f} ({:.2f}-{:.2f})".format(*median_ratio(runs, hello, "rps"))
        print(f"| {name} | {rb // 1024} KiB | {statistics.median(r['rps'] for r in runs):.0f} | "
              f"{statistics.median(r['mb_s'] for r in runs):.0f} | {ratio} | {to_hello} | "
              f"{sum(r['bad'] for r in runs)} |")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
