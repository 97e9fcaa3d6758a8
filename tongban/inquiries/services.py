"""Every change to 咨询投诉建议 goes through these functions (pages, the API and the admin call them):
one transaction, the inquiry row locked, one InquiryStep appended, an audit entry, messages after."""

import datetime
import hashlib
import os
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from tongban.applicants import sms
from tongban.cases import notify
from tongban.cases.models import Case, Message
from tongban.catalog.models import Implementation, Item
from tongban.core import audit, authz, ratelimit
from tongban.core.authz import PermissionDenied
from tongban.core.codes import CodeError, validate_phone
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.core.masking import mask_phone
from tongban.core.workdays import add_working_days
from tongban.directory.models import Department, Region

from .models import OPEN_STATUSES, HotlineClient, Inquiry, InquiryReply, InquiryStep, Kind, Satisfaction, Source, Status

SYSTEM_NAME = "系统"
HANDLERS = ("clerk", "approver")
# Working days to reply, per kind. No seed names a figure; these follow common 12345 practice and are a
# setting (TONGBAN_INQUIRY_REPLY_DAYS, e.g. "consult=3,complaint=5,suggestion=10").
DEFAULT_REPLY_DAYS = {Kind.CONSULT: 3, Kind.COMPLAINT: 5, Kind.SUGGESTION: 10}
# How the region's government-service administration (政务服务管理) department is recognised by name.
DEFAULT_ADMIN_DEPARTMENT_KEYWORDS = ("政务服务管理", "政务服务中心", "政务服务局")
PORTAL_LIMIT_ANONYMOUS = 5  # per client address and hour
PORTAL_LIMIT_APPLICANT = 20  # per applicant and hour
LETTERS = {Kind.CONSULT: "Z", Kind.COMPLAINT: "T", Kind.SUGGESTION: "J"}
TICKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,39}")
NO_INQUIRY = "未找到该咨询投诉建议，或您无权查看"


class InquiryInput(DomainError):
    """One field's value is wrong (422); `field` lets a page show the message beside that field."""

    status = 422

    def __init__(self, field, message):
        super().__init__(message, details=[{"field": field, "message": message}])
        self.field = field


# --- settings ------------------------------------------------------------------------------------

def reply_days(kind):
    days = dict(DEFAULT_REPLY_DAYS)
    configured = getattr(settings, "TONGBAN_INQUIRY_REPLY_DAYS", None) or os.environ.get("TONGBAN_INQUIRY_REPLY_DAYS", "")
    if isinstance(configured, dict):
        days.update(configured)
    else:
        for part in str(configured).split(","):
            key, _, value = part.partition("=")
            if key.strip() in Kind.values and value.strip().isdigit():
                days[key.strip()] = int(value)
    return days[kind]


def due_date_for(kind, start):
    """(due date, calendar warning): the n-th working day after `start` (start itself not counted)."""
    result = add_working_days(start, reply_days(kind))
    return result.value, result.warning


def admin_department_keywords():
    return getattr(settings, "TONGBAN_INQUIRY_ADMIN_DEPARTMENT_KEYWORDS", None) or DEFAULT_ADMIN_DEPARTMENT_KEYWORDS


# --- input ---------------------------------------------------------------------------------------

def _text(value, field, label, max_len, required=True):
    value = str(value or "").strip()
    if "\x00" in value:
        raise InquiryInput(field, f"{label}含有无效字符")
    if required and not value:
        raise InquiryInput(field, f"请填写{label}")
    if len(value) > max_len:
        raise InquiryInput(field, f"{label}不能超过{max_len}个字")
    return value


def clean_kind(value, field="kind"):
    value = str(value or "").strip()
    if value not in Kind.values:
        raise InquiryInput(field, "请选择类别：咨询、投诉或建议（consult、complaint、suggestion）")
    return value


def clean_phone(value, field="phone", label="联系电话"):
    value = str(value or "").strip().replace(" ", "").replace("-", "")
    if not value:
        raise InquiryInput(field, f"请填写{label}")
    try:
        return validate_phone(value)
    except CodeError as exc:
        raise InquiryInput(field, str(exc)) from None


def clean_region(code, field="region_code"):
    code = str(code or "").strip()
    if not code:
        raise InquiryInput(field, "请填写所属地区的行政区划代码（如 371327）")
    region = Region.objects.filter(code=code).first() if code.isdigit() and len(code) <= 12 else None
    if region is None:
        raise InquiryInput(field, f"行政区划代码“{code[:20]}”不存在")
    return region


