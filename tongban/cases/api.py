"""Case API: every applicant and staff action of the pages, through the same services.

Applicants and staff both sign in with a session (applicants by SMS code, staff by password + TOTP);
writes need the CSRF header. What a caller may read is the one authorisation filter of Case.
"""

import datetime
import json
from decimal import Decimal
from typing import Any

from django.http import Http404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth
from ninja.utils import check_csrf
from pydantic import ValidationError as PydanticValidationError

from tongban.core.api_common import Page, page
from tongban.core.authz import filter_queryset, roles_of
from tongban.core.errors import DomainError
from tongban.core.idempotency import idempotent
from tongban.directory.api_auth import CSRF_FAILED

from . import clock, crossregion, handling, intake, lifecycle, national_record, payments, proxy, tracking
from .models import Case, CaseEvent, Message

router = Router(tags=["办件"])


class CaseSession(SessionAuth):
    """An applicant's session, or a staff session that passed password and TOTP."""

    def _get_key(self, request):
        user = request.user
        ok = user.is_authenticated and user.is_active and (hasattr(user, "applicant") or getattr(user, "is_verified", lambda: False)())
        if not ok:
            return None
        if self.csrf and check_csrf(request):
            raise HttpError(403, CSRF_FAILED)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        return request.user


case_auth = CaseSession()


def _applicant(request):
    applicant = getattr(request.user, "applicant", None)
    if applicant is None:
        raise DomainError("此操作仅限申请人本人（请以申请人身份登录）", status=403)
    return applicant


# --- schemas -----------------------------------------------------------------------------------

class DeadlineOut(Schema):
    remaining: int | None
    colour: str
    label: str
    warning: str


class CaseSummary(Schema):
    id: int
    case_no: str | None
    status: str
    status_label: str
    item_name: str
    implementation_code: str
    department: str
    region_code: str
    applicant_name: str
    applicant_code: str = Field(description="证件号码（已脱敏）")
    submitted_at: datetime.datetime | None
    due_date: datetime.date | None
    deadline: DeadlineOut


class MaterialRow(Schema):
    id: int
    material_id: int | None
    name: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    round: int
    url: str


class EventOut(Schema):
    seq: int
    action: str
    label: str
    actor_name: str
    role: str
    department_name: str
    window_name: str
    at: datetime.datetime
    status_from: str
    status_to: str
    opinion: str
    data: dict
    duty: str = Field(description="责任方：receiving 收件地 / competent 办理地 / part 联办地（跨地区办件）")
    origin: str = Field(description="跨节点办件：该记录发生的节点与序号")
    hash: str


class DocumentOut(Schema):
    id: int
    kind: str
    label: str
    url: str
    created_at: datetime.datetime


class CaseDetail(CaseSummary):
    channel: str
    case_kind: str
    contact_phone: str = Field(description="联系电话（已脱敏）")
    agent_name: str
    form_data: dict
    delivery_method: str
    delivery_address: str
    fee_amount: Decimal
    paid: bool
    promised_days: int
    statutory_days: int
    paused_days: int
    statutory_due_date: datetime.date | None
    decision_reason: str
    result_name: str
    certificate_no: str
    commitments: list[dict]
    materials: list[MaterialRow]
    documents: list[DocumentOut]
    open_supplement: dict | None
    deferred_materials: list[dict]
    ready_steps: list[dict]
    allowed_actions: list[str]
    uid: str = Field(description="办件全局编号（各节点相同）")
    mode: str = Field(description="业务模式：online / proxy / joint")
    mode_label: str
    receiving: dict | None = Field(description="收件地（异地代收代办、多地联办）：区划、部门、窗口、代收依据、节点")
    competent_node: str
    intake_check: dict
    paper_transfers: list[dict]
    parts: list[dict]
    problems: list[dict]


class CasePage(Page):
    items: list[CaseSummary]


