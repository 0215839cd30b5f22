"""The command line: db upgrade, create-admin, demo (idempotent, prints the logins)."""

from xuetang.db import database
from xuetang.models import Account, LedgerLine, Person
from xuetang.seed.demo import DEMO_PASSWORD


def counts():
    with database.connection_context():
        return Account.select().count(), Person.select().count(), LedgerLine.select().count()


def test_upgrade_then_demo_twice_is_idempotent(empty_app):
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0 and "schema version" in result.output
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output and "city" in first.output
    once = counts()
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and counts() == once
    skipped = runner.invoke(args=["demo", "--if-empty"])
    assert "not loaded" in skipped.output and counts() == once


def test_create_admin(empty_app):
    runner = empty_app.test_cli_runner()
    runner.invoke(args=["db", "upgrade"])
    result = runner.invoke(args=["create-admin", "--username", "boss"],
                           input="Strong-pass-1\nStrong-pass-1\n")
    assert result.exit_code == 0, result.output
    client = empty_app.test_client()
    from tests.conftest import Auth

    assert Auth(client).login("boss", "Strong-pass-1").status_code == 303
    assert "全市概况" in client.get("/").get_data(as_text=True)
