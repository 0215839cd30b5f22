"""kill -9 in the middle of approving a filing: afterwards all of its rows are applied, or none.

A child process approves the filing on the test database and SIGKILLs itself after writing some
of the ledger lines, inside the transaction. Nothing of the filing may be on the ledger then; a
second approval applies every row exactly once.
"""

import os
import subprocess
import sys
import textwrap

from tests.support.filings import new_person, roster_csv, viewer
from tests.support.paths import ROOT
from xuetang.db import database
from xuetang.models import Filing, FilingCredit, FilingRow, LedgerLine, Series
from xuetang.rules.annual import FILING_SERIES
from xuetang.services import filing_review, filings

APPROVER = textwrap.dedent('''
    import os, signal, sys
    from xuetang import create_app
    from xuetang.db import database
    from xuetang.models import Account, LedgerLine
    from xuetang.services import filing_review
    from xuetang.web.access import SignedIn

    filing_id, kill_after = int(sys.argv[1]), int(sys.argv[2])
    append = LedgerLine.append.__func__
    written = [0]

    def append_then_maybe_die(cls, *args, **kwargs):
        line = append(cls, *args, **kwargs)
        written[0] += 1
        if written[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return line

    LedgerLine.append = classmethod(append_then_maybe_die)
    app = create_app({"SECRET_KEY": "durability", "DATABASE_URL": os.environ["DATABASE_URL"],
                      "RATELIMIT_ENABLED": False, "DEMO_MEDIA": False})
    with app.app_context(), database.connection_context():
        filing_review.approve(SignedIn(Account.get(Account.username == "city")), filing_id)
    print("approved", flush=True)
''')


def run_approver(tmp_path, database_url, filing_id, kill_after):
    script = tmp_path / "approve.py"
    script.write_text(APPROVER)
    env = {**os.environ, "DATABASE_URL": database_url,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    return subprocess.run([sys.executable, str(script), str(filing_id), str(kill_after)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_kill_9_while_applying_leaves_all_rows_or_none(app, clock, tmp_path):
    with app.app_context(), database.connection_context():
        series = Series.get(Series.name == "会计")
        rows = [[p.real_name, p.id_number, "会计", "会计继续教育", "2021-10-01", "12"]
                for p in (new_person(3000 + n, f"会计员{n}", series) for n in range(40))]
        shown = filings.upload_filing(viewer("industry"), FILING_SERIES, 2021,
                                      roster_csv(FILING_SERIES, rows), "会计.csv")
        filing_review.submit(viewer("industry"), shown.filing.id)
        filing_id = shown.filing.id
        lines_before = LedgerLine.select().count()
        credits_before = FilingCredit.select().count()  # the demo's applied filings

    killed = run_approver(tmp_path, app.config["DATABASE_URL"], filing_id, kill_after=25)
    assert killed.returncode == -9, killed.stderr

    with app.app_context(), database.connection_context():
        assert LedgerLine.select().count() == lines_before
        assert FilingCredit.select().count() == credits_before
        assert Filing.get_by_id(filing_id).status == "submitted"
        assert not FilingRow.select().where(FilingRow.filing == filing_id,
                                            FilingRow.applied_key.is_null(False)).exists()

    finished = run_approver(tmp_path, app.config["DATABASE_URL"], filing_id, kill_after=0)
    assert finished.returncode == 0 and "approved" in finished.stdout, finished.stderr

    with app.app_context(), database.connection_context():
        assert LedgerLine.select().count() == lines_before + 40
        assert Filing.get_by_id(filing_id).status == "approved"
        again = run_approver(tmp_path, app.config["DATABASE_URL"], filing_id, kill_after=0)
        assert again.returncode != 0 and "学时不会重复计入" in again.stderr
        assert LedgerLine.select().count() == lines_before + 40
