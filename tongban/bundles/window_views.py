"""窗口综合受理 of a new 一件事 (前台综合受理：只进一门、一窗受理): the lead department's window clerk takes
the application on the applicant's behalf.

Page 1 lists the published bundles whose lead department the clerk may act for (optionally for the
queue ticket being served, whose bundle is preselected). Page 2 identifies the applicant exactly as
the 异地代收 window does (`applicants.services.applicant_at_window`), then shows the one merged form
(prefilled), the one material list, 一类事 and delivery, and submits through `bundles.applying.apply`
with channel "window" and the page's one-time token. The applicant record, the bundle case and the
ticket's link are written in one transaction; a refusal re-renders the page with the Chinese message
and its 4xx status, keeping what was typed."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from tongban.applicants.services import applicant_at_window
from tongban.cases.models import DeliveryMethod
from tongban.core import authz
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.portal.case_views import Failure, _failure
from tongban.queueing import services as queueing
from tongban.queueing.models import QueueTicket, TicketStatus
from tongban.workbench.proxy_views import APPLICANT_FIELDS
from tongban.workbench.views import nav_context, staff_required

from . import applying, merging, presenting
from .models import BundleCase, BundleVersion

NAV = "bundle_window"
TICKET_OPEN = (TicketStatus.CALLED, TicketStatus.SERVING)
# The applicant's name field is "org_name" in the applicant services' messages for a legal person.
IDENTITY_ERROR_FIELDS = {"org_name": "name"}


def _refusal(exc):
    status = getattr(exc, "status", None) or (403 if isinstance(exc, authz.PermissionDenied) else 422)
    message = getattr(exc, "message", None) or "；".join(getattr(exc, "messages", [])) or str(exc)
    return message, status


# --- which bundles, which ticket --------------------------------------------------------------------

def _clerk_places(user):
    """(region path, department id or None) of the user's active clerk memberships."""
    return [(path, dept) for role, path, dept in authz.grants(user) if role == "clerk"]


def actable_versions(user):
    """Published bundle versions whose lead department the user may act for as a window clerk: a clerk
    membership whose region covers the lead department's region, of that department or of none (the
    rule `applying.lead_actor` applies when the application is submitted)."""
    places = _clerk_places(user)
    if not places:
        return []
    qs = authz.filter_queryset(BundleVersion.objects.filter(status=BundleVersion.PUBLISHED), user)
    versions = (qs.select_related("bundle", "lead_department__region").annotate(n_entries=Count("entries"))
                .order_by("bundle__theme", "bundle__code"))
    return [v for v in versions
            if any(v.lead_department.region.path.startswith(path) and dept in (None, v.lead_department_id) for path, dept in places)]


def _version(user, code):
    """The published version of `code` if the user may take it at the window (404 otherwise: a bundle of
    another place is not offered here)."""
    code = str(code or "").strip()[:40]
    found = next((v for v in actable_versions(user) if v.bundle.code == code), None)
    if found is None:
        raise NotFound("未找到该“一件事”，或它的牵头部门不在您的窗口受理范围内")
    return found


