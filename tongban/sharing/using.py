"""Using evidence in an application under the applicant's consent (免提交) and prefilling the form from
their certificates and base data (免填写).

`attach` turns one consent into a verified material of its case, in one transaction: the certificate is
verified by its signature (certificates.verifying), its PDF stored as the material (how="reuse"), a
UsedEvidence row keeps the verification, the consent is spent and the access is logged. A refusal is
logged after the failed transaction, so it is kept."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tongban.applicants.services import identity_values as _identity
from tongban.bundles.merging import meaning_of
from tongban.bundles.merging import normalise as normalise_label
from tongban.cases.intake import form_fields
from tongban.cases.models import Case, CaseMaterial
from tongban.cases.models import Status as S
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError

from . import access_log, evidence, grants
from .consent import CONSENT_STATUSES, status_of
from .models import AccessLog, BaseRecord, Consent, UsedEvidence

NOT_THIS_CASE = "该授权不适用于本办件"


class _Refused(Exception):
    def __init__(self, error, log):
        super().__init__(error.message)
        self.error, self.log = error, log


def _refuse(error, consent, case, reason=None):
    return _Refused(error, {"consent": consent, "case": case, "reason": reason or error.message})


def _log_refusal(applicant, info):
    c, case = info["consent"], info["case"]
    cert = c.certificate if c is not None else None
    access_log.record("use", holder_code=applicant.code, outcome=AccessLog.REFUSED, actor=applicant.user,
                      identifier=cert.identifier if cert else "", region_path=cert.region_path if cert else "",
                      service_code=c.service.code if c is not None and c.service_id else "", case=case,
                      purpose=c.purpose if c is not None else "", consent_ref=c.pk if c is not None else "", reason=info["reason"])


def is_remote(certificate):
    """Is the certificate's issuer served by another node (the evidence must come through the exchange)?"""
    from tongban.exchange.service import node_for_region, self_node

    node = node_for_region(certificate.region_path)
    return node is not None and node.pk != self_node().pk


def attach(applicant, case, consent):
    """Attach the evidence of `consent` to `case` → CaseMaterial (or, for a certificate held on another
    node, the EvidenceRequest sent there: the material arrives with its release)."""
    try:
        with transaction.atomic():
            return _attach(applicant, case, consent)
    except _Refused as refused:
        _log_refusal(applicant, refused.log)
        raise refused.error from None


def _attach(applicant, case, consent):
    c = Consent.objects.select_for_update(of=("self",)).select_related("certificate__type", "service__provider", "material").filter(pk=consent.pk).first()
    if c is None or c.applicant_id != applicant.pk:
        raise DomainError("未找到该授权", status=404)
    if c.case_id != case.pk:
        raise _refuse(PermissionDenied(NOT_THIS_CASE), c, case)
    state = status_of(c)
    if state != Consent.GIVEN:
        message = {Consent.USED: "该授权已使用，不能重复使用", Consent.WITHDRAWN: "该授权已撤回",
                   Consent.EXPIRED: "该授权已过期，请重新授权"}[state]
        raise _refuse(Conflict(message), c, case)
    locked = Case.objects.select_for_update(of=("self",)).select_related("item_version__item", "department").get(pk=case.pk)
    if locked.applicant_id != applicant.pk:
        raise _refuse(PermissionDenied(NOT_THIS_CASE), c, case)
    if locked.status not in CONSENT_STATUSES:
        raise _refuse(Conflict("办件当前状态不能再使用电子证照提交材料"), c, case)
    if not grants.allowed(locked.department, c.service, locked.item_version.item.basic_code):
        raise _refuse(PermissionDenied("办理部门未获得该数据的共享授权，请自行上传"), c, case)
    if c.certificate_id is not None and is_remote(c.certificate):
        from . import exchange_evidence

        return exchange_evidence.request(applicant, locked, c)
    if c.certificate_id is not None:
        certificate = c.certificate
    else:
        from . import eproofs

        try:
            certificate = eproofs.issue_proof(applicant, c.service.base_kind, provider=c.service.provider, case=locked)
        except DomainError as exc:
            raise _refuse(exc, c, case) from None
    return _store(locked, c, certificate, applicant.user)


