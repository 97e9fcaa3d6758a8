"""Portal pages for 一件事: the 服务清单 (published bundles by theme and life-cycle stage) and each
bundle's guide page (one merged form, one merged set of materials, who does what, in which order).

Published data only: every row comes through the one authorisation filter, so an anonymous visitor
sees exactly what is public."""

from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from tongban.catalog.formdef import TYPES
from tongban.catalog.models import Material
from tongban.core.authz import READ, filter_queryset
from tongban.directory.models import Hall, Window
from tongban.portal import services as portal
from tongban.portal.views import not_found

from . import merging
from .models import STAGES, Bundle, BundleEntry, BundleVersion, MarketService, Theme

NECESSITY = dict(Material.NECESSITY_CHOICES)
ORDER_HELP = {
    BundleVersion.PARALLEL: "各事项同时办理，互不等待",
    BundleVersion.SEQUENTIAL: "按下列顺序逐项办理，前一事项办结后自动转入下一事项",
    BundleVersion.STAGED: "分阶段办理：同一阶段的事项同时办理，上一阶段办结后进入下一阶段",
}
THEME_HELP = {
    Theme.ENTERPRISE: "企业从开办、变更到注销",
    Theme.PERSONAL: "个人从出生、入学、就业、退休到身后",
    Theme.PROJECT: "项目从投资到建设",
}


def _public(qs, user):
    return filter_queryset(qs, user, READ)


def stages_of(version, entries):
    """[{"number", "entries"}] in order of work (merging.effective_stage decides each entry's stage)."""
    by_stage = {}
    for entry in entries:
        by_stage.setdefault(merging.effective_stage(version, entry), []).append(entry)
    return [{"number": n, "entries": by_stage[s]} for n, s in enumerate(sorted(by_stage), 1)]


def _ancestor_paths(region):
    parts = [p for p in region.path.split("/") if p]
    return ["/".join(parts[:n]) + "/" for n in range(1, len(parts) + 1)]


@require_GET
def bundle_list(request):
    """一件事 服务清单: published bundles applying to the chosen region (published by it, above it or
    below it), grouped by theme → life-cycle stage."""
    user = request.user
    region = portal.parse_region(request.GET.getlist("region"), user)
    department = portal.parse_department(request.GET.get("department"), region, user) if region else None
    q = portal.clean_text(request.GET.get("q"), 40)
    versions = _public(BundleVersion.objects.filter(status=BundleVersion.PUBLISHED), user)
    if region is not None:
        versions = versions.filter(Q(bundle__region__path__startswith=region.path) | Q(bundle__region__path__in=_ancestor_paths(region)))
    if department is not None:
        versions = versions.filter(Q(lead_department=department) | Q(cooperating_departments=department)).distinct()
    if q:
        versions = versions.filter(Q(name__icontains=q) | Q(bundle__name__icontains=q) | Q(bundle__code__iexact=q))
    versions = list(
        versions.select_related("bundle__region", "lead_department").annotate(item_count=Count("entries", distinct=True))
        .order_by("bundle__theme", "bundle__code")[:500]
    )
    themes = []
    for theme, label in Theme.choices:
        stages = []
        for key, stage_label in STAGES[theme]:
            rows = [v for v in versions if v.bundle.theme == theme and v.bundle.stage == key]
            if rows:
                stages.append({"key": key, "label": stage_label, "versions": rows})
        themes.append({"key": theme, "label": label, "help": THEME_HELP[theme], "stages": stages, "count": sum(len(s["versions"]) for s in stages)})
    return render(
        request,
        "bundles/catalog/list.html",
        {
            "themes": themes,
            "total": len(versions),
            "q": q,
            "region": region,
            "region_levels": portal.region_levels(region, user),
            "departments": portal.departments_in(region, user),
            "selected_department": department.pk if department else None,
        },
    )


@dataclass
class BundleGuide:
    bundle: Bundle
    version: BundleVersion
    entries: list
    stages: list
    materials: list
    form_fields: list
    market_services: list
    halls: list
    cooperating: list
    permits: list = field(default_factory=list)
    items_days: int = 0
    apply_url: str = ""

    @property
    def saved_days(self):
        return self.items_days - self.version.promised_limit_days


