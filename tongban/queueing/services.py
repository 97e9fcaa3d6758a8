"""主题叫号 services: taking a ticket at a hall's kiosk, and a window clerk calling, recalling, serving,
finishing, passing over (过号) and transferring tickets. Pages call these; the rules live here.

Every change is one transaction with the rows it changes locked. Calling picks the next ticket with
`select_for_update(skip_locked=True)` and then moves it with a conditional UPDATE, so two windows
calling at the same moment never get the same ticket (on PostgreSQL the second window skips the row
the first holds; on SQLite writers are serialised and the conditional UPDATE catches a lost race).
"""

import re

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from tongban.applicants.services import InvalidInput, clean_mobile
from tongban.applicants.sms import send_on_commit
from tongban.core import authz, ratelimit
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.directory.models import Hall, Membership, Window

from .models import GREEN_REASONS, LETTERS, OPEN_STATUSES, Queue, QueueCounter, QueueTicket, TicketLog, TicketStatus, WindowQueue

ALL_QUEUES = tuple(Queue.values)
# A window without configured queues serves the default of its kind: the comprehensive (综合受理) and
# help-desk (帮办代办) windows serve every queue, the 跨域通办 专窗 the ordinary queue, self-service none.
DEFAULT_QUEUES = {
    Window.GENERAL: ALL_QUEUES,
    Window.HELP_DESK: ALL_QUEUES,
    Window.CROSS_REGION: (Queue.ORDINARY,),
    Window.SELF_SERVICE: (),
}
MAX_RECALLS = 3
MAX_PER_QUEUE = 9999
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
GREEN_LABELS = dict(GREEN_REASONS)
RATE_WINDOW_SECONDS = 3600


def tickets_per_hour():
    # A hall's kiosk is one address, so the limit is generous; it stops a script printing the day's numbers.
    return int(getattr(settings, "TONGBAN_QUEUE_TICKETS_PER_HOUR", 120))


def today():
    return timezone.localdate()


def _actor_name(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return "取号机"
    return user.get_full_name() or user.username


def _log(ticket, action, user=None, window=None, note=""):
    TicketLog.objects.create(ticket=ticket, action=action, window=window, actor=user if getattr(user, "is_authenticated", False) else None,
                             actor_name=_actor_name(user), at=timezone.now(), note=note[:300])


# --- configuration -----------------------------------------------------------------------------

def served_queues(window):
    """The queues `window` calls from, in the Queue order."""
    configured = set(WindowQueue.objects.filter(window=window).values_list("queue", flat=True))
    if configured:
        return [q for q in ALL_QUEUES if q in configured]
    return list(DEFAULT_QUEUES.get(window.kind, ()))


def set_window_queues(actor, window, queues):
    """Replace the queues a window serves (platform administrators of the hall's region)."""
    queues = list(dict.fromkeys(queues))
    unknown = [q for q in queues if q not in ALL_QUEUES]
    if unknown:
        raise DomainError(f"未知的叫号队列：{'、'.join(map(str, unknown))}", status=422)
    from tongban.core import audit

    with transaction.atomic():
        authz.ensure_can(actor, WindowQueue(window=window), message="您没有权限设置该窗口的叫号队列")
        WindowQueue.objects.filter(window=window).delete()
        WindowQueue.objects.bulk_create([WindowQueue(window=window, queue=q) for q in queues])
        audit.record(actor, "queue.window_queues", window, summary=f"设置{window}的叫号队列：{'、'.join(Queue(q).label for q in queues) or '无'}")
    return served_queues(window)


def hall_prefixes(hall):
    """Region paths of the hall's region and every region above it."""
    path = hall.region.path
    return [path[: i + 1] for i, ch in enumerate(path) if ch == "/"]


def kiosk_bundles(hall, user=None, theme=None):
    """Published bundles offered at the hall's kiosk: those published by the hall's region or a region above it."""
    from tongban.bundles.models import Bundle

    qs = authz.filter_queryset(Bundle.objects.all(), user).filter(versions__status="published", region__path__in=hall_prefixes(hall))
    if theme:
        qs = qs.filter(theme=theme)
    return list(qs.distinct().order_by("theme", "stage", "name"))


# --- taking a ticket ---------------------------------------------------------------------------

def _next_seq(hall, day, letter):
    """The next number of a queue: one UPDATE … RETURNING holds the counter row until the taking transaction ends."""
    seq = _increment(hall.pk, day, letter)
    if seq is None:
        try:
            with transaction.atomic():
                QueueCounter.objects.create(hall=hall, day=day, letter=letter, last=1)
            seq = 1
        except IntegrityError:  # a concurrent kiosk created the row a moment ago
            seq = _increment(hall.pk, day, letter)
    return seq


def _increment(hall_id, day, letter):
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {QueueCounter._meta.db_table} SET last = last + 1 WHERE hall_id = %s AND day = %s AND letter = %s RETURNING last",
                    [hall_id, day.isoformat(), letter])
        row = cur.fetchone()
    return row[0] if row else None