class DraftPatch(Schema):
    form: dict[str, Any] | None = None
    delivery_method: str | None = None
    delivery_address: str | None = None
    commitments: list[int] | None = Field(None, description="容缺受理：申请人承诺后补的材料编号（签署告知承诺）")


class ApplicationData(Schema):
    """The `data` field of a one-request application (JSON inside multipart)."""

    implementation_code: str = Field(min_length=1, max_length=36, description="实施编码")
    form: dict[str, Any] = Field(default_factory=dict, description="申请表：字段标识 → 值")
    delivery_method: str | None = Field(None, max_length=20)
    delivery_address: str = Field("", max_length=300)
    commitments: list[int] | None = Field(None, description="容缺受理：承诺后补的材料编号")
    submit: bool = Field(False, description="同时提交（否则只保存草稿）")
    token: str | None = Field(None, max_length=64)


class SubmitIn(Schema):
    token: str | None = Field(None, max_length=64, description="一次性提交令牌：同一令牌重复提交只产生一个办件")


class ActionIn(Schema):
    opinion: str = Field("", max_length=2000)
    params: dict[str, Any] = Field(default_factory=dict, description="动作参数，如补齐补正的 items、送达的 method/courier/tracking_no")


class PaymentOut(Schema):
    reference: str
    amount: Decimal
    status: str
    provider: str
    checkout_url: str


class TrackStep(Schema):
    at: datetime.datetime
    step: str
    status: str


class TrackOut(Schema):
    case_no: str
    item_name: str
    department: str
    status: str
    submitted_at: datetime.datetime | None
    due_date: datetime.date | None
    timeline: list[TrackStep]


class MessageOut(Schema):
    id: int
    case_id: int | None
    title: str
    body: str
    created_at: datetime.datetime
    read_at: datetime.datetime | None


# --- helpers -----------------------------------------------------------------------------------

def _summary(case):
    d = clock.deadline(case)
    return {
        "id": case.pk, "case_no": case.case_no, "status": case.status, "status_label": case.get_status_display(),
        "item_name": case.item_version.name, "implementation_code": case.implementation.implementation_code,
        "department": case.department.name, "region_code": case.region.code, "applicant_name": case.applicant_name,
        "applicant_code": case.masked_code, "submitted_at": case.submitted_at, "due_date": case.due_date,
        "deadline": {"remaining": d.remaining, "colour": d.colour, "label": d.label, "warning": d.warning},
    }


def _detail(case, user):
    from .models import DeferredMaterial, Supplement

    out = _summary(case)
    supplement = case.supplements.filter(status=Supplement.OPEN).last()
    ready = [{"id": s.id, "name": s.name, "role": s.role} for s in handling.review_steps(case)[0]]
    out.update({
        "channel": case.channel, "case_kind": case.case_kind, "contact_phone": case.masked_phone, "agent_name": case.agent_name,
        "form_data": case.form_data, "delivery_method": case.delivery_method, "delivery_address": case.delivery_address,
        "fee_amount": case.fee_amount, "paid": case.fee_settled(), "promised_days": case.promised_days,
        "statutory_days": case.statutory_days, "paused_days": case.paused_days, "statutory_due_date": case.statutory_due_date,
        "decision_reason": case.decision_reason, "result_name": case.result_name, "certificate_no": case.certificate_no,
        "commitments": case.commitments,
        "materials": [{"id": m.pk, "material_id": m.material_id, "name": m.name, "file_name": m.file_name, "content_type": m.blob.content_type,
                       "size": m.blob.size, "sha256": m.blob_id, "round": m.round, "url": f"/cases/{case.pk}/materials/{m.pk}/"}
                      for m in case.materials.select_related("blob").order_by("id")],
        "documents": [{"id": d.pk, "kind": d.kind, "label": d.get_kind_display(), "url": f"/cases/{case.pk}/documents/{d.pk}/", "created_at": d.created_at}
                      for d in case.documents.all()],
        "open_supplement": {"id": supplement.pk, "items": supplement.items, "note": supplement.note, "requested_at": supplement.requested_at.isoformat()} if supplement else None,
        "deferred_materials": [{"id": d.pk, "material_id": d.material_id, "name": d.material.name, "due_date": d.due_date.isoformat(), "status": d.status,
                                "status_label": d.get_status_display()} for d in DeferredMaterial.objects.filter(case=case).select_related("material")],
        "ready_steps": ready, "allowed_actions": [t.action for t, _ in handling.allowed(case, user)],
        **crossregion.detail(case),
    })
    return out


