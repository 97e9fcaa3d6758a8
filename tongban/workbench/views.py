"""The staff workbench (工作台): the queue, a case with its record and the actions the signed-in
staff member may take now, and their in-site messages. Pages need a session that passed password and
TOTP and an active membership; every case read goes through the cases' authorisation filter."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import crossregion, handling, services, workflow
from tongban.cases.clock import deadline
from tongban.cases.intake import form_fields
from tongban.cases.lifecycle import STAFF_ACTIONS, status_label
from tongban.cases.models import CaseEvent, CaseMaterial, DeferredMaterial, Delivery, Message
from tongban.core import authz
from tongban.core.admin_base import admin_site_has_permission
from tongban.core.errors import DomainError
from tongban.directory.models import Membership

from . import actions, queues

PAGE_SIZE = 20
MESSAGE_PAGE_SIZE = 20
ROLE_LABELS = {**dict(Membership.ROLE_CHOICES), "applicant": "申请人", "system": "系统"}
PREVIEW_TYPES = {"application/pdf": "pdf", "image/jpeg": "image", "image/png": "image"}


def staff_required(view):
    """A verified staff session (password + TOTP) with at least one active role, else the sign-in page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        verified = getattr(user, "is_verified", None)
        if not (user.is_authenticated and user.is_active and verified is not None and verified() and authz.grants(user)):
            if request.method == "GET":
                back = request.get_full_path()
            else:  # after signing in, come back to the page the form was on (a form post is not repeated)
                back = reverse("workbench:case", args=[kwargs["case_id"]]) if "case_id" in kwargs else reverse("workbench:queue")
            return redirect_to_login(back, settings.LOGIN_URL)
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def nav_context(request):
    user = request.user
    return {
        "unread_count": Message.objects.filter(recipient=user, read_at__isnull=True).count(),
        "show_admin": admin_site_has_permission(request),
        "staff_roles": sorted({ROLE_LABELS.get(r, r) for r in authz.roles_of(user)}),
    }


def _page_number(value):
    try:
        return max(1, min(int(value), 10_000))
    except (TypeError, ValueError):
        return 1


def _pagination(request, page, has_next, last=None):
    """Links for the portal's pagination partial; `last` is the last page when the total is known."""
    def url(n):
        query = request.GET.copy()
        query["page"] = n
        return f"?{query.urlencode()}"

    if page == 1 and not has_next:
        return None
    top = last or (page + 1 if has_next else page)
    numbers = sorted({1, top, *range(max(1, page - 2), min(top, page + 2) + 1)})
    links, previous = [], 0
    for n in numbers:
        if n - previous > 1:
            links.append({"gap": True})
        links.append({"n": n, "current": n == page, "url": url(n)})
        previous = n
    return {"prev": url(page - 1) if page > 1 else None, "next": url(page + 1) if has_next else None, "links": links}


