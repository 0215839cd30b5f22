"""Issue 15, item 3: a city on real engines. bench/city.py, short: PostgreSQL, Redis, two gunicorn
app servers behind nginx (round robin), two huey consumers on the Redis queue, one media
directory; one active device per person across servers, the sign-in limits shared, each
transcode done once, the ledger equal to the ground truth.

It needs PostgreSQL (TEST_DATABASE_URL: CI's PostgreSQL pass), redis-server and nginx (Debian's
packages, which .ci/run installs). Without TEST_DATABASE_URL it is skipped (the SQLite pass); in
CI a missing redis-server or nginx is a failure, elsewhere a skip.
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
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("the city runs on PostgreSQL: set TEST_DATABASE_URL (CI's PostgreSQL pass does)")
    missing = [name for name in ("redis-server", "nginx") if tool(name) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing in CI: .ci/run must install redis-server and nginx")
        pytest.skip(f"the city needs {' and '.join(missing)} (apt-get install redis-server nginx)")
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
