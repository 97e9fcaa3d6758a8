"""/cockpit/map/: the cross-region flow map (跨域流转地图) with drill-down province → prefecture → county."""

import datetime as dt

from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_GET

from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.directory.models import ROOT_CODE, Region
from tongban.workbench.views import nav_context, staff_required

from . import flows as flow_service
from . import geo

COCKPIT_ROLES = {"supervisor", "platform_admin"}
TABLE_ROWS = 100


def _date(value, label):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{label}格式应为“年-月-日”，例如 2026-01-31") from None


def parse_period(params):
    """(start, end) from ?start=&end=; by default the current year up to today."""
    today = timezone.localdate()
    start = _date(params.get("start", ""), "开始日期") or today.replace(month=1, day=1)
    end = _date(params.get("end", ""), "结束日期") or today
    if start > end:
        raise DomainError("开始日期不能晚于结束日期")
    if (end - start).days > 366 * 10:
        raise DomainError("统计期间不能超过十年")
    return start, end


def _breadcrumbs(region):
    if region is None:
        return []
    codes = [c for c in region.path.split("/") if c and c != ROOT_CODE]
    names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
    return [{"code": c, "name": names.get(c, c)} for c in codes]


def _map_spec(region):
    """Which map the page draws: China, or the province of the drilled region when its shapes are
    vendored (None: the page shows the ranked table alone)."""
    if region is None:
        codes = {name: code2 + "0000" for code2, (name, _) in geo.PROVINCES.items()}
        return {"name": "china", "geojson": static(geo.STATIC_PREFIX + "china.json"), "script": None, "drill": codes}
    script = geo.province_script(region.code)
    if script is None:
        return None
    drill = {}
    if region.level == Region.PROVINCE:
        drill = {name: code for code, (name, _) in geo.prefecture_shapes(region.code[:2]).items()}
    return {"name": geo.province_name(region.code), "geojson": None, "script": static(script), "drill": drill}


@staff_required
@require_GET
def flow_map(request):
    context = {"nav": "cockpit", **nav_context(request)}
    if not authz.roles_of(request.user) & COCKPIT_ROLES:
        context["error"] = "只有监督人员和平台管理员可以查看驾驶舱"
        return render(request, "supervision/map.html", context, status=403)
    try:
        start, end = parse_period(request.GET)
        region, level, flow_list = flow_service.flows(request.user, start, end, request.GET.get("region", "").strip())
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "supervision/map.html", context, status=exc.status)
    described = flow_service.describe(flow_list, region)
    spec = _map_spec(region)
    context.update(
        start=start, end=end, region=region, level=level, level_label=flow_service.LEVEL_LABELS[level],
        breadcrumbs=_breadcrumbs(region), rows=described["flows"][:TABLE_ROWS], total_pairs=len(flow_list),
        total=sum(f.count for f in flow_list), map_spec=spec,
        chart={"map": spec, "regions": described["regions"], "flows": described["flows"], "start": start.isoformat(),
               "end": end.isoformat()},
    )  # fmt: skip
    return render(request, "supervision/map.html", context)
