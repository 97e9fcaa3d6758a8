"""全程网办 pages of applicants: applying online (draft → materials → submission), 我的办件, the
detail of one's own case (supplement, 容缺 materials, withdrawal, payment), the payment sandbox and
the public 办件查询. Thin: every change goes through tongban.cases.services; errors are shown in
Chinese with their own status code. Everything works without JavaScript."""

import uuid
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tongban.applicants.services import current_applicant
from tongban.cases import services as cases
from tongban.cases.intake import form_fields, submitted_by_token
from tongban.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseMaterial,
    DeferredMaterial,
    Delivery,
    DeliveryMethod,
    Message,
    Payment,
    Supplement,
)
from tongban.cases.models import Status as S
from tongban.cases.payments import PAYABLE, provider
from tongban.catalog.formdef import TYPES
from tongban.core import authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.sharing import evidence, using

from . import services as portal
from .views import not_found

PAGE_SIZE = 20
DONE_STATUSES = (S.REFUSED, S.CONCLUDED, S.DELIVERED, S.WITHDRAWN, S.TERMINATED)
TABS = [("active", "办理中"), ("drafts", "草稿"), ("done", "已办结"), ("messages", "消息")]
# Events whose opinion the applicant should read (reasons given to them); other opinions are internal.
OPINION_ACTIONS = frozenset({"refuse_intake", "request_supplement", "deny", "withdraw"})
ROLE_NAMES = {"applicant": "申请人", "system": "系统"}
ACCEPT = ".pdf,.jpg,.jpeg,.png,.ofd,application/pdf,image/jpeg,image/png"
NO_CASE = "未找到该办件，或它不属于当前登录的账号"

