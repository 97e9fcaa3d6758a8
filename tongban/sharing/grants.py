"""Grants of data services (deny by default): a provider's catalogue administrator grants one consumer
department one service (optionally limited to items and up to an end date), or revokes it; and the
check every use of shared data goes through (`allowed`, `staff_access`)."""

import datetime

from django.db import transaction
from django.utils import timezone

from tongban.core import audit, authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError

from . import access_log
from .models import AccessLog, DataService, ShareDemand, ShareGrant

NO_CASE_BASIS = "查看证照须有办件依据"


def _today():
    return timezone.localdate()


def active_grants(consumer, service, on=None):
    """Grants of `service` to `consumer` in force on `on` (today by default)."""
    on = on or _today()
    qs = ShareGrant.objects.filter(service=service, consumer=consumer, revoked_at__isnull=True)
    return [g for g in qs if g.valid_until is None or g.valid_until >= on]


def allowed(consumer_department, service, item_code) -> bool:
    """May `consumer_department` use `service` for the item of basic code `item_code`? Deny by default:
    only an unrevoked, unexpired grant to that department covering the item says yes."""
    if consumer_department is None or service is None or not service.is_active:
        return False
    if service.provider_id == consumer_department.pk:
        return True  # a department using its own data needs no grant
    for g in active_grants(consumer_department, service):
        if not g.item_codes or (item_code and item_code in g.item_codes):
            return True
    return False


def is_active(grant, on=None):
    on = on or _today()
    return grant.revoked_at is None and (grant.valid_until is None or grant.valid_until >= on)


def _clean_items(item_codes):
    if item_codes in (None, ""):
        return []
    if isinstance(item_codes, str):
        item_codes = [c for c in item_codes.replace("，", ",").replace("\n", ",").split(",")]
    if not isinstance(item_codes, list):
        raise DomainError("事项基本编码应为列表", status=422)
    out = []
    for c in item_codes:
        c = str(c).strip().upper()
        if not c:
            continue
        if len(c) != 12 or not c.isalnum():
            raise DomainError(f"事项基本编码“{c[:20]}”应为12位字母或数字", status=422)
        out.append(c)
    return list(dict.fromkeys(out))


def _clean_until(valid_until):
    if valid_until in (None, ""):
        return None
    if isinstance(valid_until, str):
        try:
            valid_until = datetime.date.fromisoformat(valid_until.strip())
        except ValueError:
            raise DomainError("授权截止日期格式应为 年-月-日，如 2027-12-31", status=422) from None
    if not isinstance(valid_until, datetime.date):
        raise DomainError("授权截止日期格式应为 年-月-日", status=422)
    if valid_until < _today():
        raise DomainError("授权截止日期不能早于今天", status=422)
    return valid_until


def _ensure_provider_admin(user, service):
    probe = ShareGrant(service=service, provider_region_path=service.region_path)
    authz.ensure_can(user, probe, authz.WRITE, "只有数据提供部门的目录管理员可以授权或撤销共享")


def grant(user, service, consumer, *, item_codes=None, valid_until=None, demand=None) -> ShareGrant:
    """Grant `consumer` the use of `service` (one active grant per pair); a demand it answers is met."""
    if not isinstance(service, DataService) or not service.is_active:
        raise DomainError("该数据服务不存在或已停用", status=422)
    if consumer is None:
        raise DomainError("请选择使用部门", status=422)
    _ensure_provider_admin(user, service)
    items = _clean_items(item_codes)
    until = _clean_until(valid_until)
    with transaction.atomic():
        if ShareGrant.objects.select_for_update().filter(service=service, consumer=consumer, revoked_at__isnull=True).exists():
            raise Conflict("该部门已有此数据服务的有效授权，如需调整请先撤销")
        if demand is not None:
            demand = ShareDemand.objects.select_for_update().get(pk=demand.pk)
            if demand.consumer_id != consumer.pk or (demand.service_id and demand.service_id != service.pk):
                raise DomainError("授权与所依据的需求不一致（部门或数据服务不同）", status=422)
            if not items and demand.item_codes:
                items = list(demand.item_codes)
        g = ShareGrant.objects.create(service=service, consumer=consumer, provider_region_path=service.region_path, item_codes=items,
                                      demand=demand, granted_by=user, valid_until=until)
        if demand is not None:
            demand.status, demand.answer = ShareDemand.MET, f"已授权（{service.name}）"
            demand.save(update_fields=["status", "answer", "updated_at"])
        # Other open demands of the same department for this service are met by the same grant.
        ShareDemand.objects.filter(consumer=consumer, service=service, status=ShareDemand.OPEN).update(
            status=ShareDemand.MET, answer=f"已授权（{service.name}）", updated_at=timezone.now())
        audit.record(user, "sharing.grant", g, f"授权{consumer.name}使用{service.name}",
                     data={"service": service.code, "consumer": consumer.credit_code, "items": items, "valid_until": str(until or "")})
    return g


