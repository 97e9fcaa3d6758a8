"""12345 hotline interface: a hotline system pushes tickets (one inquiry per ticket number, a repeated
push answers with the same inquiry) and fetches their status and replies. It signs in with its own
key (`manage.py hotline_client_create`), sent as `Authorization: Bearer <key>`; staff sessions do not
apply here."""

import datetime
from typing import Literal

from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer

from tongban.core.errors import DomainError

from . import services
from .models import Inquiry

router = Router(tags=["咨询投诉建议"])
UNAUTHORIZED = "12345热线接口密钥无效或已停用（请在请求头 Authorization: Bearer <密钥> 中提供有效密钥）"


class HotlineKey(HttpBearer):
    openapi_description = "12345热线接入密钥（manage.py hotline_client_create 生成）"

    def __call__(self, request):
        header = request.headers.get("Authorization") or ""
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise DomainError(UNAUTHORIZED, status=401)
        return self.authenticate(request, key.strip())

    def authenticate(self, request, token):
        client = services.authenticate_hotline(token)
        if client is None:
            raise DomainError(UNAUTHORIZED, status=401)
        return client


hotline_auth = HotlineKey()


class HotlineTicketIn(Schema):
    model_config = {"extra": "forbid"}

    ticket_no: str = Field(min_length=1, max_length=40, description="热线工单号（同一工单重复推送只登记一次）")
    kind: Literal["consult", "complaint", "suggestion"] = Field(description="类别：consult 咨询，complaint 投诉，suggestion 建议")
    title: str = Field(min_length=1, max_length=100, description="标题")
    content: str = Field(min_length=1, max_length=2000, description="诉求内容")
    caller_name: str = Field("", max_length=60, description="来电人姓名")
    caller_phone: str = Field(min_length=7, max_length=20, description="来电号码（手机或带区号的固定电话）")
    region_code: str = Field(min_length=6, max_length=12, description="诉求所属地行政区划代码，须在本热线受理范围内")
    item: str = Field("", max_length=200, description="相关事项名称或基本编码（可空）")
    occurred_at: datetime.datetime | None = Field(None, description="诉求发生时间（ISO 8601）")


class ReplyOut(Schema):
    at: datetime.datetime
    department: str
    body: str


class StepOut(Schema):
    at: datetime.datetime
    label: str
    status: str


class HotlineTicketOut(Schema):
    ticket_no: str
    inquiry_no: str
    kind: str
    status: str = Field(description="received 待分派，assigned 办理中，replied 已答复，closed 已办结，escalated 超期督办")
    status_label: str
    department: str | None
    due_date: datetime.date
    replies: list[ReplyOut]
    steps: list[StepOut]
    satisfaction: str
    duplicate: bool = Field(False, description="true：该工单此前已推送，返回原登记结果")


def _out(inquiry: Inquiry, duplicate=False):
    labels = dict(inquiry._meta.get_field("status").choices)
    return {
        "ticket_no": inquiry.hotline_ticket_no, "inquiry_no": inquiry.inquiry_no, "kind": inquiry.kind, "status": inquiry.status,
        "status_label": inquiry.get_status_display(), "department": inquiry.department.name if inquiry.department_id else None,
        "due_date": inquiry.due_date, "satisfaction": inquiry.satisfaction, "duplicate": duplicate,
        "replies": [{"at": r.created_at, "department": r.department.name if r.department_id else "", "body": r.body}
                    for r in inquiry.replies.select_related("department")],
        "steps": [{"at": s.at, "label": s.label, "status": labels.get(s.status_to, s.status_to)} for s in inquiry.steps.order_by("seq")],
    }


@router.post("/hotline", auth=hotline_auth, response={200: HotlineTicketOut, 201: HotlineTicketOut},
             summary="12345热线推送工单（按工单号幂等）")
def hotline_push(request, payload: HotlineTicketIn):
    data = payload.dict()
    if data.get("occurred_at") is not None and timezone.is_naive(data["occurred_at"]):
        data["occurred_at"] = timezone.make_aware(data["occurred_at"])
    inquiry, created = services.receive_hotline(request.auth, data)
    return Status(201 if created else 200, _out(inquiry, duplicate=not created))


@router.get("/hotline/{ticket_no}", auth=hotline_auth, response=HotlineTicketOut, summary="12345热线查询工单办理情况与答复")
def hotline_status(request, ticket_no: str):
    return _out(services.hotline_ticket(request.auth, ticket_no))