# How each form field type is typed in: (input type, extra attributes, hint).
INPUTS = {
    "text": ("text", {}, ""),
    "number": ("text", {"inputmode": "decimal"}, "填写数字"),
    "date": ("date", {}, "格式：年-月-日，如 2026-11-22"),
    "id_number": ("text", {"maxlength": "18", "autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}, "18位公民身份号码，末位可为X"),
    "credit_code": ("text", {"maxlength": "18", "autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}, "18位统一社会信用代码"),
    "region": ("text", {"inputmode": "numeric", "maxlength": "12", "autocomplete": "off"}, "填写6位、9位或12位行政区划代码，如 371327（山东省临沂市莒南县）"),
    "phone": ("tel", {"inputmode": "tel", "autocomplete": "tel", "maxlength": "20"}, "手机号或带区号的固定电话"),
    "address": ("text", {"autocomplete": "street-address", "maxlength": "300"}, ""),
    "file": ("file", {"accept": ACCEPT}, "PDF、JPG、PNG或OFD文件"),
}


# --- helpers ---------------------------------------------------------------------------------------

def applicant_required(view):
    """Signed-in applicants only; anyone else goes to the applicant sign-in and comes back."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        applicant = current_applicant(request)
        if applicant is None:
            return redirect_to_login(request.get_full_path(), reverse("applicants:login"))
        request.applicant = applicant
        return view(request, *args, **kwargs)

    return wrapper


def _status_of(exc):
    return getattr(exc, "status", None) or 403


@dataclass
class Failure:
    """What went wrong, for the template: the message, and messages beside fields and materials."""

    message: str
    status: int
    fields: dict  # field key → message
    materials: dict  # material id → message


def _failure(exc, fields=()):
    by_label = {f["label"]: f["key"] for f in fields}
    by_key = {f["key"] for f in fields}
    field_errors = {}
    for d in getattr(exc, "details", None) or []:
        if isinstance(d, dict):
            name = d.get("field")
            key = by_label.get(name) or (name if name in by_key else None)
            if key:
                field_errors[key] = d.get("message", "")
    material_id = getattr(exc, "material_id", None)
    return Failure(exc.message, _status_of(exc), field_errors, {material_id: exc.message} if material_id else {})


def field_rows(fields, values, errors=None):
    """The definition's fields ready for the template: input type, attributes, current value, error."""
    errors = errors or {}
    rows = []
    for f in fields:
        kind = f["type"]
        input_type, attrs, hint = INPUTS.get(kind, INPUTS["text"])
        attrs = dict(attrs)
        if kind in ("text", "address") and f.get("max_length"):
            attrs["maxlength"] = str(int(f["max_length"]))
        value = values.get(f["key"], "")
        stored_file = value.get("file_name") if kind == "file" and isinstance(value, dict) else ""
        rows.append({
            "key": f["key"], "name": f"f_{f['key']}", "id": f"f-{f['key']}", "label": f["label"], "kind": kind,
            "type_label": TYPES.get(kind, ""), "input_type": input_type, "attrs": sorted(attrs.items()),
            "required": bool(f.get("required")), "help": f.get("help") or "", "hint": hint,
            "choices": f.get("choices") or [], "value": "" if kind == "file" or value is None else str(value),
            "stored_file": stored_file, "error": errors.get(f["key"], ""),
        })
    return rows


def _form_values(case, fields, posted=None):
    """What the inputs show: the draft's stored values, overlaid by what was just posted."""
    values = dict(case.form_data) if case is not None else {}
    if posted is not None:
        values.update(posted.form)
    return values


@dataclass
class Posted:
    form: dict
    files: dict
    uploads: list  # [(Material, upload)]
    delivery_method: str | None
    delivery_address: str | None
    commitments: list | None


def _posted(request, fields, materials):
    """The draft form as posted. Only what the page sent is changed: a field absent from the POST keeps
    its stored value (an empty input clears it)."""
    post, files = request.POST, request.FILES
    form = {f["key"]: post.get(f"f_{f['key']}", "") for f in fields if f["type"] != "file" and f"f_{f['key']}" in post}
    form_files = {f["key"]: files[f"f_{f['key']}"] for f in fields if f["type"] == "file" and f"f_{f['key']}" in files}
    commitments = None
    if "commit_shown" in post:
        known = {str(m.pk): m.pk for m in materials}
        commitments = [known[v] for v in dict.fromkeys(post.getlist("commit")) if v in known]
    return Posted(
        form=form, files=form_files, uploads=_uploads(request, materials),
        delivery_method=post.get("delivery_method") or None,
        delivery_address=post.get("delivery_address") if "delivery_address" in post else None,
        commitments=commitments,
    )


def _uploads(request, materials):
    return [(m, request.FILES[f"material_{m.pk}"]) for m in materials if f"material_{m.pk}" in request.FILES]


def _store_uploads(user, case_id, uploads):
    for material, upload in uploads:
        try:
            cases.add_material(user, case_id, material.pk, upload)
        except DomainError as exc:
            exc.material_id = material.pk  # shown beside that material's input
            raise


def delivery_choices(impl):
    names = impl.get_delivery_methods_names() or [DeliveryMethod.MAIL]
    return [(n, DeliveryMethod(n).label) for n in names if n in DeliveryMethod.values]


def _material_rows(materials, case=None, committed=(), errors=None):
    errors = errors or {}
    current = {m.material_id: m for m in cases.current_materials(case)} if case is not None else {}
    # 免提交: certificates the applicant may use instead of uploading, and those already used (a draft only).
    draft = case is not None and case.status == S.DRAFT
    offered, reused = (evidence.offers_by_material(case), using.reused_materials(case)) if draft else ({}, {})
    requested = using.pending_requests(case) if draft else {}
    return [{
        "m": m, "input": f"material_{m.pk}", "id": f"material-{m.pk}", "current": current.get(m.pk),
        "committed": m.pk in committed, "can_defer": m.necessity == "required", "error": errors.get(m.pk, ""),
        "offers": offered.get(m.pk, []), "reused": reused.get(m.pk), "requested": requested.get(m.pk),
    } for m in materials]


def _eligible(applicant, version):
    return applicant.applicant_type in [c.strip() for c in version.service_objects.split(",")]


def _draft_context(request, impl, version, materials, case=None, posted=None, failure=None, initial=None):
    fields = form_fields(version)
    if posted is not None and posted.commitments is not None:
        committed = set(posted.commitments)
    else:
        committed = {c["material_id"] for c in case.commitments} if case is not None else set()
    delivery_method = (posted.delivery_method if posted else None) or (case.delivery_method if case else None)
    delivery_address = posted.delivery_address if posted is not None and posted.delivery_address is not None else (case.delivery_address if case else "")
    return {
        "impl": impl, "version": version, "case": case, "failure": failure,
        "fields": field_rows(fields, {**(initial or {}), **_form_values(case, fields, posted)}, failure.fields if failure else None),
        "materials": _material_rows(materials, case, committed, failure.materials if failure else None),
        "delivery_choices": delivery_choices(impl), "delivery_method": delivery_method or delivery_choices(impl)[0][0],
        "delivery_address": delivery_address, "eligible": _eligible(request.applicant, version),
        "has_deferrable": any(m.necessity == "required" for m in materials),
        "max_mb": settings.TONGBAN_MATERIAL_MAX_MB, "deferred_days": settings.TONGBAN_DEFERRED_DAYS,
    }


# --- applying --------------------------------------------------------------------------------------

@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def apply(request, implementation_code):
    """The online application of one implementation. GET stores nothing; 保存草稿 creates the draft."""
    found = portal.guide_for(implementation_code, request.user)
    if found is None:
        return not_found(request, "未找到该事项的办事指南，可能编码有误或事项已下线")
    impl, version = found.implementation, found.version
    if "online" not in impl.get_modes_names():
        return not_found(request, "该事项在此地不支持全程网办，请按办事指南到办理地点申请")
    materials = found.materials
    # 免填写: initial values from the account, the applicant's certificates and base data (editable).
    prefilled = using.prefill_details(request.applicant, version, impl.department)
    context = {"guide": found, "region_name": found.region_name, "prefilled": _prefill_notes(version, prefilled)}
    initial = {k: v for k, (v, _src) in prefilled.items()}
    if request.method == "GET":
        return render(request, "portal/cases/apply.html", {**context, **_draft_context(request, impl, version, materials, initial=initial)})
    fields = form_fields(version)
    posted = _posted(request, fields, materials)
    try:
        with transaction.atomic():  # all or nothing: a refused file leaves no draft behind
            case = cases.create_draft(request.applicant, impl.implementation_code, form=posted.form, files=posted.files,
                                      delivery_method=posted.delivery_method, delivery_address=posted.delivery_address or "")
            if posted.commitments:
                cases.update_draft(request.user, case.pk, commitments=posted.commitments)
            _store_uploads(request.user, case.pk, posted.uploads)
            using.record_prefill(request.applicant, case, prefilled)  # once, with the draft: what was prefilled and kept
    except (DomainError, PermissionDenied) as exc:
        failure = _failure(exc, fields)
        ctx = _draft_context(request, impl, version, materials, posted=posted, failure=failure)
        return render(request, "portal/cases/apply.html", {**context, **ctx}, status=failure.status)
    messages.success(request, "草稿已保存。请上传全部申请材料，确认无误后点击“提交申请”。")
    return redirect("portal:my-case", case.pk)


def _prefill_notes(version, prefilled):
    """[(field label, source label)] of the values taken from certificates and base data (not the account)."""
    labels = {f["key"]: f["label"] for f in form_fields(version)}
    return [(labels.get(k, k), src.label) for k, (_v, src) in prefilled.items() if src.kind != "account"]


def _draft_page(request, case, posted=None, failure=None):
    version, impl = case.item_version, case.implementation
    materials = list(version.materials.order_by("seq"))
    ctx = _draft_context(request, impl, version, materials, case=case, posted=posted, failure=failure)
    ctx["token"] = uuid.uuid4().hex  # one submission per rendered page: a double click submits once
    return render(request, "portal/cases/draft.html", ctx, status=failure.status if failure else 200)


def _draft_post(request, case):
    """保存草稿 or 提交申请 (which saves first, then submits with the page's one-time token)."""
    version = case.item_version
    fields = form_fields(version)
    materials = list(version.materials.order_by("seq"))
    action = request.POST.get("action", "save")
    token = (request.POST.get("token") or "").strip()[:64] or None
    posted = _posted(request, fields, materials)
    try:
        with transaction.atomic():
            cases.update_draft(request.user, case.pk, form=posted.form, files=posted.files, delivery_method=posted.delivery_method,
                               delivery_address=posted.delivery_address, commitments=posted.commitments)
            _store_uploads(request.user, case.pk, posted.uploads)
    except (DomainError, PermissionDenied) as exc:
        done = submitted_by_token(request.user, token) if action == "submit" else None
        if done is not None:  # the same submission again (double click racing the first)
            return redirect("portal:my-case", done.pk)
        return _draft_page(request, case, posted=posted, failure=_failure(exc, fields))
    if action != "submit":
        messages.success(request, "草稿已保存。")
        return redirect("portal:my-case", case.pk)
    try:
        submitted = cases.submit(request.user, case.pk, token)
    except (DomainError, PermissionDenied) as exc:
        return _draft_page(request, cases.own_case(request.user, case.pk), failure=_failure(exc, fields))
    messages.success(request, f"申请已提交，办件编号：{submitted.case_no}。请保存收件凭证，并留意短信和站内消息。")
    return redirect("portal:my-case", submitted.pk)


# --- one's own case --------------------------------------------------------------------------------

@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def my_case(request, case_id):
    try:
        case = cases.own_case(request.user, case_id)
    except Http404:
        return not_found(request, NO_CASE)
    try:
        if case.status == S.DRAFT:
            return _draft_post(request, case) if request.method == "POST" else _draft_page(request, case)
        if request.method == "POST":
            return _case_action(request, case)
        return _case_page(request, case)
    except Http404:
        return not_found(request, NO_CASE)


def _int(value):
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


def _case_action(request, case):
    user, action = request.user, request.POST.get("action", "")
    try:
        if action == "submit":
            token = (request.POST.get("token") or "").strip()
            if token and token == case.submit_token:  # submitted already by this very page
                return redirect("portal:my-case", case.pk)
            raise DomainError("申请已提交，无需重复提交", status=409)
        if action == "withdraw":
            if request.POST.get("confirm") != "yes":
                raise DomainError("请先勾选“我确认撤回该申请”，再点击“撤回申请”", status=422)
            reason = (request.POST.get("reason") or "").strip()[:500]
            cases.perform(case.pk, "withdraw", user, opinion=reason)
            notice = "申请已撤回，本办件终止办理。"
        elif action in ("upload", "resubmit"):
            supplement = case.supplements.filter(status=Supplement.OPEN).last()
            asked = {i.get("material_id") for i in (supplement.items if supplement else [])}
            materials = [m for m in case.item_version.materials.all() if m.pk in asked]
            uploads = _uploads(request, materials)
            if action == "upload" and not uploads:
                raise DomainError("请选择要上传的文件", status=422)
            with transaction.atomic():
                _store_uploads(user, case.pk, uploads)
            notice = "补正材料已上传。"
            if action == "resubmit":  # files uploaded above stay even when something is still missing
                cases.perform(case.pk, "resubmit", user)
                notice = "补正材料已提交，请等待部门审查。"
        elif action == "fulfil":
            deferred = case.deferred_materials.filter(pk=_int(request.POST.get("deferred_id"))).exclude(status=DeferredMaterial.FULFILLED).first()
            if deferred is None:
                raise DomainError("没有待补交的该项容缺材料", status=404)
            upload = request.FILES.get(f"deferred_{deferred.pk}")
            if upload is not None:
                cases.add_material(user, case.pk, deferred.material_id, upload)
            cases.perform(case.pk, "fulfil_deferred", user, params={"deferred_id": deferred.pk})
            notice = "容缺材料已补交。"
        elif action == "pay":
            payment = cases.start_payment(user, case.pk)
            return redirect(provider().checkout_url(payment))
        else:
            raise DomainError("未知的操作，请刷新页面后重试", status=400)
    except (DomainError, PermissionDenied) as exc:
        return _case_page(request, case, failure=_failure(exc))
    messages.success(request, notice)
    return redirect("portal:my-case", case.pk)


def _display_value(field, value):
    if value in (None, ""):
        return ""
    if field["type"] == "file":
        return value.get("file_name", "已上传") if isinstance(value, dict) else ""
    return str(value)


def _timeline(case):
    rows = []
    for e in case.events.order_by("seq"):
        who = e.department_name if e.role not in ROLE_NAMES and e.department_name else ROLE_NAMES.get(e.role, "办理部门")
        rows.append({
            "at": e.at, "label": e.label, "who": who,
            "status": S(e.status_to).label if e.status_to != e.status_from and e.status_to in S.values else "",
            "opinion": e.opinion if e.action in OPINION_ACTIONS else "",
            "items": e.data.get("items", []) if e.action == "request_supplement" else [],
        })
    return rows


def _case_page(request, case, failure=None):
    case = Case.objects.select_related("implementation__item", "item_version", "department", "region").get(pk=case.pk)
    fields = form_fields(case.item_version)
    supplement = case.supplements.filter(status=Supplement.OPEN).last()
    supplement_items = []
    if supplement is not None:
        fresh = {}
        for m in CaseMaterial.objects.filter(case=case, created_at__gte=supplement.requested_at).order_by("id"):
            fresh[m.material_id] = m
        names = {m.pk: m for m in case.item_version.materials.all()}
        # 免提交 in the supplement too: the applicant's certificates that may stand for an asked material.
        answering = case.status == S.SUPPLEMENT
        offered = evidence.offers_by_material(case) if answering else {}
        requested = using.pending_requests(case) if answering else {}
        reused = using.reused_materials(case) if answering else {}
        for item in supplement.items:
            mid = item.get("material_id")
            again = reused.get(mid)
            supplement_items.append({**item, "material": names.get(mid), "input": f"material_{mid}", "id": f"material-{mid}",
                                     "fresh": fresh.get(mid), "error": (failure.materials.get(mid, "") if failure else ""),
                                     "offers": offered.get(mid, []), "requested": requested.get(mid),
                                     "reused": again if again is not None and fresh.get(mid) is not None and again.case_material_id == fresh[mid].pk else None})
    paid = case.payments.filter(status=Payment.PAID).first()
    try:
        delivery = case.delivery
    except Delivery.DoesNotExist:
        delivery = None
    documents = list(case.documents.all())
    context = {
        "case": case, "failure": failure, "deadline": cases.deadline(case), "timeline": _timeline(case),
        "form_rows": [{"label": f["label"], "value": _display_value(f, case.form_data.get(f["key"]))} for f in fields],
        "materials": cases.current_materials(case), "documents": documents,
        "receipt": next((d for d in documents if d.kind == "receipt"), None),
        "supplement": supplement, "supplement_items": supplement_items,
        "deferred": list(case.deferred_materials.select_related("material").order_by("id")),
        "can_withdraw": case.status in cases.TABLE["withdraw"].sources,
        "fee_due": case.fee_amount > 0 and case.status in PAYABLE and paid is None, "paid": paid,
        "delivery": delivery, "delivery_label": DeliveryMethod(case.delivery_method).label if case.delivery_method in DeliveryMethod.values else "",
        "token": uuid.uuid4().hex,
    }
    return render(request, "portal/cases/case.html", context, status=failure.status if failure else 200)


# --- 我的办件 --------------------------------------------------------------------------------------

def _page(request, qs):
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


@never_cache
@applicant_required
@require_GET
def my(request):
    tab = request.GET.get("tab", "active")
    tab = tab if tab in dict(TABS) else "active"
    own = authz.filter_queryset(Case.objects.filter(applicant=request.applicant), request.user)
    counts = own.aggregate(
        active=Count("pk", filter=Q(status__in=OPEN_STATUSES)), drafts=Count("pk", filter=Q(status=S.DRAFT)),
        done=Count("pk", filter=Q(status__in=DONE_STATUSES)),
    )
    counts["messages"] = Message.objects.filter(recipient=request.user, read_at__isnull=True).count()
    context = {"tab": tab, "tabs": [(k, label, counts[k]) for k, label in TABS], "rows": [], "page": None}
    if tab == "active":
        last = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-seq")
        qs = (own.filter(status__in=OPEN_STATUSES).select_related("item_version", "department")
              .annotate(last_label=Subquery(last.values("label")[:1]), last_at=Subquery(last.values("at")[:1])).order_by("-submitted_at", "-id"))
        page = _page(request, qs)
        context["rows"] = [{"case": c, "deadline": cases.deadline(c)} for c in page]
    elif tab == "drafts":
        page = _page(request, own.filter(status=S.DRAFT).select_related("item_version", "department").order_by("-updated_at", "-id"))
        context["rows"] = list(page)
    elif tab == "done":
        page = _page(request, own.filter(status__in=DONE_STATUSES).select_related("item_version", "department", "delivery")
                     .prefetch_related("documents").order_by("-id"))
        context["rows"] = list(page)
    else:
        page = _page(request, Message.objects.filter(recipient=request.user).select_related("case").order_by("-id"))
        rows = list(page)
        unread = [m.pk for m in rows if m.read_at is None]
        for m in rows:
            m.unread = m.read_at is None
        if unread:  # seen now: read
            Message.objects.filter(pk__in=unread).update(read_at=timezone.now())
        context["rows"] = rows
    context["page"] = page
    return render(request, "portal/cases/my.html", context)


# --- payment sandbox -------------------------------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
def pay_sandbox(request, reference):
    """The demonstration payment page: only the case's owner, only for sandbox payments."""
    payment = Payment.objects.filter(reference=reference[:64], provider="sandbox").select_related("case__item_version").first()
    if payment is None or provider().name != "sandbox" or current_applicant(request) is None:
        return not_found(request, "未找到该笔缴费")
    try:
        case = cases.own_case(request.user, payment.case_id)
    except Http404:
        return not_found(request, "未找到该笔缴费")
    failure = None
    if request.method == "POST":
        try:
            cases.confirm_payment(payment.reference)
        except (DomainError, PermissionDenied) as exc:
            failure = _failure(exc)
        else:
            messages.success(request, f"缴费成功：{payment.amount}元（支付沙箱，未产生真实扣款）。")
            return redirect("portal:my-case", case.pk)
        payment.refresh_from_db()
    return render(request, "portal/cases/pay_sandbox.html", {"payment": payment, "case": case, "failure": failure},
                  status=failure.status if failure else 200)


# --- 办件查询 --------------------------------------------------------------------------------------

@never_cache
@require_http_methods(["GET", "POST"])
def track(request):
    """Case number and the last six characters of the ID number or phone; a QR code's link
    (/track/?case_no=…) fills in the number."""
    data = request.POST if request.method == "POST" else request.GET
    case_no = portal.clean_text(data.get("case_no"), 40)
    tail = portal.clean_text(data.get("tail"), 20)
    result = failure = None
    if request.method == "POST" or (case_no and tail):
        try:
            result = cases.track(case_no, tail, request.META.get("REMOTE_ADDR", ""))
        except DomainError as exc:
            failure = _failure(exc)
    return render(request, "portal/cases/track.html", {"case_no": case_no, "result": result, "failure": failure},
                  status=failure.status if failure else 200)
