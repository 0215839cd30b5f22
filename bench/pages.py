"""Page weight on a phone's link: bytes per page (first and repeat visit) and the time to the first
played frame of the 240p rendition at 256 kbps / 400 ms (issue 14, item 4).

Run from the repo root: python bench/pages.py [--lecture-s 60] [--frame-runs 3]

Starts gunicorn with the argv of `make run` on 127.0.0.1 with a temporary database (the demo
data plus a public and a professional course whose lessons went through the real transcode), then
drives Debian's Chromium (/usr/bin/chromium) through Playwright. Bytes are what CDP reports on the
wire (`Network.loadingFinished.encodedDataLength`: headers and compressed body) for every request
of the page except the lecture itself (reported apart: the player asks for the video's index as
soon as it loads); a first visit is a fresh browser context (empty cache) signed in by a plain
form POST, a repeat visit is the same page again in that context. The anchor in the same run is
the same page's bytes once decoded (what it would weigh uncompressed). The first frame: a fresh
context with `Network.emulateNetworkConditions` at 256 kbps down, 128 kbps up, 400 ms latency,
the 240p rendition chosen, play() as soon as the player has set its source (a tap at once), and
the time from navigation start to the first frame presented (`requestVideoFrameCallback`).
Goals: player <= 30 KB first visit, <= 5 KB repeat, first frame <= 4 s.
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT))

from stalled import start  # noqa: E402  (gunicorn as `make run` starts it)
from stream import free_port, stop  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]
SLOW = {"offline": False, "latency": 400, "downloadThroughput": 256_000 // 8,
        "uploadThroughput": 128_000 // 8}
VERBOSE = "--verbose" in sys.argv
GOAL_FIRST, GOAL_REPEAT, GOAL_FRAME_S = 30 * 1024, 5 * 1024, 4.0


def make_lectures(tmp: Path, seconds: int) -> dict:
    """Two sources: the demo's slides (what `make demo` ships: stills at 2 fps) and a busy
    camera-like picture (ffmpeg's moving test pattern at 25 fps, at the 240p bitrate ceiling)."""
    from xuetang.seed import demo_media
    from xuetang.video.probe import ffmpeg_binary

    binary = ffmpeg_binary(None)
    (tmp / "slides").mkdir()
    slides = demo_media.draw_slides(tmp / "slides", "页面基准", "第一讲 页面基准",
                                    ["弱网播放", "首帧时间", "页面大小"], demo_media.cjk_font())
    slide_lecture = demo_media.encode_lecture(binary, slides, tmp / "slides.mp4", seconds)
    camera = tmp / "camera.mp4"
    subprocess.run([binary, "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size=1280x720:rate=25:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(camera)], check=True, stdin=subprocess.DEVNULL)
    return {"slides": slide_lecture, "camera": camera}


def prepare(tmp: Path, lecture_s: int) -> dict:
    """The demo data and three courses with one lesson each, transcoded by the real pipeline:
    public and professional (工程技术) from the slides, and public from the camera-like source."""
    from xuetang import create_app, migrations
    from xuetang.db import database
    from xuetang.jobs import transcode
    from xuetang.models import Course, CourseSeries, Lesson, Organization, Series
    from xuetang.seed import demo as demo_data
    from xuetang.video import media_store

    env = {"DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "MEDIA_ROOT": str(tmp / "media"),
           "SECRET_KEY": "bench-secret", "DEMO_MEDIA": "0", "SIGNIN_RATE_LIMIT": "1000 per minute",
           "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3")}
    lectures = make_lectures(tmp, lecture_s)
    app = create_app({k: v for k, v in env.items() if k != "DEMO_MEDIA"} | {"DEMO_MEDIA": False})
    lessons = {}
    with app.app_context(), database.connection_context():
        migrations.upgrade()
        demo_data.load()
        org = Organization.get(Organization.kind == "ce_base")
        for key, kind, source in (("public", "public", "slides"),
                                  ("professional", "professional", "slides"),
                                  ("camera", "public", "camera")):
            course = Course.create(organization=org, title=f"页面基准课程·{key}", category=kind,
                                   declared_hours=1, published=True)
            if kind == "professional":
                CourseSeries.create(course=course, series=Series.get(Series.name == "工程技术"))
            lesson = Lesson.create(course=course, title="第一讲 页面基准", position=1)
            name = media_store.new_source_name(lesson.id)
            path = media_store.resolve(env["MEDIA_ROOT"], name)
            path.parent.mkdir(parents=True)
            path.write_bytes(lectures[source].read_bytes())
            token = f"bench-pages-{key}"
            Lesson.update(source_name=name, status="uploaded", job_token=token).where(
                Lesson.id == lesson.id).execute()
            assert transcode.run_transcode(lesson.id, token) == "ready"
            lessons[key] = (course.id, lesson.id)
    return {"env": env, "lessons": lessons}


def signed_in_context(browser, base: str, identifier: str | None):
    """A fresh context (empty cache), signed in by a form POST outside the page (no page bytes)."""
    from xuetang.seed.demo import DEMO_PASSWORD

    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812})
    if identifier:
        form = context.request.get(f"{base}/auth/signin").text()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        context.request.post(f"{base}/auth/signin", form={
            "identifier": identifier, "password": DEMO_PASSWORD, "csrf_token": token})
    return context