def _rate_check(client_key):
    key = f"queue-take:{client_key}"
    ratelimit.check(key, tickets_per_hour(), "取号过于频繁，请稍后再试或到咨询台人工取号")
    return key


def _rate_count(key):
    ratelimit.count(key, RATE_WINDOW_SECONDS)


def take_ticket(hall, bundle=None, theme=None, green=False, green_reason="", phone="", client_key="", token=None):
    """取号 at a hall's kiosk (public). `bundle` (a published 一件事 offered at the hall) sets the theme queue;
    otherwise `theme` is a Queue value (default the ordinary queue). A green-channel ticket needs its
    reason. `token` makes the kiosk's submission idempotent (the same token returns the same ticket)."""
    if token is not None:
        token = str(token)
        if not TOKEN_RE.match(token):
            raise DomainError("取号令牌无效，请返回取号首页重新取号", status=422)
        existing = QueueTicket.objects.filter(token=token).first()
        if existing is not None:
            if existing.hall_id != getattr(hall, "pk", None):
                raise DomainError("取号令牌无效，请返回取号首页重新取号", status=422)
            return existing
    if not isinstance(hall, Hall) or not hall.is_active:
        raise NotFound("未找到该政务服务大厅")
    if theme not in (None, ""):
        theme = str(theme)
        if theme not in ALL_QUEUES:
            raise InvalidInput("theme", "请选择办事主题：企业、个人、项目“一件事”或其他业务")
    if bundle is not None:
        if bundle.pk not in {b.pk for b in kiosk_bundles(hall, theme=bundle.theme)}:
            raise InvalidInput("bundle", "本大厅暂不提供该“一件事”，请选择清单中的事项或按主题取号")
        if theme and theme != bundle.theme:
            raise InvalidInput("bundle", "所选“一件事”不属于该主题，请重新选择")
        theme = bundle.theme
    theme = theme or Queue.ORDINARY
    green = bool(green)
    green_reason = str(green_reason or "")
    if green and green_reason not in GREEN_LABELS:
        raise InvalidInput("green_reason", "选择绿色通道时，请选择事由（老年人、残疾人、孕妇、军人或重点项目等）")
    if not green:
        green_reason = ""
    phone = str(phone or "").strip()
    if phone:
        phone = clean_mobile(phone)
    key = _rate_check(client_key)
    day, letter = today(), LETTERS[theme]
    try:
        with transaction.atomic():
            seq = _next_seq(hall, day, letter)
            if seq > MAX_PER_QUEUE:
                raise DomainError("今日该队列号码已取完，请到咨询台咨询", status=409)
            ticket = QueueTicket.objects.create(hall=hall, day=day, letter=letter, seq=seq, number=f"{letter}{seq:03d}", queue=theme,
                                                bundle=bundle, green=green, green_reason=green_reason, phone=phone, token=token)
            note = f"{ticket.short_queue}" + (f"，一件事《{bundle.name}》" if bundle else "") + (f"，绿色通道：{GREEN_LABELS[green_reason]}" if green else "")
            _log(ticket, "take", note=note)
    except IntegrityError:
        if token and (existing := QueueTicket.objects.filter(token=token).first()):
            return existing  # a double press raced the first one
        raise
    _rate_count(key)
    return ticket


