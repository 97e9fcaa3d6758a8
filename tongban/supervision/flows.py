"""Cross-region flows (跨域流转): cases received in one region (receiving_region_path) and handled by
the competent department in another (region_path), counted per pair of regions over a period — from
the flows summary (summary.py keeps it with each submission), not from the cases.

Nationally both ends are counted per province; drilling into a region counts the ends inside it one
level below it (province → prefecture → county) and the ends outside it per province. The flows cut to
province and prefecture by month (RegionFlowFigure) answer the national and provincial maps; a
prefecture's counties read the per-day pairs (DailyFlowFigure). Every count
goes through the authorisation filter: a supervisor sees the flows of cases their grants let them
read (competent or receiving region in their subtree)."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case as CaseWhen
from django.db.models import Q, Sum, Value, When
from django.db.models.functions import Coalesce, NullIf, Substr
from django.utils import timezone

from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.directory.models import ROOT_CODE, Region

from . import figures, geo
from .models import DailyFlowFigure, RegionFlowFigure

SEGMENT = 7  # "370000/": every code in a path is six digits and a slash
LEVEL_BELOW = {Region.NATIONAL: "province", Region.PROVINCE: "prefecture", Region.PREFECTURE: "county"}
LEVEL_LABELS = {"province": "省级", "prefecture": "地市级", "county": "区县级"}


@dataclass(frozen=True)
class Flow:
    source: str  # receiving region code
    target: str  # competent region code
    count: int


def period_bounds(start, end):
    """Aware [start 00:00, day after end 00:00) in the site's time zone; a range, not __date, so the
    filter stays on the column (index-friendly)."""
    tz = timezone.get_current_timezone()
    lo = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz) if start else None
    hi = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz) if end else None
    return lo, hi


def scope_region(code):
    """The region drilled into (None or the root: the whole country); only province and prefecture
    have a level below on the map."""
    if not code or code == ROOT_CODE:
        return None
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise DomainError("区划代码不存在")
    if region.level not in (Region.PROVINCE, Region.PREFECTURE):
        raise DomainError("只能下钻到省级或地市级区划")
    return region


def flow_queryset(user, start=None, end=None, region=None):
    """Rows of the flows summary (DailyFlowFigure: submitted cross-region cases per day and pair of
    places) in the period that the user may read (touching `region` if given); count with Sum("cases")."""
    qs = DailyFlowFigure.objects.all()
    if start:
        qs = qs.filter(day__gte=start)
    if end:
        qs = qs.filter(day__lte=end)
    if region is not None:
        qs = qs.filter(Q(region_path__startswith=region.path) | Q(receiving_region_path__startswith=region.path))
    return authz.filter_queryset(qs, user)


def _end_key(field, region):
    """SQL for one end's code: one level below `region` inside it, the province outside it. A case
    registered at the region itself (a path no deeper) counts at the region."""
    province = Substr(field, SEGMENT + 1, 6)
    if region is None:
        return Coalesce(NullIf(province, Value("")), Value(ROOT_CODE))
    depth = region.path.count("/")  # "000000/370000/" → 2 segments; the next one starts after them
    inner = Coalesce(NullIf(Substr(field, depth * SEGMENT + 1, 6), Value("")), Value(region.code))
    return CaseWhen(When(**{f"{field}__startswith": region.path}, then=inner), default=province)


def _rollup_querysets(user, start, end, region):
    """RegionFlowFigure rows (whole months, days at the ends) at the level the map needs, or None when
    that level is not kept (a prefecture's counties) or the user's grants are narrower (read DailyFlowFigure)."""
    if start is None or end is None:
        return None
    level = figures.flow_rollup_level(user, region.path.count("/") + 1 if region else 2)
    if level is None:
        return None
    out = []
    for when in figures.period_parts(start, end):
        qs = RegionFlowFigure.objects.filter(when, level=level)
        if region is not None:
            qs = qs.filter(Q(region_path__startswith=region.path) | Q(receiving_region_path__startswith=region.path))
        out.append(authz.filter_queryset(qs, user))
    return out


def flows(user, start=None, end=None, region_code=None):
    """(region or None, level of the inner ends, [Flow] by count descending)."""
    region = scope_region(region_code)
    counts = {}
    for qs in _rollup_querysets(user, start, end, region) or [flow_queryset(user, start, end, region)]:
        rows = (qs.annotate(src=_end_key("receiving_region_path", region), dst=_end_key("region_path", region))
                .values("src", "dst").annotate(n=Sum("cases")).order_by())
        for r in rows:
            counts[r["src"], r["dst"]] = counts.get((r["src"], r["dst"]), 0) + r["n"]
    result = sorted((Flow(src, dst, n) for (src, dst), n in counts.items()), key=lambda f: (-f.count, f.source, f.target))
    level = LEVEL_BELOW[region.level] if region else "province"
    return region, level, result


def describe(flow_list, region=None):
    """Names and coordinates for the page: {"regions": {code: {"name", "coord"}}, "flows": [...]}."""
    codes = {c for f in flow_list for c in (f.source, f.target)}
    names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
    names.setdefault(ROOT_CODE, "全国")
    regions = {c: {"name": names.get(c, c), "coord": geo.coordinates(c)} for c in sorted(codes)}
    return {
        "regions": regions,
        "flows": [
            {"source": f.source, "target": f.target, "count": f.count,
             "source_name": regions[f.source]["name"], "target_name": regions[f.target]["name"]}
            for f in flow_list
        ],
    }  # fmt: skip
