"""Sign-in state kept on the server: failed guesses per identifier, and live sessions."""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.people import Account


class SignInThrottle(BaseModel):
    """Failed sign-ins for one typed identifier, whether or not an account has it.

    The key is a hash of the normalised identifier, so strangers' typing is not stored as typed.
    """

    key = CharField(unique=True, max_length=64)
    failures = IntegerField(default=0)
    last_failure_at = DateTimeField(default=utcnow)
    locked_until = DateTimeField(null=True)

    class Meta:
        table_name = "sign_in_throttle"


class AccountSession(BaseModel):
    """One signed-in browser; the cookie holds its token, sign-out deletes the row."""

    account = ForeignKeyField(Account, backref="sessions", on_delete="CASCADE")
    token_hash = CharField(unique=True, max_length=64)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "account_session"


class ActivationCode(BaseModel):
    """A one-time code for an imported person's first sign-in (only its hash is kept).

    Issued to the employer admin, who hands it out; used once, expires, and a reissue revokes
    the unused one. The rows are the audit of who issued which code when.
    """

    account = ForeignKeyField(Account, backref="activation_codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64, index=True)
    issued_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "activation_code"


SIGNIN_MODELS = [SignInThrottle, AccountSession, ActivationCode]