def people_ahead(ticket):
    """Tickets of the same queue that will be called before this one (green ones first)."""
    if ticket.status != TicketStatus.WAITING:
        return 0
    waiting = QueueTicket.objects.filter(hall_id=ticket.hall_id, day=ticket.day, queue=ticket.queue, status=TicketStatus.WAITING)
    ahead = Q(green=True, pk__lt=ticket.pk) if ticket.green else Q(green=True) | Q(pk__lt=ticket.pk)
    return waiting.filter(ahead).exclude(pk=ticket.pk).count()


# --- the window ---------------------------------------------------------------------------------

def clerk_windows(user):
    """Active windows of the user's active clerk memberships (a membership may name a window)."""
    if not getattr(user, "is_authenticated", False):
        return []
    ids = Membership.objects.filter(user=user, role=Membership.CLERK, is_active=True, window__isnull=False).values("window_id")
    return list(Window.objects.filter(pk__in=ids, is_active=True, hall__is_active=True).select_related("hall", "hall__region").order_by("hall_id", "number"))


def ensure_window_clerk(user, window):
    """Only a clerk seated at this window (membership names it) of a hall within their region calls there."""
    if window is None or window.pk not in {w.pk for w in clerk_windows(user)}:
        raise authz.PermissionDenied("您不是该窗口的受理人员，不能在该窗口叫号")
    authz.ensure_can(user, QueueTicket(hall=window.hall), message="该窗口所在大厅不在您的管辖区划内，不能叫号")


def _window(window):
    if isinstance(window, Window):
        return window
    try:
        return Window.objects.select_related("hall", "hall__region").get(pk=int(window))
    except (TypeError, ValueError, Window.DoesNotExist):
        raise NotFound("未找到该窗口")


def _sms_call(ticket, window):
    if ticket.phone:
        send_on_commit(ticket.phone, f"【通办】请{ticket.number}号到{window.number}号窗口办理（{window.hall.name}）。")


def current_ticket(window):
    """The ticket this window has called or is serving today, if any."""
    return (QueueTicket.objects.filter(window=window, day=today(), status__in=(TicketStatus.CALLED, TicketStatus.SERVING))
            .select_related("bundle", "bundle_case").order_by("-called_at").first())


def call_next(user, window):
    """叫下一位 at the user's window: tickets transferred to this window first, then green-channel
    tickets, then in the order they were taken; only queues the window serves. Returns the called
    ticket, or None when nobody waits."""
    window = _window(window)
    ensure_window_clerk(user, window)
    queues = served_queues(window)
    with transaction.atomic():
        # One call at a time per window (two tabs of the same clerk); only the window row is locked.
        list(Window.objects.select_for_update(of=("self",)).filter(pk=window.pk).values_list("pk", flat=True))
        busy = current_ticket(window)
        if busy is not None:
            raise Conflict(f"当前号 {busy.number}（{busy.get_status_display()}）尚未结束，请先办结、过号或转窗口")
        candidates = (QueueTicket.objects.filter(hall_id=window.hall_id, day=today())
                      .filter(Q(status=TicketStatus.TRANSFERRED, target_window=window) | Q(status=TicketStatus.WAITING, queue__in=queues))
                      .annotate(transfer_first=Case(When(status=TicketStatus.TRANSFERRED, then=Value(0)), default=Value(1), output_field=IntegerField()))
                      .order_by("transfer_first", "-green", "id"))
        now = timezone.now()
        for _ in range(5):
            ticket = candidates.select_for_update(skip_locked=True).first()
            if ticket is None:
                return None
            moved = QueueTicket.objects.filter(pk=ticket.pk, status=ticket.status).update(
                status=TicketStatus.CALLED, window=window, target_window=None, called_by=user, called_at=now, recall_count=0)
            if moved:  # else another window took it between our read and our write (SQLite): try the next one
                ticket.refresh_from_db()
                _log(ticket, "call", user, window, f"{window.number}号窗口叫号")
                _sms_call(ticket, window)
                return ticket
        raise Conflict("叫号冲突，请重试")


def _locked_ticket(user, ticket_id, statuses, what):
    """The ticket, locked, that the user's window called; 404 outside their region, 403 at another window."""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise NotFound("未找到该号")
    ticket = (authz.filter_queryset(QueueTicket.objects.all(), user, authz.WRITE).select_for_update(of=("self",))
              .filter(pk=ticket_id).select_related("hall", "window", "bundle").first())
    if ticket is None:
        raise NotFound("未找到该号")
    if ticket.window_id is None or ticket.window_id not in {w.pk for w in clerk_windows(user)}:
        raise authz.PermissionDenied("该号不是由您的窗口叫号，不能操作")
    if ticket.status not in statuses:
        raise Conflict(f"{ticket.number} 当前为“{ticket.get_status_display()}”，不能{what}")
    return ticket


