"""Shared helpers for the face-check tests: fixture images, a professional lesson, enrolment."""

import io
from decimal import Decimal
from pathlib import Path

from PIL import Image

from tests.support.paths import FACES
from xuetang.models import Account, Course, CourseSeries, Lesson, Organization, Person, Series
from xuetang.seed.demo import TRAINEES, demo_id
from xuetang.services import faces


def raw(name: str) -> bytes:
    return (FACES / f"{name}.jpg").read_bytes()


def variant(name: str, quality: int = 85) -> bytes:
    """The fixture re-encoded: other bytes, (almost) the same face."""
    buf = io.BytesIO()
    Image.open(FACES / f"{name}.jpg").convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def repeated_scans(side: int, repeats: int) -> bytes:
    """A flat progressive JPEG whose last scan is repeated: small on the wire, slow to decode.

    The probe's attack was 2000 px with 3,251 repeats (13.8 s); the same shape at test size.
    """
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (120, 130, 140)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last_scan = data[data.rindex(b"\xff\xda"):-2]  # up to, not including, EOI
    return data[:-2] + last_scan * repeats + b"\xff\xd9"


def png(name: str) -> bytes:
    buf = io.BytesIO()
    img = Image.open(FACES / f"{name}.jpg")
    img.thumbnail((200, 200))  # small, so it is refused as a PNG and not for its size
    img.save(buf, "PNG")
    return buf.getvalue()


def wang() -> Person:
    """王建华, 工程技术, 历下区 (the 'a' face in these tests)."""
    return Person.get(Person.id_number == demo_id(TRAINEES[0][1]))


def li() -> Person:
    """李秀梅, 工程技术, same employer (the 'b' face)."""
    return Person.get(Person.id_number == demo_id(TRAINEES[1][1]))


def account_of(person: Person) -> Account:
    return Account.get(Account.person == person)


def professional_lesson(category: str = "professional", series: str = "工程技术") -> Lesson:
    """A published course with one lesson for the given series."""
    org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
    course = Course.create(organization=org, title=f"测试{category}课程", category=category,
                           declared_hours=Decimal(2), published=True)
    CourseSeries.create(course=course, series=Series.get(Series.name == series))
    return Lesson.create(course=course, position=1, title="第一讲", status="ready",
                         duration_ms=600_000)


def enrol(person: Person, *names: str) -> None:
    """Consent and enrol the given fixtures as references."""
    account = account_of(person)
    faces.record_consent(person, account, True)
    for name in names:
        faces.add_reference(person, account, raw(name))


def mirrored(name: str) -> bytes:
    """The fixture flipped left-right: the same person, a clearly different frame (~0.2 away)."""
    from PIL import ImageOps

    buf = io.BytesIO()
    ImageOps.mirror(Image.open(FACES / f"{name}.jpg")).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_live_y4m(image_path, out_path, width: int = 320, height: int = 240,
                  seconds: int = 100, fps: int = 6, dark_every_s: int = 0):
    """A fake camera that behaves like a live one: the scene pans and turns slowly (a few
    pixels and 0.1 degree a second, never the same frame twice in a test) and has light
    temporal noise, as a person in front of a real sensor does. A still y4m loops one frame:
    two snapshots of it are the same frame, which the server rightly flags (repeated_frame)
    or, byte-identical, refuses. Several frames a second so two snapshots taken close together
    (under load) see different frames. With dark_every_s, the scene goes dark for that many
    seconds out of every 2 x dark_every_s (the dark half first): preview hints come and go."""
    import subprocess

    import imageio_ffmpeg

    out = Path(out_path).resolve()
    margin = 48
    # Constant-speed pans (triangle waves) that never rest, and a slow turn (0.1 degree a
    # second): the two sines used before came back to where they had been, so snapshots of two
    # checks seconds apart were one frame to the server (repeated_frame).
    pan = "'{half}+{half}*2/PI*asin(sin(2*PI*t/{period}+{phase}))'"
    vf = (f"scale={width + margin}:{height + margin}:force_original_aspect_ratio=decrease,"
          f"pad={width + margin}:{height + margin}:(ow-iw)/2:(oh-ih)/2,"
          "rotate='0.00175*t':fillcolor=black,"
          f"crop={width}:{height}:{pan.format(half=margin // 2, period=23, phase=0)}"
          f":{pan.format(half=margin // 2, period=17, phase=0.75)},noise=alls=3:allf=t")
    if dark_every_s:
        vf += (f",eq=brightness=-0.45:enable='lt(mod(t,{2 * dark_every_s}),{dark_every_s})'")
    vf += ",format=yuv420p"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-loop", "1",
                    "-i", str(image_path), "-vf", vf, "-t", str(seconds), "-r", str(fps), str(out)],
                   check=True, capture_output=True)
    return out


def live_image(person: str, directory) -> Path:
    """live(person) written to a file (a fake camera's source)."""
    path = Path(directory) / f"{person}_live.jpg"
    path.write_bytes(live(person))
    return path


def live(person: str = "a", turn: float = 0.0) -> bytes:
    """A live-looking snapshot of person a or b for checks against their `*_enroll` reference.

    Every fixture of one person is cut from one source photograph, so `a_webcam` is, to the
    platform, the reference photo re-cropped and re-lit: too_similar_to_reference. The webcam frame
    mirrored shows the face from the other side (its aligned chip correlates 0.28 / 0.70 with the
    reference's, like another capture), ~0.2-0.25 away from the reference. `turn` rotates it by
    that many degrees: another frame of the same sitting (0.07-0.12 from the unturned one)."""
    from PIL import ImageOps

    img = ImageOps.mirror(Image.open(FACES / f"{person}_webcam.jpg").convert("RGB"))
    if turn:
        img = img.rotate(turn, resample=Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()
