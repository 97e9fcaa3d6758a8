"""Staff API of electronic certificates (mounted at /api/v1/certificates/staff/): the certificates the
caller may read, a certificate with its history, change and revocation by the issuing department,
and remote printing at a clerk's window. Staff session (password + TOTP) as for the case API."""

import datetime

from django.http import FileResponse, Http404
from ninja import Field, Router, Schema, Status

from tongban.cases.api import case_auth
from tongban.cases.models import Case
from tongban.core import authz
from tongban.core.api_common import Page, page
from tongban.core.errors import DomainError
from tongban.core.files import open_blob
from tongban.core.idempotency import idempotent

from . import issuing, printing, rendering
from .models import CertificateEvent, PrintRecord
from .models import Status as CertStatus
from .workbench_views import search, visible

router = Router(tags=["电子证照（工作人员）"])


def _staff(request):
    if not authz.roles_of(request.user):
        raise DomainError("此操作仅限工作人员", status=403)


class CertificateRow(Schema):
    id: int
    identifier: str
    type_code: str
    type_name: str
    number: str
    version: int
    holder_name: str
    holder_code: str = Field(description="持证主体代码（已脱敏）")
    holder_code_type: str
    issuer_name: str
    issuer_code: str
    issued_on: datetime.date
    valid_from: datetime.date
    valid_until: datetime.date | None = Field(description="空表示长期有效")
    status: str
    status_label: str


class CertificatePage(Page):
    items: list[CertificateRow]


class EventRow(Schema):
    version: int
    action: str
    label: str
    actor_name: str
    reason: str
    at: datetime.datetime


class PrintRow(Schema):
    id: int
    identifier: str
    place: str
    region_path: str
    printed_by_name: str
    department_name: str
    copies: int
    reason: str
    case_no: str
    at: datetime.datetime


class CertificateDetail(CertificateRow):
    data: dict
    status_reason: str
    algorithm: str
    key_id: str
    signature: str
    supersedes: str = Field(description="上一版本的证照标识（无则为空）")
    case_no: str
    versions: list[CertificateRow]
    events: list[EventRow]
    prints: list[PrintRow]
    may_manage: bool = Field(description="当前用户可否变更、吊销或注销")


class ChangeIn(Schema):
    data: dict = Field(description="新的照面信息（按证照类型的信息项）")
    reason: str = Field(max_length=300)


class RevokeIn(Schema):
    reason: str = Field(max_length=300)
    cancel: bool = Field(False, description="true 为注销，false 为吊销")


class LookupIn(Schema):
    identifier: str = Field(max_length=200, description="证照标识")
    holder_code: str = Field(max_length=40, description="到场持证人的证件号码（公民身份号码或统一社会信用代码）")
    window_id: int | None = Field(None, description="打印窗口（默认为本人第一个窗口）")


class PrintIn(LookupIn):
    copies: int = Field(1, ge=1, le=printing.MAX_COPIES)
    reason: str = Field("", max_length=200, description="用途")
    case_no: str = Field("", max_length=24, description="关联办件编号（选填）")


class LookupOut(Schema):
    id: int
    identifier: str
    type_name: str
    number: str
    version: int
    holder_name: str
    holder_code: str = Field(description="已脱敏")
    issuer_name: str
    valid_from: datetime.date
    valid_until: datetime.date | None
    status: str
    status_label: str
    printable: bool
    data: dict


class PrintOut(Schema):
    print_id: int
    identifier: str
    place: str
    copies: int
    pdf_url: str
    pdf_sha256: str


def _row(c):
    return {"id": c.pk, "identifier": c.identifier, "type_code": c.type.code, "type_name": c.type.name, "number": c.number, "version": c.version,
            "holder_name": c.holder_name, "holder_code": c.masked_holder_code, "holder_code_type": c.holder_code_type, "issuer_name": c.issuer_name,
            "issuer_code": c.issuer_code, "issued_on": c.issued_on, "valid_from": c.valid_from, "valid_until": c.valid_until, "status": c.status,
            "status_label": c.get_status_display()}


def _print_row(p):
    return {"id": p.pk, "identifier": p.certificate.identifier, "place": p.place, "region_path": p.region_path, "printed_by_name": p.printed_by_name,
            "department_name": p.department.name if p.department_id else "", "copies": p.copies, "reason": p.reason,
            "case_no": (p.case.case_no or "") if p.case_id else "", "at": p.at}


def _get(user, pk):
    cert = visible(user).filter(pk=pk).first()
    if cert is None:
        raise Http404
    return cert


@router.get("", auth=case_auth, response=CertificatePage, summary="证照列表（本区划、本部门签发的证照；持证主体代码脱敏）")
def list_certificates(request, q: str = "", status: str = "", limit: int = 20, offset: int = 0):
    _staff(request)
    qs = search(visible(request.user), q[:120])
    if status:
        if status not in CertStatus.values:
            raise DomainError(f"状态只能是：{'、'.join(CertStatus.values)}", status=422)
        qs = qs.filter(status=status)
    result = page(qs.order_by("-id"), limit, offset)
    result["items"] = [_row(c) for c in result["items"]]
    return result