def recall(user, ticket_id):
    """重呼: call the same ticket again (at most MAX_RECALLS times, then 过号)."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.CALLED,), "重呼")
        if ticket.recall_count >= MAX_RECALLS:
            raise Conflict(f"{ticket.number} 已重呼{MAX_RECALLS}次，请作过号处理")
        ticket.recall_count += 1
        ticket.called_at = timezone.now()
        ticket.save(update_fields=["recall_count", "called_at"])
        _log(ticket, "recall", user, ticket.window, f"第{ticket.recall_count}次重呼")
        _sms_call(ticket, ticket.window)
    return ticket


def start(user, ticket_id, bundle_case_no=""):
    """开始办理: the applicant is at the window. An optional 一件事 case number links the ticket to the case."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.CALLED,), "开始办理")
        ticket.status, ticket.served_at = TicketStatus.SERVING, timezone.now()
        if bundle_case_no:
            ticket.bundle_case = _bundle_case_for(user, ticket, bundle_case_no)
        ticket.save(update_fields=["status", "served_at", "bundle_case"])
        _log(ticket, "start", user, ticket.window, f"关联一件事办件 {ticket.bundle_case.case_no}" if ticket.bundle_case_id else "")
    return ticket


def link_bundle_case(user, ticket_id, case_no):
    """关联一件事办件 while serving (the applicant applied online, or the window just created the case)."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.SERVING,), "关联办件")
        ticket.bundle_case = _bundle_case_for(user, ticket, case_no)
        ticket.save(update_fields=["bundle_case"])
        _log(ticket, "link", user, ticket.window, f"关联一件事办件 {ticket.bundle_case.case_no}")
    return ticket


def _bundle_case_for(user, ticket, case_no):
    from tongban.bundles.models import BundleCase

    case_no = str(case_no or "").strip()
    if not case_no or len(case_no) > 24:
        raise InvalidInput("case_no", "请输入一件事办件编号")
    bundle_case = authz.filter_queryset(BundleCase.objects.all(), user).filter(case_no=case_no).select_related("bundle_version").first()
    if bundle_case is None:
        raise NotFound("未找到该一件事办件，或您无权查看")
    if ticket.bundle_id and bundle_case.bundle_version.bundle_id != ticket.bundle_id:
        raise InvalidInput("case_no", f"该办件不是本号所取的“一件事”《{ticket.bundle.name}》")
    return bundle_case


def open_bundle_cases(user, ticket, limit=10):
    """Bundle cases of the ticket's 一件事 waiting for the comprehensive intake that the user may see; those
    of the same phone first (an applicant who applied online and came to the window)."""
    from tongban.bundles.models import BundleCase, BundleStatus

    if not ticket.bundle_id:
        return []
    qs = authz.filter_queryset(BundleCase.objects.all(), user).filter(
        bundle_version__bundle_id=ticket.bundle_id, status__in=(BundleStatus.SUBMITTED, BundleStatus.SUPPLEMENT))
    if ticket.phone:
        qs = qs.annotate(same_phone=Case(When(contact_phone=ticket.phone, then=Value(0)), default=Value(1), output_field=IntegerField()))
        qs = qs.order_by("same_phone", "-id")
    return list(qs[:limit])


def finish(user, ticket_id):
    """办结: the visit is over."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.SERVING,), "办结")
        ticket.status, ticket.done_at = TicketStatus.DONE, timezone.now()
        ticket.save(update_fields=["status", "done_at"])
        _log(ticket, "finish", user, ticket.window)
    return ticket


