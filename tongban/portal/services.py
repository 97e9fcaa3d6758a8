"""Read-side queries of the applicant pages. Every row comes through `filter_queryset`, so an anonymous
applicant sees exactly the published, public rows; search goes through `catalog.search`."""

import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Count, Q

from tongban.catalog.choices import APPLICANT_TYPES, MODE_LABELS, SCOPE_LABELS
from tongban.catalog.models import Implementation, Item, ItemVersion, ListEntry, Material, TongbanList
from tongban.catalog.search import search_implementations
from tongban.core.authz import READ, filter_queryset
from tongban.directory.models import ROOT_CODE, Department, Region, Window

PAGE_SIZE = 20
MAX_QUERY_LEN = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REGION_CODE = re.compile(r"\d{6}(\d{3}){0,2}")
# Levels offered by the region picker: townships are too many to be useful in a select.
PICKER_LEVELS = (Region.PROVINCE, Region.PREFECTURE, Region.COUNTY)


def public(qs, user):
    return filter_queryset(qs, user, READ)


def clean_text(value, max_len=MAX_QUERY_LEN):
    """Query text as typed, minus control characters (PostgreSQL rejects NUL) and over-long input."""
    return _CONTROL.sub("", value or "").strip()[:max_len]


def parse_page(value):
    try:
        page = int(clean_text(value, 12))
    except ValueError:
        return 1
    return max(page, 1)


# --- region picker -----------------------------------------------------------------------------


def parse_region(values, user):
    """The deepest region of a province → city → county chain. The picker submits one `region` per
    select; a child left over from a previously chosen parent breaks the chain and is dropped."""
    codes = [c for c in (clean_text(v, 12) for v in values) if c]
    if not codes or not all(_REGION_CODE.fullmatch(c) for c in codes):
        return None
    found = {r.code: r for r in public(Region.objects.filter(code__in=codes), user)}
    chosen = None
    for code in codes:
        region = found.get(code)
        if region is None or (chosen is not None and region.parent_id != chosen.pk):
            break
        chosen = region
    return chosen


def region_chain(region, user):
    """Regions from the province down to `region` (the national root is not a picker level)."""
    if region is None:
        return []
    codes = [c for c in region.path.split("/") if c and c != ROOT_CODE]
    by_code = {r.code: r for r in public(Region.objects.filter(code__in=codes), user)}
    return [by_code[c] for c in codes if c in by_code]


def _picker_children(parent, user):
    qs = Region.objects.filter(level__in=PICKER_LEVELS)
    qs = qs.filter(parent=parent) if parent is not None else qs.filter(level=Region.PROVINCE)
    return list(public(qs, user).order_by("code").only("id", "code", "name", "level"))


def region_levels(region, user):
    """The selects of the picker: provinces, then the children of each chosen level."""
    chain = [r for r in region_chain(region, user) if r.level in PICKER_LEVELS]
    levels, parent = [], None
    for depth in range(len(PICKER_LEVELS)):
        options = _picker_children(parent, user)
        if not options:
            break
        selected = chain[depth] if depth < len(chain) else None
        label = {Region.PROVINCE: "省（区、市）", Region.PREFECTURE: "市（州、盟）", Region.COUNTY: "区（县、旗）"}[options[0].level]
        levels.append({"label": label, "options": options, "selected": selected.code if selected else "", "depth": depth})
        if selected is None:
            break
        parent = selected
    return levels


def departments_in(region, user, limit=300):
    """Departments that publish implementations within the region's subtree."""
    if region is None:
        return []
    impls = public(Implementation.objects.filter(region__path__startswith=region.path), user)
    qs = public(Department.objects.filter(pk__in=impls.values("department_id")), user)
    return list(qs.select_related("region").order_by("region__code", "name")[:limit])


def parse_department(value, region, user):
    raw = clean_text(value, 19)
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        return None
    qs = public(Department.objects.filter(pk=int(raw)), user)
    if region is not None:
        qs = qs.filter(region__path__startswith=region.path)
    return qs.first()


def region_full_names(regions, user):
    """{region id: '山东省 临沂市 莒南县'} in one query (avoids Region.full_name per row)."""
    codes = {c for r in regions for c in r.path.split("/") if c and c != ROOT_CODE}
    names = dict(public(Region.objects.filter(code__in=codes), user).values_list("code", "name"))
    out = {}
    for r in regions:
        parts = [names[c] for c in r.path.split("/") if c and c != ROOT_CODE and c in names]
        out[r.pk] = " ".join(parts) or r.name
    return out


