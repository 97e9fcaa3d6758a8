"""办件查询: anyone with the case number and the last six characters of the applicant's ID number
(or phone) sees the progress timeline — steps and times only, never personal data."""


from tongban.core import ratelimit
from tongban.core.errors import DomainError

from .models import Case, Status

NOT_FOUND = "未查询到办件：请核对办件编号和证件号码（或手机号）后六位"
LIMIT_PER_HOUR = 30


def track(case_no, tail, client_key=""):
    case_no, tail = (case_no or "").strip(), (tail or "").strip().upper()
    if not case_no or len(tail) != 6 or len(case_no) > 24:
        raise DomainError("请输入办件编号和证件号码（或手机号）后六位", status=422)
    key = f"track:{client_key}"
    ratelimit.check(key, LIMIT_PER_HOUR, "查询过于频繁，请一小时后再试")  # slows down guessing the six characters
    case = Case.objects.filter(case_no=case_no).exclude(status=Status.DRAFT).first()
    if case is None or tail not in (case.applicant_code[-6:].upper(), case.contact_phone[-6:]):
        ratelimit.count(key)
        raise DomainError(NOT_FOUND, status=404)
    return {
        "case_no": case.case_no, "item_name": case.item_version.name, "department": case.department.name,
        "status": case.get_status_display(), "submitted_at": case.submitted_at, "due_date": case.due_date,
        "timeline": [{"at": e.at, "step": e.label, "status": Status(e.status_to).label if e.status_to in Status.values else ""}
                     for e in case.events.order_by("seq")],
    }
