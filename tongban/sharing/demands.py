"""共享需求清单: a department declares which shared data it needs, for which items and why; the provider
grants or refuses (grants.py). Supervisors watch the demands still unmet in their region."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tongban.core import audit, authz
from tongban.core.errors import Conflict, DomainError

from .grants import _clean_items
from .models import DataService, ShareDemand

UNMET = (ShareDemand.OPEN, ShareDemand.REFUSED)


def _text(value, label, limit, required=True):
    value = (value or "").strip() if isinstance(value, str) else ""
    if required and not value:
        raise DomainError(f"请填写{label}", status=422)
    if len(value) > limit or "\x00" in value:
        raise DomainError(f"{label}不能超过{limit}个字符，也不能含有控制字符", status=422)
    return value


def declare(user, consumer, service, *, purpose, item_codes=None, fields=None, data_name="") -> ShareDemand:
    """A demand of `consumer` (the user's own department: catalogue administrator or approver) for `service`."""
    if consumer is None:
        raise DomainError("请选择需求部门", status=422)
    if not isinstance(service, DataService) or not service.is_active:
        raise DomainError("请选择数据服务目录中的一项数据服务", status=422)
    if service.provider_id == consumer.pk:
        raise DomainError("本部门提供的数据无需申请共享", status=422)
    purpose = _text(purpose, "用途", 300)
    items = _clean_items(item_codes)
    if not items:
        raise DomainError("请填写使用该数据的事项基本编码（至少一项）", status=422)
    known = {f.get("key") for f in service.fields or [] if isinstance(f, dict)}
    if fields in (None, ""):
        fields = []
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.replace("，", ",").split(",") if f.strip()]
    if not isinstance(fields, list) or any(not isinstance(f, str) for f in fields):
        raise DomainError("所需数据项应为数据项标识列表", status=422)
    unknown = [f for f in fields if known and f not in known]
    if unknown:
        raise DomainError(f"该数据服务没有这些数据项：{'、'.join(unknown)[:100]}", status=422)
    demand = ShareDemand(consumer=consumer, region_path=consumer.region.path, service=service,
                         data_name=_text(data_name, "所需数据", 200, required=False) or service.name, fields=fields,
                         item_codes=items, purpose=purpose, created_by=user)
    authz.ensure_can(user, demand, authz.WRITE, "只有本部门的目录管理员或审批人员可以登记共享需求")
    with transaction.atomic():
        if ShareDemand.objects.select_for_update().filter(consumer=consumer, service=service, status=ShareDemand.OPEN).exists():
            raise Conflict("本部门已登记该数据服务的共享需求，正在等待答复")
        demand.save()
        audit.record(user, "sharing.declare_demand", demand, f"{consumer.name}登记共享需求：{service.name}", data={"items": items})
    return demand


def visible(user):
    return authz.filter_queryset(ShareDemand.objects.select_related("consumer", "service__provider"), user)


def waited_days(demand, now=None):
    return max(0, ((now or timezone.now()) - demand.created_at).days)


def unmet(user, region_prefix=None):
    """Open or refused demands the user may read (their region), oldest first, with days waited."""
    qs = visible(user).filter(status__in=UNMET)
    if region_prefix:
        qs = qs.filter(Q(region_path__startswith=region_prefix) | Q(service__region_path__startswith=region_prefix))
    rows = list(qs.order_by("created_at", "id"))
    now = timezone.now()
    for d in rows:
        d.waited = waited_days(d, now)
    return rows
