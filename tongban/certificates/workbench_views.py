"""Staff pages of electronic certificates (工作台 › 电子证照): the certificates the staff member may
read (through the one authorisation filter), a certificate with its versions, events and prints, the
issuing department's changes and revocations, and remote printing (异地打印) at a clerk's window."""

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.cases.models import Case
from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.core.files import open_blob
from tongban.workbench.views import _page_number, _pagination, nav_context, staff_required

from . import issuing, printing, rendering
from .models import Certificate, CertificateEvent, PrintRecord, Status

PAGE_SIZE = 20


def visible(user):
    return authz.filter_queryset(Certificate.objects.select_related("type", "issuer"), user)


def search(qs, text):
    text = (text or "").strip()[:120]
    if not text:
        return qs
    if text.startswith("1.2.156."):
        return qs.filter(identifier=text.upper())
    return qs.filter(Q(number=text) | Q(holder_name__icontains=text) | Q(identifier__icontains=text.upper()))


def _get(user, pk):
    cert = visible(user).filter(pk=pk).first()
    if cert is None:
        raise Http404("未找到该证照")
    return cert


@require_GET
@staff_required
def certificate_list(request):
    q = (request.GET.get("q") or "").strip()[:120]
    status = request.GET.get("status") or ""
    qs = search(visible(request.user), q)
    if status in Status.values:
        qs = qs.filter(status=status)
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * PAGE_SIZE
    rows = list(qs.order_by("-id")[offset:offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    context = {**nav_context(request), "nav": "certificates", "rows": rows[:PAGE_SIZE], "q": q, "status": status, "statuses": Status.choices,
               "page": page, "pagination": _pagination(request, page, has_next)}
    return render(request, "certificates/workbench/list.html", context)


def detail_context(request, cert):
    user = request.user
    chain = visible(user).filter(type=cert.type, issuer_code=cert.issuer_code, serial=cert.serial).order_by("-version")
    events = authz.filter_queryset(CertificateEvent.objects.filter(certificate__in=chain), user).select_related("certificate").order_by("-id")[:100]
    prints = authz.filter_queryset(PrintRecord.objects.filter(certificate__in=chain), user).select_related("certificate", "window").order_by("-id")[:100]
    labels = {f.get("key"): f.get("label") or f.get("key") for f in cert.type.fields or [] if isinstance(f, dict)}
    rows = [(labels.get(k) or issuing.COMMON_KEYS.get(k, k), v) for k, v in cert.data.items()]
    may_manage = cert.status == Status.VALID and authz.can(user, cert, authz.WRITE)
    fields = [{"key": f["key"], "label": f.get("label") or f["key"], "type": f.get("type", "text"), "required": f.get("required"),
               "value": cert.data.get(f["key"], "")} for f in cert.type.fields or [] if isinstance(f, dict) and f.get("key")]
    return {**nav_context(request), "nav": "certificates", "cert": cert, "rows": rows, "chain": chain, "events": events, "prints": prints,
            "may_manage": may_manage, "fields": fields}


@require_GET
@staff_required
def certificate_detail(request, pk):
    cert = _get(request.user, pk)
    return render(request, "certificates/workbench/detail.html", detail_context(request, cert))


def _failed(request, cert, message, status, form):
    context = detail_context(request, cert)
    context.update(error=message, error_form=form, posted=request.POST)
    return render(request, "certificates/workbench/detail.html", context, status=status)


@require_POST
@staff_required
def certificate_change(request, pk):
    cert = _get(request.user, pk)
    data = {f["key"]: request.POST.get(f"data_{f['key']}", "") for f in cert.type.fields or [] if isinstance(f, dict) and f.get("key")}
    for key in issuing.COMMON_KEYS:  # kept as they were: they come from the case, not from this form
        if key in cert.data:
            data[key] = cert.data[key]
    try:
        new = issuing.change(cert, data, request.user, request.POST.get("reason", ""))
    except DomainError as exc:
        return _failed(request, cert, exc.message, exc.status, "change")
    except authz.PermissionDenied as exc:
        return _failed(request, cert, exc.message, 403, "change")
    messages.success(request, f"已变更，新版本证照标识：{new.identifier}")
    return redirect("certificates_workbench:detail", pk=new.pk)


@require_POST
@staff_required
def certificate_revoke(request, pk):
    cert = _get(request.user, pk)
    cancel = request.POST.get("kind") == "cancel"
    try:
        issuing.revoke(cert, request.user, request.POST.get("reason", ""), cancel=cancel)
    except DomainError as exc:
        return _failed(request, cert, exc.message, exc.status, "revoke")
    except authz.PermissionDenied as exc:
        return _failed(request, cert, exc.message, 403, "revoke")
    messages.success(request, f"证照已{'注销' if cancel else '吊销'}")
    return redirect("certificates_workbench:detail", pk=cert.pk)


def _pdf_response(blob, cert, inline=True):
    response = FileResponse(open_blob(blob), content_type="application/pdf", as_attachment=not inline, filename=f"{cert.type.name}-{cert.number}.pdf")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@staff_required
def certificate_pdf(request, pk):
    cert = _get(request.user, pk)
    return _pdf_response(rendering.pdf_blob(cert), cert)


def _print_context(request, **extra):
    return {**nav_context(request), "nav": "certificate_print", "windows": printing.windows_of(request.user), **extra}


@require_http_methods(["GET", "POST"])
@staff_required
def print_lookup(request):
    """异地打印 step 1: the holder is at the window and gives identifier and ID number."""
    if request.method == "GET":
        context = _print_context(request)
        if not context["windows"]:
            context["error"] = "异地打印须由窗口受理人员在窗口办理：您的窗口受理人员角色未指定窗口，请联系平台管理员设置。"
            return render(request, "certificates/workbench/print.html", context, status=403)
        return render(request, "certificates/workbench/print.html", context)
    posted = {k: str(request.POST.get(k, ""))[:120] for k in ("identifier", "holder_code", "window")}
    try:
        cert = printing.lookup(request.user, posted["identifier"], posted["holder_code"], window=posted["window"] or None)
    except DomainError as exc:
        return render(request, "certificates/workbench/print.html", _print_context(request, error=exc.message, posted=posted), status=exc.status)
    except authz.PermissionDenied as exc:
        return render(request, "certificates/workbench/print.html", _print_context(request, error=exc.message, posted=posted), status=403)
    rows = _face(cert)
    return render(request, "certificates/workbench/print.html", _print_context(request, found=cert, rows=rows, posted=posted))


def _face(cert):
    labels = {f.get("key"): f.get("label") or f.get("key") for f in cert.type.fields or [] if isinstance(f, dict)}
    return [(labels.get(k) or issuing.COMMON_KEYS.get(k, k), v) for k, v in cert.data.items()]


@require_POST
@staff_required
def print_do(request):
    """异地打印 step 2: print (download) the certificate found in step 1; both codes are checked again."""
    posted = {k: str(request.POST.get(k, ""))[:200] for k in ("identifier", "holder_code", "window", "copies", "reason", "case_no")}
    try:
        cert = printing.lookup(request.user, posted["identifier"], posted["holder_code"], window=posted["window"] or None)
        case = None
        if posted["case_no"].strip():
            case = authz.filter_queryset(Case.objects.filter(case_no=posted["case_no"].strip()[:24]), request.user).first()
            if case is None:
                raise DomainError("未找到该办件编号（或不在您的管辖范围内）", status=404)
        _record, blob = printing.print_certificate(request.user, cert, window=posted["window"] or None, copies=posted["copies"] or 1,
                                                   case=case, reason=posted["reason"], holder_code=posted["holder_code"])
    except DomainError as exc:
        found = Certificate.objects.filter(identifier=posted["identifier"].strip().upper(), holder_code=posted["holder_code"].strip().upper()).first()
        context = _print_context(request, error=exc.message, posted=posted, found=found, rows=_face(found) if found else [])
        return render(request, "certificates/workbench/print.html", context, status=exc.status)
    except authz.PermissionDenied as exc:
        return render(request, "certificates/workbench/print.html", _print_context(request, error=exc.message, posted=posted), status=403)
    return _pdf_response(blob, cert, inline=False)


@require_GET
@staff_required
def print_records(request):
    """Where certificates were printed: prints made here and prints of the certificates issued here."""
    qs = authz.filter_queryset(PrintRecord.objects.select_related("certificate", "certificate__type", "window"), request.user).order_by("-id")
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * PAGE_SIZE
    rows = list(qs[offset:offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    context = {**nav_context(request), "nav": "certificates", "rows": rows[:PAGE_SIZE], "page": page, "pagination": _pagination(request, page, has_next)}
    return render(request, "certificates/workbench/prints.html", context)
