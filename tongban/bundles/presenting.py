"""What the one-application pages show and read (the applicant's page and the window's): the merged
form with the departments each field goes to, the material groups, and the posted application."""

import re

from django.conf import settings

from tongban.cases.models import DeliveryMethod
from tongban.portal.case_views import field_rows

from . import applying, merging

NECESSITY = {"required": "必要", "conditional": "情形适用", "optional": "选择提交"}
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


def entries_of(version):
    return {e.key: e for e in version.entries.select_related("implementation__department", "implementation__item").order_by("seq")}


def department_names(keys, entries):
    names = []
    for key in keys or []:
        entry = entries.get(key)
        if entry is not None and entry.implementation.department.name not in names:
            names.append(entry.implementation.department.name)
    return names


def produced_item(group, entries):
    """The item of this bundle whose result provides the material (免提交), or ""."""
    entry = entries.get(group.get("produced_by") or "")
    return entry.implementation.item.name if entry is not None else ""


def delivery_choices(version):
    names = version.get_delivery_methods_names() or [DeliveryMethod.MAIL]
    return [(n, DeliveryMethod(n).label) for n in names if n in DeliveryMethod.values]


def group_errors(exc, groups):
    """Messages beside material groups: a missing group is named "g2 name" in the error's details."""
    errors = {}
    for d in getattr(exc, "details", None) or []:
        if isinstance(d, dict):
            key = str(d.get("field") or "").split(" ", 1)[0]
            if key in groups:
                errors[key] = d.get("message") or exc.message
    return errors


class Posted:
    """The application as posted: merged form values, form files, one upload per material group,
    commitments (deferrable group keys), market services (ids), delivery, and the page's token."""

    def __init__(self, request, version):
        post, files = request.POST, request.FILES
        fields = version.form_fields
        self.form = {f["key"]: str(post.get(f"f_{f['key']}", ""))[:1000] for f in fields if f.get("type") != "file"}
        self.files = {f["key"]: files[f"f_{f['key']}"] for f in fields if f.get("type") == "file" and f"f_{f['key']}" in files}
        groups = {g["key"]: g for g in version.material_groups}
        self.materials = {key: files[f"material_{key}"] for key in groups if f"material_{key}" in files}
        self.commitments = [k for k in dict.fromkeys(post.getlist("commit")) if k in groups and groups[k].get("deferrable")]
        known = {str(pk): pk for pk in version.market_services.values_list("pk", flat=True)}
        self.market_services = [known[v] for v in dict.fromkeys(post.getlist("market")) if v in known]
        self.delivery_method = str(post.get("delivery_method") or "").strip()[:20] or None
        self.delivery_address = str(post.get("delivery_address") or "").strip()[:300]
        token = str(post.get("token") or "").strip()
        self.token = token if TOKEN_RE.match(token) else None


def application_context(version, entries, values, posted=None, failure=None):
    """The one form (each field with the departments it goes to), the material groups, 一类事 and
    delivery choices, for either page. `values` are prefilled unless the page was posted."""
    prefilled = {k for k, v in values.items() if v not in (None, "")} if posted is None else set()
    rows = field_rows(merging.validation_fields(version), values, failure.fields if failure else None)
    by_key = {f["key"]: f for f in version.form_fields}
    for row in rows:
        keys = by_key.get(row["key"], {}).get("entries", [])
        row["departments"] = department_names(keys, entries)
        row["shared"] = len(keys) > 1
        row["prefilled"] = row["key"] in prefilled
    errors = failure.materials if failure else {}
    committed = set(posted.commitments) if posted else set()
    chosen_market = set(posted.market_services) if posted else set()
    return {
        "fields": rows, "any_prefilled": bool(prefilled),
        "groups": [{
            **g, "input": f"material_{g['key']}", "id": f"material-{g['key']}", "departments": department_names(g.get("entry_ids"), entries),
            "shared": len(g.get("entry_ids") or []) > 1, "committed": g["key"] in committed, "commitment": applying.commitment_text(g["name"]),
            "error": errors.get(g["key"], ""), "produced_item": produced_item(g, entries), "necessity_label": NECESSITY.get(g.get("necessity"), ""),
        } for g in version.material_groups],
        "has_deferrable": any(g.get("deferrable") for g in version.material_groups),
        "market_services": [{"s": s, "checked": s.pk in chosen_market} for s in version.market_services.order_by("seq")],
        "delivery_choices": delivery_choices(version),
        "delivery_address": posted.delivery_address if posted else "",
        "max_mb": settings.TONGBAN_MATERIAL_MAX_MB, "deferred_days": settings.TONGBAN_DEFERRED_DAYS,
    }