def verify_or_refuse(certificate, consent, case, actor=None):
    from tongban.certificates import verifying

    verdict = verifying.verify_certificate(certificate, actor=actor, case=case, purpose="用证前核验（免提交）")
    if verdict.status != "valid":
        raise _refuse(Conflict(verdict.message or f"电子证照核验未通过：{verdict.label}"), consent, case,
                      reason=f"核验未通过：{verdict.label}")
    return verdict


def _store(case, c, certificate, actor, verdict=None, blob=None, origin_note=""):
    """The verified certificate as the material of `case` under consent `c` (inside the caller's transaction)."""
    from tongban.certificates import rendering

    verdict = verdict or verify_or_refuse(certificate, c, case, actor)
    blob = blob or rendering.pdf_blob(certificate)
    rnd = 1 if case.status == S.DRAFT else 1 + case.supplements.count()
    material = c.material
    cm = CaseMaterial.objects.create(case=case, material=material, name=material.name, blob=blob,
                                     file_name=f"{certificate.type.name}-{certificate.number}.pdf"[:255], round=rnd, how="reuse")
    now = timezone.now()
    UsedEvidence.objects.create(
        case=case, use=UsedEvidence.MATERIAL, consent=c, case_material=cm, certificate=certificate, identifier=certificate.identifier,
        service_code=c.service.code if c.service_id else "",
        verification={"status": verdict.status, "label": verdict.label, "key_id": certificate.key_id, "algorithm": certificate.algorithm,
                      "at": now.isoformat(timespec="seconds"), **({"note": origin_note} if origin_note else {})},
    )
    c.status, c.used_at = Consent.USED, now
    c.certificate = certificate
    c.save(update_fields=["status", "used_at", "certificate"])
    access_log.record("use", holder_code=certificate.holder_code, outcome=AccessLog.GRANTED, actor=actor,
                      actor_department=case.department.name if case.department_id else "", identifier=certificate.identifier,
                      region_path=certificate.region_path, service_code=c.service.code if c.service_id else "", case=case,
                      purpose=c.purpose, consent_ref=c.pk)
    return cm


def remove(applicant, case, case_material_id):
    """Take a reused certificate off a draft (the applicant uploads instead). The access log keeps the use."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().filter(pk=case.pk, applicant=applicant).first()
        if locked is None:
            raise DomainError("未找到该办件", status=404)
        if locked.status != S.DRAFT:
            raise Conflict("申请已提交，不能再移除材料；如需更换请按补正要求重新上传")
        cm = CaseMaterial.objects.filter(pk=case_material_id, case=locked, how="reuse").first()
        if cm is None:
            raise DomainError("未找到该电子证照材料", status=404)
        cm.delete()


def used_evidence(case):
    return UsedEvidence.objects.filter(case=case).select_related("certificate__type", "case_material", "consent").order_by("id")


def reused_materials(case):
    """{material id: UsedEvidence} of the current reused materials of the case."""
    from tongban.cases import services as cases

    current = {m.pk for m in cases.current_materials(case)}
    return {u.case_material.material_id: u for u in used_evidence(case).filter(use=UsedEvidence.MATERIAL) if u.case_material_id in current}


def pending_requests(case):
    """{material id: EvidenceRequest} still waiting for another node's answer (cross-node use)."""
    from .models import EvidenceRequest

    rows = EvidenceRequest.objects.filter(side=EvidenceRequest.CONSUMER, case_uid=case.uid, status=EvidenceRequest.REQUESTED).order_by("id")
    return {er.consent.get("material_id"): er for er in rows}


# --- prefill (免填写) -------------------------------------------------------------------------------

@dataclass
class Source:
    kind: str  # "account" | "certificate" | "base"
    label: str
    certificate: object = None
    record: object = None
    service: object = None


