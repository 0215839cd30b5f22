"""An uploaded roster kept on disk between its check and the admin's confirmation.

The file is checked again on confirmation, because the registry may have changed meanwhile.
"""

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from xuetang.models import Organization
from xuetang.services import roster
from xuetang.services.refusals import Refused

TOKEN = re.compile(r"^[0-9a-f]{32}$")
STAGED_MAX_AGE = 24 * 3600  # an upload never confirmed is removed after a day


@dataclass
class Imported:
    applied: int
    invalid: int


def _folder() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stage(data: bytes, employer: Organization, account_id: int, filename: str) -> str:
    """Keep the file for its uploader; returns an unguessable token."""
    folder = _folder()
    for old in folder.glob("*.upload"):
        if time.time() - old.stat().st_mtime > STAGED_MAX_AGE:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    token = secrets.token_hex(16)
    (folder / f"{token}.upload").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps({
        "org": employer.id, "account": account_id, "filename": filename[:100],
    }))
    return token


def _staged(token: str, employer: Organization, account_id: int) -> bytes:
    """The staged file, only for the account that uploaded it into this employer."""
    if not TOKEN.match(token or ""):
        raise Refused("导入凭据无效", status=400)
    folder = _folder()
    meta_file = folder / f"{token}.json"
    if not meta_file.exists():
        raise Refused("导入已过期，请重新上传", status=410)
    meta = json.loads(meta_file.read_text())
    if meta["org"] != employer.id or meta["account"] != account_id:
        raise Refused("无权确认该导入", status=403)
    return (folder / f"{token}.upload").read_bytes()


def _unstage(token: str) -> None:
    folder = _folder()
    (folder / f"{token}.upload").unlink(missing_ok=True)
    (folder / f"{token}.json").unlink(missing_ok=True)


def check_upload(data: bytes, employer: Organization, account_id: int,
                 filename: str) -> tuple[roster.RosterCheck, str | None]:
    """Check every row; if any can be imported, keep the file and return the token to confirm it.

    Raises SpreadsheetError when the file as a whole is unusable.
    """
    check = roster.check_roster(data, employer)
    token = _stage(data, employer, account_id, filename) if check.valid else None
    return check, token


def confirm_upload(token: str, employer: Organization, account_id: int) -> Imported:
    """Apply the rows of a staged file that are still valid, all in one transaction."""
    check = roster.check_roster(_staged(token, employer, account_id), employer)
    applied = roster.apply_roster(check, employer)
    _unstage(token)
    return Imported(applied=applied, invalid=len(check.invalid))
