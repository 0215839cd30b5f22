"""The city completion report at scale: 200,000 people and 5,000,000 ledger lines.

Run from the repo root: python bench/report.py [--people N] [--lines N] [--repeat R]
                                               [--postgres URL] [--skip-sqlite]
  ours    services.reports.city_table: the per-person status query (sums per source and
          category read from ledger_total, which triggers on ledger_line keep as the lines are
          written; caps; the policy's minimums) folded per district, plus building the table
  anchor  the bare GROUP BY it is built on: SELECT person, source, category, SUM(amount)
          FROM ledger_line WHERE year = 2021 GROUP BY person, source, category, run to the end
          inside the database (wrapped in SELECT COUNT(*), SUM(...), so neither side ships
          rows to Python: the report's answer is 15 rows). It reads every line, as the issue
          defines it: ledger_total is what that GROUP BY gives, kept beside the ledger; the build
          loads the lines with the triggers on, and checks the totals against this GROUP BY
  export  the city-wide person list (one row per person) as the background export job writes it
          (services.exports.run), in a child process so its peak memory (ru_maxrss) is the
          job's alone; with how often its progress row changed, polled as the page does
The data come from seed.demo_city's generators. PostgreSQL runs when --postgres is given (its
public schema is dropped and rebuilt: use a scratch database).
"""

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
YEAR = 2021
CREATED = "2021-10-01 08:00:00"


class CityAdmin:
    """The report's viewer: a city admin (the bench measures the query, not sign-in)."""

    grants: list = []

    def has_role(self, *roles):
        return "city_admin" in roles

    def org_ids(self, role):
        return set()

    def district_ids(self, role):
        return set()


def make_app(url: str):
    from xuetang import create_app

    tmp = Path(tempfile.mkdtemp())
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DEMO_MEDIA": False,
                       "MEDIA_ROOT": str(tmp / "media"), "HUEY_IMMEDIATE": True})


