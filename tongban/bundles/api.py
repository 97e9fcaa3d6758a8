"""一件事 API: the 服务清单 and guides (public), one application for a whole bundle, and the bundle case
steps of the lead window (综合受理、统一出件), the departments (联合勘验意见) and the applicant (补正、撤回).

Auth as the case API: applicants and staff by session (staff passed password + TOTP), writes with the
CSRF header. What a caller may read is the one authorisation filter of BundleCase.
"""

import datetime
import json
from typing import Any, Literal

from django.http import Http404, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError as PydanticValidationError

from tongban.cases.api import DeadlineOut, case_auth
from tongban.catalog.choices import DELIVERY
from tongban.core.api_common import Page, page
from tongban.core.authz import filter_queryset, roles_of
from tongban.core.errors import DomainError
from tongban.core.idempotency import idempotent

from . import applying, coordination, documents
from .models import BundleCase, BundleStatus, BundleVersion

router = Router(tags=["高效办成一件事"])

DELIVERY_LABELS = dict(DELIVERY)


# --- schemas -----------------------------------------------------------------------------------

class BundleSummary(Schema):
    code: str
    name: str
    theme: str
    theme_label: str
    stage: str
    stage_label: str
    batch: str
    region_code: str
    region_name: str
    version_no: int
    lead_department: str
    item_count: int
    promised_limit_days: int


class EntryOut(Schema):
    key: str = Field(description="事项在一件事中的标识（e<编号>），与办理顺序BPMN中的任务名称一致")
    seq: int
    stage: int
    item_name: str
    implementation_code: str
    department: str
    promised_limit_days: int
    result_name: str


class FieldOut(Schema):
    key: str
    label: str
    type: str
    required: bool = False
    meaning: str = ""
    choices: list[str] | None = None
    help: str = ""
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    entries: list[str] = Field(default_factory=list, description="需要该字段的事项标识")


class GroupOut(Schema):
    key: str = Field(description="材料组标识（g1、g2 …），上传时字段名为 material_<标识>")
    name: str
    necessity: str
    original_check: bool
    deferrable: bool
    items: list[str] = Field(description="需要该材料的事项")


class MarketServiceOut(Schema):
    id: int
    name: str
    provider: str
    description: str


class GuideOut(BundleSummary):
    description: str
    conditions: str
    order: str
    order_label: str
    bpmn_xml: str
    refusal_policy: str
    refusal_policy_label: str
    delivery_methods: list[dict]
    combined_permit_name: str
    cooperating_departments: list[str]
    entries: list[EntryOut]
    form_fields: list[FieldOut]
    material_groups: list[GroupOut]
    market_services: list[MarketServiceOut]


class ApplicationData(Schema):
    """The `data` field of a bundle application (JSON inside multipart)."""

    form: dict[str, Any] = Field(default_factory=dict, description="合并后的申请表：字段标识 → 值")
    delivery_method: str | None = Field(None, max_length=20)
    delivery_address: str = Field("", max_length=300)
    commitments: list[str] | None = Field(None, description="告知承诺容缺：承诺后补的材料组标识，如 [\"g3\"]")
    market_services: list[int] | None = Field(None, description="一类事：同时申请的增值服务编号")
    submit: bool = Field(False, description="同时提交（否则只保存草稿）")
    token: str | None = Field(None, max_length=64, description="一次性提交令牌：同一令牌重复提交只产生一个一件事办件")


class ChildOut(Schema):
    id: int
    case_no: str | None
    entry_key: str
    item_name: str
    department: str
    stage: int
    status: str
    status_label: str
    denied: bool
    due_date: datetime.date | None
    deadline: DeadlineOut
    waiting: bool = Field(description="等待前一阶段办结后受理")
    result_name: str
    certificate_no: str
    decision_reason: str
    mutual_recognition: dict | None = Field(description="首办核验、接办互认：核验部门、核验人、时间")


class DocumentOut(Schema):
    id: int
    kind: str
    label: str
    url: str
    created_at: datetime.datetime


class BundleCaseSummary(Schema):
    id: int
    case_no: str | None
    status: str
    status_label: str
    outcome: str
    bundle_code: str
    bundle_name: str
    applicant_name: str
    applicant_code: str = Field(description="证件号码（已脱敏）")
    lead_department: str
    submitted_at: datetime.datetime | None
    due_date: datetime.date | None
    deadline: DeadlineOut


