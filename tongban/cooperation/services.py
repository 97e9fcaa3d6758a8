"""Cooperation services: the one way every entry point (admin, pages, API, the cross-node exchange)
writes agreements, liaisons and problem reports (问题反馈单)."""

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.core import audit
from tongban.core.authz import READ, PermissionDenied, can, ensure_can_change, roles_of
from tongban.core.errors import Conflict, DomainError, validate
from tongban.directory.services import save_scoped

from .models import Agreement, Liaison, WorkOrder, WorkOrderReply
from .receiving import partner_regions_of, receivable_summary, receiving_decision
from .scopes import CASE_HANDLERS

__all__ = [
    "save_agreement", "terminate_agreement", "save_liaison", "delete_liaison",
    "record_problem", "record_reply", "close_problem",
    "receiving_decision", "receivable_summary", "partner_regions_of",
]

TITLE_MAX, BODY_MAX, NAME_MAX = 100, 2000, 60
SIDES = dict(WorkOrder.SIDE_CHOICES)


# --- agreements and liaisons ------------------------------------------------------------------


@transaction.atomic
def save_agreement(user, agreement, items=None):
    """Create or change an agreement: authorised on the stored and the new state (party_a's region),
    validated, audited. `items` (when given) replaces the applicable items; an agreement needs items
    or 全部事项."""
    item_list = list(items) if items is not None else (list(agreement.items.all()) if agreement.pk else [])
    if not agreement.all_items and not item_list:
        raise DomainError("请选择适用事项，或勾选“全部事项”", status=422)
    created = agreement.pk is None
    save_scoped(user, agreement, "agreement.create" if created else "agreement.update")
    if items is not None:
        agreement.items.set(item_list)
    # The signing side manages the agreement's liaisons (their scope follows party_a).
    Liaison.objects.filter(agreement=agreement).exclude(owner_path=agreement.party_a.path).update(owner_path=agreement.party_a.path)
    return agreement


@transaction.atomic
def terminate_agreement(user, agreement):
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    ensure_can_change(user, agreement)
    if agreement.status == Agreement.TERMINATED:
        return agreement
    agreement.status = Agreement.TERMINATED
    agreement.save(update_fields=["status"])
    audit.record(user, "agreement.terminate", agreement, f"终止合作协议《{agreement.name}》")
    return agreement


def save_liaison(user, liaison):
    liaison.refresh_owner_path()
    return save_scoped(user, liaison, "liaison.create" if liaison.pk is None else "liaison.update")


@transaction.atomic
def delete_liaison(user, liaison):
    stored = Liaison.objects.select_for_update().get(pk=liaison.pk)
    ensure_can_change(user, stored)
    audit.record(user, "liaison.delete", stored, str(stored))
    stored.delete()


# --- problem reports (问题反馈单) ----------------------------------------------------------------


def _text(value, label, max_len, required=True):
    text = (value or "").strip() if isinstance(value, str) else ("" if value is None else None)
    if text is None:
        raise DomainError(f"{label}格式不正确", status=422)
    if "\x00" in text:
        raise DomainError(f"{label}包含不允许的字符", status=422)
    if required and not text:
        raise DomainError(f"请填写{label}", status=422)
    if len(text) > max_len:
        raise DomainError(f"{label}不能超过{max_len}个字", status=422)
    return text


def _side(side):
    if side not in SIDES:
        raise DomainError("提出方应为收件地、办理地或联办地", status=422)
    return side


def _uid(value):
    if value is None:
        return uuid.uuid4()
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise DomainError("全局标识格式不正确", status=422) from None


def _existing(model, uid):
    return model.objects.filter(uid=uid).first()


def _create_once(model, uid, build):
    """Insert a row identified by `uid`, or return the one already stored (also when a concurrent
    delivery of the same message wins the race)."""
    found = _existing(model, uid)
    if found is not None:
        return found, False
    obj = build()
    try:
        with transaction.atomic():
            validate(obj, validate_unique=False)  # uid races are settled by the unique index below
            obj.save()
    except IntegrityError:
        found = _existing(model, uid)
        if found is None:
            raise
        return found, False
    return obj, True


def record_problem(case, *, side, author_name, region_code, department_name, title, body, uid=None, created_at=None):
    """Record a problem report about `case` (may be None). Idempotent on `uid`: the same report arriving
    again (e.g. from another node) returns the stored one."""
    uid = _uid(uid)
    values = dict(
        raised_side=_side(side),
        raised_by_name=_text(author_name, "提出人", NAME_MAX),
        raised_region_code=_text(region_code, "提出地区划代码", 12),
        raised_department_name=_text(department_name, "提出单位", 120, required=False),
        title=_text(title, "问题标题", TITLE_MAX),
        body=_text(body, "问题描述", BODY_MAX),
    )
    order, _created = _create_once(
        WorkOrder, uid, lambda: WorkOrder(uid=uid, case=case, created_at=created_at or timezone.now(), **values)
    )
    if (order.case_id or None) != (getattr(case, "pk", None)):
        raise Conflict("该问题反馈单标识已用于其他办件")
    return order


def record_reply(work_order, *, side, author_name, region_code, body, uid=None, created_at=None):
    """Answer a problem report; the report becomes 已答复 (a closed one stays closed). Idempotent on `uid`."""
    uid = _uid(uid)
    values = dict(
        side=_side(side),
        author_name=_text(author_name, "答复人", NAME_MAX),
        region_code=_text(region_code, "答复地区划代码", 12),
        body=_text(body, "答复内容", BODY_MAX),
    )
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
        reply, created = _create_once(
            WorkOrderReply, uid, lambda: WorkOrderReply(uid=uid, work_order=order, created_at=created_at or timezone.now(), **values)
        )
        if reply.work_order_id != order.pk:
            raise Conflict("该答复标识已用于其他问题反馈单")
        if created and order.status == WorkOrder.OPEN:
            order.status = WorkOrder.ANSWERED
            order.save(update_fields=["status"])
    work_order.status = order.status
    return reply


@transaction.atomic
def close_problem(work_order, user):
    """Close a problem report: staff who handle cases and may read the report."""
    order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
    if not (roles_of(user) & CASE_HANDLERS) or not can(user, order, READ):
        raise PermissionDenied("您没有权限关闭该问题反馈单")
    if order.status != WorkOrder.CLOSED:
        order.status = WorkOrder.CLOSED
        order.closed_at = timezone.now()
        order.closed_by_name = (user.get_full_name() or user.username)[:NAME_MAX]
        order.save(update_fields=["status", "closed_at", "closed_by_name"])
        audit.record(user, "work_order.close", order, f"关闭问题反馈单：{order.title}")
    work_order.status, work_order.closed_at, work_order.closed_by_name = order.status, order.closed_at, order.closed_by_name
    return order

