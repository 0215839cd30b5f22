"""Issue 13: issued certificates (frozen content, codes), series notices with attachments and the
offices' series, and the general audit log."""

from xuetang.models import AUDIT_MODELS, CERTIFICATE_MODELS, NOTICE_MODELS


def upgrade(db, migrator):
    db.create_tables(CERTIFICATE_MODELS + NOTICE_MODELS + AUDIT_MODELS, safe=True)
