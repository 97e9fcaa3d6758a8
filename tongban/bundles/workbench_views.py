"""The coordinator's workbench for 一件事: the list of bundle cases the signed-in staff member may see,
and one bundle case — every item with its department, status and deadline, the comprehensive intake
(前台综合受理), joint appointments (联合勘验/评审/验收), 一类事 requests, the unified delivery (窗口统一出件)
and the merged timeline.

Every read goes through the authorisation filter and every change through `bundles.coordination`,
which enforces who may do what; the page only leaves out buttons the user cannot use. A DomainError
is shown on the page with its status code, never a 500."""


from django.contrib import messages
from django.db.models import Case as DbCase
from django.db.models import IntegerField, Q, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import workflow
from tongban.cases.models import CaseMaterial, DeliveryMethod, IdentityMethod
from tongban.cases.models import Status as S
from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.workbench.views import _page_number, _pagination, nav_context, staff_required

from . import coordination, merging
from .models import BUNDLE_OPEN, BundleCase, BundleDocument, BundleStatus, JointAppointment
from .portal_views import document_response, form_rows

PAGE_SIZE = 20
FILTER_KEYS = ("status", "bundle", "number")
STATUSES = [(s, label) for s, label in BundleStatus.choices if s != BundleStatus.DRAFT]
LEAD_ROLES = frozenset({"clerk", "approver"})
MARKET_NEXT = {"requested": "forwarded", "forwarded": "done"}
SUPPLEMENT_ROWS = 2  # free rows of a supplement notice for things that are not a material group


def clean_filters(data):
    clean = {}
    for key in FILTER_KEYS:
        value = str(data.get(key) or "").strip()[:100]
        if not value or "\x00" in value:
            continue
        if key == "status" and value not in dict(STATUSES):
            continue
        clean[key] = value
    return clean