class BundleCaseOut(BundleCaseSummary):
    outcome_label: str
    version_no: int
    contact_phone: str = Field(description="联系电话（已脱敏）")
    refusal_policy: str
    refusal_policy_label: str
    order: str
    order_label: str
    channel: str
    delivery_method: str
    delivery_method_label: str
    delivery_address: str
    accepted_at: datetime.datetime | None
    ready_at: datetime.datetime | None
    delivered_at: datetime.datetime | None
    promised_days: int
    children: list[ChildOut]
    appointments: list[dict]
    market_requests: list[dict]
    verifications: list[dict]
    commitments: list[dict]
    documents: list[DocumentOut]
    explanation: str
    explanation_draft: str = Field(description="部分办成时按不予许可理由预填的结果说明")
    permit_no: str
    form_data: dict
    material_groups: list[dict]


class BundleCasePage(Page):
    items: list[BundleCaseSummary]


class TimelineRow(Schema):
    at: datetime.datetime
    source: str = Field(description="bundle 一件事层面 / case 某一事项")
    case_id: int | None
    case_no: str | None
    item_name: str
    department: str
    action: str
    label: str
    actor_name: str
    role: str
    opinion: str
    status_from: str
    status_to: str
    status_label: str
    data: dict


class IntakeIn(Schema):
    decision: Literal["accept", "supplement", "refuse"] = Field(description="accept 受理 / supplement 补齐补正 / refuse 不予受理")
    opinion: str = Field("", max_length=2000)
    identity_method: str | None = Field(None, description="id_reader 身份证阅读器 / face 人脸核验 / manual 人工核验（受理时必填）")
    originals_checked: list[str] = Field(default_factory=list, description="已核验原件的材料组标识")
    supplement_items: list[dict[str, Any]] = Field(default_factory=list, description="[{group 或 name, problem, entry（可选）}]：一次性告知")


class DeliverIn(Schema):
    method: str = Field(max_length=20, description="送达方式：mail / online / pickup / remote_print")
    courier: str = Field("", max_length=60)
    tracking_no: str = Field("", max_length=40)
    recipient: str = Field("", max_length=60)
    place: str = Field("", max_length=200)
    explanation: str = Field("", max_length=2000, description="部分办成时的结果说明（必填）")


class AppointmentIn(Schema):
    kind: Literal["inspection", "review", "acceptance"] = Field(description="inspection 联合勘验 / review 联合评审 / acceptance 联合验收")
    scheduled_at: datetime.datetime
    place: str = Field(min_length=1, max_length=200)
    case_ids: list[int] = Field(description="参加的事项（办件编号，至少两个部门）")
    note: str = Field("", max_length=300)


class AppointmentOut(Schema):
    id: int
    kind: str
    scheduled_at: datetime.datetime
    place: str
    status: str
    note: str
    results: list[dict]
    case_ids: list[int]


class OpinionIn(Schema):
    opinion: str = Field(min_length=1, max_length=1000)
    case_id: int | None = Field(None, description="本部门参加的事项（办件编号，可省略）")


class MarketIn(Schema):
    status: Literal["forwarded", "done"]
    note: str = Field("", max_length=300)


class SubmitIn(Schema):
    token: str | None = Field(None, max_length=64)


# --- helpers -----------------------------------------------------------------------------------

def _summary(bundle, version):
    return {
        "code": bundle.code, "name": version.name, "theme": bundle.theme, "theme_label": bundle.get_theme_display(), "stage": bundle.stage,
        "stage_label": bundle.get_stage_display(), "batch": bundle.batch, "region_code": bundle.region.code, "region_name": bundle.region.name,
        "version_no": version.version_no, "lead_department": version.lead_department.name, "item_count": len(version.field_map),
        "promised_limit_days": version.promised_limit_days,
    }


def _guide(bundle, version):
    entries = list(version.entries.select_related("implementation__item", "implementation__department").order_by("seq"))
    from . import merging

    out = _summary(bundle, version)
    out.update({
        "description": version.description, "conditions": version.conditions, "order": version.order, "order_label": version.get_order_display(),
        "bpmn_xml": version.bpmn_xml, "refusal_policy": version.refusal_policy, "refusal_policy_label": version.get_refusal_policy_display(),
        "delivery_methods": [{"code": m, "label": DELIVERY_LABELS.get(m, m)} for m in version.get_delivery_methods_names()],
        "combined_permit_name": version.combined_permit_name,
        "cooperating_departments": [d.name for d in version.cooperating_departments.order_by("name")],
        "entries": [{"key": e.key, "seq": e.seq, "stage": merging.effective_stage(version, e), "item_name": e.implementation.item.name,
                     "implementation_code": e.implementation.implementation_code, "department": e.implementation.department.name,
                     "promised_limit_days": e.implementation.promised_limit_days,
                     "result_name": getattr(e.implementation.item.published_version, "result_name", "") or ""} for e in entries],
        "form_fields": version.form_fields, "material_groups": version.material_groups,
        "market_services": [{"id": s.pk, "name": s.name, "provider": s.provider, "description": s.description} for s in version.market_services.all()],
    })
    return out


