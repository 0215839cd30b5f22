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
    assert once[1] > 4000 and once[2] > 40000  # the generated demo city (seed/demo_city.py)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and counts() == once
    skipped = runner.invoke(args=["demo", "--if-empty"])
    assert "not loaded" in skipped.output and counts() == once

    from tests.conftest import Auth

    client = empty_app.test_client()  # the existing demo logins still work beside the city
    assert Auth(client).login("employer").status_code == 303
    staff = client.get("/reports/", follow_redirects=True).get_data(as_text=True)
    assert "济南泉城示范科技有限公司 人员完成情况" in staff and "实名登记 <a" in staff


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
