"""Face check latency: JPEG bytes in, pass/fail out, against two reference pipelines.

Run from the repo root: python bench/face.py [--repeat N]
  ours    xuetang.face.analysis.analyse + compare (validate, downsize, detect with upsampling only
          for small frames, quality checks, 5-point landmarks, descriptor, distance)
  (a)     the usual face_recognition-style pipeline: decode, HOG upsample 1 on the full image,
          5-point landmarks, descriptor, distance
  (b)     the bare ResNet descriptor on a prepared 150x150 face chip (dlib.get_face_chip): the
          floor any pipeline pays
All variants run interleaved in one process so machine noise hits them alike. With
--other-dlib DIR the same variants also run in a second interpreter on the dlib installed in DIR
(e.g. `make faster-face`'s OpenBLAS build, or dlib-bin when the venv has the OpenBLAS one), and
every row is compared with (a) on the build without BLAS. "checks/s per core" is 1000 / the
median CPU time (process_time) of one check.
"""

import argparse
import datetime as dt
import io
import json
import os
import platform as platform_module
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as xuetang.face.analysis does
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


def build_name() -> str:
    """Which dlib this interpreter runs: dlib-bin (no BLAS) or a source build with BLAS."""
    return f"dlib {dlib.__version__} {'OpenBLAS' if dlib.DLIB_USE_BLAS else 'no BLAS'}"


def measure(repeat: int) -> dict:
    """Every variant, interleaved, in this interpreter: wall ms per call, and process CPU ms of
    ours (for checks per second per core). Returns {"build", "load_s", "times", "cpu"}."""
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

    variants = {"(b) bare descriptor, 150x150 chip": (bare_descriptor, b"")}
    for size, data in images.items():
        variants[f"ours, {size}"] = (ours, data)
        variants[f"(a) face_recognition-style, {size}"] = (face_recognition_style, data)

    for fn, data in variants.values():  # warm up, and check every variant decides "same person"
        outcome = fn(data)
        assert outcome is True or isinstance(outcome, np.ndarray), outcome
    assert analysis.compare(same_person, [reference]).passed is False

    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants if name.startswith("ours")}
    for _ in range(repeat):
        for name, (fn, data) in variants.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn(data)
            times[name].append((time.perf_counter() - t0) * 1000)
            if name in cpu:
                cpu[name].append((time.process_time() - c0) * 1000)
    return {"build": build_name(), "load_s": load_s, "times": times, "cpu": cpu}


def measure_other_build(dlib_dir: str, repeat: int) -> dict:
    """The same measurement in a second interpreter whose dlib is the one installed in
    `dlib_dir` (pip install --target), e.g. the OpenBLAS build of `make faster-face`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([dlib_dir, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, __file__, "--repeat", str(repeat), "--json"], env=env,
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(runs: list[dict]) -> None:
    """One table over the builds: each row's median beside (a) on the build without BLAS (the
    usual face_recognition install, dlib-bin) at the same frame size."""
    anchor_run = next((r for r in runs if "no BLAS" in r["build"]), runs[0])

    def p95(values: list[float]) -> float:
        return float(np.percentile(values, 95))

    print("| build | pipeline | median ms | p95 ms | / (a) on " + anchor_run["build"] +
          " | checks/s per core |")
    print("|---|---|---:|---:|---:|---:|")
    for run in runs:
        for name in ("ours, 320x240", "(a) face_recognition-style, 320x240", "ours, 640x480",
                     "(a) face_recognition-style, 640x480", "(b) bare descriptor, 150x150 chip"):
            values = run["times"][name]
            median = statistics.median(values)
            size = name.rsplit(", ", 1)[-1]
            anchor = anchor_run["times"].get(f"(a) face_recognition-style, {size}")
            ratio = f"{median / statistics.median(anchor):.2f}" if anchor else "—"
            per_core = (f"{1000 / statistics.median(run['cpu'][name]):.1f}"
                        if name in run["cpu"] else "")
            print(f"| {run['build']} | {name} | {median:.1f} | {p95(values):.1f} | {ratio} | "
                  f"{per_core} |")


def _described(run: dict) -> str:
    return f"{run['build']} (engine load {run['load_s']:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per variant")
    parser.add_argument("--other-dlib", metavar="DIR",
                        default=os.environ.get("XUETANG_OTHER_DLIB", ""),
                        help="also measure with the dlib installed in DIR (pip install --target), "
                             "e.g. the OpenBLAS build; default $XUETANG_OTHER_DLIB")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = time.perf_counter()
    runs = [measure(args.repeat)]
    if args.json:
        print(json.dumps(runs[0]))
        return
    if args.other_dlib:
        runs.append(measure_other_build(args.other_dlib, args.repeat))
    cpu = platform_module.processor() or platform_module.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"date {dt.date.today()}, nproc {os.cpu_count()}, {cpu}, builds: "
          f"{'; '.join(_described(r) for r in runs)}, "
          f"python {platform_module.python_version()}, {args.repeat} runs each, "
          f"load average at end {load}")
    print()
    report(runs)
    if not args.other_dlib:
        print("\n(no --other-dlib: only this interpreter's build; see docs/performance.md)")
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