@require_GET
@staff_required
def queue(request):
    filters = queues.clean_filters(request.GET)
    qs = queues.queue_queryset(request.user, filters)
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * PAGE_SIZE
    rows = list(qs[offset:offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    total = queues.capped_count(qs)
    today = timezone.localdate()
    items = [{"case": c, "deadline": queues.row_deadline(c, today), "status_label": status_label(c.status),
              "queue_label": queues.QUEUE_LABELS.get(c.status, "")} for c in rows]
    statuses = [(s, f"{queues.QUEUE_LABELS[s]}（{status_label(s)}）" if s in queues.QUEUE_LABELS else status_label(s))
                for s in queues.queue_statuses(request.user)]
    context = {
        **nav_context(request), "items": items, "filters": filters, "statuses": statuses, "colours": queues.COLOURS, "scopes": queues.SCOPES,
        "total": min(total, queues.COUNT_CAP), "total_capped": total > queues.COUNT_CAP, "page": page,
        "pagination": _pagination(request, page, has_next, None if total > queues.COUNT_CAP else max(1, -(-total // PAGE_SIZE))),
        "nav": "queue",
    }
    return render(request, "workbench/queue.html", context)


def _form_rows(case):
    rows, seen = [], set()
    data = case.form_data or {}
    for f in form_fields(case.item_version):
        key = f.get("key")
        seen.add(key)
        rows.append({"label": f.get("label") or key, "value": _display(data.get(key)), "type": f.get("type")})
    for key, value in data.items():
        if key not in seen:
            rows.append({"label": key, "value": _display(value), "type": ""})
    return rows


def _display(value):
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        return value.get("file_name") or value.get("name") or "、".join(f"{k}：{v}" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(_display(v) for v in value)
    return str(value)


def _materials(case):
    every = list(CaseMaterial.objects.filter(case=case).select_related("material", "blob").order_by("id"))
    current = services.current_materials(case)
    current_ids = {m.pk for m in current}
    by_id = {m.pk: m for m in every}
    current = [by_id.get(m.pk, m) for m in current]
    earlier = [m for m in every if m.pk not in current_ids]
    return ([{"m": m, "preview": PREVIEW_TYPES.get(m.blob.content_type, "")} for m in current],
            [{"m": m, "preview": PREVIEW_TYPES.get(m.blob.content_type, "")} for m in earlier])


def _timeline(case):
    events = CaseEvent.objects.filter(case=case).order_by("seq")
    return [{"e": e, "role": ROLE_LABELS.get(e.role, e.role), "from": status_label(e.status_from) if e.status_from else "",
             "to": status_label(e.status_to) if e.status_to else ""} for e in events]


def detail_context(request, case):
    today = timezone.localdate()
    ready, finished = handling.review_steps(case)
    forms, notes = actions.available(case, request.user, ready, finished)
    current, earlier = _materials(case)
    deferred = [{"d": d, "overdue": d.status == DeferredMaterial.OVERDUE or (d.status == DeferredMaterial.PENDING and d.due_date < today)}
                for d in case.deferred_materials.select_related("material")]
    return {
        **nav_context(request), "case": case, "deadline": deadline(case), "status_label": status_label(case.status),
        "form_rows": _form_rows(case), "materials": current, "earlier_materials": earlier, "deferred": deferred,
        "supplements": list(case.supplements.all()), "specials": list(case.special_procedures.all()),
        "payments": list(case.payments.all()), "delivery": Delivery.objects.filter(case=case).first(),
        "documents": list(case.documents.all()), "timeline": _timeline(case), "ready_steps": ready,
        "process_finished": finished, "forms": forms, "action_notes": notes, "nav": "case",
        "cross": crossregion.detail(case) if case.mode != "online" else None, "intake": proxy_views.intake_context(case, request.user),
    }


@require_GET
@staff_required
def case_detail(request, case_id):
    case = services.visible_case(request.user, case_id)
    return render(request, "workbench/case.html", detail_context(request, case))


@require_POST
@staff_required
def act(request, case_id, action):
    case = services.visible_case(request.user, case_id)
    if action not in STAFF_ACTIONS:
        raise Http404
    opinion, params = actions.params_from(action, request.POST)
    try:
        services.perform(case.pk, action, request.user, opinion=opinion, params=params)
    except DomainError as exc:
        return _failed(request, case_id, action, exc.message, exc.status)
    except authz.PermissionDenied as exc:
        return _failed(request, case_id, action, exc.message, 403)
    except workflow.WorkflowError as exc:
        return _failed(request, case_id, action, str(exc), 409)
    messages.success(request, f"{actions.DONE[action]}：办件{case.case_no or case.pk}")
    return redirect("workbench:case", case_id=case.pk)


def _failed(request, case_id, action, message, status):
    case = services.visible_case(request.user, case_id)  # as it is now (the failed action changed nothing)
    context = detail_context(request, case)
    context.update(error=message, error_action=action, error_label=services.TABLE[action].label, posted=request.POST)
    return render(request, "workbench/case.html", context, status=status)


@require_GET
@staff_required
def message_list(request):
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * MESSAGE_PAGE_SIZE
    rows = list(Message.objects.filter(recipient=request.user).select_related("case").only(
        "id", "title", "body", "created_at", "read_at", "case__id", "case__case_no")[offset:offset + MESSAGE_PAGE_SIZE + 1])
    has_next = len(rows) > MESSAGE_PAGE_SIZE
    context = {**nav_context(request), "rows": rows[:MESSAGE_PAGE_SIZE], "pagination": _pagination(request, page, has_next), "nav": "messages"}
    return render(request, "workbench/messages.html", context)


@require_POST
@staff_required
def messages_read(request):
    n = Message.objects.filter(recipient=request.user, read_at__isnull=True).update(read_at=timezone.now())
    messages.success(request, f"已将{n}条消息标为已读" if n else "没有未读消息")
    return redirect("workbench:messages")


from . import proxy_views  # noqa: E402  (its views use staff_required from here)


def home(request):
    query = request.GET.urlencode()
    return redirect(reverse("workbench:queue") + (f"?{query}" if query else ""))
