"""Writing and reading audit entries (append-only; see AuditEntry)."""

from .masking import mask_text
from .models import AuditEntry


def record(actor, action, obj=None, summary="", data=None, object_type=None, object_id=None):
    """Append an audit entry inside the caller's transaction (it commits or rolls back with the change)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        actor_name=(user.get_full_name() or user.username) if user else "系统",
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=str(object_id if object_id is not None else getattr(obj, "pk", "")),
        summary=mask_text(summary),
        data=data or {},
    )


def visible_entries(qs, user):
    """The one read filter of audit entries: platform administrators and supervisors see all,
    everyone else only what they did themselves."""
    from .authz import roles_of

    if roles_of(user) & {"platform_admin", "supervisor"}:
        return qs
    return qs.filter(actor=user) if getattr(user, "is_authenticated", False) else qs.none()