def _case_summary(parent):
    d = coordination.bundle_deadline(parent)
    return {
        "id": parent.pk, "case_no": parent.case_no, "status": parent.status, "status_label": BundleStatus(parent.status).label, "outcome": parent.outcome,
        "bundle_code": parent.bundle_version.bundle.code, "bundle_name": parent.bundle_version.name, "applicant_name": parent.applicant_name,
        "applicant_code": parent.masked_code, "lead_department": parent.lead_department.name, "submitted_at": parent.submitted_at,
        "due_date": parent.due_date, "deadline": {"remaining": d.remaining, "colour": d.colour, "label": d.label, "warning": d.warning},
    }


def _overview(user, bundle_case_id):
    parent = coordination.visible_bundle_case(user, bundle_case_id)
    out = coordination.overview(parent)
    out.pop("bundle_case")
    out.pop("form_fields")
    return out


def _applicant(request):
    applicant = getattr(request.user, "applicant", None)
    if applicant is None:
        raise DomainError("此操作仅限申请人本人（请以申请人身份登录）", status=403)
    return applicant


def _staff(request):
    if not roles_of(request.user):
        raise DomainError("此操作仅限工作人员", status=403)


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


def _material_files(request):
    files = {k.removeprefix("material_"): f for k, f in request.FILES.items() if k.startswith("material_")}
    unknown = [k for k in request.FILES if not k.startswith(("material_", "form_"))]
    if unknown:
        raise DomainError("文件字段应为 material_<材料组标识>（如 material_g1）或 form_<字段标识>", status=422)
    return files


MULTIPART_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "data": {"type": "string", "description": "JSON：{form, delivery_method, delivery_address, commitments, market_services, submit, token}"},
}, "additionalProperties": {"type": "string", "format": "binary", "description": "material_<材料组标识>：申请材料文件（一份材料只传一次）；form_<字段标识>：表单附件"}}}}}}

RESUBMIT_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "additionalProperties": {
    "type": "string", "format": "binary", "description": "material_<材料组标识>：补正材料"}}}}}}


# --- bundle cases (before /{code}: "cases" is never a bundle code) -----------------------------

@router.get("/cases", auth=case_auth, response=BundleCasePage, summary="一件事办件列表（申请人：本人；工作人员：管辖范围内）")
def list_cases(request, status: str = "", limit: int = 20, offset: int = 0):
    qs = filter_queryset(BundleCase.objects.select_related("bundle_version__bundle", "lead_department"), request.user)
    if status:
        qs = qs.filter(status=status[:12])
    if roles_of(request.user):
        qs = qs.exclude(status=BundleStatus.DRAFT)
    result = page(qs.order_by("-id"), limit, offset)
    result["items"] = [_case_summary(c) for c in result["items"]]
    return result


@router.get("/cases/{int:bundle_case_id}", auth=case_auth, response=BundleCaseOut, summary="一件事办件：各事项、办理部门、时限、联合勘验、增值服务、文书")
def get_case(request, bundle_case_id: int):
    return _overview(request.user, bundle_case_id)


@router.get("/cases/{int:bundle_case_id}/timeline", auth=case_auth, response=list[TimelineRow], summary="一件事办件的统一时间线（一件事及各事项的记录）")
def case_timeline(request, bundle_case_id: int):
    return coordination.timeline(coordination.visible_bundle_case(request.user, bundle_case_id))


@router.get("/cases/{int:bundle_case_id}/documents/{int:document_id}", auth=case_auth, summary="下载一件事文书（PDF）",
            openapi_extra={"responses": {200: {"description": "PDF（一件事办结通知书、行业综合许可证、未办成告知书）", "content": {"application/pdf": {}}}}})
def case_document(request, bundle_case_id: int, document_id: int):
    parent = coordination.visible_bundle_case(request.user, bundle_case_id)
    doc = parent.documents.filter(pk=document_id).first()
    if doc is None:
        raise Http404
    response = HttpResponse(documents.document_pdf(doc), content_type="application/pdf")
    response["Content-Disposition"] = f"inline; filename=bundle-{parent.pk}-{doc.kind}-{doc.pk}.pdf"
    response["Cache-Control"] = "private, no-store"
    return response


@router.post("/cases/{int:bundle_case_id}/submit", auth=case_auth, response=BundleCaseOut, summary="提交一件事申请草稿（幂等）")
@idempotent
def submit(request, bundle_case_id: int, payload: SubmitIn):
    _applicant(request)
    parent = applying.submit(request.user, bundle_case_id, payload.token)
    return _overview(request.user, parent.pk)


@router.post("/cases/{int:bundle_case_id}/intake", auth=case_auth, response=BundleCaseOut, summary="前台综合受理（牵头部门窗口）：受理、补齐补正或不予受理")
def intake(request, bundle_case_id: int, payload: IntakeIn):
    _staff(request)
    coordination.intake(bundle_case_id, request.user, payload.decision, payload.opinion, payload.identity_method, payload.originals_checked,
                        payload.supplement_items)
    return _overview(request.user, bundle_case_id)


