"""Demo courses with real, playable lectures, made by ffmpeg at demo time (no video is committed).

Each lecture is a few slides with a Chinese title and bullet points, drawn with Pillow in a CJK
font found on the machine (Debian: fonts-wqy-microhei or fonts-noto-cjk), shown in turn with a
progress bar running along the bottom and a quiet sine tone; it is then put through the real
pipeline (xuetang.transcode.run_transcode). Without a CJK font the slides carry Latin text only.
Idempotent: courses are found by title, and lectures already transcoded are kept.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

from xuetang.models import Course, CourseSeries, Lesson, Organization, Series, Specialty
from xuetang.video import media_store

log = logging.getLogger(__name__)

# Long enough that a new trainee sees minutes arrive on the year page (the ledger counts whole
# minutes), still quick to make: still slides at a low frame rate, about 2 MB a lecture.
LECTURE_SECONDS = 240
SLIDE_SIZE = (640, 360)
FPS = 2
CJK_FONTS = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
]

# (organization kind, title, category, series names, hours, description, [(lesson, [bullets])])
# and, for a professional course of one specialty, that specialty's name last
DEMO_COURSES = [
    ("ce_base", "专业技术人员职业道德与诚信建设", "public", [], Decimal(2),
     "公需科目：专业技术人员的职业道德规范、学术诚信与法律责任。",
     [("第一讲 职业道德的基本要求", ["爱岗敬业、诚实守信", "遵守法律法规与行业规范", "服务社会、奉献社会"]),
      ("第二讲 学术诚信与知识产权", ["杜绝抄袭与数据造假", "尊重他人成果，规范引用", "知识产权保护要点"])]),
    ("ce_base", "数字经济与数字化转型", "public", [], Decimal("1.5"),
     "公需科目：数字经济的发展趋势与专业技术人员的数字素养。",
     [("第一讲 数字经济概览", ["数据成为新的生产要素", "数字产业化与产业数字化", "提升个人数字素养"])]),
    ("title_office", "新一代信息技术前沿：人工智能与大数据", "professional", ["工程技术"], Decimal(3),
     "工程技术系列专业科目（新一代信息技术方向）。",
     [("第一讲 人工智能的基本概念", ["机器学习与深度学习", "典型应用场景", "可信与安全的人工智能"]),
      ("第二讲 大数据平台与数据治理", ["数据采集、存储与计算", "数据质量与数据安全", "行业应用案例"])],
     "新一代信息技术"),
    ("title_office", "建设工程绿色建造新技术", "professional", ["工程技术"], Decimal(2),
     "工程技术系列专业科目（建设工程方向）。",
     [("第一讲 装配式建筑与绿色施工", ["装配式建筑的技术体系", "绿色施工的评价标准", "质量安全管理要点"])],
     "建设工程"),
    ("ce_base", "医疗质量与患者安全", "professional", ["卫生技术"], Decimal(2),
     "卫生技术系列专业科目。",
     [("第一讲 医疗质量管理核心制度", ["首诊负责与三级查房", "手术安全核查", "不良事件报告与改进"])]),
]
# An unpublished course of the CE base: other organizations and trainees must not reach it.
DRAFT_COURSE = ("ce_base", "（草稿）继续教育基地内部课程", "professional", ["工程技术"], Decimal(1),
                "尚未发布的课程。", [("第一讲 草稿课时", ["仅本机构可见"])])


def _course(org: Organization, spec) -> Course:
    _kind, title, category, series_names, hours, description, lessons = spec[:7]
    specialty = (Specialty.select().join(Series)
                 .where((Specialty.name == spec[7]) & Series.name.in_(series_names)).first()
                 if len(spec) > 7 else None)
    course = Course.get_or_none((Course.organization == org) & (Course.title == title))
    if course is None:
        course = Course.create(organization=org, title=title, description=description,
                               category=category, declared_hours=hours, published=False,
                               specialty=specialty)
        for name in series_names:
            series = Series.get_or_none(Series.name == name)
            if series is not None:
                CourseSeries.get_or_create(course=course, series=series)
        for position, (lesson_title, _bullets) in enumerate(lessons, start=1):
            Lesson.create(course=course, title=lesson_title, position=position)
    return course


def ensure_courses(orgs: dict[str, Organization]) -> list[tuple[Course, list]]:
    """The demo courses and their lessons (rows only). Returns (course, lesson specs) pairs."""
    made = []
    for spec in [*DEMO_COURSES, DRAFT_COURSE]:
        org = orgs.get(spec[0])
        if org is not None:
            made.append((_course(org, spec), spec[6]))
    return made


def cjk_font() -> str | None:
    """A font file with Chinese glyphs: a known Debian path, else whatever fontconfig offers."""
    for path in CJK_FONTS:
        if Path(path).is_file():
            return path
    fc_list = shutil.which("fc-list")
    if fc_list:
        result = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                                timeout=10, check=False)
        for line in result.stdout.splitlines():
            path = line.split(":", 1)[0].strip()
            if path and Path(path).is_file():
                return path
    return None


def draw_slides(folder: Path, course_title: str, lesson_title: str, bullets: list[str],
                font_path: str | None) -> list[Path]:
    """PNG slides: a title slide, then one slide per bullet point."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = SLIDE_SIZE

    def font(size):
        if font_path:
            return ImageFont.truetype(font_path, size)
        return ImageFont.load_default(size)

    if not font_path:  # no CJK glyphs: keep the slides legible in Latin script
        course_title, lesson_title = "Xuetang demo course", "Demo lecture"
        bullets = [f"Point {i}" for i, _ in enumerate(bullets, start=1)]
    slides = []
    pages = [(lesson_title, course_title, [])] + [
        (lesson_title, f"{i} / {len(bullets)}", bullets[: i]) for i in range(1, len(bullets) + 1)]
    for number, (title, subtitle, points) in enumerate(pages):
        image = Image.new("RGB", SLIDE_SIZE, "#f7f9fb")
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, width, 64], fill="#0b5cad")
        draw.text((24, 32), "泉城专技学堂" if font_path else "Xuetang", font=font(24), fill="white",
                  anchor="lm")
        if points:
            draw.text((32, 100), title, font=font(30), fill="#1d2630", anchor="lm")
            for row, point in enumerate(points):
                draw.text((48, 160 + row * 48), "• " + point, font=font(26), fill="#1d2630",
                          anchor="lm")
            draw.text((width - 24, height - 36), subtitle, font=font(18), fill="#6b7785", anchor="rm")
        else:
            draw.text((width // 2, 170), title, font=font(36), fill="#1d2630", anchor="mm")
            draw.text((width // 2, 230), subtitle, font=font(22), fill="#39424c", anchor="mm")
        path = folder / f"slide-{number}.png"
        image.save(path)
        slides.append(path)
    return slides


def encode_lecture(binary: str, slides: list[Path], out: Path, seconds: int | None = None,
                   tone_hz: int = 440) -> Path:
    """Slides shown in turn for `seconds` in all, a progress bar, a quiet tone: an H.264/AAC MP4."""
    seconds = seconds or LECTURE_SECONDS
    each = seconds / len(slides)
    args = [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    for slide in slides:
        args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{each:.3f}", "-i", str(slide)]
    args += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=44100:duration={seconds}"]
    chain = "".join(f"[{i}:v]" for i in range(len(slides)))
    width = SLIDE_SIZE[0]
    video = (f"{chain}concat=n={len(slides)}:v=1:a=0[slides];"
             f"color=c=0x0b5cad:s={width}x6:r={FPS}:d={seconds}[bar];"
             f"[slides][bar]overlay=x='-w+W*t/{seconds}':y=H-6:shortest=1,format=yuv420p[v]")
    args += ["-filter_complex", video + f";[{len(slides)}:a]volume=0.15[a]",
             "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
             "-tune", "stillimage", "-r", str(FPS), "-c:a", "aac", "-b:a", "64k", "-t", str(seconds),
             "-f", "mp4", str(out)]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, timeout=300)
    return out


def generate(courses: list[tuple[Course, list]], media_root: str, binary: str) -> int:
    """Make, store and transcode a lecture for every demo lesson that has no video yet."""
    from xuetang.jobs import transcode

    font_path = cjk_font()
    if font_path is None:
        log.warning("no CJK font found (apt-get install fonts-wqy-microhei): demo slides in Latin")
    made = 0
    for index, (course, lesson_specs) in enumerate(courses):
        lessons = list(Lesson.select().where(Lesson.course == course).order_by(Lesson.position))
        for lesson, (_title, bullets) in zip(lessons, lesson_specs, strict=False):
            if lesson.status == "ready":
                continue
            with tempfile.TemporaryDirectory(prefix="xuetang-demo-") as tmp:
                slides = draw_slides(Path(tmp), course.title, lesson.title, bullets, font_path)
                source_name = media_store.new_source_name(lesson.id)
                source = media_store.resolve(media_root, source_name)
                source.parent.mkdir(parents=True, exist_ok=True)
                encode_lecture(binary, slides, source, tone_hz=330 + 55 * (index % 5))
            token = secrets.token_hex(8)
            (Lesson.update(source_name=source_name, source_size=source.stat().st_size,
                           source_filename="demo.mp4", status="uploaded", job_token=token)
             .where(Lesson.id == lesson.id)
             .execute())
            if transcode.run_transcode(lesson.id, token) == "ready":
                made += 1
    for course, _specs in courses:
        ready = all(lesson.status == "ready" for lesson in course.lessons)
        if course.title != DRAFT_COURSE[1] and ready and not course.published:
            Course.update(published=True).where(Course.id == course.id).execute()
    return made


def publish_without_media(courses: list[tuple[Course, list]]) -> None:
    """With demo media off (tests), publish the demo courses anyway so the plaza has content."""
    for course, _specs in courses:
        if course.title != DRAFT_COURSE[1] and not course.published:
            Course.update(published=True).where(Course.id == course.id).execute()
