"""The applicant's explicit consent to fetch one piece of evidence for one material of one case. A
consent is bound to its case, expires after TONGBAN_CONSENT_MINUTES, serves once, and can be withdrawn
until it is used."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tongban.cases.models import Status as S
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError

from . import evidence
from .models import Consent, DataService

CONSENT_STATUSES = (S.DRAFT, S.SUPPLEMENT)
DEFAULT_PURPOSE = "用于办理“{name}”（办件{no}）的申请材料"


def minutes():
    return int(getattr(settings, "TONGBAN_CONSENT_MINUTES", 30))


def status_of(consent, now=None):
    """The consent's state now: a given consent past its time is expired even before a sweep."""
    if consent.status == Consent.GIVEN and consent.expires_at <= (now or timezone.now()):
        return Consent.EXPIRED
    return consent.status


def status_label(consent):
    return dict(Consent.STATUS_CHOICES)[status_of(consent)]


def default_purpose(case):
    return DEFAULT_PURPOSE.format(name=case.item_version.name, no=case.case_no or f"草稿{case.pk}")


def find_offer(case, material, source):
    """The offer of `source` (a Certificate or a DataService) for `material`, or None."""
    for o in evidence.offers(case, material):
        if isinstance(source, DataService) and o.kind == "proof" and o.service.pk == source.pk:
            return o
        if not isinstance(source, DataService) and o.kind == "certificate" and o.certificate.pk == getattr(source, "pk", None):
            return o
    return None


def give(applicant, case, material, source, purpose=None) -> Consent:
    """Consent of `applicant` to fetch `source` (their certificate, or the data service an e-proof is
    issued from) for `material` of `case`. Only the case's own applicant, only while the case takes
    materials, only evidence offered for that material (theirs, valid, granted to the department)."""
    if case.applicant_id != applicant.pk:
        raise PermissionDenied("只有本办件的申请人本人可以授权使用电子证照")
    if case.status not in CONSENT_STATUSES:
        raise Conflict("办件当前状态不能再使用电子证照提交材料")
    if material is None or material.version_id != case.item_version_id:
        raise DomainError("该事项没有这项申请材料", status=422)
    if source is None:
        raise DomainError("请选择要使用的电子证照或电子证明", status=422)
    if not isinstance(source, DataService):
        if source.holder_code != applicant.code:
            raise PermissionDenied("该电子证照不属于您，不能使用")
        if source.status != "valid" or (source.valid_until is not None and source.valid_until < timezone.localdate()):
            raise Conflict("该电子证照已失效（已变更、吊销、注销或过期），不能使用")
    purpose = (purpose or "").strip() or default_purpose(case)
    if len(purpose) > 300 or "\x00" in purpose:
        raise DomainError("用途不能超过300个字符", status=422)
    offer = find_offer(case, material, source)
    if offer is None:
        raise PermissionDenied("该证照不能用于这项材料，或办理部门未获得该数据的共享授权，请自行上传")
    with transaction.atomic():
        return Consent.objects.create(
            applicant=applicant, case=case, material=material, certificate=offer.certificate, service=offer.service,
            evidence_label=offer.label[:200], purpose=purpose, expires_at=timezone.now() + datetime.timedelta(minutes=minutes()),
        )


def withdraw(applicant, consent) -> Consent:
    """Withdraw an unused consent (one's own)."""
    with transaction.atomic():
        c = Consent.objects.select_for_update().filter(pk=consent.pk).first()
        if c is None or c.applicant_id != applicant.pk:
            raise DomainError("未找到该授权", status=404)
        state = status_of(c)
        if state != Consent.GIVEN:
            raise Conflict(f"该授权{dict(Consent.STATUS_CHOICES)[state]}，不能撤回")
        c.status, c.withdrawn_at = Consent.WITHDRAWN, timezone.now()
        c.save(update_fields=["status", "withdrawn_at"])
    return c


def own(applicant):
    return Consent.objects.filter(applicant=applicant).select_related("case", "material", "certificate", "service").order_by("-id")