@router.post("/cases/{int:bundle_case_id}/deliver", auth=case_auth, response=BundleCaseOut, summary="窗口统一出件：一次送达全部结果（一业一证）")
def deliver(request, bundle_case_id: int, payload: DeliverIn):
    _staff(request)
    coordination.deliver(bundle_case_id, request.user, payload.method, payload.courier, payload.tracking_no, payload.recipient, payload.place,
                         payload.explanation)
    return _overview(request.user, bundle_case_id)


@router.post("/cases/{int:bundle_case_id}/appointments", auth=case_auth, response={201: AppointmentOut}, summary="预约联合勘验、评审或验收")
def schedule_appointment(request, bundle_case_id: int, payload: AppointmentIn):
    _staff(request)
    a = coordination.schedule_appointment(bundle_case_id, request.user, payload.kind, payload.scheduled_at, payload.place, payload.case_ids, payload.note)
    return Status(201, _appointment(a))


def _appointment(a):
    return {"id": a.pk, "kind": a.kind, "scheduled_at": a.scheduled_at, "place": a.place, "status": a.status, "note": a.note,
            "results": a.results, "case_ids": list(a.cases.values_list("pk", flat=True))}


@router.post("/appointments/{int:appointment_id}/opinion", auth=case_auth, response=AppointmentOut, summary="参加部门填写联合勘验（评审、验收）意见")
def record_appointment(request, appointment_id: int, payload: OpinionIn):
    _staff(request)
    return _appointment(coordination.record_appointment(appointment_id, request.user, payload.opinion, payload.case_id))


@router.post("/cases/{int:bundle_case_id}/market-requests/{int:service_id}", auth=case_auth, response=BundleCaseOut,
             summary="一类事：增值服务转交服务机构或办理完成")
def mark_market_request(request, bundle_case_id: int, service_id: int, payload: MarketIn):
    _staff(request)
    coordination.mark_market_request(bundle_case_id, request.user, service_id, payload.status, payload.note)
    return _overview(request.user, bundle_case_id)


@router.post("/cases/{int:bundle_case_id}/resubmit", auth=case_auth, response=BundleCaseOut, openapi_extra=RESUBMIT_DOC,
             summary="申请人一次提交补齐补正材料（各部门要求的材料分别送达）")
def resubmit(request, bundle_case_id: int):
    _applicant(request)
    files = _material_files(request)
    applying.resubmit(request.user, bundle_case_id, files)
    return _overview(request.user, bundle_case_id)


@router.post("/cases/{int:bundle_case_id}/withdraw", auth=case_auth, response=BundleCaseOut, summary="申请人撤回整个一件事申请")
def withdraw(request, bundle_case_id: int):
    _applicant(request)
    applying.withdraw(request.user, bundle_case_id)
    return _overview(request.user, bundle_case_id)


# --- the 服务清单 and guides (public) -------------------------------------------------------------

@router.get("/", response=list[BundleSummary], summary="一件事服务清单（已发布）")
def list_bundles(request, theme: str = ""):
    versions = (BundleVersion.objects.filter(status=BundleVersion.PUBLISHED).select_related("bundle__region", "lead_department")
                .order_by("bundle__region__code", "bundle__code"))
    if theme:
        versions = versions.filter(bundle__theme=theme[:12])
    return [_summary(v.bundle, v) for v in versions]


@router.get("/{code}", response=GuideOut, summary="一件事办事指南：一张表单、一套材料、办理部门与顺序、不予许可时的处理、增值服务")
def guide(request, code: str):
    bundle, version = applying.published(code)
    return _guide(bundle, version)


@router.get("/{code}/prefill", auth=case_auth, response=dict, summary="申请表预填（本人信息与以往申请中已提供的内容）")
def prefill(request, code: str):
    applicant = _applicant(request)
    _bundle, version = applying.published(code)
    return applying.prefill(applicant, version)


@router.post("/{code}/applications", auth=case_auth, response={201: BundleCaseOut}, openapi_extra=MULTIPART_DOC,
             summary="一件事申请：一张表单、一套材料（可同时提交，幂等）")
@idempotent
def apply(request, code: str):
    applicant = _applicant(request)
    data = _application_data(request)
    files = {k.removeprefix("form_"): f for k, f in request.FILES.items() if k.startswith("form_")}
    materials = _material_files(request)
    parent = applying.apply(applicant, request.user, code, data.form, files, materials, data.delivery_method, data.delivery_address,
                            data.commitments, data.market_services, data.submit, data.token)
    return Status(201, _overview(request.user, parent.pk))