def _visible(request, case_id):
    return intake.visible_case(request.user, case_id)


def _application_data(request):
    raw = request.POST.get("data", "")
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        raise DomainError("字段 data 应为JSON对象", status=422) from None
    if not isinstance(value, dict):
        raise DomainError("字段 data 应为JSON对象", status=422)
    try:
        return ApplicationData.model_validate(value)
    except PydanticValidationError as exc:
        raise NinjaValidationError([dict(e, loc=("data", *e["loc"])) for e in exc.errors()]) from None


MULTIPART_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "data": {"type": "string", "description": "JSON：{implementation_code, form, delivery_method, delivery_address, commitments, submit, token}"},
}, "additionalProperties": {"type": "string", "format": "binary", "description": "material_<材料编号>：申请材料文件；form_<字段标识>：表单附件"}}}}}}


UPLOAD_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "required": ["material_id", "file"], "properties": {
    "material_id": {"type": "integer"}, "file": {"type": "string", "format": "binary"}}}}}}}


# --- applicant ---------------------------------------------------------------------------------

@router.post("/applications", auth=case_auth, response={201: CaseDetail}, openapi_extra=MULTIPART_DOC,
             summary="网上申请：创建草稿（可同时上传材料并提交）")
@idempotent
def create_application(request):
    applicant = _applicant(request)
    data = _application_data(request)
    files = {k.removeprefix("form_"): f for k, f in request.FILES.items() if k.startswith("form_")}
    materials = {k.removeprefix("material_"): f for k, f in request.FILES.items() if k.startswith("material_")}
    if any(not k.isdigit() for k in materials):
        raise DomainError("文件字段应为 material_<材料编号>", status=422)
    case = intake.create_application(applicant, request.user, data.implementation_code, data.form, files, materials,
                                     data.delivery_method, data.delivery_address, data.commitments, data.submit, data.token)
    return Status(201, _detail(intake.visible_case(request.user, case.pk), request.user))


@router.patch("/{int:case_id}", auth=case_auth, response=CaseDetail, summary="修改草稿（申请表、送达方式、容缺承诺）")
def update_draft(request, case_id: int, payload: DraftPatch):
    _applicant(request)
    case = intake.update_draft(request.user, case_id, form=payload.form, delivery_method=payload.delivery_method,
                               delivery_address=payload.delivery_address, commitments=payload.commitments)
    return _detail(case, request.user)


@router.post("/{int:case_id}/materials", auth=case_auth, response={201: MaterialRow}, summary="上传申请材料（PDF、JPG、PNG、OFD）",
             openapi_extra=UPLOAD_DOC)
def upload_material(request, case_id: int):
    _applicant(request)
    return _stored_upload(request, case_id, intake.add_material)


def _stored_upload(request, case_id, store):
    """One multipart material (`material_id`, `file`) stored by `store(user, case_id, material_id, upload)`."""
    upload = request.FILES.get("file")
    if upload is None:
        raise DomainError("请选择要上传的文件（字段 file）", status=422)
    mid = request.POST.get("material_id", "")
    if not mid.isdigit():
        raise DomainError("material_id 应为材料编号", status=422)
    m = store(request.user, case_id, int(mid), upload)
    return Status(201, {"id": m.pk, "material_id": m.material_id, "name": m.name, "file_name": m.file_name, "content_type": m.blob.content_type,
                        "size": m.blob.size, "sha256": m.blob_id, "round": m.round, "url": f"/cases/{case_id}/materials/{m.pk}/"})