# --- search ------------------------------------------------------------------------------------


@dataclass
class Listing:
    q: str = ""
    region: Region | None = None
    department: Department | None = None
    scope: str = ""
    mode: str = ""
    page: int = 1
    results: list = field(default_factory=list)
    total: int = 0
    total_capped: bool = False
    notices: list = field(default_factory=list)
    fixed_scope: str = ""  # set by the page (/scope/<scope>/), not by the applicant
    fixed_mode: str = ""

    @property
    def pages(self):
        return max(1, math.ceil(self.total / PAGE_SIZE))

    @property
    def total_display(self):
        return f"{self.total}+" if self.total_capped else str(self.total)

    @property
    def has_filters(self):
        return bool(self.region or self.department or (self.scope and not self.fixed_scope) or (self.mode and not self.fixed_mode))

    def params(self, **overrides):
        values = {
            "q": self.q,
            "region": self.region.code if self.region else "",
            "department": self.department.pk if self.department else "",
            "scope": "" if self.fixed_scope else self.scope,
            "mode": "" if self.fixed_mode else self.mode,
        }
        values.update(overrides)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def run_search(get, user, *, fixed_scope="", fixed_mode=""):
    """Parse the query string leniently (unknown values are dropped with a notice, never an error)
    and run the applicant search."""
    listing = Listing(q=clean_text(get.get("q")), page=parse_page(get.get("page")), fixed_scope=fixed_scope, fixed_mode=fixed_mode)
    listing.region = parse_region(get.getlist("region"), user)
    if any(clean_text(v, 12) for v in get.getlist("region")) and listing.region is None:
        listing.notices.append("所选地区无效，已显示全部地区的结果")
    if get.get("department"):
        listing.department = parse_department(get.get("department"), listing.region, user)
    scope = fixed_scope or clean_text(get.get("scope"), 20)
    listing.scope = scope if scope in SCOPE_LABELS else ""
    if scope and not listing.scope:
        listing.notices.append("通办范围无效，已忽略")
    mode = fixed_mode or clean_text(get.get("mode"), 20)
    listing.mode = mode if mode in MODE_LABELS else ""
    if mode and not listing.mode:
        listing.notices.append("业务模式无效，已忽略")

    def fetch(page):
        return search_implementations(
            listing.q,
            user=user,
            region=listing.region,
            department=listing.department,
            scope=listing.scope or None,
            mode=listing.mode or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )

    found = fetch(listing.page)
    if not found.results and found.total and listing.page > 1:
        listing.page = max(1, math.ceil(found.total / PAGE_SIZE))
        found = fetch(listing.page)
    listing.results, listing.total, listing.total_capped = found.results, found.total, found.total_capped
    names = region_full_names([i.region for i in listing.results], user)
    for impl in listing.results:
        impl.region_full_name = names.get(impl.region_id, impl.region.name)
    return listing


def pagination(listing, base_path):
    """Page links around the current page, with canonical query strings."""
    pages, current = listing.pages, listing.page
    shown = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    links, last = [], 0
    for n in shown:
        if n - last > 1:
            links.append({"gap": True})
        links.append({"n": n, "url": f"{base_path}?{listing.params(page=n)}", "current": n == current})
        last = n
    prev_url = f"{base_path}?{listing.params(page=current - 1)}" if current > 1 else None
    next_url = f"{base_path}?{listing.params(page=current + 1)}" if current < pages else None
    return {"links": links, "prev": prev_url, "next": next_url} if pages > 1 else None


# --- home --------------------------------------------------------------------------------------


# The home page figures describe what any applicant can find, so they are computed for the public and
# cached briefly: aggregating a province's implementations on every visit costs more than a page may.
HOME_CACHE_SECONDS = 300
_ANONYMOUS = AnonymousUser()


def _home_cache_key(name):
    return f"portal:home:{name}:{cache.get_or_set('portal:home:generation', 0)}"


def invalidate_home_figures(**_kwargs):
    try:
        cache.incr("portal:home:generation")
    except ValueError:
        cache.set("portal:home:generation", 1)


def flag_counts():
    """How many public implementations each scope and mode has (one aggregate query, cached)."""

    def compute():
        qs = public(Implementation.objects.all(), _ANONYMOUS)
        aggregates = {f"scope_{k}": Count("id", filter=Q(scopes__has=k)) for k in SCOPE_LABELS}
        aggregates.update({f"mode_{k}": Count("id", filter=Q(modes__has=k)) for k in MODE_LABELS})
        return qs.aggregate(**aggregates)

    return cache.get_or_set(_home_cache_key("flags"), compute, HOME_CACHE_SECONDS)