def _ticket(user, raw, version=None):
    """The queue ticket the user's window is serving (called or in service), or None when none was
    given; refused when it is not this clerk's, no longer open, or taken for another bundle."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound("未找到该号")
    ticket = (authz.filter_queryset(QueueTicket.objects.all(), user, authz.WRITE).filter(pk=int(raw))
              .select_related("bundle", "window", "bundle_case").first())
    if ticket is None:
        raise NotFound("未找到该号，或该号不在您的管辖区划内")
    if ticket.window_id not in {w.pk for w in queueing.clerk_windows(user)}:
        raise authz.PermissionDenied("该号不是由您的窗口叫号，不能为其受理一件事")
    if ticket.status not in TICKET_OPEN:
        raise Conflict(f"{ticket.number} 当前为“{ticket.get_status_display()}”，不能为其受理一件事")
    if ticket.bundle_case_id:
        raise Conflict(f"{ticket.number} 已关联一件事办件 {ticket.bundle_case.case_no}，无需再次受理")
    if version is not None and ticket.bundle_id and ticket.bundle_id != version.bundle_id:
        raise DomainError(f"{ticket.number} 所取的是《{ticket.bundle.name}》，请为其受理该一件事", status=422)
    return ticket


def _link(user, ticket, bc):
    """The ticket linked to the new bundle case: a called ticket starts being served (开始办理) with it."""
    if ticket.status == TicketStatus.CALLED:
        return queueing.start(user, ticket.pk, bc.case_no)
    return queueing.link_bundle_case(user, ticket.pk, bc.case_no)


def _apply_url(version):
    return reverse("bundle_window:apply", args=[version.bundle.code])


def _with_ticket(url, ticket):
    return f"{url}?ticket={ticket.pk}" if ticket is not None else url


# --- page 1: choose the bundle ---------------------------------------------------------------------

@require_GET
@staff_required
def choose(request):
    user = request.user
    context = {**nav_context(request), "nav": NAV, "is_clerk": bool(_clerk_places(user))}
    status, ticket = 200, None
    try:
        ticket = _ticket(user, request.GET.get("ticket"))
    except (DomainError, authz.PermissionDenied) as exc:
        context["error"], status = _refusal(exc)
    versions = actable_versions(user)
    code = str(request.GET.get("code") or "").strip()[:40]
    if code and status == 200:
        if any(v.bundle.code == code for v in versions):
            return redirect(_with_ticket(reverse("bundle_window:apply", args=[code]), ticket))
        context["error"], status = "请选择清单中的一件事", 422
    if not context["is_clerk"] and status == 200:
        context["error"], status = "只有牵头部门的窗口受理人员可以窗口受理一件事", 403
    selected = code or (ticket.bundle.code if ticket is not None and ticket.bundle_id else "")
    if ticket is not None and ticket.bundle_id and not any(v.bundle.code == ticket.bundle.code for v in versions) and status == 200:
        context["error"], status = f"{ticket.number} 所取的《{ticket.bundle.name}》不由您所在的牵头部门受理，请转至相应窗口", 403
    context.update(ticket=ticket, selected=selected, rows=[{
        "v": v, "checked": v.bundle.code == selected, "items": v.n_entries,
        "for_ticket": ticket is not None and ticket.bundle_id == v.bundle_id,
    } for v in versions])
    return render(request, "bundles/window/choose.html", context, status=status)


# --- page 2: the applicant, then the one application ---------------------------------------------

def _identity(data):
    return {k: str(data.get(k) or "").strip()[:200] for k in APPLICANT_FIELDS}


def _person(identity):
    """The applicant the clerk verified in person: found by their code, else registered (as 异地代收)."""
    return applicant_at_window(
        identity.get("kind") or "natural", identity.get("name"), identity.get("phone"), identity.get("id_number") or "",
        identity.get("credit_code") or "", identity.get("applicant_type") or "2", identity.get("agent_name") or "",
        identity.get("agent_id_number") or "")


def _look_up(identity, version):
    """Identify without registering yet: the same checks as submitting, then rolled back, so a visit
    that ends before submission leaves no account behind. (shown, prefilled values, already known)."""
    started = timezone.now()
    with transaction.atomic():
        person = _person(identity)
        shown = {"name": person.name, "code_type": person.code_type, "masked_code": person.masked_code,
                 "masked_phone": person.masked_phone, "agent_name": person.agent_name, "known": person.created_at < started}
        values = applying.prefill(person, version)
        transaction.set_rollback(True)
    return shown, values


def _identity_errors(exc):
    errors = {}
    for d in getattr(exc, "details", None) or []:
        if isinstance(d, dict):
            field = IDENTITY_ERROR_FIELDS.get(d.get("field"), d.get("field"))
            if field in APPLICANT_FIELDS:
                errors[field] = d.get("message") or ""
    return errors


def _context(request, version, ticket, identity, shown=None, values=None, posted=None, failure=None, identity_errors=None):
    """Page 2: the identification form, or (once the applicant is identified) the one application."""
    entries = presenting.entries_of(version)
    context = {
        **nav_context(request), "nav": NAV, "version": version, "bundle": version.bundle, "lead_department": version.lead_department,
        "entries": list(entries.values()), "ticket": ticket, "identity": identity, "identity_errors": identity_errors or {},
        "failure": failure, "stage": "identify" if shown is None else "form", "shown": shown,
        "choose_url": _with_ticket(reverse("bundle_window:choose"), ticket),
    }
    if shown is None:
        return context
    values = dict(posted.form) if posted is not None else (values or {})
    context.update(presenting.application_context(version, entries, values, posted, failure))
    names = [n for n, _label in context["delivery_choices"]]
    default_method = DeliveryMethod.PICKUP if DeliveryMethod.PICKUP in names else names[0]  # the window hands the result over
    context.update({
        "delivery_method": (posted.delivery_method if posted else None) or default_method,
        "token": (posted.token if posted is not None and posted.token else None) or uuid.uuid4().hex,
    })
    return context


def _done(user, token, identity):
    """The bundle case this page's token already created (the same page submitted twice), if any."""
    if not token:
        return None
    bc = authz.filter_queryset(BundleCase.objects.filter(submit_token=token), user).select_related("applicant").first()
    if bc is None:
        return None
    code = identity.get("id_number") if (identity.get("kind") or "natural") == "natural" else identity.get("credit_code")
    if str(code or "").upper() != (bc.applicant.code or "").upper():
        raise Conflict("该受理页面已为其他申请人提交过，请重新打开受理页面")
    return bc


