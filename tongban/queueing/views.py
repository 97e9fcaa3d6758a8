"""主题叫号 pages: the kiosk (取号机, public), the hall display (叫号屏, public, refreshed by htmx polling of
a fragment from our own static files), and the clerk's call-next screen (staff, their window from their
membership). Every change goes through `services`; a refused step re-renders the page with the
Chinese message and its 4xx status."""

import secrets

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.bundles.models import STAGES
from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.directory.models import Hall
from tongban.workbench.views import nav_context, staff_required

from . import services
from .models import GREEN_REASONS, LETTERS, SHORT_LABELS, Queue, QueueTicket, TicketStatus

THEME_HINTS = {
    Queue.ENTERPRISE: "企业开办、变更、注销",
    Queue.PERSONAL: "出生、入学、就业、退休、身后",
    Queue.PROJECT: "项目投资、建设",
    Queue.ORDINARY: "单个事项、咨询及其他业务",
}
ACTIONS = {"recall": "重呼", "start": "开始办理", "finish": "办结", "no_show": "过号", "transfer": "转窗口", "link": "关联办件"}


def _refusal(exc):
    return getattr(exc, "message", str(exc)), getattr(exc, "status", 403 if isinstance(exc, authz.PermissionDenied) else 422)


def _hall(request, hall_id):
    """Halls through their authorisation filter (active halls are public)."""
    hall = authz.filter_queryset(Hall.objects.all(), request.user).filter(pk=hall_id, is_active=True).select_related("region").first()
    if hall is None:
        raise Http404("未找到该政务服务大厅")
    return hall


def _client_key(request):
    return request.META.get("REMOTE_ADDR", "")


# --- kiosk ---------------------------------------------------------------------------------------

def _themes():
    return [{"value": q, "letter": LETTERS[q], "label": SHORT_LABELS[q], "hint": THEME_HINTS[q]} for q in Queue.values]


def _bundle_groups(hall, user, theme):
    """The theme's bundles grouped by life-cycle stage, in the stage order."""
    bundles = services.kiosk_bundles(hall, user, theme)
    groups = []
    for key, label in STAGES.get(theme, []):
        rows = [b for b in bundles if b.stage == key]
        if rows:
            groups.append({"label": label, "bundles": rows})
    return groups


@never_cache
@require_http_methods(["GET", "POST"])
def take(request, hall_id):
    hall = _hall(request, hall_id)
    data = request.POST if request.method == "POST" else request.GET
    theme = str(data.get("theme") or "")[:20]
    context = {"hall": hall, "themes": _themes(), "green_reasons": GREEN_REASONS, "posted": request.POST}
    status = 200
    if theme and theme not in Queue.values:
        context["error"], status, theme = "请选择办事主题：企业、个人、项目“一件事”或其他业务", 422, ""
    if theme:
        context.update(theme=theme, theme_label=SHORT_LABELS[theme], groups=_bundle_groups(hall, request.user, theme),
                       token=str(request.POST.get("token") or "")[:64] or secrets.token_urlsafe(16))
    if request.method == "POST" and status == 200:
        bundle = None
        raw = str(request.POST.get("bundle") or "").strip()
        try:
            if raw:
                offered = {str(b.pk): b for g in context.get("groups", []) for b in g["bundles"]}
                bundle = offered.get(raw)
                if bundle is None:
                    raise DomainError("本大厅暂不提供该“一件事”，请选择清单中的事项或按主题取号", status=422)
            ticket = services.take_ticket(
                hall, bundle=bundle, theme=theme or None, green=request.POST.get("green") == "1",
                green_reason=str(request.POST.get("green_reason") or "")[:20], phone=str(request.POST.get("phone") or "")[:20],
                client_key=_client_key(request), token=context.get("token") or secrets.token_urlsafe(16))
        except (DomainError, authz.PermissionDenied) as exc:
            context["error"], status = _refusal(exc)
        else:
            return redirect("queueing:ticket", hall_id=hall.pk, token=ticket.token)
    return render(request, "queueing/kiosk.html", context, status=status)


@never_cache
@require_GET
def ticket_page(request, hall_id, token):
    """The printed ticket; the kiosk returns to its first page after a minute."""
    hall = _hall(request, hall_id)
    ticket = QueueTicket.objects.filter(hall=hall, token=str(token)[:64]).select_related("bundle").first()
    if ticket is None or not token:
        raise Http404("未找到该号")
    return render(request, "queueing/ticket.html", {"hall": hall, "ticket": ticket, "ahead": services.people_ahead(ticket),
                                                    "green_label": dict(GREEN_REASONS).get(ticket.green_reason, "")})


