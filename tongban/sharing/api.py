"""Once-only use through the API (the same services as the pages): what a draft case could use instead
of uploads, giving and withdrawing a consent, attaching the evidence (Idempotency-Key honoured), the
prefill of an application form, and the holder's own access log."""

import datetime

from django.http import Http404
from ninja import Field, Router, Schema, Status

from tongban.cases import intake
from tongban.cases.api import _applicant, case_auth
from tongban.catalog.models import Material
from tongban.core.api_common import Page, page
from tongban.core.errors import DomainError
from tongban.core.idempotency import idempotent

from . import access_log, consent, evidence, using
from .models import Consent, EvidenceRequest

router = Router(tags=["数据共享与免提交"])


class OfferOut(Schema):
    offer: str = Field(description="c<证照编号> 为卡包中的电子证照，p<数据服务编号> 为据基础数据开具的电子证明")
    material_id: int
    material_name: str
    kind: str
    label: str
    provider: str
    service_code: str
    identifier: str = ""
    preview: list[list[str]] = Field(description="[名称, 值]，身份号码已脱敏")


class ConsentIn(Schema):
    material_id: int
    offer: str = Field(max_length=20)
    purpose: str = Field("", max_length=300)


class ConsentOut(Schema):
    id: int
    case_id: int
    material_id: int | None
    evidence_label: str
    purpose: str
    status: str
    status_label: str
    given_at: datetime.datetime
    expires_at: datetime.datetime


class AttachOut(Schema):
    status: str = Field(description="attached 已附入办件；requested 已向发证地节点请求")
    case_material_id: int | None = None
    material_id: int | None = None
    identifier: str = ""
    verification: dict = {}
    request_uid: str = ""


class PrefillOut(Schema):
    values: dict
    sources: dict = Field(description="字段标识 → 来源说明")


class LogOut(Schema):
    seq: int
    at: datetime.datetime
    actor_name: str
    actor_department: str
    action: str
    action_label: str
    identifier: str
    case_no: str
    purpose: str
    consent_ref: str
    outcome: str
    reason: str


class LogPage(Page):
    items: list[LogOut]


def _case(request, case_id):
    return intake.own_case(request.user, case_id)


def _consent_out(c):
    state = consent.status_of(c)
    return {"id": c.pk, "case_id": c.case_id, "material_id": c.material_id, "evidence_label": c.evidence_label, "purpose": c.purpose,
            "status": state, "status_label": dict(Consent.STATUS_CHOICES)[state], "given_at": c.given_at, "expires_at": c.expires_at}


def _offer_out(o):
    return {"offer": o.key, "material_id": o.material.pk, "material_name": o.material.name, "kind": o.kind, "label": o.label,
            "provider": o.provider_name, "service_code": o.service.code, "identifier": o.certificate.identifier if o.certificate else "",
            "preview": [[str(a), str(b)] for a, b in o.preview]}


@router.get("/cases/{int:case_id}/offers", auth=case_auth, response=list[OfferOut], summary="免提交：草稿办件各项材料可使用的电子证照和电子证明")
def offers(request, case_id: int):
    _applicant(request)
    return [_offer_out(o) for o in evidence.offers(_case(request, case_id))]


@router.post("/cases/{int:case_id}/consents", auth=case_auth, response={201: ConsentOut}, summary="授权使用一项电子证照（绑定本办件、本项材料）")
def give_consent(request, case_id: int, payload: ConsentIn):
    applicant = _applicant(request)
    case = _case(request, case_id)
    material = Material.objects.filter(pk=payload.material_id, version_id=case.item_version_id).first()
    if material is None:
        raise DomainError("该事项没有这项申请材料", status=422)
    offer = next((o for o in evidence.offers(case, material) if o.key == payload.offer.strip()), None)
    if offer is None:
        raise DomainError("没有可用于该材料的这项电子证照（offer 取自 offers 接口）", status=422)
    c = consent.give(applicant, case, material, offer.certificate or offer.service, payload.purpose)
    return Status(201, _consent_out(c))


def _own_consent(request, consent_id):
    c = Consent.objects.filter(pk=consent_id, applicant=_applicant(request)).select_related("case").first()
    if c is None:
        raise DomainError("未找到该授权", status=404)
    return c


@router.post("/consents/{int:consent_id}/attach", auth=case_auth, response={201: AttachOut, 202: AttachOut},
             summary="使用授权：核验电子证照并作为申请材料附入办件（支持 Idempotency-Key）")
@idempotent
def attach(request, consent_id: int):
    applicant = _applicant(request)
    c = _own_consent(request, consent_id)
    try:
        case = _case(request, c.case_id)
    except Http404:
        raise DomainError("未找到该授权对应的办件", status=404) from None
    result = using.attach(applicant, case, c)
    if isinstance(result, EvidenceRequest):
        return Status(202, {"status": "requested", "request_uid": str(result.uid)})
    used = result.evidence
    return Status(201, {"status": "attached", "case_material_id": result.pk, "material_id": result.material_id, "identifier": used.identifier,
                        "verification": used.verification})


@router.post("/consents/{int:consent_id}/withdraw", auth=case_auth, response=ConsentOut, summary="撤回尚未使用的授权")
def withdraw(request, consent_id: int):
    applicant = _applicant(request)
    return _consent_out(consent.withdraw(applicant, _own_consent(request, consent_id)))


@router.get("/consents", auth=case_auth, response=list[ConsentOut], summary="我的授权（最近100条）")
def my_consents(request):
    return [_consent_out(c) for c in consent.own(_applicant(request))[:100]]


@router.get("/prefill/{implementation_code}", auth=case_auth, response=PrefillOut, summary="免填写：按电子证照和基础数据预填申请表")
def prefill(request, implementation_code: str):
    applicant = _applicant(request)
    try:
        impl, version = intake.applicable_implementation(implementation_code[:40])
    except DomainError as exc:
        raise DomainError(exc.message, status=404) from None
    details = using.prefill_details(applicant, version, impl.department)
    return {"values": {k: v for k, (v, _s) in details.items()}, "sources": {k: s.label for k, (_v, s) in details.items()}}


@router.get("/my/log", auth=case_auth, response=LogPage, summary="我的用证记录（谁、何时、为哪个办件、依据哪次授权使用了我的证照和数据）")
def my_log(request, limit: int = 50, offset: int = 0):
    applicant = _applicant(request)
    result = page(access_log.for_holder(applicant.code), limit, offset)
    result["items"] = [{
        "seq": r.seq, "at": r.at, "actor_name": r.actor_name, "actor_department": r.actor_department, "action": r.action,
        "action_label": access_log.ACTIONS.get(r.action, r.action), "identifier": r.identifier, "case_no": r.case_no,
        "purpose": r.purpose, "consent_ref": r.consent_ref, "outcome": r.outcome, "reason": r.reason,
    } for r in result["items"]]
    return result