def refuse(user, demand, answer) -> ShareDemand:
    """The provider refuses a demand, with an answer the consumer reads."""
    answer = (answer or "").strip()
    if not answer or len(answer) > 300 or "\x00" in answer:
        raise DomainError("请填写不予共享的理由（300字以内）", status=422)
    if demand.service is None:
        raise DomainError("该需求未对应数据服务，无法由提供部门答复", status=422)
    _ensure_provider_admin(user, demand.service)
    with transaction.atomic():
        demand = ShareDemand.objects.select_for_update().get(pk=demand.pk)
        if demand.status != ShareDemand.OPEN:
            raise Conflict("该需求已答复")
        demand.status, demand.answer = ShareDemand.REFUSED, answer
        demand.save(update_fields=["status", "answer", "updated_at"])
        audit.record(user, "sharing.refuse_demand", demand, f"不予共享：{answer}")
    return demand


def revoke(user, grant_obj, reason="") -> ShareGrant:
    _ensure_provider_admin(user, grant_obj.service)
    reason = (reason or "").strip()[:300]
    with transaction.atomic():
        g = ShareGrant.objects.select_for_update(of=("self",)).select_related("service", "consumer").get(pk=grant_obj.pk)
        if g.revoked_at is not None:
            raise Conflict("该授权已撤销")
        g.revoked_at, g.revoked_by = timezone.now(), user
        g.save(update_fields=["revoked_at", "revoked_by"])
        # The demands it met are unmet again: supervisors see them waiting.
        ShareDemand.objects.filter(consumer=g.consumer, service=g.service, status=ShareDemand.MET).update(
            status=ShareDemand.OPEN, answer=f"授权已撤销{('：' + reason) if reason else ''}"[:300], updated_at=timezone.now())
        audit.record(user, "sharing.revoke_grant", g, f"撤销{g.consumer.name}使用{g.service.name}的授权{('：' + reason) if reason else ''}")
    return g


def service_for_certificate(certificate):
    """The data service that shares this certificate's type: its issuer's own, else any active one."""
    qs = DataService.objects.filter(source=DataService.CERTIFICATE, certificate_type_id=certificate.type_id, is_active=True)
    return qs.filter(provider_id=certificate.issuer_id).first() or qs.order_by("id").first()


def _department_of(user, case):
    """The user's department that may handle `case` (its competent or receiving department), else any."""
    depts = [d for _r, _p, d in authz.grants(user) if d is not None]
    for d in (case.department_id, getattr(case, "receiving_department_id", None)):
        if d in depts:
            return d
    return depts[0] if depts else None


def staff_access(user, certificate, case, purpose):
    """A staff member reads a certificate's data. Its issuer's own staff read it as issuer; anyone else
    must name a case they may read whose applicant is the holder, and their department must hold a grant
    of the certificate's service — else 403 “查看证照须有办件依据”, logged as refused (after the failed
    check, so the refusal is kept). Returns the certificate."""
    from tongban.cases.models import Case
    from tongban.certificates.models import Certificate
    from tongban.directory.models import Department

    purpose = (purpose or "").strip()[:300]
    issuer_staff = authz.filter_queryset(Certificate.objects.filter(pk=certificate.pk), user).exists()
    service = service_for_certificate(certificate)
    reason, readable = "", None
    if case is not None:
        readable = authz.filter_queryset(Case.objects.filter(pk=case.pk), user).select_related("item_version__item").first()
    if issuer_staff and case is None:
        access_log.record("view", holder_code=certificate.holder_code, outcome=AccessLog.GRANTED, actor=user, identifier=certificate.identifier,
                          region_path=certificate.region_path, purpose=purpose or "发证部门查看", service_code=service.code if service else "")
        return certificate
    if readable is None:
        reason = NO_CASE_BASIS
    elif readable.applicant_code != certificate.holder_code:
        reason = "办件申请人不是该证照的持证主体"
    elif not issuer_staff:
        dept_id = _department_of(user, readable)
        dept = Department.objects.filter(pk=dept_id).first() if dept_id else None
        item_code = readable.item_version.item.basic_code if readable.item_version_id else ""
        if not allowed(dept, service, item_code):
            reason = "本部门未获得该证照的共享授权"
    dept_name = ""
    if user is not None and getattr(user, "is_authenticated", False):
        d = _department_of(user, readable) if readable is not None else None
        dept_name = Department.objects.filter(pk=d).values_list("name", flat=True).first() or "" if d else ""
    if reason:
        access_log.record("view", holder_code=certificate.holder_code, outcome=AccessLog.REFUSED, actor=user, actor_department=dept_name,
                          identifier=certificate.identifier, region_path=certificate.region_path, case=readable, purpose=purpose,
                          service_code=service.code if service else "", reason=reason)
        raise PermissionDenied(NO_CASE_BASIS if reason == NO_CASE_BASIS else f"{NO_CASE_BASIS}：{reason}")
    access_log.record("view", holder_code=certificate.holder_code, outcome=AccessLog.GRANTED, actor=user, actor_department=dept_name,
                      identifier=certificate.identifier, region_path=certificate.region_path, case=readable, purpose=purpose,
                      service_code=service.code if service else "")
    return certificate