def _detail(user, cert):
    chain = visible(user).filter(type=cert.type, issuer_code=cert.issuer_code, serial=cert.serial).order_by("-version")
    events = authz.filter_queryset(CertificateEvent.objects.filter(certificate__in=chain), user).select_related("certificate").order_by("-id")[:200]
    prints = authz.filter_queryset(PrintRecord.objects.filter(certificate__in=chain), user).select_related("certificate", "department", "case").order_by("-id")[:200]
    return {**_row(cert), "data": cert.data, "status_reason": cert.status_reason, "algorithm": cert.algorithm, "key_id": cert.key_id,
            "signature": cert.signature, "supersedes": cert.supersedes.identifier if cert.supersedes_id else "",
            "case_no": (cert.case.case_no or "") if cert.case_id else "", "versions": [_row(v) for v in chain],
            "events": [{"version": e.certificate.version, "action": e.action, "label": e.get_action_display(), "actor_name": e.actor_name,
                        "reason": e.reason, "at": e.at} for e in events],
            "prints": [_print_row(p) for p in prints],
            "may_manage": cert.status == CertStatus.VALID and authz.can(user, cert, authz.WRITE)}


@router.get("/{int:certificate_id}", auth=case_auth, response=CertificateDetail, summary="证照详情（版本、记录、打印记录）")
def certificate_detail(request, certificate_id: int):
    _staff(request)
    return _detail(request.user, _get(request.user, certificate_id))


@router.post("/{int:certificate_id}/change", auth=case_auth, response={201: CertificateDetail}, summary="变更：签发新版本，原版本失效（发证部门审批人员）")
@idempotent
def change_certificate(request, certificate_id: int, payload: ChangeIn):
    _staff(request)
    new = issuing.change(_get(request.user, certificate_id), payload.data, request.user, payload.reason)
    return Status(201, _detail(request.user, new))


@router.post("/{int:certificate_id}/revoke", auth=case_auth, response=CertificateDetail, summary="吊销或注销（发证部门审批人员，须填写原因）")
@idempotent
def revoke_certificate(request, certificate_id: int, payload: RevokeIn):
    _staff(request)
    cert = issuing.revoke(_get(request.user, certificate_id), request.user, payload.reason, cancel=payload.cancel)
    return _detail(request.user, cert)


def _lookup_out(cert):
    return {"id": cert.pk, "identifier": cert.identifier, "type_name": cert.type.name, "number": cert.number, "version": cert.version,
            "holder_name": cert.holder_name, "holder_code": cert.masked_holder_code, "issuer_name": cert.issuer_name, "valid_from": cert.valid_from,
            "valid_until": cert.valid_until, "status": cert.status, "status_label": cert.get_status_display(),
            "printable": cert.status == CertStatus.VALID, "data": cert.data}


@router.post("/print-lookup", auth=case_auth, response=LookupOut, summary="异地打印：按证照标识和到场持证人证件号码查询（不匹配一律404并记入用证日志）")
def print_lookup(request, payload: LookupIn):
    _staff(request)
    return _lookup_out(printing.lookup(request.user, payload.identifier, payload.holder_code, window=payload.window_id))


@router.post("/print", auth=case_auth, response={201: PrintOut}, summary="异地打印：登记打印（窗口、份数、用途）并给出版式文件下载地址")
def print_certificate(request, payload: PrintIn):
    _staff(request)
    # Looked up outside the idempotency transaction: the log row of a refused lookup must stay.
    cert = printing.lookup(request.user, payload.identifier, payload.holder_code, window=payload.window_id)
    return _print(request, payload, cert)


@idempotent
def _print(request, payload, cert):
    case = None
    if payload.case_no.strip():
        case = authz.filter_queryset(Case.objects.filter(case_no=payload.case_no.strip()), request.user).first()
        if case is None:
            raise DomainError("未找到该办件编号（或不在您的管辖范围内）", status=404)
    record, blob = printing.print_certificate(request.user, cert, window=payload.window_id, copies=payload.copies, case=case,
                                              reason=payload.reason, holder_code=payload.holder_code)
    return Status(201, {"print_id": record.pk, "identifier": cert.identifier, "place": record.place, "copies": record.copies,
                        "pdf_url": f"/api/v1/certificates/staff/prints/{record.pk}/pdf", "pdf_sha256": blob.sha256})


@router.get("/prints/{int:print_id}/pdf", auth=case_auth, summary="下载本人登记打印的证照版式文件（PDF）")
def print_pdf(request, print_id: int):
    _staff(request)
    record = PrintRecord.objects.select_related("certificate", "certificate__type").filter(pk=print_id, printed_by=request.user).first()
    if record is None:
        raise Http404
    cert = record.certificate
    if cert.status != CertStatus.VALID:
        raise DomainError(f"该证照{cert.get_status_display()}，不能打印", status=409)
    response = FileResponse(open_blob(rendering.pdf_blob(cert)), content_type="application/pdf", as_attachment=True, filename=f"{cert.type.name}-{cert.number}.pdf")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/prints", auth=case_auth, response=list[PrintRow], summary="打印记录（本地打印的，以及本部门签发证照在各地的打印）")
def print_records(request, limit: int = 50, offset: int = 0):
    _staff(request)
    qs = authz.filter_queryset(PrintRecord.objects.select_related("certificate", "department", "case"), request.user).order_by("-id")
    return [_print_row(p) for p in page(qs, limit, offset)["items"]]
