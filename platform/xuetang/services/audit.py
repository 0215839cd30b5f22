"""Writing the general audit log (reading it for the city admin is services.audit_log)."""

from xuetang.models import AuditEvent


def record(area: str, action: str, actor_id: int | None, subject: str = "",
           note: str = "") -> AuditEvent:
    """One line of who did what, when; called inside the transaction of what it records."""
    return AuditEvent.create(area=area, action=action, actor=actor_id, subject=subject[:250],
                             note=note)
