"""`make bench`: every bench script in one go, and docs/benchmarks.md regenerated from what they print.

Run from the repo root: python bench/all.py [--only face,stream] [--out docs/benchmarks.md]
                                            [--full] [--other-dlib DIR]

Each script runs in its own interpreter, one after another (never two at once: they would
measure each other), with the arguments below; each prints its figures beside the anchor it
measured in the same run, as a ratio. This file adds nothing to the figures: it records the
machine, the load average before and after each script, the command, how long it took, its exit
status and its output verbatim. The readings of those figures, their history and what stands in
the way of a missed target are in docs/performance.md, which is written by hand.

Without --full the slow scripts run a short version (fewer people for the report, a short load
run); the command printed for each is the one that was run, so any figure can be repeated alone.
With --only, the other scripts' sections are kept from the existing file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name, what it measures against what, arguments (short), arguments (--full)
SCRIPTS = [
    ("face", "face check vs the face_recognition-style pipeline; checks per second per core",
     ["--repeat", "15"], ["--repeat", "30"]),
    ("face-1n", "1:N search of the stored descriptors vs one descriptor",
     ["--one-to-n", "--people", "200000"], ["--one-to-n", "--people", "200000"]),
    ("heartbeat", "heartbeats vs a hello world on the same gunicorn flags; latency at 333/s",
     ["--seconds", "8"], ["--seconds", "10"]),
    ("heartbeat-pg", "heartbeats on PostgreSQL pooled vs the same hello world; latency at 333/s",
     ["--seconds", "8"], ["--seconds", "10"]),
    ("stream", "media ranges: the app (cookie, signed link) vs its hello world and vs nginx",
     ["--seconds", "4"], ["--seconds", "5"]),
    ("stalled", "sign-in with 50 stalled media readers vs without",
     [], []),
    ("transcode", "transcode() vs the same ffmpeg commands run bare",
     ["--repeat", "2", "--seconds", "30"], ["--repeat", "3", "--seconds", "60"]),
    ("pages", "bytes per page on a phone's link; first played frame at 256 kbps / 400 ms",
     [], []),
    ("filings", "checking a 10,000-row filed roster vs reading the same CSV",
     ["--repeat", "3"], ["--repeat", "3"]),
    ("report", "the city completion report vs the raw GROUP BY; the city export's memory",
     ["--people", "50000", "--lines", "1250000", "--repeat", "3"],
     ["--people", "200000", "--lines", "5000000", "--repeat", "5"]),
    ("faults", "kill -9 of app and job workers mid-request: nothing lost, doubled or half-written",
     ["--quick"], []),
    ("city", "PostgreSQL, Redis, two app servers behind nginx, two job workers: the four checks",
     [], ["--viewers", "200", "--minutes", "3"]),
    ("load", "simulated trainees against `make run`, with the ground-truth check",
     ["--viewers", "200", "--minutes", "2"], ["--viewers", "2000", "--minutes", "5",
                                              "--check-interval", "0"]),
]
SECTION = re.compile(r"^## (\S+) — ", re.M)


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.machine())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    try:
        import dlib
        dlib_line = f"dlib {dlib.__version__}, BLAS {'yes' if dlib.DLIB_USE_BLAS else 'no'}"
    except ImportError:  # pragma: no cover - the venv always has one
        dlib_line = "dlib not importable"
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 2**20:.1f} GiB; "
            f"{platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}; {dlib_line}"]


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def script_path(name: str) -> str:
    return f"bench/{name.split('-')[0]}.py"


def run(name: str, purpose: str, args: list[str]) -> tuple[str, bool]:
    command = [sys.executable, script_path(name), *args]
    shown = " ".join(["python", script_path(name), *args])
    print(f"== {shown}", flush=True)
    before, started = load_average(), time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "platform"))
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    output = (result.stdout + ("\n" + result.stderr if result.returncode else "")).strip()
    print(output, flush=True)
    status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
    return "\n".join([
        f"## {name} — {purpose}", "",
        "```sh", shown, "```", "",
        f"{status}; {elapsed:.0f} s; load average (1 / 5 / 15 min) {before} before, "
        f"{load_average()} after.", "",
        "```text", output, "```", ""]), result.returncode == 0


def kept_sections(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    text = path.read_text()
    starts = [(m.start(), m.group(1)) for m in SECTION.finditer(text)]
    ends = [start for start, _ in starts[1:]] + [len(text)]
    return {name: text[start:end].rstrip() + "\n" for (start, name), end in zip(starts, ends, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated names: " + ",".join(s[0] for s in SCRIPTS))
    parser.add_argument("--full", action="store_true", help="the issues' full sizes (slow)")
    parser.add_argument("--other-dlib", metavar="DIR",
                        help="also time the face check on the dlib installed in DIR")
    parser.add_argument("--out", default="docs/benchmarks.md")
    options = parser.parse_args()
    wanted = set(options.only.split(",")) if options.only else {s[0] for s in SCRIPTS}
    unknown = wanted - {s[0] for s in SCRIPTS}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    out = ROOT / options.out
    sections = kept_sections(out)
    failed = []
    for name, purpose, short, full in SCRIPTS:
        if name not in wanted:
            continue
        args = list(full if options.full else short)
        if name in ("city", "heartbeat-pg"):
            url = os.environ.get("CITY_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
            if not url:
                print(f"== {script_path(name)} ({name}) left out: set CITY_DATABASE_URL to a PostgreSQL "
                      "database it may reset", flush=True)
                continue
            if name == "city":
                args = ["--postgres", url, *args]
            else:  # peewee's pooled PostgreSQL, as a district on PostgreSQL would run it
                pooled = url.replace("postgresql://", "postgresql+pool://", 1)
                args = ["--reset-postgres", pooled + "?max_connections=64&timeout=10", *args]
        if name == "face" and options.other_dlib:
            args += ["--other-dlib", options.other_dlib]
        sections[name], ok = run(name, purpose, args)
        if not ok:
            failed.append(name)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        "# Benchmarks", "",
        f"Generated by `make bench` (`python bench/all.py{' --full' if options.full else ''}`) "
        f"on {now}. Do not edit by hand: run it again. Each section is one script's output, "
        "verbatim: its figures beside the anchor it measured in the same run, as a ratio. What "
        "the figures mean, their history and what stands in the way of each missed target: "
        "[performance.md](performance.md).", "",
        "The machine:", *machine(), "",
        "Absolute times move with the machine's other load (given per section); read the ratios.",
        ""]
    order = [s[0] for s in SCRIPTS]
    body = [sections[name] for name in order if name in sections]
    out.write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {options.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
