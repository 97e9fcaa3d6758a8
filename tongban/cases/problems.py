"""问题反馈 on a cross-region case: a problem either place raises (or the answer to one), recorded once by
its uid — when it is raised here and again when the step arrives at another place of the case."""

from tongban.core.errors import DomainError

from .crossregion import parse_uid


class UnknownProblem(DomainError):
    """The answered problem report is not (yet) here."""

    def __init__(self):
        super().__init__("要答复的问题反馈单不存在", status=404)


def record(case, data, body, *, side, author_name, region_code, department_name="", created_at=None):
    """`data` is the step's event data: {"uid", "title"} for a report, {"uid", "reply_to"} for an answer."""
    from tongban.cooperation import services as cooperation
    from tongban.cooperation.models import WorkOrder

    common = dict(side=side or "competent", author_name=author_name, region_code=region_code, uid=data.get("uid"), created_at=created_at)
    if data.get("reply_to"):
        try:
            order = WorkOrder.objects.filter(case=case, uid=parse_uid(data["reply_to"])).first()
        except DomainError:  # not a uid at all
            order = None
        if order is None:
            raise UnknownProblem()
        return cooperation.record_reply(order, body=body, **common)
    return cooperation.record_problem(case, department_name=department_name, title=data.get("title") or "问题反馈", body=body, **common)
