"""Checking a filed roster: 10,000 rows through every row check, against reading the same CSV.

Run from the repo root: python bench/filings.py [--rows N] [--repeat R]
  ours    xuetang.services.filing_checks.read_filing: decode, bounded read, ID checksum and region,
          known person, series per kind, numbers, dates, duplicates, the caps
  anchor  the standard library's csv.reader over the same bytes (the floor of reading the file)
Prints the median seconds of each and ours / anchor.
"""

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from xuetang import create_app, migrations
    from xuetang.db import database
    from xuetang.models import District, Person, Series, StudyYear
    from xuetang.rules.annual import FILING_SERIES
    from xuetang.rules.idcard import check_char
    from xuetang.seed import demo
    from xuetang.services import filing_checks
    from xuetang.services.filing_checks import template_headers

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "SECRET_KEY": "bench",
                      "DEMO_MEDIA": False, "MEDIA_ROOT": str(tmp / "media"),
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.test_request_context(), database.connection_context():
        migrations.upgrade()
        demo.load()
        series = Series.get(Series.name == "会计")
        district = District.get(District.name == "历下区")
        people = []
        with database.atomic():
            for n in range(200):
                stem = f"37010219{70 + n // 1000 % 30:02d}0101{(1000 + n) % 1000:03d}"
                people.append(Person.create(real_name=f"会计{n}", id_number=stem + check_char(stem),
                                            series=series, district=district))
        per_person = max(1, args.rows // len(people))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(template_headers(FILING_SERIES))
        for k in range(per_person):
            for p in people:
                writer.writerow([p.real_name, p.id_number, "会计", f"会计继续教育第{k}期",
                                 "2021-10-01", "1"])
        data = buffer.getvalue().encode("utf-8-sig")
        year = StudyYear.for_year(2021)

        ours, anchor = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            check = filing_checks.read_filing(data, FILING_SERIES, year)
            ours.append(time.perf_counter() - started)
            assert check.ok and len(check.rows) == per_person * len(people)
            started = time.perf_counter()
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            anchor.append(time.perf_counter() - started)
            assert len(rows) == per_person * len(people) + 1
    a, b = statistics.median(ours), statistics.median(anchor)
    print(f"rows {per_person * len(people)}: ours {a:.3f} s, csv.reader {b:.4f} s, "
          f"ratio ours/anchor {a / b:.0f}x (goal: well under 10 s for 10,000 rows)")


if __name__ == "__main__":
    main()