def frequent_items(limit=8):
    """Items implemented in the most places: a fair proxy for what applicants look for (cached)."""

    def compute():
        impls = public(Implementation.objects.all(), _ANONYMOUS)
        qs = public(Item.objects.filter(pk__in=impls.values("item_id")), _ANONYMOUS)
        return list(qs.annotate(n=Count("implementations", filter=Q(implementations__is_active=True))).order_by("-n", "name")[:limit])

    return cache.get_or_set(_home_cache_key(f"frequent:{limit}"), compute, HOME_CACHE_SECONDS)


# --- 通办 lists --------------------------------------------------------------------------------


def tongban_lists(user, scope=None, limit=None):
    qs = public(TongbanList.objects.select_related("region"), user).annotate(entry_count=Count("entries"))
    if scope:
        qs = qs.filter(scope=scope)
    qs = qs.order_by("-issued_on", "region__code", "name")
    return list(qs[:limit] if limit else qs)


def tongban_list(pk, user):
    return public(TongbanList.objects.select_related("region"), user).filter(pk=pk).first()


def list_entries(tongban_list, user):
    entries = list(public(ListEntry.objects.filter(tongban_list=tongban_list), user).order_by("seq"))
    # Related departments are read through their own scope too (an inactive one shows the list's original text).
    dept_ids = {e.responsible_department_id for e in entries if e.responsible_department_id}
    dept_names = dict(public(Department.objects.filter(pk__in=dept_ids), user).values_list("pk", "name"))
    for e in entries:
        e.department_display = dept_names.get(e.responsible_department_id) or e.responsible_department_name
    return entries


# --- guide ------------------------------------------------------------------------------------


@dataclass
class Guide:
    implementation: Implementation
    version: ItemVersion
    materials: list
    halls: list
    partner_regions: list
    other_places: list
    region_name: str
    applicant_types: list


def guide_for(code, user):
    """The guide of a public implementation: its item's published version, materials and places."""
    code = clean_text(code, 40).upper()
    impl = public(Implementation.objects.filter(implementation_code=code), user).select_related("item", "department", "region").first()
    if impl is None:
        return None
    version = public(ItemVersion.objects.filter(item_id=impl.item_id, status=ItemVersion.PUBLISHED), user).first()
    if version is None:
        return None
    materials = list(public(Material.objects.filter(version=version), user).order_by("seq"))
    halls = list(public(impl.halls.all(), user).select_related("region").order_by("region__code", "name"))
    windows = public(Window.objects.filter(hall__in=halls), user).order_by("hall_id", "number")
    by_hall = {}
    for w in windows:
        by_hall.setdefault(w.hall_id, []).append(w)
    hall_names = region_full_names([h.region for h in halls], user)
    for h in halls:
        # The 跨域通办 专窗 first: it is where an applicant from elsewhere goes.
        h.public_windows = sorted(by_hall.get(h.pk, []), key=lambda w: w.kind != Window.CROSS_REGION)
        h.has_cross_region_window = any(w.kind == Window.CROSS_REGION for w in h.public_windows)
        h.region_full_name = hall_names.get(h.region_id, h.region.name)
    halls.sort(key=lambda h: (not h.has_cross_region_window, h.region.code, h.name))
    others = list(
        public(Implementation.objects.filter(item_id=impl.item_id).exclude(pk=impl.pk), user)
        .select_related("region", "department")
        .order_by("region__code")[:30]
    )
    other_names = region_full_names([o.region for o in others] + [impl.region], user)
    for o in others:
        o.region_full_name = other_names.get(o.region_id, o.region.name)
    applicant_labels = dict(APPLICANT_TYPES)
    applicant_types = [applicant_labels.get(c.strip(), c.strip()) for c in version.service_objects.split(",") if c.strip()]
    return Guide(
        implementation=impl,
        version=version,
        materials=materials,
        halls=halls,
        partner_regions=list(public(impl.partner_regions.all(), user).order_by("code")),
        other_places=others,
        region_name=other_names.get(impl.region_id, impl.region.name),
        applicant_types=applicant_types,
    )


def public_material(pk, user):
    """A material of a published version (the public scope of Material), else None."""
    if not 0 < pk < 2**63:
        return None
    return public(Material.objects.filter(pk=pk, version__status=ItemVersion.PUBLISHED), user).select_related("version").first()