def list_queryset(user, filters):
    qs = authz.filter_queryset(BundleCase.objects.exclude(status=BundleStatus.DRAFT), user)
    if "status" in filters:
        qs = qs.filter(status=filters["status"])
    if "bundle" in filters:
        text = filters["bundle"]
        qs = qs.filter(Q(bundle_version__name__icontains=text) | Q(bundle_version__bundle__code=text))
    if "number" in filters:
        qs = qs.filter(case_no__icontains=filters["number"])
    open_first = DbCase(When(status__in=BUNDLE_OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (qs.select_related("bundle_version", "lead_department").annotate(closed=open_first)
            .order_by("closed", "due_date", "-id"))


@require_GET
@staff_required
def bundle_list(request):
    filters = clean_filters(request.GET)
    qs = list_queryset(request.user, filters)
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * PAGE_SIZE
    rows = list(qs[offset:offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    today = timezone.localdate()
    items = [{"bc": bc, "deadline": coordination.bundle_deadline(bc, today)} for bc in rows[:PAGE_SIZE]]
    context = {**nav_context(request), "items": items, "filters": filters, "statuses": STATUSES, "nav": "bundles",
               "pagination": _pagination(request, page, has_next), "total": qs.count()}
    return render(request, "bundles/workbench/list.html", context)


# --- one bundle case ------------------------------------------------------------------------------

def _lead_roles(user, bc):
    """The user's roles at the lead department's place (the same rule `coordination` applies)."""
    if not authz.can(user, bc, authz.WRITE):
        return set()
    return {role for role, path, dept in authz.grants(user)
            if bc.lead_region_path.startswith(path) and dept in (None, bc.lead_department_id)}


def _writable_children(user, children):
    from tongban.cases.models import Case

    ids = [c.pk for c in children]
    return set(authz.filter_queryset(Case.objects.filter(pk__in=ids), user, authz.WRITE).values_list("pk", flat=True))


def _group_files(children, version):
    """Per material group, the latest uploaded file (groups matched by name, as the services do)."""
    groups = {merging.normalise(g["name"]): g["key"] for g in version.material_groups}
    files = {}
    for m in CaseMaterial.objects.filter(case__in=children).order_by("id"):
        key = groups.get(merging.normalise(m.name))
        if key:
            files[key] = m
    return files


def _delivery_choices(bc):
    names = list(bc.bundle_version.get_delivery_methods_names())
    if bc.delivery_method not in names:
        names.append(bc.delivery_method)
    return [(n, DeliveryMethod(n).label) for n in names if n in DeliveryMethod.values]


def detail_context(request, bc, error=None, error_form="", posted=None):
    user = request.user
    bc = BundleCase.objects.select_related("bundle_version__bundle", "lead_department", "lead_region", "applicant").get(pk=bc.pk)
    version = bc.bundle_version
    overview = coordination.overview(bc)
    children = list(bc.children.select_related("department", "item_version", "bundle_entry").order_by("bundle_entry__seq", "id"))
    roles = _lead_roles(user, bc)
    files = _group_files(children, version)
    groups = [{**g, "file": files.get(g["key"]), "departments": _departments_of(g, children)} for g in version.material_groups]
    in_review = [c for c in children if c.status in (S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL)]
    writable = _writable_children(user, children)
    appointments = []
    for a in bc.appointments.prefetch_related("cases__department", "cases__item_version").order_by("scheduled_at"):
        cases = list(a.cases.all())
        recorded = {r.get("case_id") for r in a.results or []}
        mine = [c for c in cases if c.pk in writable and c.pk not in recorded]
        appointments.append({"a": a, "cases": cases, "mine": mine, "can_record": a.status == JointAppointment.SCHEDULED and bool(mine)})
    posted = posted if posted is not None else {}
    getlist = getattr(posted, "getlist", lambda _name: [])
    return {
        **nav_context(request), "nav": "bundles", "bc": bc, "version": version, "overview": overview, "children": children,
        "timeline": coordination.timeline(bc), "deadline": coordination.bundle_deadline(bc), "groups": groups,
        "can_intake": bc.status == BundleStatus.SUBMITTED and "clerk" in roles,
        "can_deliver": bc.status == BundleStatus.READY and "clerk" in roles,
        "can_schedule": bool(roles & LEAD_ROLES) and len({c.department_id for c in in_review}) >= 2, "in_review": in_review,
        "can_market": bool(roles & LEAD_ROLES) and bc.status not in (BundleStatus.WITHDRAWN, BundleStatus.REFUSED),
        "market_next": MARKET_NEXT, "appointments": appointments, "appointment_kinds": JointAppointment.KINDS,
        "identity_methods": IdentityMethod.choices, "delivery_choices": _delivery_choices(bc),
        "supplement_rows": range(1, SUPPLEMENT_ROWS + 1), "documents": list(bc.documents.all()),
        "form_rows": form_rows(version, bc.form_data), "verifications": [{**v, "when": _local(v.get("at"))} for v in bc.verifications], "error": error, "error_form": error_form, "posted": posted,
        "posted_originals": getlist("originals"), "posted_groups": getlist("sup_group"), "posted_cases": getlist("case_ids"),
    }


def _local(iso):
    """An ISO timestamp stored in JSON as a local datetime (None when it is not one)."""
    when = parse_datetime(str(iso or ""))
    return timezone.localtime(when) if when is not None and timezone.is_aware(when) else when


def _departments_of(group, children):
    names = []
    keys = set(group.get("entry_ids") or [])
    for c in children:
        if c.bundle_entry is not None and c.bundle_entry.key in keys and c.department.name not in names:
            names.append(c.department.name)
    return names


@require_GET
@staff_required
def detail(request, bundle_case_id):
    bc = coordination.visible_bundle_case(request.user, bundle_case_id)
    return render(request, "bundles/workbench/detail.html", detail_context(request, bc))


def _run(request, bundle_case_id, form, done, call):
    """Run one service call for the page's form; errors re-render the page with the message."""
    bc = coordination.visible_bundle_case(request.user, bundle_case_id)
    try:
        call(bc)
    except DomainError as exc:
        return _failed(request, bc, form, exc.message, exc.status)
    except authz.PermissionDenied as exc:
        return _failed(request, bc, form, exc.message, 403)
    except workflow.WorkflowError as exc:  # the order of work could not move on: say why, change nothing
        return _failed(request, bc, form, f"办理顺序无法继续：{exc}", 409)
    messages.success(request, f"{done}：一件事办件{bc.case_no or bc.pk}")
    return redirect("bundle_workbench:detail", bundle_case_id=bc.pk)


def _failed(request, bc, form, message, status):
    bc = coordination.visible_bundle_case(request.user, bc.pk)  # as it is now (the failed step changed nothing)
    context = detail_context(request, bc, error=message, error_form=form, posted=request.POST)
    return render(request, "bundles/workbench/detail.html", context, status=status)


def _text(post, name, limit=300):
    return str(post.get(name) or "").strip()[:limit]


def _supplement_items(post, version):
    items = []
    checked = set(post.getlist("sup_group"))
    for g in version.material_groups:
        problem = _text(post, f"sup_problem_{g['key']}")
        if g["key"] in checked or problem:
            items.append({"group": g["key"], "name": g["name"], "problem": problem})
    for n in range(1, SUPPLEMENT_ROWS + 1):
        name, problem = _text(post, f"sup_other_name_{n}", 200), _text(post, f"sup_other_problem_{n}")
        if name or problem:
            items.append({"name": name, "problem": problem})
    return items


@require_POST
@staff_required
def intake(request, bundle_case_id):
    post = request.POST
    decision = _text(post, "decision", 20)
    done = {"accept": "已综合受理", "supplement": "已发出一次性补齐补正告知", "refuse": "已作出不予受理决定"}.get(decision, "已办理")

    def call(bc):
        kwargs = {"opinion": str(post.get("opinion") or "").strip()[:4000]}
        if decision == "accept":
            kwargs.update(identity_method=_text(post, "identity_method", 20) or None, originals_checked=post.getlist("originals"))
        elif decision == "supplement":
            kwargs["supplement_items"] = _supplement_items(post, bc.bundle_version)
        coordination.intake(bc.pk, request.user, decision, **kwargs)

    return _run(request, bundle_case_id, "intake", done, call)


@require_POST
@staff_required
def deliver(request, bundle_case_id):
    post = request.POST

    def call(bc):
        coordination.deliver(bc.pk, request.user, _text(post, "method", 20), courier=_text(post, "courier", 60),
                             tracking_no=_text(post, "tracking_no", 40), recipient=_text(post, "recipient", 60),
                             place=_text(post, "place", 200), explanation=str(post.get("explanation") or "").strip()[:4000])

    return _run(request, bundle_case_id, "deliver", "已统一出件", call)


@require_POST
@staff_required
def schedule(request, bundle_case_id):
    post = request.POST

    def call(bc):
        ids = [int(v) for v in post.getlist("case_ids") if str(v).isdigit() and len(str(v)) < 12]
        coordination.schedule_appointment(bc.pk, request.user, _text(post, "kind", 20), _text(post, "scheduled_at", 40),
                                          _text(post, "place", 200), ids, note=_text(post, "note", 300))

    return _run(request, bundle_case_id, "schedule", "已预约联合办理", call)


@require_POST
@staff_required
def record(request, bundle_case_id, appointment_id):
    post = request.POST

    def call(bc):
        if not bc.appointments.filter(pk=appointment_id).exists():
            raise Http404
        case_id = _text(post, "case_id", 12)
        coordination.record_appointment(appointment_id, request.user, str(post.get("opinion") or "").strip()[:4000],
                                        case_id=int(case_id) if case_id.isdigit() else None)

    return _run(request, bundle_case_id, f"record-{appointment_id}", "已记录本部门意见", call)


@require_POST
@staff_required
def market(request, bundle_case_id):
    post = request.POST
    service_id = _text(post, "service_id", 12)

    def call(bc):
        if not service_id.isdigit():
            raise DomainError("请选择增值服务", status=422)
        coordination.mark_market_request(bc.pk, request.user, int(service_id), _text(post, "status", 20), note=_text(post, "note", 300))

    return _run(request, bundle_case_id, "market", "已更新增值服务办理状态", call)


@require_GET
@staff_required
def document(request, bundle_case_id, document_id):
    bc = coordination.visible_bundle_case(request.user, bundle_case_id)
    d = BundleDocument.objects.filter(bundle_case=bc, pk=document_id).first()
    if d is None:
        raise Http404
    return document_response(bc, d)