def find_item(text):
    """An item by its basic code or exact name; None when nothing matches (the text is kept anyway)."""
    text = (text or "").strip()
    if not text:
        return None
    return Item.objects.filter(basic_code=text).first() or Item.objects.filter(name=text).order_by("id").first()


def _ancestor_paths(path):
    return [path[: i + 1] for i, ch in enumerate(path) if ch == "/"]


# --- routing -------------------------------------------------------------------------------------

def route(region, case=None, item=None):
    """(region, department or None, how): the case's department; else the item's implementing
    department nearest the region; else the region's 政务服务管理 department; else nobody (the region's
    staff assign it by hand)."""
    if case is not None:
        return case.region, case.department, "case"
    if item is not None:
        impls = list(Implementation.objects.filter(item=item, is_active=True, region__path__in=_ancestor_paths(region.path))
                     .select_related("department", "region"))
        if impls:
            impl = max(impls, key=lambda i: (len(i.region.path), -i.pk))
            return region, impl.department, "item"
    for keyword in admin_department_keywords():
        dept = Department.objects.filter(region=region, is_active=True, name__contains=keyword).order_by("id").first()
        if dept is not None:
            return region, dept, "region"
    return region, None, "manual"


# --- steps and messages --------------------------------------------------------------------------

def _actor_name(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_NAME
    applicant = getattr(user, "applicant", None)
    if applicant is not None:
        return applicant.name
    return user.get_full_name() or user.username


def _step(inquiry, action, label, status_from, actor=None, note="", actor_name=None):
    seq = (inquiry.steps.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    return InquiryStep.objects.create(
        inquiry=inquiry, seq=seq, action=action, label=label, status_from=status_from or "", status_to=inquiry.status,
        actor=actor if getattr(actor, "is_authenticated", False) else None, actor_name=actor_name or _actor_name(actor),
        department=inquiry.department, due_date=inquiry.due_date, round=inquiry.reopen_count, note=note,
    )


def _tell_inquirer(inquiry, title, body):
    if inquiry.applicant_id:
        case = inquiry.case if inquiry.case_id and inquiry.case.applicant_id == inquiry.applicant_id else None
        Message.objects.create(recipient_id=inquiry.applicant.user_id, case=case, title=title, body=body)
    if re.fullmatch(r"1[3-9]\d{9}", inquiry.inquirer_phone or ""):
        sms.send_on_commit(inquiry.inquirer_phone, f"【通办】{title}：{body}"[:480])


def handling_staff(inquiry):
    """The assigned department's clerks and approvers, or the region's general staff for manual assignment."""
    return notify.staff_for(inquiry.region_path, inquiry.department_id, roles=HANDLERS)


def _tell_staff(users, title, body):
    Message.objects.bulk_create([Message(recipient=u, title=title, body=body) for u in users])


def _locked(inquiry_id):
    inquiry = Inquiry.objects.select_for_update().filter(pk=inquiry_id).first()
    if inquiry is None:
        raise NotFound(NO_INQUIRY)
    return inquiry


# --- creating --------------------------------------------------------------------------------------

def _create(*, kind, title, content, region, case=None, item=None, item_text="", applicant=None, name="", phone,
            source=Source.PORTAL, hotline_client=None, ticket_no="", occurred_at=None, actor=None):
    now = timezone.now()
    region, department, how = route(region, case, item)
    due, warning = due_date_for(kind, timezone.localdate(now))
    inquiry = Inquiry.objects.create(
        kind=kind, source=source, status=Status.RECEIVED, title=title, content=content,
        applicant=applicant, inquirer_name=name, inquirer_phone=phone, case=case, item=item, item_text=item_text,
        region=region, region_path=region.path, department=department, routed_by=how, hotline_client=hotline_client,
        hotline_ticket_no=ticket_no, occurred_at=occurred_at, submitted_at=now, due_date=due, calendar_warning=warning,
    )
    inquiry.inquiry_no = f"{LETTERS[kind]}{region.code[:6]}-{timezone.localdate(now):%Y%m%d}-{inquiry.pk:06d}"
    inquiry.save(update_fields=["inquiry_no"])
    origin = "12345热线转入" if source == Source.HOTLINE else "网上提交"
    submitter = _actor_name(actor) if actor else (f"12345热线（{hotline_client.name}）" if hotline_client else (name or "网上访客"))
    _step(inquiry, "submit", f"{origin}{inquiry.get_kind_display()}", "", actor, actor_name=submitter)
    if department:  # received, then routed: two steps, so the history reads in order
        inquiry.status, inquiry.assigned_at = Status.ASSIGNED, now
        inquiry.save(update_fields=["status", "assigned_at"])
        how_label = {"case": "按相关办件", "item": "按事项实施部门", "region": "按区划政务服务管理部门"}[how]
        _step(inquiry, "route", f"自动分派至{department.name}", Status.RECEIVED, None, note=how_label)
    audit.record(actor, "inquiry.submit", inquiry, f"{origin}{inquiry.get_kind_display()} {inquiry.inquiry_no}",
                 {"kind": kind, "source": source, "department": department.pk if department else None, "routed_by": how})
    _tell_staff(handling_staff(inquiry), f"新的{inquiry.get_kind_display()}待办理" if department else f"新的{inquiry.get_kind_display()}待分派",
                f"{inquiry.inquiry_no}“{title}”，请于{due:%Y年%m月%d日}前答复。")
    _tell_inquirer(inquiry, f"您的{inquiry.get_kind_display()}已收到",
                   f"编号{inquiry.inquiry_no}，{'已转' + department.name + '办理' if department else '正在分派承办部门'}，将于{due:%Y年%m月%d日}前答复。")
    return inquiry


def _rate_limit(key, limit):
    ratelimit.check(key, limit, "提交过于频繁，请一小时后再试")
    ratelimit.count(key)


def submit_portal(user, data, client_key=""):
    """From the portal: a signed-in applicant (name and phone from their account; an optional case of
    their own) or anyone with a phone number, limited per client address like 办件查询."""
    applicant = getattr(user, "applicant", None) if getattr(user, "is_authenticated", False) else None
    kind = clean_kind(data.get("kind"))
    title = _text(data.get("title"), "title", "标题", 100)
    content = _text(data.get("content"), "content", "内容", 2000)
    item_text = _text(data.get("item"), "item", "相关事项", 200, required=False)
    case = None
    case_id = str(data.get("case") or "").strip()
    if case_id:
        if applicant is None or not case_id.isdigit():
            raise InquiryInput("case", "只能关联本人的办件（请先登录）")
        case = Case.objects.filter(pk=int(case_id), applicant=applicant).exclude(case_no=None).select_related("region", "department").first()
        if case is None:
            raise InquiryInput("case", "只能关联本人已提交的办件")
    if applicant is not None:
        name, phone = applicant.name, applicant.phone
    else:
        name = _text(data.get("name"), "name", "姓名", 60, required=False)
        phone = clean_phone(data.get("phone"))
    region = case.region if case else clean_region(data.get("region_code"))
    item = case.implementation.item if case and not item_text else find_item(item_text)
    _rate_limit(f"inquiry:applicant:{applicant.pk}" if applicant else f"inquiry:anon:{client_key}",
                PORTAL_LIMIT_APPLICANT if applicant else PORTAL_LIMIT_ANONYMOUS)
    with transaction.atomic():
        return _create(kind=kind, title=title, content=content, region=region, case=case, item=item, item_text=item_text,
                       applicant=applicant, name=name, phone=phone, actor=user if applicant else None)


# --- 12345 hotline -------------------------------------------------------------------------------

def _key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def create_hotline_client(name, region_code):
    """(client, key): the key is returned once and only its SHA-256 is stored."""
    name = _text(name, "name", "名称", 100)
    region = clean_region(region_code)
    prefix = secrets.token_hex(4)
    key = f"th_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        client = HotlineClient.objects.create(name=name, region=region, key_prefix=prefix, key_hash=_key_hash(key))
        audit.record(None, "inquiry.hotline_client_create", client, f"新建12345热线接入 {name}（{region.name}）")
    return client, key


def authenticate_hotline(key):
    """The active client of a bearer key, else None (compared by digest in constant time)."""
    match = re.fullmatch(r"th_([0-9a-f]{8})_[A-Za-z0-9_\-]{20,80}", key or "")
    if not match:
        return None
    client = HotlineClient.objects.filter(key_prefix=match.group(1), is_active=True).select_related("region").first()
    if client is None or not secrets.compare_digest(client.key_hash, _key_hash(key)):
        return None
    return client


def receive_hotline(client, data):
    """(inquiry, created): one inquiry per hotline ticket number; a repeated push returns the first."""
    ticket_no = str(data.get("ticket_no") or "").strip()
    if not TICKET_RE.fullmatch(ticket_no):
        raise InquiryInput("ticket_no", "工单号应为1至40位字母、数字、下划线或连字符")
    existing = Inquiry.objects.filter(source=Source.HOTLINE, hotline_client=client, hotline_ticket_no=ticket_no).first()
    if existing is not None:
        return existing, False
    kind = clean_kind(data.get("kind"))
    title = _text(data.get("title"), "title", "标题", 100)
    content = _text(data.get("content"), "content", "内容", 2000)
    name = _text(data.get("caller_name"), "caller_name", "来电人姓名", 60, required=False)
    phone = clean_phone(data.get("caller_phone"), "caller_phone", "来电号码")
    region = clean_region(data.get("region_code"))
    if not region.path.startswith(client.region.path):
        raise PermissionDenied(f"区划“{region.name}”不在本热线（{client.region.name}）的受理范围内")
    item_text = _text(data.get("item"), "item", "事项名称或编码", 200, required=False)
    occurred_at = data.get("occurred_at")
    if occurred_at is not None:
        if timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at)
        if occurred_at > timezone.now() + datetime.timedelta(minutes=5):
            raise InquiryInput("occurred_at", "发生时间不能晚于当前时间")
    try:
        with transaction.atomic():
            inquiry = _create(kind=kind, title=title, content=content, region=region, item=find_item(item_text), item_text=item_text,
                              name=name, phone=phone, source=Source.HOTLINE, hotline_client=client, ticket_no=ticket_no,
                              occurred_at=occurred_at)
    except IntegrityError:  # the same ticket pushed twice at once: the other push created it
        existing = Inquiry.objects.filter(source=Source.HOTLINE, hotline_client=client, hotline_ticket_no=ticket_no).first()
        if existing is None:
            raise
        return existing, False
    return inquiry, True


def hotline_ticket(client, ticket_no):
    inquiry = Inquiry.objects.filter(source=Source.HOTLINE, hotline_client=client, hotline_ticket_no=str(ticket_no)[:40]).select_related("department").first()
    if inquiry is None:
        raise NotFound("未找到该工单（工单号不存在或不是本热线推送的）")
    return inquiry


# --- staff actions -------------------------------------------------------------------------------

def assignable_departments(user, inquiry):
    """Active departments the user may hand the inquiry to: in the inquiry's region or above it, within
    the user's own jurisdiction as a clerk or approver."""
    paths = [p for role, p, _ in authz.grants(user) if role in HANDLERS]
    line = _ancestor_paths(inquiry.region_path)
    qs = Department.objects.filter(is_active=True, region__path__in=line).select_related("region").order_by("region__path", "name")
    return [d for d in qs[:500] if any(d.region.path.startswith(p) for p in paths)]


def can_assign(user, inquiry):
    """Clerks and approvers of the inquiry's region (or above), or of its current department."""
    return any(role in HANDLERS and inquiry.region_path.startswith(path) and (dept is None or dept == inquiry.department_id)
               for role, path, dept in authz.grants(user))


def _ensure_assigner(user, inquiry):
    if not can_assign(user, inquiry):
        raise PermissionDenied("只有本区划的受理或审批人员（或当前承办部门的人员）可以分派")


def assign(user, inquiry_id, department_id, note=""):
    note = _text(note, "note", "分派说明", 500, required=False)
    with transaction.atomic():
        inquiry = _locked(inquiry_id)
        if inquiry.status not in OPEN_STATUSES:
            raise Conflict(f"该{inquiry.get_kind_display()}当前为“{inquiry.get_status_display()}”，不能分派")
        _ensure_assigner(user, inquiry)
        dept = next((d for d in assignable_departments(user, inquiry) if str(d.pk) == str(department_id)), None)
        if dept is None:
            raise InquiryInput("department", "请选择本区划或上级区划中您有权分派的承办部门")
        if dept.pk == inquiry.department_id:
            raise Conflict(f"已由{dept.name}承办，无需重复分派")
        before = inquiry.status
        inquiry.department = dept
        inquiry.status = Status.ESCALATED if before == Status.ESCALATED else Status.ASSIGNED
        inquiry.routed_by = "manual"
        inquiry.assigned_at = timezone.now()
        inquiry.save(update_fields=["department", "status", "routed_by", "assigned_at"])
        _step(inquiry, "assign", f"分派至{dept.name}", before, user, note)
        audit.record(user, "inquiry.assign", inquiry, f"{inquiry.inquiry_no} 分派至{dept.name}", {"department": dept.pk})
        _tell_staff(handling_staff(inquiry), f"新的{inquiry.get_kind_display()}待办理",
                    f"{inquiry.inquiry_no}“{inquiry.title}”已分派给{dept.name}，请于{inquiry.due_date:%Y年%m月%d日}前答复。")
    return inquiry


def reply(user, inquiry_id, body):
    body = _text(body, "body", "答复内容", 2000)
    with transaction.atomic():
        inquiry = _locked(inquiry_id)
        if inquiry.department_id is None:
            raise Conflict("尚未分派承办部门，请先分派")
        if not authz.can(user, inquiry, authz.WRITE):
            raise PermissionDenied("只有承办部门的工作人员可以答复")
        if inquiry.status not in (Status.ASSIGNED, Status.ESCALATED):
            raise Conflict(f"该{inquiry.get_kind_display()}当前为“{inquiry.get_status_display()}”，不能答复")
        before = inquiry.status
        answer = InquiryReply.objects.create(inquiry=inquiry, department=inquiry.department, author=user, author_name=_actor_name(user), body=body)
        inquiry.status = Status.REPLIED
        inquiry.replied_at = timezone.now()
        inquiry.save(update_fields=["status", "replied_at"])
        _step(inquiry, "reply", f"{inquiry.department.name}答复", before, user)
        audit.record(user, "inquiry.reply", inquiry, f"{inquiry.inquiry_no} 答复", {"reply": answer.pk})
        invite = "请登录“我的咨询投诉建议”查看并评价。" if inquiry.applicant_id else ""
        _tell_inquirer(inquiry, f"您的{inquiry.get_kind_display()}已答复",
                       f"编号{inquiry.inquiry_no}，{inquiry.department.name}答复：{body[:200]}。{invite}")
    return inquiry


def close(user, inquiry_id, note=""):
    note = _text(note, "note", "办结说明", 500, required=False)
    with transaction.atomic():
        inquiry = _locked(inquiry_id)
        if not authz.can(user, inquiry, authz.WRITE):
            raise PermissionDenied("只有承办部门的工作人员可以办结")
        if inquiry.status != Status.REPLIED:
            raise Conflict("答复后才能办结")
        before = inquiry.status
        inquiry.status = Status.CLOSED
        inquiry.closed_at = timezone.now()
        inquiry.save(update_fields=["status", "closed_at"])
        _step(inquiry, "close", "办结", before, user, note)
        audit.record(user, "inquiry.close", inquiry, f"{inquiry.inquiry_no} 办结")
    return inquiry


# --- the inquirer's rating -----------------------------------------------------------------------

def rate(user, inquiry_id, satisfaction, comment=""):
    """满意 / 基本满意 close the inquiry; 不满意 sends it back to the department once (with a new
    deadline), a second 不满意 closes it with the rating recorded."""
    applicant = getattr(user, "applicant", None) if getattr(user, "is_authenticated", False) else None
    if satisfaction not in Satisfaction.values:
        raise InquiryInput("satisfaction", "请选择满意、基本满意或不满意")
    comment = _text(comment, "comment", "评价说明", 500, required=False)
    with transaction.atomic():
        inquiry = _locked(inquiry_id)
        if applicant is None or inquiry.applicant_id != applicant.pk:
            raise NotFound(NO_INQUIRY)
        if inquiry.status != Status.REPLIED:
            raise Conflict("答复后才能评价，且每次答复只能评价一次")
        before = inquiry.status
        inquiry.satisfaction = satisfaction
        label = Satisfaction(satisfaction).label
        fields = ["status", "satisfaction"]
        if satisfaction == Satisfaction.UNSATISFIED and inquiry.reopen_count == 0:
            inquiry.status = Status.ASSIGNED
            inquiry.reopen_count += 1
            inquiry.due_date, inquiry.calendar_warning = due_date_for(inquiry.kind, timezone.localdate())
            fields += ["reopen_count", "due_date", "calendar_warning"]
            _save_and_step(inquiry, fields, "rate", f"评价：{label}（重新办理）", before, user, comment)
            _tell_staff(handling_staff(inquiry), f"{inquiry.get_kind_display()}答复不满意，需重新办理",
                        f"{inquiry.inquiry_no}“{inquiry.title}”的答复被评为不满意，请于{inquiry.due_date:%Y年%m月%d日}前重新答复。")
        else:
            inquiry.status = Status.CLOSED
            inquiry.closed_at = timezone.now()
            fields.append("closed_at")
            _save_and_step(inquiry, fields, "rate", f"评价：{label}", before, user, comment)
        audit.record(user, "inquiry.rate", inquiry, f"{inquiry.inquiry_no} 评价：{label}", {"satisfaction": satisfaction})
    return inquiry


def _save_and_step(inquiry, fields, action, label, before, user, note):
    inquiry.save(update_fields=fields)
    _step(inquiry, action, label, before, user, note)


# --- escalation ------------------------------------------------------------------------------------

def overdue(today):
    """Open inquiries past their deadline that were not escalated for this deadline (and round) yet."""
    done = InquiryStep.objects.filter(inquiry_id=OuterRef("pk"), action="escalate", due_date=OuterRef("due_date"), round=OuterRef("reopen_count"))
    return Inquiry.objects.filter(status__in=(Status.RECEIVED, Status.ASSIGNED), due_date__lt=today).exclude(Exists(done))


def supervisors_above(inquiry):
    parent = inquiry.region.parent
    path = parent.path if parent is not None else inquiry.region_path
    return notify.staff_for(path, None, roles=("supervisor",))


def escalate(inquiry_id, today):
    """Escalate one overdue inquiry to the parent region's supervisors; False when it is no longer due."""
    with transaction.atomic():
        inquiry = _locked(inquiry_id)
        if inquiry.status not in (Status.RECEIVED, Status.ASSIGNED) or inquiry.due_date >= today:
            return False
        if inquiry.steps.filter(action="escalate", due_date=inquiry.due_date, round=inquiry.reopen_count).exists():
            return False
        before = inquiry.status
        inquiry.status = Status.ESCALATED
        inquiry.save(update_fields=["status"])
        _step(inquiry, "escalate", "超期未答复，报上级督办", before, None, f"答复期限{inquiry.due_date:%Y-%m-%d}")
        audit.record(None, "inquiry.escalate", inquiry, f"{inquiry.inquiry_no} 超期督办")
        who = inquiry.department.name if inquiry.department_id else f"{inquiry.region.name}（待分派）"
        text = f"{inquiry.inquiry_no}“{inquiry.title}”（{who}）已超过答复期限{inquiry.due_date:%Y年%m月%d日}，请督办。"
        _tell_staff(supervisors_above(inquiry), f"{inquiry.get_kind_display()}超期督办", text)
        _tell_staff(handling_staff(inquiry), f"{inquiry.get_kind_display()}已超期", text.replace("请督办", "已报上级督办，请尽快答复"))
    return True


def escalate_overdue(today=None):
    today = today or timezone.localdate()
    return sum(1 for pk in list(overdue(today).values_list("pk", flat=True)) if escalate(pk, today))


def masked_phone(inquiry):
    return mask_phone(inquiry.inquirer_phone)


# --- public lookup -------------------------------------------------------------------------------

LOOKUP_LIMIT_PER_HOUR = 30
LOOKUP_NOT_FOUND = "未查询到：请核对编号和联系电话后六位"


def lookup(inquiry_no, tail, client_key=""):
    """Anyone with the number and the last six digits of the phone reads status and replies (no personal
    data), like 办件查询; failed tries are limited per client address."""
    inquiry_no, tail = str(inquiry_no or "").strip().upper(), str(tail or "").strip()
    if not inquiry_no or len(inquiry_no) > 32 or not re.fullmatch(r"\d{6}", tail):
        raise DomainError("请输入编号和联系电话后六位", status=422)
    key = f"inquiry-lookup:{client_key}"
    ratelimit.check(key, LOOKUP_LIMIT_PER_HOUR, "查询过于频繁，请一小时后再试")
    inquiry = Inquiry.objects.filter(inquiry_no=inquiry_no).select_related("department").first()
    if inquiry is None or not inquiry.inquirer_phone.endswith(tail):
        ratelimit.count(key)
        raise DomainError(LOOKUP_NOT_FOUND, status=404)
    return inquiry
