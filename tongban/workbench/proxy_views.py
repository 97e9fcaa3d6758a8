"""The window's pages for 异地代收代办: receive an application for another place's implementation, record
the checks and scans, then forward it (the forward itself is a lifecycle action on the case page)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from tongban.cases import proxy
from tongban.cases.intake import form_fields
from tongban.cases.models import IdentityMethod
from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.portal.case_views import delivery_choices, field_rows  # the same inputs as the online form

from .views import nav_context, staff_required

APPLICANT_FIELDS = ("kind", "name", "id_number", "credit_code", "applicant_type", "agent_name", "agent_id_number", "phone")


def _message(exc):
    return getattr(exc, "message", None) or "；".join(getattr(exc, "messages", [])) or str(exc)


def _refusal(exc):
    """(message, status) of a refused step: the domain's own status, 403 for authorisation, else 422."""
    return _message(exc), getattr(exc, "status", 403 if isinstance(exc, authz.PermissionDenied) else 422)


@require_http_methods(["GET", "POST"])
@staff_required
def receive(request):
    """Step 1: the implementation (with where it may be received and why), the applicant, delivery."""
    code = str(request.POST.get("implementation_code") or request.GET.get("implementation_code") or "").strip()[:36]
    context = {**nav_context(request), "nav": "proxy", "code": code, "posted": request.POST}
    status = 200
    if code:
        try:
            impl, version, membership, decision = proxy.receiving_check(request.user, code)
            fields = form_fields(version)
            values = {f["key"]: str(request.POST.get(f"f_{f['key']}") or "")[:1000] for f in fields if f["type"] != "file"}
            context.update(impl=impl, version=version, membership=membership, decision=decision, form_values=values,
                           fields=field_rows([f for f in fields if f["type"] != "file"], values),
                           delivery_methods=delivery_choices(impl))
        except (DomainError, authz.PermissionDenied) as exc:
            context["error"], status = _refusal(exc)
    if request.method == "POST" and "error" not in context and context.get("decision"):
        applicant = {k: str(request.POST.get(k) or "").strip()[:200] for k in APPLICANT_FIELDS}
        try:
            form = {k: v for k, v in context["form_values"].items() if v != ""}
            case = proxy.open_case(request.user, code, applicant, form, request.POST.get("delivery_method") or None,
                                   str(request.POST.get("delivery_address") or "")[:300])
        except (DomainError, ValidationError, authz.PermissionDenied) as exc:
            context["error"], status = _refusal(exc)
        else:
            messages.success(request, "已建立代收办件，请完成收件核验、扫描材料后转递办理地")
            return redirect("workbench:case", case_id=case.pk)
    return render(request, "workbench/proxy_receive.html", context, status=status)


@require_POST
@staff_required
def intake_check(request, case_id):
    originals = [int(v) for v in request.POST.getlist("originals") if v.isdigit()]
    review = []
    for n, point in enumerate(request.POST.getlist("point")):
        verdict = request.POST.get(f"ok_{n}")
        if verdict in ("yes", "no"):
            review.append({"point": point[:300], "ok": verdict == "yes", "note": str(request.POST.get(f"note_{n}") or "")[:300]})
    try:
        proxy.record_check(request.user, case_id, str(request.POST.get("identity_method") or ""), originals, review)
    except (DomainError, authz.PermissionDenied) as exc:
        messages.error(request, f"收件核验未保存：{_message(exc)}")
    else:
        messages.success(request, "收件核验已保存")
    return redirect("workbench:case", case_id=case_id)


@require_POST
@staff_required
def scan(request, case_id):
    upload = request.FILES.get("file")
    mid = str(request.POST.get("material_id") or "")
    try:
        if upload is None or not mid.isdigit():
            raise DomainError("请选择材料并上传扫描件", status=422)
        proxy.add_scan(request.user, case_id, int(mid), upload)
    except (DomainError, authz.PermissionDenied) as exc:
        messages.error(request, f"扫描件未保存：{_message(exc)}")
    else:
        messages.success(request, "扫描件已保存")
    return redirect("workbench:case", case_id=case_id)


def intake_context(case, user):
    """The 收件核验 panel of a proxy draft, for the receiving window's clerk."""
    if case.status != "draft" or not proxy.is_receiving_clerk(user, case):
        return None
    check = case.intake_check or {}
    done = {r["point"]: r for r in check.get("formal_review", [])}
    return {
        "identity_methods": IdentityMethod.choices, "identity_method": check.get("identity_method", ""),
        "materials": list(case.item_version.materials.order_by("seq")), "originals_checked": set(check.get("originals_checked", [])),
        "points": [{"n": n, "point": p, "ok": (done.get(p) or {}).get("ok"), "note": (done.get(p) or {}).get("note", "")}
                   for n, p in enumerate(proxy.review_points(case.item_version))],
        "checked_by": check.get("checked_by", ""), "checked_at": check.get("checked_at", ""),
    }
