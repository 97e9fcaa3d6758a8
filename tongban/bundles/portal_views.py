"""Applicant pages of 一件事: the one application (一张表单、一套材料, 一次提交), 我的一件事 and the single
timeline of one bundle case (status, each item, supplement, unified result, withdrawal).

Thin: every change goes through `bundles.applying`, every read through the authorisation filter; a
DomainError is shown in Chinese with its own status code (never a 500) and what was typed is kept."""

import uuid
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tongban.applicants.services import current_applicant
from tongban.cases.downloads import _serve
from tongban.cases.lifecycle import BEFORE_DECISION
from tongban.cases.models import CaseDocument, CaseMaterial, Supplement
from tongban.cases.models import Status as S
from tongban.core import authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.portal.case_views import Failure, _failure
from tongban.portal.views import not_found

from . import applying, coordination, documents, merging, presenting
from .models import BUNDLE_OPEN, BundleCase, BundleDocument, BundleStatus

NO_CASE = "未找到该一件事办件，或它不属于当前登录的账号"
NO_BUNDLE = "未找到该“一件事”，可能编码有误或尚未发布"
PAGE_SIZE = 20
# Each item's own decision notices, shown with the unified result (the bundle's documents come first).
RESULT_KINDS = ("conclusion", "denial")
# Opinions the applicant should read (reasons given to them); review opinions stay internal.
OPINION_ACTIONS = frozenset({"refuse_intake", "request_supplement", "deny", "withdraw", "fail", "deliver", "terminate"})


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


def _apply_context(request, bundle, version, posted=None, failure=None):
    entries = presenting.entries_of(version)
    values = applying.prefill(request.applicant, version) if posted is None else dict(posted.form)
    context = presenting.application_context(version, entries, values, posted, failure)
    choices = context["delivery_choices"]
    return {
        **context, "bundle": bundle, "version": version, "entries": list(entries.values()), "failure": failure,
        "delivery_method": (posted.delivery_method if posted else None) or choices[0][0], "token": uuid.uuid4().hex,
        "lead_department": version.lead_department,
    }


def _own(request, qs=None):
    """The signed-in applicant's own bundle cases, through the one authorisation filter."""
    qs = qs if qs is not None else BundleCase.objects.all()
    return authz.filter_queryset(qs.filter(applicant=request.applicant), request.user)


@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def apply(request, code):
    """One form, one set of materials, one submission for every item of the bundle."""
    try:
        bundle, version = applying.published(code)
    except DomainError:
        return not_found(request, NO_BUNDLE)
    if request.method == "GET":
        return render(request, "bundles/apply/apply.html", _apply_context(request, bundle, version))
    posted = presenting.Posted(request, version)
    try:
        bc = applying.apply(
            request.applicant, request.user, code, posted.form, files=posted.files, materials=posted.materials,
            delivery_method=posted.delivery_method, delivery_address=posted.delivery_address, commitments=posted.commitments,
            market_services=posted.market_services, submit_now=True, token=posted.token, channel="online",
        )
    except (DomainError, PermissionDenied) as exc:
        done = _own(request).filter(submit_token=posted.token).first() if posted.token else None
        if done is not None:  # the same page submitted twice (double click racing the first): one bundle case
            return redirect("my_bundles:detail", done.pk)
        failure = _failure(exc, merging.validation_fields(version))
        groups = {g["key"] for g in version.material_groups}
        failure = Failure(failure.message, failure.status, failure.fields, presenting.group_errors(exc, groups))
        context = _apply_context(request, bundle, version, posted=posted, failure=failure)
        return render(request, "bundles/apply/apply.html", context, status=failure.status)
    messages.success(request, f"一件事申请已提交，办件编号：{bc.case_no}。各部门的事项已同时收件，请留意站内消息。")
    return redirect("my_bundles:detail", bc.pk)


# --- 我的一件事 --------------------------------------------------------------------------------------

