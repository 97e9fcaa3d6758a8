"""Public pages: 验真 (`/verify/`, also what a certificate's QR code opens with `?c=`), the verifier's
view of a presentation (`/verify/p/<token>/`) and the signed trusted-issuer list."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tongban.core.errors import DomainError
from tongban.exchange.signing import local_signer
from tongban.portal.services import clean_text

from . import presenting, qr, trust, verifying

TONES = {
    verifying.VALID: "ok", verifying.REVOKED: "bad", verifying.CANCELLED: "bad", verifying.FORGED: "bad",
    verifying.UNTRUSTED_KEY: "bad", verifying.SUPERSEDED: "warn", verifying.EXPIRED: "warn", verifying.UNKNOWN: "bad",
}


def verdict_context(verdict):
    return {"verdict": verdict, "tone": TONES.get(verdict.status, "bad")}


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request):
    """GET ?identifier= or ?c= (the QR link) answers at once; the form posts the same two fields."""
    data = request.POST if request.method == "POST" else request.GET
    identifier = clean_text(data.get("identifier"), 200)
    qr_text = clean_text(data.get("c") or data.get("qr"), qr.MAX_TEXT + 200)
    context = {"identifier": identifier, "qr_text": qr_text if request.method == "POST" else "", "error": ""}
    status = 200
    if identifier or qr_text or request.method == "POST":
        try:
            context.update(verdict_context(verifying.public_verify(identifier=identifier, qr_text=qr_text, request_meta=request.META)))
            context["by_qr"] = bool(qr_text)
        except DomainError as exc:
            context["error"], status = exc.message, exc.status
    signer = local_signer()
    context["node_key"] = {"key_id": signer.key_id, "algorithm": signer.algorithm, "public_key": signer.public_key}
    return render(request, "certificates/verify.html", context, status=status)


@never_cache
@require_GET
def presentation(request, token):
    try:
        verifying.throttle(request.META)
        presentation, verdict = presenting.open_presentation(token, request_meta=request.META)
    except DomainError as exc:
        return render(request, "certificates/presentation.html", {"error": exc.message, "expired": exc.status == 410}, status=exc.status)
    context = verdict_context(verdict)
    context.update(presentation=presentation, rows=presenting.shown(presentation))
    return render(request, "certificates/presentation.html", context)


@require_GET
def trust_list(request):
    response = JsonResponse(trust.trust_list(), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    return response
