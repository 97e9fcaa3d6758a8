"""The holder's wallet (我的证照): their certificates, each with its face, status, versions and layout
file, and 亮证 — choose what to show, then hold up a QR code that expires in a few minutes."""

import segno
from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.core.files import open_blob
from tongban.portal.case_views import applicant_required

from . import presenting, qr, verifying
from .models import Presentation, Status


def _versions(certificate):
    """Every version of the certificate, newest first (the chain of changes in both directions)."""
    newest = verifying._newest(certificate)
    chain, current = [], newest
    while current is not None and len(chain) < 1000:
        chain.append(current)
        current = current.supersedes
    return chain


@never_cache
@require_GET
@applicant_required
def wallet(request):
    rows = []
    for cert in presenting.wallet(request.applicant).exclude(status=Status.SUPERSEDED).select_related("type").order_by("-issued_on", "-id"):
        status, label = presenting.wallet_status(cert)
        rows.append({"cert": cert, "status": status, "label": label})
    return render(request, "certificates/my_list.html", {"rows": rows})


@never_cache
@require_GET
@applicant_required
def detail(request, pk):
    try:
        cert = presenting.held(request.applicant, pk)
    except DomainError:
        raise Http404 from None
    status, label = presenting.wallet_status(cert)
    return render(request, "certificates/my_detail.html", {
        "cert": cert, "status": status, "label": label, "items": presenting.face_items(cert), "versions": _versions(cert),
        "qr_svg": segno.make(qr.qr_text(cert), error="m").svg_inline(scale=3, title="证照验真二维码"),
        "can_present": status == Status.VALID,
    })


@never_cache
@require_GET
@applicant_required
def pdf(request, pk):
    from .rendering import pdf_blob

    try:
        cert = presenting.held(request.applicant, pk)
    except DomainError:
        raise Http404 from None
    blob = pdf_blob(cert)
    response = FileResponse(open_blob(blob), content_type="application/pdf", as_attachment=True,
                            filename=f"{cert.type.name}-{cert.number}-v{cert.version}.pdf")
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@applicant_required
def present(request, pk):
    try:
        cert = presenting.held(request.applicant, pk)
    except DomainError:
        raise Http404 from None
    error, status = "", 200
    chosen = presenting.DEFAULT_FIELDS
    if request.method == "POST":
        chosen = request.POST.getlist("fields")
        try:
            p = presenting.present(request.applicant, cert, chosen)
        except (DomainError, authz.PermissionDenied) as exc:
            error, status = exc.message, getattr(exc, "status", 403)
        else:
            return redirect("my_certificates:presentation", token=p.token)
    return render(request, "certificates/my_present.html", {
        "cert": cert, "choices": presenting.choices(cert), "chosen": chosen, "error": error, "minutes": presenting.minutes(),
    }, status=status)


@never_cache
@require_GET
@applicant_required
def presentation(request, token):
    """The holder's screen: the QR code the verifier scans, a countdown and what is being shown."""
    qs = authz.filter_queryset(Presentation.objects.all(), request.user).filter(holder=request.applicant)
    p = qs.select_related("certificate__type").filter(token=str(token)[:64]).first()
    if p is None:
        raise Http404
    url = settings.TONGBAN_PUBLIC_URL + reverse("verify:presentation", args=[p.token])
    return render(request, "certificates/my_presentation.html", {
        "p": p, "cert": p.certificate, "url": url, "rows": presenting.shown(p),
        "qr_svg": segno.make(url, error="m").svg_inline(scale=6, title="亮证二维码"),
        "expired": p.expires_at <= timezone.now(),
    })