def no_show(user, ticket_id):
    """过号: called (and perhaps recalled) but nobody came."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.CALLED,), "过号")
        ticket.status, ticket.done_at = TicketStatus.NO_SHOW, timezone.now()
        ticket.save(update_fields=["status", "done_at"])
        _log(ticket, "no_show", user, ticket.window, f"重呼{ticket.recall_count}次后过号")
    return ticket


def transfer(user, ticket_id, to_window):
    """转窗口: the ticket waits for another window of the same hall, which calls it before its own queues."""
    with transaction.atomic():
        ticket = _locked_ticket(user, ticket_id, (TicketStatus.CALLED, TicketStatus.SERVING), "转窗口")
        try:
            target = Window.objects.get(pk=int(to_window), hall_id=ticket.hall_id, is_active=True)
        except (TypeError, ValueError, Window.DoesNotExist):
            raise InvalidInput("to_window", "请选择本大厅的其他窗口")
        if target.pk == ticket.window_id:
            raise InvalidInput("to_window", "不能转到当前窗口，请选择其他窗口")
        source = ticket.window
        ticket.status, ticket.target_window = TicketStatus.TRANSFERRED, target
        ticket.save(update_fields=["status", "target_window"])
        _log(ticket, "transfer", user, source, f"由{source.number}号窗口转至{target.number}号窗口（{target.name}）")
        if ticket.phone:
            send_on_commit(ticket.phone, f"【通办】您的{ticket.number}号已转至{target.number}号窗口（{target.name}），请留意叫号。")
    return ticket


# --- what pages show ------------------------------------------------------------------------------

def waiting_counts(hall, queues=None):
    """{queue: (waiting, green waiting)} for today."""
    rows = (QueueTicket.objects.filter(hall=hall, day=today(), status=TicketStatus.WAITING)
            .values("queue").annotate(n=Count("id"), g=Count("id", filter=Q(green=True))))
    counts = {r["queue"]: (r["n"], r["g"]) for r in rows}
    return [{"queue": q, "label": Queue(q).label, "letter": LETTERS[q], "waiting": counts.get(q, (0, 0))[0], "green": counts.get(q, (0, 0))[1]}
            for q in (queues if queues is not None else ALL_QUEUES)]


def screen(hall, limit=8):
    """The hall display: tickets being called or served today (latest call first) and waiting counts."""
    called = list(QueueTicket.objects.filter(hall=hall, day=today(), status__in=(TicketStatus.CALLED, TicketStatus.SERVING))
                  .select_related("window").order_by("-called_at")[:limit])
    return {"latest": called[0] if called and called[0].status == TicketStatus.CALLED else None, "called": called, "counts": waiting_counts(hall)}


def window_board(user, window):
    """The clerk's call-next screen of one window."""
    window = _window(window)
    ensure_window_clerk(user, window)
    queues = served_queues(window)
    current = current_ticket(window)
    transferred = QueueTicket.objects.filter(day=today(), status=TicketStatus.TRANSFERRED, target_window=window).count()
    recent = list(authz.filter_queryset(QueueTicket.objects.all(), user).filter(day=today(), window=window)
                  .exclude(status__in=(TicketStatus.CALLED, TicketStatus.SERVING)).select_related("target_window").order_by("-id")[:10])
    return {
        "window": window, "queues": queues, "counts": waiting_counts(window.hall, queues), "transferred": transferred,
        "current": current, "recent": recent, "max_recalls": MAX_RECALLS,
        "other_windows": list(Window.objects.filter(hall_id=window.hall_id, is_active=True).exclude(pk=window.pk).order_by("number")),
        "open_cases": open_bundle_cases(user, current) if current and current.status == TicketStatus.SERVING and not current.bundle_case_id else [],
    }


def visible_open(user):
    """Open tickets the user may read today (for counts on other pages)."""
    return authz.filter_queryset(QueueTicket.objects.all(), user).filter(day=today(), status__in=OPEN_STATUSES)


def save_window_queue(actor, row):
    """One (window, queue) row from the admin: authorised, validated, audited."""
    from tongban.core import audit
    from tongban.core.errors import validate

    with transaction.atomic():
        authz.ensure_can_change(actor, row, message="您没有权限设置该窗口的叫号队列")
        validate(row)
        row.save()
        audit.record(actor, "queue.window_queue", row, summary=f"设置窗口叫号队列：{row}")
    return row


def delete_window_queue(actor, row):
    from tongban.core import audit

    with transaction.atomic():
        authz.ensure_can_change(actor, row, message="您没有权限设置该窗口的叫号队列")
        audit.record(actor, "queue.window_queue_delete", row, summary=f"取消窗口叫号队列：{row}")
        row.delete()