@never_cache
@applicant_required
@require_GET
def my_list(request):
    qs = _own(request).exclude(status=BundleStatus.DRAFT).select_related("bundle_version", "lead_department").order_by("-id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"bc": bc, "deadline": coordination.bundle_deadline(bc), "open": bc.status in BUNDLE_OPEN} for bc in page]
    return render(request, "bundles/my/list.html", {"rows": rows, "page": page})


def _supplement(children, version, errors):
    """The one notice the applicant answers: every item asked for, by material group, so a file several
    departments asked for is uploaded once (groups are matched by name, as `applying.resubmit` does)."""
    groups = {merging.normalise(g["name"]): g for g in version.material_groups}
    rows, seen, others, notes = [], {}, {}, []
    for child in children:
        if child.status != S.SUPPLEMENT:
            continue
        sup = child.supplements.filter(status=Supplement.OPEN).last()
        if sup is None:
            continue
        dept = child.department.name
        if sup.note and sup.note not in notes:
            notes.append(sup.note)
        for item in sup.items:
            g = groups.get(merging.normalise(item.get("name", ""))) if item.get("material_id") else None
            if g is None:  # not a material: asked of every department concerned, listed once
                other = others.setdefault((item.get("name", ""), item.get("problem", "")), {
                    "name": item.get("name", ""), "problem": item.get("problem", ""), "departments": []})
                if dept not in other["departments"]:
                    other["departments"].append(dept)
                continue
            row = seen.get(g["key"])
            if row is None:
                row = seen[g["key"]] = {"key": g["key"], "name": g["name"], "problems": [], "departments": [],
                                        "input": f"material_{g['key']}", "id": f"material-{g['key']}", "error": errors.get(g["key"], "")}
                rows.append(row)
            if item.get("problem") and item["problem"] not in row["problems"]:
                row["problems"].append(item["problem"])
            if dept not in row["departments"]:
                row["departments"].append(dept)
    return rows, list(others.values()), notes


def _timeline(bc):
    rows = []
    for r in coordination.timeline(bc):
        who = "申请人" if r["role"] == "applicant" else r["department"]
        rows.append({**r, "who": who, "opinion": r["opinion"] if r["action"] in OPINION_ACTIONS else "",
                     "items": r["data"].get("items", []) if r["action"] == "request_supplement" and isinstance(r["data"], dict) else []})
    return rows


def _timeline_page(request, bc, failure=None):
    bc = BundleCase.objects.select_related("bundle_version__bundle", "lead_department", "lead_region", "applicant").get(pk=bc.pk)
    version = bc.bundle_version
    overview = coordination.overview(bc)
    children = list(bc.children.select_related("department", "item_version", "bundle_entry").order_by("bundle_entry__seq", "id"))
    supplement_rows, supplement_others, supplement_notes = _supplement(children, version, failure.materials if failure else {})
    finished = bc.status in (BundleStatus.DELIVERED, BundleStatus.FAILED)
    child_docs = list(CaseDocument.objects.filter(case__in=children, kind__in=RESULT_KINDS).select_related("case__item_version").order_by("id")) if finished else []
    undecided = all(c.status in BEFORE_DECISION + (S.WITHDRAWN,) for c in children)
    context = {
        "bc": bc, "version": version, "overview": overview, "timeline": _timeline(bc), "children": overview["children"],
        "deadline": coordination.bundle_deadline(bc), "failure": failure, "supplement_rows": supplement_rows,
        "supplement_others": supplement_others, "supplement_notes": supplement_notes, "documents": list(bc.documents.all()), "child_documents": child_docs, "finished": finished,
        "materials": _materials(children, version),
        "can_withdraw": bc.status in (BundleStatus.SUBMITTED, BundleStatus.SUPPLEMENT, BundleStatus.IN_PROGRESS) and undecided,
        "form_rows": form_rows(version, bc.form_data),
    }
    return render(request, "bundles/my/detail.html", context, status=failure.status if failure else 200)


def form_rows(version, data):
    rows = []
    for f in version.form_fields:
        value = data.get(f["key"])
        if isinstance(value, dict):
            value = value.get("file_name", "已上传")
        rows.append({"label": f["label"], "value": "" if value in (None, "") else str(value)})
    return rows


def _materials(children, version):
    """Each uploaded group once (its latest file, from the first child holding it)."""
    groups = {merging.normalise(g["name"]): g for g in version.material_groups}
    latest = {}
    for m in CaseMaterial.objects.filter(case__in=children).select_related("case").order_by("id"):
        g = groups.get(merging.normalise(m.name))
        if g is not None:
            latest[g["key"]] = m
    return [{"name": g["name"], "m": latest[g["key"]], "case": latest[g["key"]].case} for g in version.material_groups if g["key"] in latest]


@never_cache
@applicant_required
@require_http_methods(["GET", "POST"])
def my_detail(request, bundle_case_id):
    bc = _own(request).filter(pk=bundle_case_id).first()
    if bc is None or bc.status == BundleStatus.DRAFT:
        return not_found(request, NO_CASE)
    if request.method == "GET":
        return _timeline_page(request, bc)
    action = request.POST.get("action", "")
    try:
        if action == "resubmit":
            groups = {g["key"] for g in bc.bundle_version.material_groups}
            uploads = {key: request.FILES[f"material_{key}"] for key in groups if f"material_{key}" in request.FILES}
            applying.resubmit(request.user, bc.pk, uploads)
            notice = "补正材料已提交，各部门将继续办理。"
        elif action == "withdraw":
            if request.POST.get("confirm") != "yes":
                raise DomainError("请先勾选“我确认撤回该一件事申请”，再点击“撤回申请”", status=422)
            applying.withdraw(request.user, bc.pk)
            notice = "一件事申请已撤回，各事项终止办理。"
        else:
            raise DomainError("未知的操作，请刷新页面后重试", status=400)
    except (DomainError, PermissionDenied) as exc:
        groups = {g["key"] for g in bc.bundle_version.material_groups}
        f = _failure(exc)
        return _timeline_page(request, bc, Failure(f.message, f.status, {}, presenting.group_errors(exc, groups)))
    except Http404:
        return not_found(request, NO_CASE)
    messages.success(request, notice)
    return redirect("my_bundles:detail", bc.pk)


@require_GET
@applicant_required
def my_document(request, bundle_case_id, document_id):
    """A bundle document (办结通知书, 行业综合许可证, 未办成告知书) of one's own bundle case."""
    bc = _own(request).filter(pk=bundle_case_id).first()
    d = BundleDocument.objects.filter(bundle_case=bc, pk=document_id).first() if bc is not None else None
    if d is None:
        return not_found(request, "未找到该文书")
    return document_response(bc, d)


def document_response(bc, d):
    """The document's PDF, rendered on first download and then kept (bundles.documents)."""
    documents.document_pdf(d)
    return _serve(d.blob, f"{bc.case_no or bc.pk}-{d.get_kind_display()}")
