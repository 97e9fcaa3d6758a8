"""The applicant's pages of once-only use (/my/evidence/): the consent page with its preview (同意并使用
or 不使用，我自己上传), removing a reused certificate from a draft, their access log and consents, and
e-proofs issued from base data. Thin: the rules are in consent.py, using.py and eproofs.py."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from tongban.cases import services as cases
from tongban.catalog.models import Material
from tongban.core import ratelimit
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.core.masking import mask_id_number
from tongban.portal.case_views import applicant_required
from tongban.portal.views import not_found

from . import access_log, consent, eproofs, evidence, using
from .models import BaseRecord, Consent, DataService, EvidenceRequest

NO_CASE = "未找到该办件，或它不属于当前登录的账号"
PAGE_SIZE = 30


def _own_case(request, case_id):
    try:
        return cases.own_case(request.user, case_id)
    except Http404:
        return None


def _offer_of(offers, key):
    key = (key or "").strip()[:20]
    return next((o for o in offers if o.key == key), None)


def _consent_context(request, case, material, offers, failure=None, chosen=""):
    return {"case": case, "material": material, "offers": offers, "failure": failure, "chosen": chosen or (offers[0].key if offers else ""),
            "purpose": consent.default_purpose(case), "minutes": consent.minutes(), "department": case.department}


@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def consent_page(request, case_id, material_id):
    """What will be fetched, from whom, for what, with a preview; 同意并使用 gives and uses the consent."""
    case = _own_case(request, case_id)
    if case is None:
        return not_found(request, NO_CASE)
    material = Material.objects.filter(pk=material_id, version_id=case.item_version_id).first()
    if material is None:
        return not_found(request, "该事项没有这项申请材料")
    back = redirect("portal:my-case", case.pk)
    offers = evidence.offers(case, material)
    if request.method == "GET":
        if case.status not in consent.CONSENT_STATUSES:
            messages.error(request, "办件当前状态不能再使用电子证照提交材料。")
            return back
        return render(request, "sharing/consent.html", _consent_context(request, case, material, offers))
    if request.POST.get("decline"):
        messages.info(request, f"您选择不使用电子证照，请在“{material.name}”一栏上传文件。")
        return back
    offer = _offer_of(offers, request.POST.get("offer"))
    try:
        if offer is None:
            raise DomainError("请选择一项可用的电子证照或电子证明", status=422)
        if request.POST.get("agree") != "yes":
            raise DomainError("请勾选“我同意”后再点击“同意并使用”", status=422)
        given = consent.give(request.applicant, case, material, offer.certificate or offer.service, consent.default_purpose(case))
        try:
            result = using.attach(request.applicant, case, given)
        except (DomainError, PermissionDenied):
            _withdraw_quietly(request.applicant, given)
            raise
    except (DomainError, PermissionDenied) as exc:
        failure = {"message": exc.message, "status": getattr(exc, "status", 403)}
        ctx = _consent_context(request, case, material, offers, failure, chosen=request.POST.get("offer", ""))
        return render(request, "sharing/consent.html", ctx, status=failure["status"])
    if isinstance(result, EvidenceRequest):
        messages.success(request, f"已向发证地请求“{offer.label}”，提供后将自动作为“{material.name}”附入本申请。")
    else:
        messages.success(request, f"已使用电子证照作为“{material.name}”（已核验）。")
    return back


def _withdraw_quietly(applicant, given):
    try:
        consent.withdraw(applicant, given)
    except DomainError:
        pass  # already used or over: nothing to withdraw


@applicant_required
@require_POST
def remove(request, case_id, case_material_id):
    case = _own_case(request, case_id)
    if case is None:
        return not_found(request, NO_CASE)
    try:
        using.remove(request.applicant, case, case_material_id)
    except DomainError as exc:
        return _message(request, exc, case)
    messages.success(request, "已移除电子证照材料，请上传文件。")
    return redirect("portal:my-case", case.pk)


def _message(request, exc, case=None):
    return render(request, "sharing/message.html", {"message": exc.message, "case": case}, status=exc.status)


@never_cache
@applicant_required
def home(request):
    """我的用证记录: who used the holder's certificates and data, when, for which case, why, under which
    consent; and their consents (an unused one can be withdrawn)."""
    code = request.applicant.code
    page = Paginator(access_log.for_holder(code).select_related("actor"), PAGE_SIZE).get_page(request.GET.get("page"))
    consents = list(consent.own(request.applicant)[:50])
    for c in consents:
        c.state = consent.status_of(c)
        c.state_label = dict(Consent.STATUS_CHOICES)[c.state]
    return render(request, "sharing/my_evidence.html", {
        "page": page, "rows": [_log_row(r) for r in page], "consents": consents, "actions": access_log.ACTIONS,
        "masked_code": mask_id_number(code),
    })


def _log_row(r):
    return {"r": r, "action": access_log.ACTIONS.get(r.action, r.action), "outcome": r.get_outcome_display()}


@applicant_required
@require_POST
def withdraw(request, consent_id):
    c = Consent.objects.filter(pk=consent_id, applicant=request.applicant).first()
    if c is None:
        return not_found(request, "未找到该授权")
    try:
        consent.withdraw(request.applicant, c)
    except DomainError as exc:
        return _message(request, exc)
    messages.success(request, "授权已撤回。")
    return redirect("sharing_my:home")


@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def proofs(request):
    """开具电子证明: the base records the applicant has, each with a button issuing its e-proof."""
    applicant = request.applicant
    records = list(BaseRecord.objects.filter(subject_code=applicant.code).select_related("provider").order_by("kind"))
    kinds = {}
    for r in records:
        ptype = eproofs.proof_type_for(r.kind)
        if ptype is not None and r.kind not in kinds:
            service = DataService.objects.filter(source=DataService.BASE_DATA, base_kind=r.kind, provider=r.provider).first()
            kinds[r.kind] = {"kind": r.kind, "label": r.get_kind_display(), "type": ptype, "record": r,
                             "preview": evidence.record_preview(r, ptype, service)}
    failure, issued = None, None
    if request.method == "POST":
        kind = (request.POST.get("kind") or "").strip()[:40]
        key = f"sharing:eproof:{applicant.pk}"
        try:
            ratelimit.check(key, eproofs.per_hour(), "开具电子证明过于频繁，请一小时后再试")
            issued = eproofs.issue_proof(applicant, kind, actor=request.user)
            ratelimit.count(key)
        except DomainError as exc:
            failure = {"message": exc.message, "status": exc.status}
        else:
            messages.success(request, f"已开具{issued.type.name}（证照编号 {issued.number}），已放入您的电子证照卡包。")
            return redirect("sharing_my:proofs")
    return render(request, "sharing/proofs.html", {"kinds": list(kinds.values()), "failure": failure},
                  status=failure["status"] if failure else 200)
