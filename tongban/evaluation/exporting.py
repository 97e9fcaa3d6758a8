"""National 好差评 record export (STANDARDS.md "Ratings"): one row per rating, read through the
authorisation filter; the phone is masked unless the exporter may see it (platform administrators)."""

import csv
import io

from openpyxl import Workbook

from tongban.core import authz
from tongban.core.masking import mask_phone

from .models import Evaluation

COLUMNS = ["实施编码", "业务办理项编码", "事项名称", "办件编号", "办件状态", "办理部门", "申请时间", "办结时间", "评价时间",
           "申请人", "经办人", "评价渠道", "事项类型", "行政区划", "联系电话", "评价等级", "评价指标", "评价内容", "评价类型", "实名/匿名", "统计状态"]

PENDING = ("draft", "submitted", "supplement")
ENDED = ("concluded", "delivered", "refused", "withdrawn", "terminated")


def case_status_code(case):
    """1 待受理, 2 已受理, 3 已办结 (the national record's case status)."""
    if case is None:
        return ""
    if case.status in ENDED:
        return "3"
    if case.status in PENDING and case.accepted_at is None:
        return "1"
    return "2"


def may_see_phone(user):
    return "platform_admin" in authz.roles_of(user)


def rows(user, qs=None):
    qs = authz.filter_queryset(qs if qs is not None else Evaluation.objects.all(), user)
    qs = qs.select_related("case", "applicant", "department", "region", "implementation__item", "window").order_by("id")
    full_phone = may_see_phone(user)
    for ev in qs.iterator(chunk_size=500):
        case, impl = ev.case, ev.implementation
        named = not ev.anonymous and ev.applicant_id is not None
        phone = (case.contact_phone if case else ev.applicant.phone) if named else ""
        yield [
            impl.implementation_code if impl else "", impl.business_code if impl else "", ev.item_name or ("窗口服务" if ev.window_id else ""),
            case.case_no if case else "", case_status_code(case), ev.department.name if ev.department_id else "",
            _dt(case.submitted_at) if case else "", _dt(case.concluded_at) if case else "", _dt(ev.created_at),
            (case.applicant_name if case else ev.applicant.name) if named else "匿名", (case.agent_name if case else "") if named else "",
            "1" if ev.channel == "online" else "2", impl.item.item_type if impl else "", ev.region.code,
            (phone if full_phone else mask_phone(phone)), ev.get_level_display(), "、".join(ev.tags), ev.comment,
            ev.get_kind_display(), "实名" if named else "匿名", ev.get_status_display(),
        ]


def _dt(value):
    from django.utils import timezone

    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def to_csv(user, qs=None):
    buf = io.StringIO()
    buf.write("\ufeff")  # Excel opens UTF-8 CSV correctly only with the BOM
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for row in rows(user, qs):
        writer.writerow([_safe(v) for v in row])
    return buf.getvalue().encode("utf-8")


def to_xlsx(user, qs=None):
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("好差评")
    ws.append(COLUMNS)
    for row in rows(user, qs):
        ws.append([_safe(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _safe(value):
    """Comments are free text: never let a spreadsheet run them as a formula."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
