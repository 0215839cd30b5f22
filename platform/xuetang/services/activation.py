"""One-time activation codes: an imported person's first sign-in, instead of anything derivable.

An ID number is not a secret (an employer, a colleague, a form knows it), so the first sign-in
needs a random code: issued to the employer admin and shown once (a page or an XLSX sheet to
print and hand out), stored only as a hash, valid for ACTIVATION_CODE_DAYS, used once at the
sign-in where the person then sets a password. Reissuing revokes the unused code; every row
stays as the audit of who issued what and when.
"""

import datetime as dt
import hashlib
import hmac
import secrets

from flask import current_app

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import Account, ActivationCode, Person
from xuetang.services import spreadsheets
from xuetang.services.refusals import Refused

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed by hand
CODE_LENGTH = 10  # 31^10 ≈ 8e14, behind the per-identifier sign-in lock


def _normal(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def awaiting(people: list[Person]) -> list[Account]:
    """The accounts of these people that have never set a password."""
    return list(Account.select()
                .where(Account.person.in_([p.id for p in people])
                       & Account.password_hash.is_null()))


def issue(accounts: list[Account], issued_by: Account) -> dict[int, tuple[str, dt.datetime]]:
    """New codes for these not-yet-activated accounts, revoking their unused ones.

    Returns account id -> (code, expiry): the only time the codes exist in clear.
    """
    if any(a.password_hash is not None for a in accounts):
        raise Refused("该人员已设置密码，无需激活码", status=409)
    now = utcnow()
    expires = now + dt.timedelta(days=int(current_app.config["ACTIVATION_CODE_DAYS"]))
    issued = {}
    with database.atomic():
        (ActivationCode.update(revoked_at=now)
         .where(ActivationCode.account.in_([a.id for a in accounts])
                & ActivationCode.used_at.is_null() & ActivationCode.revoked_at.is_null())
         .execute())
        for account in accounts:
            code = new_code()
            ActivationCode.create(account=account, code_hash=_hash(code), issued_by=issued_by,
                                  created_at=now, expires_at=expires)
            issued[account.id] = (code, expires)
    return issued


def redeem(account: Account, code: str) -> bool:
    """Use this account's live code if `code` is it (once: a second use fails)."""
    if account.password_hash is not None or not _normal(code):
        return False
    now = utcnow()
    live = (ActivationCode.select()
            .where((ActivationCode.account == account) & ActivationCode.used_at.is_null()
                   & ActivationCode.revoked_at.is_null() & (ActivationCode.expires_at > now)))
    wanted = _hash(code)
    for row in live:
        if hmac.compare_digest(row.code_hash, wanted):
            used = (ActivationCode.update(used_at=now)
                    .where((ActivationCode.id == row.id) & ActivationCode.used_at.is_null())
                    .execute())
            return bool(used)
    return False


def status_of(accounts: list[Account]) -> dict[int, ActivationCode]:
    """The latest code row of each account (issued, used, revoked or expired)."""
    latest: dict[int, ActivationCode] = {}
    for row in (ActivationCode.select()
                .where(ActivationCode.account.in_([a.id for a in accounts]))
                .order_by(ActivationCode.created_at, ActivationCode.id)):
        latest[row.account_id] = row
    return latest


def beijing_day(moment: dt.datetime) -> str:
    """A stored UTC time as the Beijing calendar day people read."""
    return (moment + dt.timedelta(hours=8)).strftime("%Y-%m-%d")


def codes_xlsx(rows: list[tuple[Person, str, dt.datetime]]) -> bytes:
    """The sheet to print and cut up: name, masked ID number, code, valid until (Beijing day)."""
    lines = [["姓名", "身份证号", "激活码", "有效期至", "说明"]]
    lines += [[person.real_name, person.masked_id, code, beijing_day(expires),
               "首次登录：账号填身份证号，密码填激活码，登录后设置新密码"]
              for person, code, expires in rows]
    widths = dict(zip("ABCDE", (12, 22, 16, 12, 48), strict=True))
    return spreadsheets.xlsx_bytes(lines, title="激活码", widths=widths)


def employer_sheet(org, admin: Account) -> bytes:
    """New codes for every person of this employer who has not activated, as the XLSX sheet."""
    people = {p.id: p for p in Person.select().where(Person.employer == org)}
    accounts = awaiting(list(people.values()))
    if not accounts:
        raise Refused("本单位没有待激活的人员", status=409)
    issued = issue(accounts, admin)
    rows = sorted(((people[a.person_id], *issued[a.id]) for a in accounts),
                  key=lambda row: (row[0].real_name, row[0].id))
    return codes_xlsx(rows)


def person_code(person: Person, admin: Account) -> tuple[str, dt.datetime]:
    """A new code for one person (the unused one is revoked); Refused once they have a password."""
    accounts = awaiting([person])
    if not accounts:
        raise Refused("该人员已激活账号，无需激活码", status=409)
    return issue(accounts, admin)[accounts[0].id]


def employer_page(org) -> dict:
    """Who of this employer still has to activate, with their latest code's state."""
    people = {p.id: p for p in Person.select().where(Person.employer == org)
              .order_by(Person.real_name, Person.id)}
    accounts = awaiting(list(people.values()))
    latest = status_of(accounts)
    now = utcnow()
    rows = []
    for account in sorted(accounts, key=lambda a: (people[a.person_id].real_name, a.id)):
        code = latest.get(account.id)
        if code is None:
            state = "未生成"
        elif code.used_at:
            state = "已使用，尚未设置密码"
        elif code.revoked_at:
            state = "已作废"
        elif code.expires_at <= now:
            state = "已过期"
        else:
            state = "有效，至 " + beijing_day(code.expires_at)
        rows.append({"person": people[account.person_id], "state": state})
    return {"org": org, "rows": rows}
