"""Issue 15, item 3: a city on real engines. bench/city.py, short: PostgreSQL, Redis, two gunicorn
app servers behind nginx (round robin), two huey consumers on the Redis queue, one media
directory; one active device per person across servers, the sign-in limits shared, each
transcode done once, the ledger equal to the ground truth.

The city always runs on PostgreSQL, whichever engine the rest of the suite uses: it needs a
database whose schema it may reset (CITY_DATABASE_URL, else TEST_DATABASE_URL), redis-server and
nginx (Debian's packages). .ci/run provides all three for both passes, so in CI a missing one is
a failure; elsewhere (no PostgreSQL server, or the packages not installed) a skip that says so.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.city

CHECKS = ("1 one active device per person", "2 sign-in limits shared",
          "3 each transcode done once", "4 ledger equals the ground truth")


def tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None)


@pytest.fixture
def city_database():
    url = os.environ.get("CITY_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    missing = [name for name in ("redis-server", "nginx") if tool(name) is None]
    if not url:
        missing.insert(0, "a PostgreSQL database it may reset (CITY_DATABASE_URL)")
    if missing:
        reason = f"the city needs {' and '.join(missing)} (apt-get install postgresql redis-server nginx)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run provides them")
        pytest.skip(reason)
    return url


def test_a_short_city_run_passes_all_four_checks(city_database):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "platform"))
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "city.py"), "--postgres", city_database,
         "--viewers", "12", "--minutes", "1.25", "--check-interval", "20", "--lessons", "2",
         "--lecture-seconds", "40"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=420, stdin=subprocess.DEVNULL)
    report = run.stdout + run.stderr[-3000:]
    for check in CHECKS:
        assert f"PASS  {check}:" in run.stdout, report
    assert run.returncode == 0, report
