"""好差评 API under /api/v1/evaluations/: the applicant rates their own case (一事一评) and adds a
later rating (追加评价); staff and applicants list what the authorisation filter lets them read.
Session auth and the CSRF header as for the case API; anonymous ratings never show the rater to staff."""

import datetime

from ninja import Field, Router, Schema, Status

from tongban.cases.api import case_auth
from tongban.core.api_common import Page, get_visible, page
from tongban.core.errors import DomainError

from . import services
from .models import TAGS, Evaluation

router = Router(tags=["好差评"])


class RatingIn(Schema):
    level: int = Field(ge=1, le=5, description="5 非常满意，4 满意，3 基本满意，2 不满意，1 非常不满意")
    tags: list[str] = Field(default_factory=list, max_length=10, description="评价指标（须属于该渠道）")
    comment: str = Field("", max_length=500)
    anonymous: bool = False


class AdditionIn(Schema):
    level: int = Field(ge=1, le=5)
    tags: list[str] = Field(default_factory=list, max_length=10)
    comment: str = Field("", max_length=500)


class RectificationOut(Schema):
    status: str
    status_label: str
    outcome: str
    outcome_label: str
    deadline: datetime.date | None
    result: str


class EvaluationOut(Schema):
    id: int
    channel: str
    kind: str
    parent_id: int | None
    level: int
    level_label: str
    tags: list[str]
    comment: str
    anonymous: bool
    rater: str = Field(description="评价人（匿名评价显示“匿名”）")
    case_no: str | None
    item_name: str
    department: str
    status: str
    created_at: datetime.datetime
    rectification: RectificationOut | None


class EvaluationPage(Page):
    items: list[EvaluationOut]


class TagsOut(Schema):
    online: list[str]
    window: list[str]


def _out(ev, user):
    own = ev.applicant_id is not None and ev.applicant.user_id == user.pk
    rect = getattr(ev, "rectification", None) if hasattr(ev, "rectification") else None
    return {
        "id": ev.pk, "channel": ev.channel, "kind": ev.kind, "parent_id": ev.parent_id, "level": ev.level,
        "level_label": ev.get_level_display(), "tags": ev.tags, "comment": ev.comment, "anonymous": ev.anonymous,
        "rater": ev.applicant.name if own else ev.rater_label, "case_no": ev.case.case_no if ev.case_id else None,
        "item_name": ev.item_name, "department": ev.department.name if ev.department_id else "", "status": ev.status,
        "created_at": ev.created_at,
        "rectification": None if rect is None else {
            "status": rect.status, "status_label": rect.get_status_display(), "outcome": rect.outcome,
            "outcome_label": rect.get_outcome_display() if rect.outcome else "", "deadline": rect.deadline, "result": rect.result,
        },
    }


def _require_applicant(request):
    if getattr(request.user, "applicant", None) is None:
        raise DomainError("此操作仅限办件的申请人本人（请以申请人身份登录）", status=403)


@router.get("/tags", response=TagsOut, summary="各渠道的评价指标")
def tags(request):
    return {"online": list(TAGS["online"]), "window": list(TAGS["window"])}


@router.get("/", auth=case_auth, response=EvaluationPage, summary="评价列表（按权限过滤；申请人只看到自己的评价）")
def list_evaluations(request, case_id: int | None = None, limit: int = 20, offset: int = 0):
    qs = services.visible_evaluations(request.user).select_related("case", "applicant", "department", "rectification")
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    result = page(qs, limit, offset)
    result["items"] = [_out(ev, request.user) for ev in result["items"]]
    return result


@router.get("/{int:evaluation_id}", auth=case_auth, response=EvaluationOut, summary="评价详情")
def get_evaluation(request, evaluation_id: int):
    ev = get_visible(Evaluation.objects.select_related("case", "applicant", "department"), request.user, pk=evaluation_id)
    return _out(ev, request.user)


@router.post("/cases/{int:case_id}", auth=case_auth, response={201: EvaluationOut}, summary="一事一评：申请人评价本人已办结的办件")
def rate_case(request, case_id: int, payload: RatingIn):
    _require_applicant(request)
    ev = services.rate_case(request.user, case_id, payload.level, payload.tags, payload.comment, payload.anonymous)
    return Status(201, _out(Evaluation.objects.select_related("case", "applicant", "department").get(pk=ev.pk), request.user))


@router.post("/{int:evaluation_id}/additional", auth=case_auth, response={201: EvaluationOut}, summary="追加评价")
def add_rating(request, evaluation_id: int, payload: AdditionIn):
    _require_applicant(request)
    ev = services.add_rating(request.user, evaluation_id, payload.level, payload.tags, payload.comment)
    return Status(201, _out(Evaluation.objects.select_related("case", "applicant", "department").get(pk=ev.pk), request.user))