def _candidates(applicant, department=None, item_code=""):
    """[(key, label, meaning, value, Source)] from the applicant's certificates, then base data."""
    out = []
    for cert in evidence.wallet(applicant.code):
        service = grants.service_for_certificate(cert)
        if department is not None and not grants.allowed(department, service, item_code):
            continue
        labels = {f.get("key"): f.get("label") or f.get("key") for f in cert.type.fields or [] if isinstance(f, dict)}
        src = Source("certificate", f"电子证照《{cert.type.name}》", certificate=cert, service=service)
        for key, value in (cert.data or {}).items():
            label = labels.get(key) or key
            out.append((key, label, meaning_of({"key": key, "label": label}), value, src))
    for record in BaseRecord.objects.filter(subject_code=applicant.code).select_related("provider").order_by("kind", "-updated_at"):
        service = evidence.base_service(record)
        if department is not None and not grants.allowed(department, service, item_code):
            continue
        labels = {f.get("key"): f.get("label") or f.get("key") for f in (service.fields if service else []) or [] if isinstance(f, dict)}
        src = Source("base", f"基础数据“{record.get_kind_display()}”（{record.provider.name}）", record=record, service=service)
        for key, value in (record.data or {}).items():
            label = labels.get(key) or key
            out.append((key, label, meaning_of({"key": key, "label": label}), value, src))
    return out


def _fits(field, value):
    if value in (None, "") or isinstance(value, (dict, list)):
        return False
    if field.get("type") == "choice":
        return str(value) in [str(c) for c in field.get("choices") or []]
    return True


def prefill_details(applicant, version, department=None):
    """{field key: (value, Source)} for the application form of `version`: identity from the account,
    other fields from the applicant's certificates and base data (by the field's key, meaning or label).
    With `department`, only data that department may use for the item (its grants)."""
    item_code = version.item.basic_code if department is not None else ""
    identity = _identity(applicant)
    candidates = None
    out = {}
    for f in form_fields(version):
        if f.get("type") == "file":
            continue
        meaning = meaning_of(f)
        if meaning in identity:
            out[f["key"]] = (identity[meaning], Source("account", "您的账号"))
            continue
        if candidates is None:
            candidates = _candidates(applicant, department, item_code)
        label = normalise_label(f.get("label"))
        for key, cand_label, cand_meaning, value, src in candidates:
            if (meaning and cand_meaning == meaning) or key == f["key"] or (label and normalise_label(cand_label) == label):
                if _fits(f, value):
                    out[f["key"]] = (str(value), src)
                    break
    return out


def prefill(applicant, version, department=None) -> dict:
    """{field key: value} to show as the form's initial values."""
    return {k: v for k, (v, _src) in prefill_details(applicant, version, department).items()}


def record_prefill(applicant, case, details=None):
    """Once, when the draft is created: the certificate and base-data values the draft kept are recorded
    as used for prefill (a consent shown on the form, a UsedEvidence row per source, one log row per value)."""
    details = details if details is not None else prefill_details(applicant, case.item_version, case.department)
    labels = {f["key"]: f["label"] for f in form_fields(case.item_version)}
    groups = {}
    for key, (value, src) in details.items():
        if src.kind == "account" or str(case.form_data.get(key, "")) != str(value):
            continue
        groups.setdefault(id(src), (src, []))[1].append(key)
    now = timezone.now()
    made = []
    for src, keys in groups.values():
        holder = src.certificate.holder_code if src.certificate else src.record.subject_code
        region = src.certificate.region_path if src.certificate else src.record.region_path
        consent = Consent.objects.create(
            applicant=applicant, case=case, certificate=src.certificate, service=src.service, evidence_label=src.label[:200],
            purpose="预填申请表（免填写）", status=Consent.USED, expires_at=now, used_at=now)
        made.append(UsedEvidence.objects.create(
            case=case, use=UsedEvidence.PREFILL, consent=consent, certificate=src.certificate,
            identifier=src.certificate.identifier if src.certificate else "", service_code=src.service.code if src.service else "", fields=keys))
        for key in keys:
            access_log.record("prefill", holder_code=holder, outcome=AccessLog.GRANTED, actor=applicant.user,
                              actor_department=case.department.name if case.department_id else "",
                              identifier=src.certificate.identifier if src.certificate else "", region_path=region,
                              service_code=src.service.code if src.service else "", case=case, purpose=f"预填“{labels.get(key, key)}”",
                              consent_ref=consent.pk)
    return made