@router.post("/{int:case_id}/submit", auth=case_auth, response=CaseDetail, summary="提交申请（幂等）")
@idempotent
def submit(request, case_id: int, payload: SubmitIn):
    _applicant(request)
    case = intake.submit(request.user, case_id, payload.token)
    return _detail(case, request.user)


@router.post("/{int:case_id}/payments", auth=case_auth, response={201: PaymentOut}, summary="发起缴费")
def start_payment(request, case_id: int):
    _applicant(request)
    p = payments.start(request.user, case_id)
    return Status(201, {"reference": p.reference, "amount": p.amount, "status": p.status, "provider": p.provider, "checkout_url": payments.provider().checkout_url(p)})


@router.post("/payments/{reference}/sandbox-confirm", auth=case_auth, response=PaymentOut, summary="支付沙箱：确认支付（仅演示通道）")
def sandbox_confirm(request, reference: str):
    from .models import Payment

    p = Payment.objects.filter(reference=reference[:64], case__applicant__user=request.user, provider="sandbox").first()
    if p is None:
        raise Http404
    p = payments.confirm(p.reference)
    return {"reference": p.reference, "amount": p.amount, "status": p.status, "provider": p.provider, "checkout_url": ""}


# --- the receiving window (异地代收代办) --------------------------------------------------------

class WindowApplicant(Schema):
    kind: str = Field("natural", description="natural 自然人 / legal 法人")
    name: str = Field(max_length=200, description="姓名或单位名称")
    phone: str = Field(max_length=20)
    id_number: str = Field("", max_length=18)
    credit_code: str = Field("", max_length=18)
    applicant_type: str = Field("2", max_length=1)
    agent_name: str = Field("", max_length=60)
    agent_id_number: str = Field("", max_length=18)


class ProxyIn(Schema):
    implementation_code: str = Field(min_length=1, max_length=36, description="办理地的实施编码")
    applicant: WindowApplicant
    form: dict[str, Any] = Field(default_factory=dict)
    delivery_method: str | None = Field(None, max_length=20)
    delivery_address: str = Field("", max_length=300)
    window_id: int | None = Field(None, ge=1, le=2**63 - 1, description="收件窗口（默认为本人所在窗口）")


class ReceivingOut(Schema):
    allowed: bool
    reason: str
    basis: str
    implementation_code: str
    item_name: str
    competent_place: str
    formal_review_points: list[str]
    materials: list[dict] = Field(description="申请材料：编号、名称、是否必要、是否需核验原件")


class IntakeCheckIn(Schema):
    identity_method: str = Field(description="id_reader 身份证阅读器 / face 人脸核验 / manual 人工核验")
    originals_checked: list[int] = Field(default_factory=list, description="已核验原件的材料编号")
    formal_review: list[dict[str, Any]] = Field(default_factory=list, description="[{point, ok, note}]：逐项形式审查结果")


def _staff(request):
    if not roles_of(request.user):
        raise DomainError("此操作仅限工作人员", status=403)


@router.get("/receiving-check", auth=case_auth, response=ReceivingOut, summary="代收前核对：本窗口能否代收该实施清单（原因与依据）")
def receiving_check(request, implementation_code: str):
    _staff(request)
    impl, version, _m, decision = proxy.receiving_check(request.user, implementation_code[:36])
    return {"allowed": decision.allowed, "reason": decision.reason, "basis": decision.basis, "implementation_code": impl.implementation_code,
            "item_name": version.name, "competent_place": f"{impl.region.full_name()} {impl.department.name}",
            "formal_review_points": proxy.review_points(version),
            "materials": [{"id": m.pk, "seq": m.seq, "name": m.name, "required": m.necessity == "required", "original_check": m.original_check}
                          for m in version.materials.order_by("seq")]}


