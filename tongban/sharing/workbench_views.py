"""Staff pages of data sharing (/workbench/sharing/): the data services catalogue, the department's
demands and the grants it holds or gives, the provider's answer (grant / refuse / revoke), supervisors'
view of unmet demands and of the access log (with the chain check), and a certificate read with a case
as basis. Every read goes through the authorisation filter; every rule is in demands.py / grants.py."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.cases.models import Case
from tongban.certificates.models import Certificate
from tongban.core import authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.core.masking import mask_id_number
from tongban.directory.models import Department
from tongban.workbench.views import nav_context, staff_required

from . import access_log, demands, evidence, grants
from .models import AccessLog, DataService, ShareDemand, ShareGrant

DECLARERS = {"catalog_admin", "approver"}
OVERSIGHT = {"supervisor", "platform_admin"}
PAGE_SIZE = 50


def _int(value):
    value = str(value or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


def _own_departments(user, roles):
    ids = {d for r, _p, d in authz.grants(user) if r in roles and d is not None}
    return list(Department.objects.filter(pk__in=ids).order_by("name"))


def _context(request, **extra):
    return {**nav_context(request), "nav": "sharing", **extra}


@require_GET
@staff_required
def home(request):
    return _home(request)


def _failed(request, exc):
    """Bad input or a refused change: the page again with the message, under the error's own status."""
    return _home(request, failure=exc.message, status=getattr(exc, "status", None) or 403)


def _home(request, failure=None, status=200):
    user = request.user
    services = list(authz.filter_queryset(DataService.objects.filter(is_active=True), user).select_related("provider", "certificate_type").order_by("code"))
    visible_demands = demands.visible(user).order_by("-id")
    visible_grants = authz.filter_queryset(ShareGrant.objects.select_related("service__provider", "consumer"), user).order_by("-id")
    to_answer = [d for d in visible_demands.filter(status=ShareDemand.OPEN)[:200]
                 if d.service and authz.can(user, ShareGrant(service=d.service, provider_region_path=d.service.region_path), authz.WRITE)]
    rows = list(visible_grants[:200])
    for g in rows:
        g.active = grants.is_active(g)
        g.can_revoke = g.active and authz.can(user, g, authz.WRITE)
    return render(request, "sharing/workbench_home.html", _context(
        request, services=services, demands=list(visible_demands[:200]), to_answer=to_answer, grants=rows,
        declare_departments=_own_departments(user, DECLARERS), oversight=bool(OVERSIGHT & authz.roles_of(user)), failure=failure,
    ), status=status)


@require_POST
@staff_required
def declare(request):
    user = request.user
    consumer = next((d for d in _own_departments(user, DECLARERS) if d.pk == _int(request.POST.get("consumer"))), None)
    service = DataService.objects.filter(pk=_int(request.POST.get("service")), is_active=True).first()
    try:
        if consumer is None:
            raise DomainError("请选择本人所在的需求部门", status=422)
        demands.declare(user, consumer, service, purpose=request.POST.get("purpose", ""), item_codes=request.POST.get("item_codes", ""),
                        fields=request.POST.get("fields", ""))
    except (DomainError, PermissionDenied) as exc:
        return _failed(request, exc)
    messages.success(request, "共享需求已登记，等待数据提供部门答复。")
    return redirect("sharing_workbench:home")


def _demand(request, demand_id):
    return demands.visible(request.user).filter(pk=demand_id).first()


@require_POST
@staff_required
def answer(request, demand_id):
    demand = _demand(request, demand_id)
    if demand is None:
        return _failed(request, DomainError("未找到该共享需求", status=404))
    try:
        if request.POST.get("decision") == "grant":
            grants.grant(request.user, demand.service, demand.consumer, item_codes=request.POST.get("item_codes") or None,
                         valid_until=request.POST.get("valid_until") or None, demand=demand)
            notice = f"已授权{demand.consumer.name}使用{demand.service.name}。"
        elif request.POST.get("decision") == "refuse":
            grants.refuse(request.user, demand, request.POST.get("answer", ""))
            notice = "已答复不予共享。"
        else:
            raise DomainError("请选择授权或不予共享", status=422)
    except (DomainError, PermissionDenied) as exc:
        return _failed(request, exc)
    messages.success(request, notice)
    return redirect("sharing_workbench:home")


@require_POST
@staff_required
def revoke(request, grant_id):
    g = authz.filter_queryset(ShareGrant.objects.select_related("service", "consumer"), request.user).filter(pk=grant_id).first()
    try:
        if g is None:
            raise DomainError("未找到该授权", status=404)
        grants.revoke(request.user, g, request.POST.get("reason", ""))
    except (DomainError, PermissionDenied) as exc:
        return _failed(request, exc)
    messages.success(request, "授权已撤销，该部门不能再使用此数据服务。")
    return redirect("sharing_workbench:home")


def _oversight_only(request):
    if not OVERSIGHT & authz.roles_of(request.user):
        return render(request, "sharing/forbidden.html", _context(request, message="仅监督人员可以查看"), status=403)
    return None


@require_GET
@staff_required
def unmet(request):
    refused = _oversight_only(request)
    if refused:
        return refused
    return render(request, "sharing/unmet.html", _context(request, rows=demands.unmet(request.user)))


@require_GET
@staff_required
def log(request):
    """Supervisors: the access-log rows of their region (holder codes masked) and the chain check."""
    refused = _oversight_only(request)
    if refused:
        return refused
    qs = authz.filter_queryset(AccessLog.objects.all(), request.user).order_by("-seq")
    action = (request.GET.get("action") or "").strip()
    if action in access_log.ACTIONS:
        qs = qs.filter(action=action)
    outcome = (request.GET.get("outcome") or "").strip()
    if outcome in dict(AccessLog.OUTCOME_CHOICES):
        qs = qs.filter(outcome=outcome)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"r": r, "holder": mask_id_number(r.holder_code), "action": access_log.ACTIONS.get(r.action, r.action)} for r in page]
    broken = access_log.verify()
    return render(request, "sharing/log.html", _context(
        request, rows=rows, page=page, broken=broken, actions=access_log.ACTIONS, outcomes=AccessLog.OUTCOME_CHOICES,
        action=action, outcome=outcome))


@require_http_methods(["GET"])
@staff_required
def certificate(request, pk):
    """A certificate's data read by staff: the issuer's own staff, or anyone else naming a case they may
    read whose applicant is the holder, with their department's grant (refusals are logged)."""
    cert = Certificate.objects.select_related("type").filter(pk=pk).first()
    if cert is None:
        return render(request, "sharing/forbidden.html", _context(request, message="未找到该证照"), status=404)
    case_id = _int(request.GET.get("case"))
    case = Case.objects.filter(pk=case_id).first() if case_id else None
    try:
        grants.staff_access(request.user, cert, case, request.GET.get("purpose") or "审查办件材料")
    except PermissionDenied as exc:
        return render(request, "sharing/forbidden.html", _context(request, message=exc.message), status=403)
    return render(request, "sharing/certificate.html", _context(request, cert=cert, case=case, preview=evidence.certificate_preview(cert)))