def weigh(page, cdp, url: str) -> dict:
    """Bytes on the wire for one navigation: page resources, decoded size, and the lecture."""
    seen: dict = {}

    def on_response(event):
        item = seen.setdefault(event["requestId"], {})
        item["type"], item["url"] = event.get("type", ""), event["response"]["url"]

    def on_finished(event):
        seen.setdefault(event["requestId"], {})["wire"] = event["encodedDataLength"]

    def on_data(event):
        item = seen.setdefault(event["requestId"], {})
        item["decoded"] = item.get("decoded", 0) + event["dataLength"]

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    cdp.on("Network.dataReceived", on_data)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(1500)  # late requests: the player's session POST and video index
    cdp.remove_listener("Network.responseReceived", on_response)
    cdp.remove_listener("Network.loadingFinished", on_finished)
    cdp.remove_listener("Network.dataReceived", on_data)
    if VERBOSE:
        for v in seen.values():
            print("   ", v.get("type"), v.get("wire"), v.get("decoded"), v.get("url", "")[-70:])
    pages = [v for v in seen.values() if v.get("type") != "Media"]
    media = [v for v in seen.values() if v.get("type") == "Media"]
    return {"bytes": sum(v.get("wire", 0) for v in pages),
            "decoded": sum(v.get("decoded", 0) for v in pages),
            "requests": sum(1 for v in pages if v.get("wire")), "media": sum(v.get("decoded", 0) for v in media)}


FIRST_FRAME = """() => new Promise((resolve) => {
    const started = setInterval(() => {
        const v = document.getElementById('video');
        if (!v || !v.currentSrc) return;
        clearInterval(started);
        v.muted = true;
        v.requestVideoFrameCallback(() => resolve(
            {ms: performance.now(), src: v.currentSrc}));
        v.play().catch((e) => resolve({error: String(e)}));
    }, 10);
})"""


def first_frame(browser, base: str, trainee: str, lesson_id: int) -> dict:
    context = signed_in_context(browser, base, trainee)
    context.add_init_script("localStorage.setItem('xt-rendition', '240p')")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW)
    page.goto(f"{base}/study/lesson/{lesson_id}", wait_until="commit", timeout=60_000)
    result = page.evaluate(FIRST_FRAME)
    context.close()
    if "error" in result or "240p" not in result["src"]:
        raise SystemExit(f"no 240p frame: {result}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lecture-s", type=int, default=60)
    parser.add_argument("--frame-runs", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="list every request")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from xuetang.seed.demo import TRAINEES, demo_id

    trainee = demo_id(TRAINEES[0][1])  # 王建华, 工程技术: both courses are his
    with tempfile.TemporaryDirectory(prefix="xuetang-pages-") as name:
        tmp = Path(name)
        data = prepare(tmp, args.lecture_s)
        port = free_port()
        proc = start(data["env"], port, tmp)
        base = f"http://127.0.0.1:{port}"
        (pub_course, pub_lesson), (_, pro_lesson) = (data["lessons"]["public"],
                                                      data["lessons"]["professional"])
        pages = [("sign-in", None, "/auth/signin"), ("public home", None, "/"),
                 ("plaza", trainee, "/plaza/"),
                 ("course", trainee, f"/plaza/courses/{pub_course}"),
                 ("player, public", trainee, f"/study/lesson/{pub_lesson}"),
                 ("player, professional", trainee, f"/study/lesson/{pro_lesson}")]
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                for label, who, path in pages:
                    context = signed_in_context(browser, base, who)
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    first = weigh(page, cdp, base + path)
                    repeat = weigh(page, cdp, base + path)
                    rows.append((label, first, repeat))
                    context.close()
                frames = {key: [first_frame(browser, base, trainee,
                                            data["lessons"][key][1])["ms"] / 1000
                                for _ in range(args.frame_runs)]
                          for key in ("public", "camera")}
                browser.close()
        finally:
            stop(proc)

    print("page | first visit bytes (requests) | decoded (anchor) | first / decoded | "
          "repeat visit bytes (requests) | lecture bytes (decoded, apart) | first / 30 KB goal")
    for label, first, repeat in rows:
        print(f"{label} | {first['bytes']} ({first['requests']}) | {first['decoded']} | "
              f"{first['bytes'] / max(first['decoded'], 1):.2f} | {repeat['bytes']} "
              f"({repeat['requests']}) | {first['media']} | {first['bytes'] / GOAL_FIRST:.2f}")
    medians = {}
    for key, label in (("public", "slides (the demo's lectures)"),
                       ("camera", "camera-like (moving picture at the 240p ceiling)")):
        runs = frames[key]
        medians[key] = median = statistics.median(runs)
        print(f"first played frame, 240p, 256 kbps / 400 ms, {label}: median {median:.2f} s "
              f"(runs {', '.join(f'{f:.2f}' for f in runs)}); / 4 s goal "
              f"{median / GOAL_FRAME_S:.2f}")
    median = max(medians.values())
    players = [r for r in rows if r[0].startswith("player")]
    ok = (all(f["bytes"] <= GOAL_FIRST and r["bytes"] <= GOAL_REPEAT for _, f, r in players)
          and median <= GOAL_FRAME_S)
    print("goals (player <= 30 KB first, <= 5 KB repeat, frame <= 4 s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
