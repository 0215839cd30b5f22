"""Face check latency: JPEG bytes in, pass/fail out, against two reference pipelines.

Run from the repo root: python bench/face.py [--repeat N]
  ours    xuetang.face.analysis.analyse + compare (validate, downsize, detect with upsampling only
          for small frames, quality checks, 5-point landmarks, descriptor, distance)
  (a)     the usual face_recognition-style pipeline: decode, HOG upsample 1 on the full image,
          5-point landmarks, descriptor, distance
  (b)     the bare ResNet descriptor on a prepared 150x150 face chip (dlib.get_face_chip): the
          floor any pipeline pays
All variants run interleaved in one process so machine noise hits them alike.
"""

import argparse
import datetime as dt
import io
import os
import platform as platform_module
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

import dlib  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from xuetang.face import analysis  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "faces"


def frames() -> dict[str, bytes]:
    """320x240: a_webcam.jpg as is. 640x480: a_enroll.jpg (480x360) scaled up, JPEG q90."""
    buf = io.BytesIO()
    big = Image.open(FIXTURES / "a_enroll.jpg").resize((640, 480), Image.Resampling.LANCZOS)
    big.save(buf, "JPEG", quality=90)
    return {"320x240": (FIXTURES / "a_webcam.jpg").read_bytes(), "640x480": buf.getvalue()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per variant")
    args = parser.parse_args()

    started = time.perf_counter()
    engine = analysis.get_engine()
    load_s = time.perf_counter() - started
    # The reference pipelines use the engine's dlib objects too (same models; its uncontended
    # locks cost microseconds).

    reference = analysis.analyse((FIXTURES / "b_enroll.jpg").read_bytes()).descriptor
    same_person = analysis.analyse((FIXTURES / "a_enroll.jpg").read_bytes()).descriptor

    def ours(data: bytes):
        result = analysis.analyse(data)
        return analysis.compare(result.descriptor, [same_person]).passed if result.ok else None

    def face_recognition_style(data: bytes):
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        rects = engine.detect(rgb, 1)
        if len(rects) != 1:
            return None
        descriptor = engine.describe(rgb, rects[0])
        return float(np.linalg.norm(descriptor - same_person)) < analysis.DEFAULT_THRESHOLD

    images = frames()
    webcam = np.asarray(Image.open(io.BytesIO(images["320x240"])).convert("RGB"))
    chip = engine.face_chip(webcam, engine.detect(webcam, 1)[0], size=150)

    def bare_descriptor(_data: bytes):
        return engine.describe_chip(chip)

    variants = {
        "(b) bare descriptor, 150x150 chip": (bare_descriptor, b""),
    }
    for size, data in images.items():
        variants[f"ours, {size}"] = (ours, data)
        variants[f"(a) face_recognition-style, {size}"] = (face_recognition_style, data)

    for fn, data in variants.values():  # warm up, and check every variant decides "same person"
        outcome = fn(data)
        assert outcome is True or isinstance(outcome, np.ndarray), outcome
    assert analysis.compare(same_person, [reference]).passed is False

    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, (fn, data) in variants.items():
            t0 = time.perf_counter()
            fn(data)
            times[name].append((time.perf_counter() - t0) * 1000)

    def p95(values: list[float]) -> float:
        return float(np.percentile(values, 95))

    base = statistics.median(times["(b) bare descriptor, 150x150 chip"])
    order = [
        "ours, 320x240", "(a) face_recognition-style, 320x240",
        "ours, 640x480", "(a) face_recognition-style, 640x480",
        "(b) bare descriptor, 150x150 chip",
    ]
    cpu = platform_module.processor() or platform_module.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"date {dt.date.today()}, nproc {os.cpu_count()}, {cpu}, dlib {dlib.__version__}, "
          f"python {platform_module.python_version()}, {args.repeat} runs each, "
          f"engine load {load_s:.2f} s, load average at end {load}")
    print()
    print("| pipeline | median ms | p95 ms | median / (b) |")
    print("|---|---:|---:|---:|")
    for name in order:
        values = times[name]
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {p95(values):.1f} | {median / base:.2f} |")
    print()
    print(f"total {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------------------- 1:N (issue 11)


def one_to_n(people: int = 200_000, repeat: int = 5) -> None:
    """One face, one account: a new reference searched against every enrolled descriptor.

    python bench/face.py --one-to-n [--people N]
    Builds N people's descriptors as the database stores them (512-byte float32 blobs in an
    SQLite table), then times what enrolment does (services.face_identity): read the blobs,
    stack them (face.matching.stack) and search (face.matching.nearest), next to the anchor
    the same enrolment pays anyway: one ResNet descriptor of a prepared 150x150 chip.
    """
    import sqlite3
    import tempfile

    from xuetang.face import matching

    engine = analysis.get_engine()
    webcam = np.asarray(Image.open(FIXTURES / "a_webcam.jpg").convert("RGB"))
    chip = engine.face_chip(webcam, engine.detect(webcam, 1)[0], size=150)
    probe = engine.describe_chip(chip)
    rng = np.random.default_rng(11)
    # Real descriptors have norm ~1 and strangers sit 0.6-0.9 apart: Gaussian ones scaled so.
    enrolled = rng.normal(0.0, 0.06, (people, 128)).astype("<f4")
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "bench.sqlite3")
        db.execute("CREATE TABLE face_reference (id INTEGER PRIMARY KEY, person_id INT, descriptor BLOB)")
        db.executemany("INSERT INTO face_reference (person_id, descriptor) VALUES (?, ?)",
                       ((i + 1, enrolled[i].tobytes()) for i in range(people)))
        db.commit()
        phases: dict[str, list[float]] = {"read blobs (SQLite)": [], "stack": [], "search": [],
                                          "anchor: one descriptor": []}
        hits = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = db.execute("SELECT person_id, descriptor FROM face_reference WHERE person_id != ?",
                              (0,)).fetchall()
            t1 = time.perf_counter()
            owners = [r[0] for r in rows]
            matrix = matching.stack([r[1] for r in rows])
            t2 = time.perf_counter()
            hits = matching.nearest(probe, matrix, owners, analysis.DEFAULT_THRESHOLD)
            t3 = time.perf_counter()
            engine.describe_chip(chip)
            t4 = time.perf_counter()
            for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                phases[name].append(seconds * 1000)
        db.close()
    anchor = statistics.median(phases["anchor: one descriptor"])
    total = [sum(v) for v in zip(*(phases[n] for n in ("read blobs (SQLite)", "stack", "search")),
                                 strict=True)]
    print(f"1:N over {people:,} enrolled descriptors, {repeat} runs, nproc {os.cpu_count()}, "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; hits {len(hits)}")
    print()
    print("| phase | median ms | median / anchor |")
    print("|---|---:|---:|")
    for name, values in [*phases.items(), ("1:N total (read + stack + search)", total)]:
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {median / anchor:.2f} |")


if __name__ == "__main__" and "--one-to-n" in sys.argv:
    one_to_n(int(sys.argv[sys.argv.index("--people") + 1]) if "--people" in sys.argv else 200_000)
elif __name__ == "__main__":
    main()