def _submit(request, version, ticket, identity, posted):
    """One transaction: the applicant (registered if new), the bundle case with its children, and the
    ticket's link. Returns the bundle case."""
    if posted.token is None:
        raise DomainError("受理页面已失效（缺少提交令牌），请重新打开受理页面", status=400)
    with transaction.atomic():
        person = _person(identity)
        bc = applying.apply(
            person, request.user, version.bundle.code, posted.form, files=posted.files, materials=posted.materials,
            delivery_method=posted.delivery_method, delivery_address=posted.delivery_address, commitments=posted.commitments,
            market_services=posted.market_services, submit_now=True, token=posted.token, channel="window",
        )
        if ticket is not None:
            _link(request.user, ticket, bc)
    return bc


@require_http_methods(["GET", "POST"])
@staff_required
def apply(request, code):
    user = request.user
    try:
        version = _version(user, code)
    except DomainError as exc:
        message, status = _refusal(exc)
        context = {**nav_context(request), "nav": NAV, "is_clerk": bool(_clerk_places(user)), "error": message,
                   "rows": [{"v": v, "checked": False, "items": v.n_entries} for v in actable_versions(user)]}
        return render(request, "bundles/window/choose.html", context, status=status)
    data = request.POST if request.method == "POST" else request.GET
    ticket_raw = data.get("ticket")
    identity = _identity(request.POST) if request.method == "POST" else {k: "" for k in APPLICANT_FIELDS}
    action = request.POST.get("action") if request.method == "POST" else ""
    posted = presenting.Posted(request, version) if action == "submit" else None

    try:
        done = _done(user, posted.token, identity) if posted is not None else None
    except DomainError as exc:  # this page was spent on another applicant: start again from a fresh page
        message, status = _refusal(exc)
        context = _context(request, version, None, identity, failure=Failure(message, status, {}, {}))
        raw = str(ticket_raw or "")
        context.update(stage="restart", restart_url=f"{_apply_url(version)}?ticket={raw}" if raw.isdigit() else _apply_url(version))
        return render(request, "bundles/window/apply.html", context, status=status)
    if done is not None:  # the same page submitted again: the one bundle case it created
        return redirect("bundle_workbench:detail", done.pk)

    try:
        ticket = _ticket(user, ticket_raw, version)
    except (DomainError, authz.PermissionDenied) as exc:
        # No form then: going on without the ticket must be the clerk's explicit choice (a link).
        message, status = _refusal(exc)
        context = _context(request, version, None, identity, failure=Failure(message, status, {}, {}))
        context.update(stage="ticket_refused", queue_url=reverse("queueing:window"))
        return render(request, "bundles/window/apply.html", context, status=status)

    if action == "identify":
        try:
            shown, values = _look_up(identity, version)
        except (DomainError, ValidationError) as exc:
            message, status = _refusal(exc)
            context = _context(request, version, ticket, identity, failure=Failure(message, status, {}, {}), identity_errors=_identity_errors(exc))
            return render(request, "bundles/window/apply.html", context, status=status)
        return render(request, "bundles/window/apply.html", _context(request, version, ticket, identity, shown=shown, values=values))
    if action == "submit":
        try:
            bc = _submit(request, version, ticket, identity, posted)
        except (DomainError, ValidationError, authz.PermissionDenied) as exc:
            done = authz.filter_queryset(BundleCase.objects.filter(submit_token=posted.token), user).first() if posted.token else None
            if done is not None:  # a double click racing the first submission: the case it created
                return redirect("bundle_workbench:detail", done.pk)
            return _render_failure(request, version, ticket, identity, posted, exc)
        note = f"，叫号 {ticket.number} 已关联该办件" if ticket is not None else ""
        messages.success(request, f"已窗口受理“{version.name}”，一件事办件编号：{bc.case_no}（{version.entries.count()}个事项同时收件）{note}。"
                                  "请完成综合受理（核验身份和原件）。")
        return redirect("bundle_workbench:detail", bc.pk)  # 综合受理 continues on the coordinator's page
    if request.method == "POST":
        context = _context(request, version, ticket, identity, failure=Failure("未知的操作，请刷新页面后重试", 400, {}, {}))
        return render(request, "bundles/window/apply.html", context, status=400)
    return render(request, "bundles/window/apply.html", _context(request, version, ticket, identity))


def _render_failure(request, version, ticket, identity, posted, exc):
    """The application page again, with what was typed, the Chinese message and its status."""
    message, status = _refusal(exc)
    fields = merging.validation_fields(version)
    failure = _failure(exc, fields) if isinstance(exc, DomainError) else Failure(message, status, {}, {})
    groups = {g["key"] for g in version.material_groups}
    failure = Failure(message, status, failure.fields, presenting.group_errors(exc, groups))
    try:
        shown, _values = _look_up(identity, version)
    except (DomainError, ValidationError) as again:  # the identity itself was refused: identify again
        context = _context(request, version, ticket, identity, failure=failure, identity_errors=_identity_errors(again))
        return render(request, "bundles/window/apply.html", context, status=status)
    context = _context(request, version, ticket, identity, shown=shown, posted=posted, failure=failure)
    return render(request, "bundles/window/apply.html", context, status=status)