def guide_for(code, user):
    """The published guide of a bundle by its code, or None."""
    code = portal.clean_text(code, 40)
    bundle = _public(Bundle.objects.filter(code=code), user).select_related("region").first()
    if bundle is None:
        return None
    version = _public(BundleVersion.objects.filter(bundle=bundle, status=BundleVersion.PUBLISHED), user).select_related("lead_department").first()
    if version is None:
        return None
    entries = list(
        _public(BundleEntry.objects.filter(version=version), user)
        .select_related("implementation__item", "implementation__department", "implementation__region").order_by("seq")
    )
    by_key = {e.key: e for e in entries}
    # Item versions (for each item's result name: what the 一业一证 permit stands for).
    for e in entries:
        e.item_version = e.implementation.item.published_version
        e.is_lead = e.implementation.department_id == version.lead_department_id
    materials = _materials(version, by_key, user)
    form_fields = [
        {
            "label": f["label"],
            "type": TYPES.get(f.get("type"), f.get("type")),
            "choices": f.get("choices") or [],
            "required": bool(f.get("required")),
            "help": f.get("help", ""),
            "departments": list(dict.fromkeys(by_key[k].implementation.department.name for k in f.get("entries", []) if k in by_key)),
            "items": [by_key[k].implementation.item.name for k in f.get("entries", []) if k in by_key],
        }
        for f in version.form_fields
    ]
    services = list(MarketService.objects.filter(version__in=_public(BundleVersion.objects.filter(pk=version.pk), user)).order_by("seq"))
    lead_impls = [e.implementation.pk for e in entries if e.is_lead]
    halls = list(_public(Hall.objects.filter(implementations__in=lead_impls), user).distinct().select_related("region").order_by("kind", "name")[:6])
    windows = _public(Window.objects.filter(hall__in=halls, kind=Window.GENERAL, is_active=True), user).order_by("hall_id", "number")
    by_hall = {}
    for w in windows:
        by_hall.setdefault(w.hall_id, []).append(w)
    for h in halls:
        h.general_windows = by_hall.get(h.pk, [])[:4]
    cooperating = list(_public(version.cooperating_departments.all(), user).order_by("name"))
    permits = [e.item_version.result_name for e in entries if e.item_version is not None and e.item_version.result_name] if version.combined_permit_name else []
    return BundleGuide(
        bundle=bundle, version=version, entries=entries, stages=stages_of(version, entries), materials=materials, form_fields=form_fields,
        market_services=services, halls=halls, cooperating=cooperating, permits=permits,
        items_days=sum(e.implementation.promised_limit_days for e in entries),
        apply_url=reverse("bundles:guide", args=[bundle.code]) + "apply/",
    )


def _materials(version, by_key, user):
    """The merged material list, each group once, with the items needing it and its template files."""
    ids = [pk for g in version.material_groups for pk in g.get("material_ids", [])]
    rows = {m.pk: m for m in _public(Material.objects.filter(pk__in=ids), user)}
    out = []
    for g in version.material_groups:
        found = [rows[pk] for pk in g.get("material_ids", []) if pk in rows]
        first = found[0] if found else None
        out.append({
            "name": g["name"],
            "necessity": g["necessity"],
            "necessity_label": NECESSITY.get(g["necessity"], g["necessity"]),
            "original_check": g.get("original_check", False),
            "deferrable": g.get("deferrable", False),
            "items": [by_key[k].implementation.item.name for k in g.get("entry_ids", []) if k in by_key] or g.get("items", []),
            "standard": first.acceptance_standard if first else "",
            "source": first.get_source_display() if first else "",
            "templates": [m for m in found if m.blank_form or m.sample][:1],
            "produced_by": by_key[g["produced_by"]].implementation.item.name if g.get("produced_by") in by_key else "",
        })
    return out


@require_GET
def bundle_guide(request, code):
    found = guide_for(code, request.user)
    if found is None:
        return not_found(request, "未找到该一件事的办事指南，可能编码有误或尚未发布")
    return render(request, "bundles/catalog/guide.html", {"g": found, "version": found.version, "bundle": found.bundle,
                                                          "order_help": ORDER_HELP[found.version.order]})
