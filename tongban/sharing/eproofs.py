"""E-proofs (电子证明) issued from base data: a 参保证明 or 缴存证明 is a certificate of a proof type
(`CertificateType.proof_source` = the base-data kind) issued by the department that keeps the record,
with the record's data, valid three months unless the type says otherwise."""

import calendar
import datetime
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tongban.core.errors import DomainError

from . import access_log
from .models import AccessLog, BaseRecord, DataService

DEFAULT_MONTHS = 3
NOT_FOUND = {"social_insurance": "未查到您的参保/缴存记录", "housing_fund": "未查到您的参保/缴存记录"}


def _add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until_for(proof_type, today=None):
    """The end of an e-proof's validity: the type's rule (“N个月” / “N天”), its years, else three months."""
    today = today or timezone.localdate()
    rule = proof_type.validity_rule or ""
    m = re.search(r"(\d{1,3})\s*个?月", rule)
    if m:
        return _add_months(today, int(m.group(1)))
    d = re.search(r"(\d{1,4})\s*[天日]", rule)
    if d:
        return today + datetime.timedelta(days=int(d.group(1)))
    if proof_type.validity_years:
        return _add_months(today, 12 * proof_type.validity_years)
    return _add_months(today, DEFAULT_MONTHS)


def proof_type_for(kind):
    from tongban.certificates.models import CertificateType

    return CertificateType.objects.filter(proof_source=kind, is_active=True).order_by("code").first()


def per_hour():
    """How many e-proofs one applicant may ask for on the page in an hour (they are signed documents)."""
    return int(getattr(settings, "TONGBAN_EPROOF_PER_HOUR", 20))


def kinds():
    return dict(BaseRecord.KIND_CHOICES)


def issue_proof(applicant, kind, *, actor=None, provider=None, case=None):
    """Issue an e-proof of `kind` for `applicant` from their base record (404 when they have none)."""
    from tongban.certificates import issuing

    if kind not in kinds():
        raise DomainError("不支持的电子证明种类", status=422)
    ptype = proof_type_for(kind)
    if ptype is None:
        raise DomainError(f"暂不能开具{kinds()[kind]}的电子证明", status=404)
    records = BaseRecord.objects.filter(kind=kind, subject_code=applicant.code).select_related("provider__region")
    if provider is not None:
        records = records.filter(provider=provider)
    record = records.order_by("-updated_at", "-id").first()
    if record is None:
        raise DomainError(NOT_FOUND.get(kind, f"未查到您的{kinds()[kind]}"), status=404)
    keys = [f.get("key") for f in ptype.fields or [] if isinstance(f, dict) and f.get("key")]
    data = {k: record.data[k] for k in keys if k in record.data} if keys else dict(record.data)
    missing = [f.get("label") or f.get("key") for f in ptype.fields or [] if isinstance(f, dict) and f.get("required") and f.get("key") not in data]
    if missing:
        raise DomainError(f"基础数据缺少开具证明所需的数据项：{'、'.join(missing)}，请联系{record.provider.name}", status=409)
    service = DataService.objects.filter(source=DataService.BASE_DATA, base_kind=kind, provider=record.provider, is_active=True).first()
    holder = {"name": applicant.name, "code": applicant.code, "code_type": applicant.code_type, "applicant": applicant}
    with transaction.atomic():
        certificate = issuing.issue(ptype, record.provider, holder, data, case=case, source="base_data", actor=actor,
                                    valid_until=valid_until_for(ptype))
        access_log.record("issue", holder_code=applicant.code, outcome=AccessLog.GRANTED, actor=actor or applicant.user,
                          actor_department=record.provider.name, identifier=certificate.identifier, region_path=record.region_path,
                          service_code=service.code if service else "", case=case, purpose=f"开具{ptype.name}")
    return certificate
