"""Pages of 咨询投诉建议: the portal form (signed-in applicants or anyone with a phone number), 我的咨询投诉
with replies and the rating, and the workbench list and detail (reply, assign, close). Thin: every
change goes through `services`; every read through the authorisation filter of Inquiry."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.applicants.services import current_applicant
from tongban.cases.models import Case
from tongban.core import authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.core.masking import mask_phone
from tongban.portal.case_views import applicant_required
from tongban.workbench.views import nav_context, staff_required

from . import services
from .models import OPEN_STATUSES, Inquiry, Kind, Satisfaction, Status

PAGE_SIZE = 20


def _failure(exc):
    status = getattr(exc, "status", None) or 403
    field = getattr(exc, "field", None)
    return {"message": getattr(exc, "message", str(exc)), "status": status, "field": field}


def _client_key(request):
    return request.META.get("REMOTE_ADDR", "")


def _clean(value, n):
    return str(value or "").strip()[:n]


# --- portal -----------------------------------------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
def new(request):
    applicant = current_applicant(request)
    own_cases = list(Case.objects.filter(applicant=applicant).exclude(case_no=None).select_related("item_version")
                     .order_by("-submitted_at")[:50]) if applicant else []
    data = request.POST if request.method == "POST" else {"case": _clean(request.GET.get("case"), 20), "kind": _clean(request.GET.get("kind"), 12)}
    failure = None
    if request.method == "POST":
        try:
            inquiry = services.submit_portal(request.user, request.POST, _client_key(request))
        except (DomainError, PermissionDenied) as exc:
            failure = _failure(exc)
        else:
            if applicant:
                messages.success(request, f"已提交，编号{inquiry.inquiry_no}，将于{inquiry.due_date:%Y年%m月%d日}前答复。")
                return redirect("my_inquiries:detail", inquiry.pk)
            return render(request, "inquiries/submitted.html", {"inquiry": inquiry})
    context = {"applicant": applicant, "own_cases": own_cases, "kinds": Kind.choices, "data": data, "failure": failure,
               "days": {k: services.reply_days(k) for k in Kind.values}}
    return render(request, "inquiries/new.html", context, status=failure["status"] if failure else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def query(request):
    """The number and the last six digits of the phone: status and replies, for inquirers without an account."""
    data = request.POST if request.method == "POST" else request.GET
    inquiry_no, tail = _clean(data.get("inquiry_no"), 40), _clean(data.get("tail"), 20)
    inquiry = failure = None
    if request.method == "POST" or (inquiry_no and tail):
        try:
            inquiry = services.lookup(inquiry_no, tail, _client_key(request))
        except DomainError as exc:
            failure = _failure(exc)
    context = {"inquiry_no": inquiry_no, "inquiry": inquiry, "failure": failure,
               "replies": inquiry.replies.select_related("department") if inquiry else [], "steps": inquiry.steps.order_by("seq") if inquiry else []}
    return render(request, "inquiries/query.html", context, status=failure["status"] if failure else 200)


@never_cache
@require_GET
@applicant_required
def my_list(request):
    qs = authz.filter_queryset(Inquiry.objects.filter(applicant=request.applicant), request.user).select_related("department")
    page = Paginator(qs.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "inquiries/my_list.html", {"page": page, "rows": page.object_list})


def _own(request, inquiry_id):
    inquiry = (authz.filter_queryset(Inquiry.objects.filter(applicant=request.applicant), request.user)
               .select_related("department", "case", "item").filter(pk=inquiry_id).first())
    if inquiry is None:
        raise Http404(services.NO_INQUIRY)
    return inquiry


@never_cache
@require_http_methods(["GET", "POST"])
@applicant_required
def my_detail(request, inquiry_id):
    inquiry = _own(request, inquiry_id)
    failure = None
    if request.method == "POST":
        try:
            inquiry = services.rate(request.user, inquiry.pk, _clean(request.POST.get("satisfaction"), 20), request.POST.get("comment"))
        except (DomainError, PermissionDenied) as exc:
            failure = _failure(exc)
        else:
            messages.success(request, "感谢您的评价。" if inquiry.status == Status.CLOSED else "已收到您的评价，承办部门将重新办理并答复。")
            return redirect("my_inquiries:detail", inquiry.pk)
    context = {"inquiry": inquiry, "replies": inquiry.replies.select_related("department"), "steps": inquiry.steps.order_by("seq"),
               "choices": Satisfaction.choices, "failure": failure, "can_rate": inquiry.status == Status.REPLIED}
    return render(request, "inquiries/my_detail.html", context, status=failure["status"] if failure else 200)


# --- workbench --------------------------------------------------------------------------------------

def _filters(query):
    kind = _clean(query.get("kind"), 12)
    status = _clean(query.get("status"), 12)
    return {"kind": kind if kind in Kind.values else "", "status": status if status in Status.values else "",
            "overdue": "1" if query.get("overdue") == "1" else "", "q": _clean(query.get("q"), 40)}


@require_GET
@staff_required
def staff_list(request):
    filters = _filters(request.GET)
    qs = authz.filter_queryset(Inquiry.objects.all(), request.user).select_related("department", "region")
    if filters["kind"]:
        qs = qs.filter(kind=filters["kind"])
    if filters["status"]:
        qs = qs.filter(status=filters["status"])
    today = timezone.localdate()
    if filters["overdue"]:
        qs = qs.filter(status__in=OPEN_STATUSES, due_date__lt=today)
    if filters["q"]:
        qs = qs.filter(inquiry_no__startswith=filters["q"]) | qs.filter(title__contains=filters["q"])
    page = Paginator(qs.order_by("due_date", "-id") if filters["overdue"] else qs.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"inquiry": i, "phone": mask_phone(i.inquirer_phone), "overdue": i.status in OPEN_STATUSES and i.due_date < today}
            for i in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {**nav_context(request), "nav": "inquiries", "rows": rows, "page": page, "filters": filters, "query": query.urlencode(),
               "kinds": Kind.choices, "statuses": Status.choices}
    return render(request, "inquiries/staff_list.html", context)


def _visible(request, inquiry_id):
    inquiry = (authz.filter_queryset(Inquiry.objects.all(), request.user)
               .select_related("department", "region", "case", "item", "applicant").filter(pk=inquiry_id).first())
    if inquiry is None:
        raise Http404(services.NO_INQUIRY)
    return inquiry


def _staff_detail(request, inquiry, failure=None, posted=None):
    can_write = authz.can(request.user, inquiry, authz.WRITE) and inquiry.department_id is not None
    may_assign = inquiry.status in OPEN_STATUSES and services.can_assign(request.user, inquiry)
    departments = services.assignable_departments(request.user, inquiry) if may_assign else []
    context = {
        **nav_context(request), "nav": "inquiries", "inquiry": inquiry, "phone": mask_phone(inquiry.inquirer_phone),
        "replies": inquiry.replies.select_related("department"), "steps": inquiry.steps.order_by("seq"),
        "can_reply": can_write and inquiry.status in (Status.ASSIGNED, Status.ESCALATED),
        "can_close": can_write and inquiry.status == Status.REPLIED, "departments": departments,
        "overdue": inquiry.status in OPEN_STATUSES and inquiry.due_date < timezone.localdate(),
        "failure": failure, "posted": posted or {}, "staff_view": True,
    }
    return render(request, "inquiries/staff_detail.html", context, status=failure["status"] if failure else 200)


@require_GET
@staff_required
def staff_detail(request, inquiry_id):
    return _staff_detail(request, _visible(request, inquiry_id))


ACTIONS = {
    "reply": (lambda r, i: services.reply(r.user, i.pk, r.POST.get("body")), "已答复，已通知提出人。"),
    "assign": (lambda r, i: services.assign(r.user, i.pk, _clean(r.POST.get("department"), 20), r.POST.get("note")), "已分派。"),
    "close": (lambda r, i: services.close(r.user, i.pk, r.POST.get("note")), "已办结。"),
}


@require_POST
@staff_required
def staff_act(request, inquiry_id, action):
    inquiry = _visible(request, inquiry_id)
    if action not in ACTIONS:
        raise Http404("没有这个操作")
    run, done = ACTIONS[action]
    try:
        run(request, inquiry)
    except (DomainError, PermissionDenied) as exc:
        return _staff_detail(request, _visible(request, inquiry_id), _failure(exc), request.POST)
    messages.success(request, done)
    # After an assignment to another department the inquiry may leave the user's view.
    if authz.filter_queryset(Inquiry.objects.filter(pk=inquiry.pk), request.user).exists():
        return redirect("inquiries_workbench:detail", inquiry.pk)
    return redirect("inquiries_workbench:list")