@router.post("/proxy-cases", auth=case_auth, response={201: CaseDetail}, summary="异地代收：窗口为办理地在外地的事项收件（草稿）")
@idempotent
def open_proxy_case(request, payload: ProxyIn):
    _staff(request)
    case = proxy.open_case(request.user, payload.implementation_code, payload.applicant.dict(), payload.form, payload.delivery_method,
                           payload.delivery_address, payload.window_id)
    return Status(201, _detail(intake.visible_case(request.user, case.pk), request.user))


@router.post("/{int:case_id}/intake-check", auth=case_auth, response=CaseDetail, summary="收件核验：身份核验方式、原件核验、形式审查要点")
def intake_check(request, case_id: int, payload: IntakeCheckIn):
    _staff(request)
    case = proxy.record_check(request.user, case_id, payload.identity_method, payload.originals_checked, payload.formal_review)
    return _detail(intake.visible_case(request.user, case.pk), request.user)


@router.post("/{int:case_id}/scans", auth=case_auth, response={201: MaterialRow}, summary="窗口扫描材料（PDF、JPG、PNG、OFD）",
             openapi_extra=UPLOAD_DOC)
def upload_scan(request, case_id: int):
    _staff(request)
    return _stored_upload(request, case_id, proxy.add_scan)


# --- everyone who may read the case ----------------------------------------------------------

@router.get("", auth=case_auth, response=CasePage, summary="办件列表（申请人：本人办件；工作人员：管辖范围内）")
def list_cases(request, status: str = "", case_no: str = "", uid: str = "", limit: int = 20, offset: int = 0):
    qs = filter_queryset(Case.objects.select_related("item_version", "implementation", "department", "region"), request.user)
    if uid:
        qs = qs.filter(uid=crossregion.parse_uid(uid))
    if status:
        qs = qs.filter(status=status[:16])
    if case_no:
        qs = qs.filter(case_no=case_no[:24])
    if roles_of(request.user):
        qs = qs.exclude(status="draft")
    result = page(qs.order_by("-id"), limit, offset)
    result["items"] = [_summary(c) for c in result["items"]]
    return result


@router.get("/{int:case_id}", auth=case_auth, response=CaseDetail, summary="办件详情")
def get_case(request, case_id: int):
    return _detail(_visible(request, case_id), request.user)


@router.get("/{int:case_id}/events", auth=case_auth, response=list[EventOut], summary="办件过程记录（哈希链）")
def case_events(request, case_id: int):
    return list(CaseEvent.objects.filter(case=_visible(request, case_id)).order_by("seq"))


@router.post("/{int:case_id}/actions/{action}", auth=case_auth, response=CaseDetail, summary="办理动作（受理、补齐补正、审查、准予、办结、送达、撤回等）")
def act(request, case_id: int, action: str, payload: ActionIn):
    lifecycle.get(action)
    if action in ("submit", "pay"):
        raise DomainError("提交申请请使用 /submit 接口，缴费请使用 /payments 接口", status=422)
    case = handling.perform(case_id, action, request.user, payload.opinion, payload.params)
    return _detail(case, request.user)


@router.get("/{int:case_id}/exchange-record", auth=case_auth, response=dict, summary="全国交换格式办件记录（受理、过程、特别程序、材料、结果）")
def exchange_record(request, case_id: int):
    if not roles_of(request.user):
        raise DomainError("仅工作人员可以导出交换记录", status=403)
    return national_record.export_record(_visible(request, case_id))


@router.get("/messages", auth=case_auth, response=list[MessageOut], summary="我的站内消息")
def my_messages(request, limit: int = 50):
    return list(Message.objects.filter(recipient=request.user)[: max(1, min(limit, 200))])


@router.get("/track", response=TrackOut, summary="办件查询（公开：办件编号 + 证件号码或手机号后六位；只含进度）")
def track(request, case_no: str, tail: str):
    return tracking.track(case_no, tail, request.META.get("REMOTE_ADDR", ""))