# --- hall display ----------------------------------------------------------------------------------

@never_cache
@require_GET
def screen(request, hall_id):
    hall = _hall(request, hall_id)
    return render(request, "queueing/screen.html", {"hall": hall, **services.screen(hall)})


@never_cache
@require_GET
def board(request, hall_id):
    hall = _hall(request, hall_id)
    return render(request, "queueing/_board.html", {"hall": hall, **services.screen(hall)})


# --- the clerk's window ---------------------------------------------------------------------------------

def _bundle_case_url(bundle_case_id):
    try:
        return reverse("bundle_workbench:detail", args=[bundle_case_id])
    except NoReverseMatch:  # the coordinator's pages are not installed: the plain path they live at
        return f"/workbench/bundles/{bundle_case_id}/"


def _bundle_list_url():
    try:
        return reverse("bundle_workbench:list")
    except NoReverseMatch:
        return "/workbench/bundles/"


def _guide_url(bundle):
    try:
        return reverse("bundles:guide", args=[bundle.code])
    except NoReverseMatch:
        return f"/bundles/{bundle.code}/"


def _window_context(request, window_id=None):
    windows = services.clerk_windows(request.user)
    context = {**nav_context(request), "nav": "queueing", "windows": windows, "actions": ACTIONS}
    if not windows:
        return context, None
    chosen = next((w for w in windows if str(w.pk) == str(window_id)), windows[0])
    board = services.window_board(request.user, chosen)
    current = board["current"]
    context.update(board, statuses=TicketStatus)
    if current is not None:
        context["green_label"] = dict(GREEN_REASONS).get(current.green_reason, "")
        if current.bundle_case_id:
            context["bundle_case_url"] = _bundle_case_url(current.bundle_case_id)
        if current.bundle_id:
            context["guide_url"] = _guide_url(current.bundle)
            context["bundle_list_url"] = _bundle_list_url()
        context["open_cases"] = [{"case": c, "url": _bundle_case_url(c.pk)} for c in board["open_cases"]]
    return context, chosen


@require_GET
@staff_required
def window_page(request):
    context, window = _window_context(request, request.GET.get("window"))
    if window is None:
        context["error"] = "您的窗口受理人员角色未指定窗口，不能叫号。请联系平台管理员在“人员角色”中设置您所在的窗口。"
        return render(request, "queueing/window.html", context, status=403)
    return render(request, "queueing/window.html", context)


def _back(window_id):
    return redirect(f"{reverse('queueing:window')}?window={window_id}")


def _refused(request, exc, window_id):
    message, status = _refusal(exc)
    context, window = _window_context(request, window_id)
    context["error"] = message
    return render(request, "queueing/window.html", context, status=status)


@require_POST
@staff_required
def call(request):
    window_id = str(request.POST.get("window") or "")[:20]
    try:
        ticket = services.call_next(request.user, window_id)
    except (DomainError, authz.PermissionDenied) as exc:
        return _refused(request, exc, window_id)
    if ticket is None:
        messages.info(request, "当前没有等候的号")
    else:
        messages.success(request, f"已叫号：请 {ticket.number} 号到 {ticket.window.number} 号窗口")
    return _back(window_id)


@require_POST
@staff_required
def act(request, ticket_id, action):
    if action not in ACTIONS:
        raise Http404("未知的操作")
    window_id = str(request.POST.get("window") or "")[:20]
    try:
        if action == "recall":
            ticket = services.recall(request.user, ticket_id)
        elif action == "start":
            ticket = services.start(request.user, ticket_id, str(request.POST.get("case_no") or "")[:40])
        elif action == "link":
            ticket = services.link_bundle_case(request.user, ticket_id, str(request.POST.get("case_no") or "")[:40])
        elif action == "finish":
            ticket = services.finish(request.user, ticket_id)
        elif action == "no_show":
            ticket = services.no_show(request.user, ticket_id)
        else:
            ticket = services.transfer(request.user, ticket_id, request.POST.get("to_window"))
    except (DomainError, authz.PermissionDenied) as exc:
        return _refused(request, exc, window_id)
    messages.success(request, f"{ticket.number}：{ACTIONS[action]}完成")
    return _back(window_id or ticket.window_id)
