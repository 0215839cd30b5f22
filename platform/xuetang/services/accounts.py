"""Accounts: password rules, sign-in lookup, and creating accounts for people and organizations."""

import functools
import secrets

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

from xuetang import config
from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import ADMIN_ROLE_FOR_KIND, Account, Organization, Person, RoleGrant
from xuetang.rules.idcard import IdNumberError, normalize
from xuetang.services import activation, sessions
from xuetang.services.refusals import Refused

MIN_PASSWORD_LENGTH = 8
BATCH = 200  # rows per multi-row INSERT: well under SQLite's bound-parameter limit


class PasswordError(Refused, ValueError):
    """A password that does not meet the rules (or does not open the account); shown to the user."""


def id_tail(person: Person) -> str:
    """The last six characters of the ID number: guessable, so never part of a password."""
    return person.id_number[-6:]


def check_new_password(password: str, account: Account) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"密码至少需要{MIN_PASSWORD_LENGTH}位")
    if password.isdigit() or password.isalpha():
        raise PasswordError("密码需同时包含字母和数字")
    if account.person_id and id_tail(account.person) in password:
        raise PasswordError("密码不能包含身份证号的后六位")


def hash_password(password: str) -> str:
    """PASSWORD_HASH_METHOD (scrypt unless configured)."""
    method = (current_app.config["PASSWORD_HASH_METHOD"] if has_app_context()
              else config.default("PASSWORD_HASH_METHOD"))
    return generate_password_hash(password, method=method)


def one_time_password() -> str:
    """A generated first password for an admin account, shown once and changed at first sign-in."""
    return "Xt-" + secrets.token_urlsafe(9)


def set_password(account: Account, password: str) -> None:
    check_new_password(password, account)
    account.password_hash = hash_password(password)
    account.must_change_password = False
    account.save()


def find_account(identifier: str) -> Account | None:
    """Look an account up by ID number (via its person) or by username."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    try:
        id_number = normalize(identifier)
    except IdNumberError:
        id_number = None
    if id_number:
        person = Person.get_or_none(Person.id_number == id_number)
        if person:
            return Account.get_or_none(Account.person == person)
    return Account.get_or_none(Account.username == identifier)


def authenticate(identifier: str, password: str) -> Account | None:
    """The active account these credentials open, or None (same answer for every failure)."""
    account = find_account(identifier)
    if account is None or not account.active:
        # Spend the same effort as a real check so timing does not reveal which accounts exist.
        check_password_hash(_dummy_hash(), password or "")
        return None
    return account if authenticate_account(account, password) else None


def authenticate_account(account: Account, password: str) -> bool:
    """Whether `password` opens `account`: its hash, or before the first password a live one-time
    activation code (which this uses up)."""
    if account.password_hash is None:
        return bool(account.person_id) and activation.redeem(account, password)
    return check_password_hash(account.password_hash, password or "")


def record_sign_in(account: Account) -> None:
    Account.update(last_login_at=utcnow()).where(Account.id == account.id).execute()


def sign_in(identifier: str, password: str) -> Account | None:
    """The account these credentials open, its sign-in recorded; None for any failure.

    Raises sessions.SignInLocked while the identifier is locked after too many failures, even
    for the right password: that is what stops a guesser spread over many addresses.
    """
    sessions.reserve_attempt(identifier)
    account = authenticate(identifier, password)
    if account is not None:
        sessions.forget_failures(identifier)
        record_sign_in(account)
    return account


def change_password(account: Account, current: str, new: str) -> None:
    """Replace the password after checking the current one; PasswordError says why not.

    An account without a password signed in with its activation code (now used up): there is
    no current password to check, only the first one to set.
    """
    if account.password_hash is not None and not authenticate_account(account, current):
        raise PasswordError("当前密码不正确")
    set_password(account, new)


def grant(account: Account, role: str, organization=None, district=None) -> RoleGrant:
    existing = RoleGrant.get_or_none(
        (RoleGrant.account == account) & (RoleGrant.role == role)
        & (RoleGrant.organization == organization) & (RoleGrant.district == district)
    )
    return existing or RoleGrant.create(
        account=account, role=role, organization=organization, district=district
    )


def create_admin_account(username: str, password: str, must_change_password: bool) -> Account:
    """An account signed in by username, for an organization's admin (not tied to a person)."""
    return Account.create(username=username, password_hash=hash_password(password),
                          must_change_password=must_change_password)


def grant_org_admin(account: Account, org: Organization) -> RoleGrant:
    """The admin role that goes with the organization's kind; a district office's is scoped to it."""
    role = ADMIN_ROLE_FOR_KIND[org.kind]
    return grant(account, role, organization=org,
                 district=org.district_id if role == "district_admin" else None)


def create_staff_accounts(people: list[Person]) -> list[Account]:
    """Trainee accounts for imported people: no password until an activation code is used.

    In batches, because one roster can bring thousands of people at once; all or none.
    """
    person_ids = [p.id for p in people]
    with database.atomic():
        for start in range(0, len(person_ids), BATCH):
            Account.insert_many([
                {"person": pid, "password_hash": None, "must_change_password": True}
                for pid in person_ids[start:start + BATCH]
            ]).execute()
        created = []
        for start in range(0, len(person_ids), BATCH):
            created.extend(Account.select()
                           .where(Account.person.in_(person_ids[start:start + BATCH])))
        for start in range(0, len(created), BATCH):
            RoleGrant.insert_many([
                {"account": a.id, "role": "trainee"} for a in created[start:start + BATCH]
            ]).execute()
    return created


def create_staff_account(person: Person) -> Account:
    """A trainee account for one person (see create_staff_accounts)."""
    return create_staff_accounts([person])[0]


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")
