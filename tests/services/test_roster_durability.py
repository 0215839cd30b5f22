"""kill -9 in the middle of applying a staff roster: afterwards all of its people and accounts
are there, or none.

A child process applies a checked roster on the test database and SIGKILLs itself inside the
transaction, after every person was written and before their accounts. Nothing of the roster
may be in the database then; applying it again writes every row once."""

import os
import subprocess
import sys
import textwrap

from tests.support.paths import ROOT
from xuetang.db import database
from xuetang.models import Account, Person
from xuetang.rules.idcard import check_char

APPLIER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from xuetang import create_app
    from xuetang.db import database
    from xuetang.models import Account, Organization, RoleGrant
    from xuetang.services import accounts, roster

    data, kill = Path(sys.argv[1]).read_bytes(), sys.argv[2] == "kill"
    create = accounts.create_staff_accounts

    def die_first(people):
        os.kill(os.getpid(), signal.SIGKILL)  # every person written, inside the transaction

    accounts.create_staff_accounts = die_first if kill else create
    app = create_app({"SECRET_KEY": "durability", "DATABASE_URL": os.environ["DATABASE_URL"],
                      "RATELIMIT_ENABLED": False, "DEMO_MEDIA": False})
    with app.app_context(), database.connection_context():
        grant = (RoleGrant.select().join(Account)
                 .where((Account.username == "employer") & RoleGrant.organization.is_null(False))
                 .get())
        employer = Organization.get_by_id(grant.organization_id)
        check = roster.check_roster(data, employer)
        print("applied", roster.apply_roster(check, employer), flush=True)
''')


def roster_csv(rows: int) -> bytes:
    lines = ["姓名,身份证号,职称系列,手机号"]
    for i in range(rows):
        stem = f"3701121956{1 + i // 28:02d}{1 + i % 28:02d}{500 + i % 100:03d}"
        lines.append(f"名册员工{i},{stem + check_char(stem)},工程技术,139{i:08d}")
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def run_applier(tmp_path, database_url, data: bytes, kill: bool):
    script, sheet = tmp_path / "apply.py", tmp_path / "roster.csv"
    script.write_text(APPLIER)
    sheet.write_bytes(data)
    env = {**os.environ, "DATABASE_URL": database_url,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    return subprocess.run([sys.executable, str(script), str(sheet), "kill" if kill else "finish"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_kill_9_while_applying_a_roster_leaves_all_rows_or_none(app, tmp_path):
    data = roster_csv(300)
    with app.app_context(), database.connection_context():
        people, accounts = Person.select().count(), Account.select().count()

    killed = run_applier(tmp_path, app.config["DATABASE_URL"], data, kill=True)
    assert killed.returncode == -9, killed.stderr
    with app.app_context(), database.connection_context():
        assert Person.select().count() == people
        assert Account.select().count() == accounts

    finished = run_applier(tmp_path, app.config["DATABASE_URL"], data, kill=False)
    assert finished.returncode == 0 and "applied 300" in finished.stdout, finished.stderr
    with app.app_context(), database.connection_context():
        assert Person.select().count() == people + 300
        assert Account.select().count() == accounts + 300