def build(url: str, people: int, lines: int) -> None:
    """Schema, reference data, employers, people and ledger lines, in bulk."""
    from xuetang import migrations
    from xuetang.db import database, is_postgres
    from xuetang.models import District, LedgerTotal, Organization, Person, Series
    from xuetang.seed import demo_city
    from xuetang.seed.reference import ensure_reference_data

    app = make_app(url)
    with app.app_context(), database.connection_context():
        if is_postgres():
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        migrations.upgrade()
        ensure_reference_data(YEAR)
        rng = random.Random(13)
        districts = {d.name: d.id for d in District.select()}
        with database.atomic():
            names = demo_city.employer_names(rng, max(50, people // 40), list(demo_city.REGION_CODES))
            Organization.insert_many([{"name": n, "kind": "employer", "district": districts[d]}
                                      for n, d in names]).execute()
        orgs = [(o.id, o.district_id, o.district.name) for o in
                Organization.select(Organization, District).join(District)
                .where(Organization.kind == "employer")]
        series = list(Series.select())
        filing = {s.id: s.filing_mode for s in series}
        started = time.perf_counter()
        with database.atomic():
            batch = []
            for row in demo_city.person_rows(rng, people, orgs, series):
                batch.append(row)
                if len(batch) == 1000:
                    Person.insert_many(batch).execute()
                    batch = []
            if batch:
                Person.insert_many(batch).execute()
        print(f"  {people} people in {time.perf_counter() - started:.1f} s", flush=True)
        ids = list(Person.select(Person.id, Person.series).tuples())
        started = time.perf_counter()
        written = _ledger(database, is_postgres(), ids, filing, lines, rng, demo_city)
        print(f"  {written} ledger lines in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        if is_postgres():
            database.execute_sql("VACUUM ANALYZE")  # the visibility map lets the index answer
        else:
            database.execute_sql("ANALYZE")
        print(f"  analyze in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        wrong = LedgerTotal.disagreements()
        print(f"  ledger_total: {LedgerTotal.select().count()} rows, {wrong} differing from the "
              f"ledger's GROUP BY (checked in {time.perf_counter() - started:.1f} s)", flush=True)
        assert wrong == 0


def _ledger(database, postgres: bool, ids, filing, target: int, rng, demo_city) -> int:
    """Lines for every person (more lines per person as `split` grows) until `target`."""
    split = max(1, round(target / len(ids) / 8))
    columns = "person_id, year, category, source, minutes, hours, evidence, created_at"
    written, chunk = 0, []

    def flush():
        if postgres:
            buffer = io.StringIO()
            for row in chunk:
                buffer.write("\t".join(r"\N" if v is None else str(v) for v in row) + "\n")
            buffer.seek(0)
            cursor = database.connection().cursor()
            cursor.copy_expert(f"COPY ledger_line ({columns}) FROM STDIN", buffer)
        else:
            database.connection().executemany(
                f"INSERT INTO ledger_line ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk)
        chunk.clear()

    with database.atomic():
        while written < target:
            for person_id, series_id in ids:
                progress = demo_city.progress_for(rng, closed_year=True)
                for _p, year, category, source, minutes, hours, evidence in demo_city.ledger_rows(
                        rng, person_id, filing[series_id], YEAR, progress, split):
                    chunk.append((person_id, year, category, source, minutes,
                                  None if hours is None else int(hours * 100), evidence, CREATED))
                    written += 1
                    if written >= target:
                        break
                if len(chunk) >= 100_000:
                    flush()
                if written >= target:
                    break
        flush()
    return written


def timings(url: str, repeat: int) -> tuple[list[float], list[float], int]:
    from xuetang.db import database
    from xuetang.models import StudyYear
    from xuetang.services import completion, reports

    app = make_app(url)
    ours, anchor = [], []
    with app.app_context(), database.connection_context():
        study_year = StudyYear.for_year(YEAR)
        units = completion.Units.of(study_year)
        grouping, params = completion.raw_group_by_sql(units, YEAR)
        # The database does the whole GROUP BY; only its summary crosses to Python, as the
        # report's 15 rows do.
        sql = f"SELECT COUNT(*), SUM(units) FROM ({grouping}) AS g"  # noqa: S608
        database.execute_sql(sql, params).fetchall()  # warm the cache for both alike
        table = None
        for _ in range(repeat):
            started = time.perf_counter()
            groups = database.execute_sql(sql, params).fetchall()[0][0]
            anchor.append(time.perf_counter() - started)
            started = time.perf_counter()
            table = reports.city_table(CityAdmin(), study_year)
            ours.append(time.perf_counter() - started)
        assert table.total.registered > 0 and groups > 0
    return ours, anchor, table.total.registered


def export_child(url: str) -> None:
    """In a fresh process: the city-wide person export as the background job writes it
    (services.exports.run, what the huey task calls), its time and peak memory, while a second
    thread on its own connection polls the progress row as the page does, recording each change."""
    import datetime as dt
    import threading

    from xuetang.db import database
    from xuetang.models import Account, Export
    from xuetang.services import exports

    app = make_app(url)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with app.app_context(), database.connection_context():
        account = Account.get_or_none(Account.username == "bench-export") or Account.create(
            username="bench-export", password_hash="x", must_change_password=False)
        export = Export.create(account=account, year=YEAR, scope_label="全市",
                               rows_total=completion_count(),
                               expires_at=dt.datetime(2100, 1, 1))
        seen, stop = [], threading.Event()
        started = time.perf_counter()

        rss = [current_rss_mb()]

        def poll():
            with app.app_context():
                database.connect(reuse_if_open=True)
                last = None
                while not stop.wait(0.2):
                    rss.append(current_rss_mb())
                    row = Export.get_by_id(export.id)
                    if row.rows_written != last:
                        last = row.rows_written
                        seen.append((time.perf_counter() - started, last))
                database.close()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        outcome = exports.run(export.id)
        total = time.perf_counter() - started
        stop.set()
        poller.join()
        done = Export.get_by_id(export.id)
        size = (exports.exports_dir() / done.file_name).stat().st_size if done.file_name else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    moments = [t for t, rows in seen if rows]
    gaps = [b - a for a, b in zip(moments, moments[1:], strict=False)]
    print(json.dumps({"outcome": outcome, "seconds": total, "rows": done.rows_written,
                      "bytes": size, "peak_mb": peak / 1024, "before_mb": base / 1024,
                      "rss_start_mb": rss[0], "rss_max_mb": max(rss),
                      "updates": len(moments), "first_update_s": moments[0] if moments else None,
                      "median_gap_s": statistics.median(gaps) if gaps else None,
                      "max_gap_s": max(gaps) if gaps else None}))


def current_rss_mb() -> float:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def completion_count() -> int:
    from xuetang.services import completion

    return completion.people_count(None)


def run(label: str, url: str, args) -> None:
    print(f"== {label}", flush=True)
    if not args.reuse:
        build(url, args.people, args.lines)
    ours, anchor, people = timings(url, args.repeat)
    a, b = statistics.median(ours), statistics.median(anchor)
    print(f"  city report {a:.3f} s (runs {', '.join(f'{x:.3f}' for x in ours)}); "
          f"raw GROUP BY {b:.3f} s (runs {', '.join(f'{x:.3f}' for x in anchor)}); "
          f"ratio {a / b:.2f} (goal <= 1.2, <= 2 s) for {people} people", flush=True)
    if args.no_export:
        return
    child = subprocess.run([sys.executable, __file__, "--export-child", url], check=True,
                           capture_output=True, text=True, env={**os.environ})
    export = json.loads(child.stdout.strip().splitlines()[-1])

    def secs(value) -> str:
        return "-" if value is None else f"{value:.2f} s"

    print(f"  city person export (background job): {export['outcome']}, {export['rows']} rows in "
          f"{export['seconds']:.1f} s, {export['bytes'] / 1e6:.1f} MB; peak RSS "
          f"{export['peak_mb']:.0f} MB (app loaded: {export['before_mb']:.0f} MB; goal < 300 MB), "
          f"RSS sampled every 0.2 s during the job {export['rss_start_mb']:.0f} -> at most "
          f"{export['rss_max_mb']:.0f} MB; "
          f"progress seen {export['updates']} times, first after {secs(export['first_update_s'])}, "
          f"then every {secs(export['median_gap_s'])} (median; max {secs(export['max_gap_s'])}; "
          f"the page polls every 2 s); load average {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-path", default=None, help="keep the SQLite file here")
    parser.add_argument("--reuse", action="store_true", help="time an already built database")
    parser.add_argument("--no-export", action="store_true", help="time the report only")
    parser.add_argument("--export-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.export_child)
        return
    if not args.skip_sqlite:
        path = args.sqlite_path or str(Path(tempfile.mkdtemp()) / "report.sqlite3")
        run("SQLite " + path, f"sqlite:///{path}", args)
    if args.postgres:
        run("PostgreSQL", args.postgres, args)


if __name__ == "__main__":
    main()
