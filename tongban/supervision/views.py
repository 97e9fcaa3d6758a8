"""Cockpit pages (政务服务驾驶舱): figures, trends and rankings with ECharts, drill-down, Excel export."""

import io
from datetime import date, timedelta
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from tongban.cases.models import Mode
from tongban.catalog.choices import SCOPES
from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.directory.models import Department, Region
from tongban.workbench.views import nav_context, staff_required

from . import figures, summary
from .scopes import READERS

MAX_DAYS = 366 * 3


def allowed_paths(user):
    return sorted({path for role, path, _dept in authz.grants(user) if role in READERS})


def _int(value, label):
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise DomainError(f"{label}参数不正确", status=400) from None


def _date(value, default, label):
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{label}格式不正确，应为 YYYY-MM-DD", status=400) from None


def parse_filter(request):
    paths = allowed_paths(request.user)
    if not paths:
        raise PermissionDenied("仅监管人员和平台管理员可以查看驾驶舱")
    today = timezone.localdate()
    end = _date(request.GET.get("to"), today, "截止日期")
    start = _date(request.GET.get("from"), end - timedelta(days=29), "起始日期")
    if start > end:
        raise DomainError("起始日期不能晚于截止日期", status=400)
    if (end - start).days > MAX_DAYS:
        raise DomainError("统计期间最长三年", status=400)
    region = request.GET.get("region") or paths[0]
    if not any(region.startswith(p) for p in paths):
        raise PermissionDenied("您无权查看该区划的数据")
    mode = request.GET.get("mode") or ""
    if mode and mode not in Mode.values:
        raise DomainError("业务模式参数不正确", status=400)
    scope = request.GET.get("scope") or ""
    if scope and scope not in dict(SCOPES):
        raise DomainError("通办范围参数不正确", status=400)
    return figures.Filter(start=start, end=end, region_path=region, department_id=_int(request.GET.get("department"), "部门"),
                          item_id=_int(request.GET.get("item"), "事项"), mode=mode, scope=scope)


def _breadcrumbs(user, path):
    roots = allowed_paths(user)
    codes = [c for c in path.split("/") if c]
    chain = ["/".join(codes[: i + 1]) + "/" for i in range(len(codes))]
    names = dict(Region.objects.filter(path__in=chain).values_list("path", "name"))
    return [{"path": p, "name": names.get(p, "全国" if p == "000000/" else p)} for p in chain if any(p.startswith(r) for r in roots)]


def _pct(v):
    return "—" if v is None else f"{v * 100:.1f}%"


@staff_required
def cockpit(request):
    try:
        f = parse_filter(request)
    except DomainError as exc:
        return render(request, "supervision/error.html", {"message": exc.message, **nav_context(request)}, status=exc.status)
    user = request.user
    data = figures.overview(user, f)
    trend = figures.trend(user, f)
    regions = figures.region_ranking(user, f)
    departments = figures.department_ranking(user, f, limit=20)
    items = figures.item_ranking(user, f, limit=20)
    chart = {
        "days": [d["day"] for d in trend],
        "received": [d["received"] for d in trend], "accepted": [d["accepted"] for d in trend],
        "concluded": [d["concluded"] for d in trend],
        "regions": [r["name"] for r in regions], "region_received": [r["received"] for r in regions],
        "region_on_time": [round((r["on_time_rate"] or 0) * 100, 1) for r in regions],
        # Bottom-up on a horizontal bar chart: the largest at the top.
        "departments": [d["name"] for d in reversed(departments)], "department_received": [d["received"] for d in reversed(departments)],
    }
    query = request.GET.copy()
    query.pop("region", None)
    base_query = query.urlencode()
    context = {
        "nav": "cockpit", "f": f, "data": data, "regions": regions, "departments": departments, "items": items,
        "chart": chart, "breadcrumbs": _breadcrumbs(user, f.region_path),
        "base_query": base_query, "freshness": summary.freshness(), "modes": Mode.choices, "scopes": SCOPES,
        "department_choices": authz.filter_queryset(Department.objects.all(), user).filter(region__path__startswith=f.region_path).order_by("name")[:200],
        "pct": {"on_time": _pct(data["cases"]["on_time_rate"]), "satisfaction": _pct(data["ratings"]["satisfaction_rate"]),
                "rectification": _pct(data["ratings"]["rectification_rate"]), "inquiry_satisfaction": _pct(data["inquiries"]["satisfaction_rate"])},
        "export_query": request.GET.urlencode(),
        "map_url": _map_url(f),
        **nav_context(request),
    }
    return render(request, "supervision/cockpit.html", context)


def _map_url(f):
    code = [c for c in f.region_path.split("/") if c][-1]
    params = {"start": f.start.isoformat(), "end": f.end.isoformat(), **({"region": code} if code != "000000" else {})}
    return f"{reverse('supervision:map')}?{urlencode(params)}"


@staff_required
def export(request):
    from openpyxl import Workbook

    try:
        f = parse_filter(request)
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    user = request.user
    data = figures.overview(user, f)
    wb = Workbook()
    ws = wb.active
    ws.title = "总体"
    ws.append(["统计期间", f"{f.start:%Y-%m-%d} 至 {f.end:%Y-%m-%d}"])
    ws.append(["区划路径", f.region_path])
    c, h, r, q = data["cases"], data["handoffs"], data["ratings"], data["inquiries"]
    for label, value in [("收件数", c["received"]), ("受理数", c["accepted"]), ("办结数", c["concluded"]),
                         ("按时办结数", c["concluded_on_time"]), ("超期数", c["overdue"]), ("平均办理工作日", c["avg_work_days"]),
                         ("转出办件（异地收件）", h["out"]), ("转入办件（本地办理）", h["in"]),
                         ("评价数", r["ratings"]), ("满意率", r["satisfaction_rate"]), ("差评数", r["bad"]),
                         ("整改数", r["rectifications"]), ("整改率", r["rectification_rate"]),
                         ("咨询投诉建议数", q["received"]), ("已答复", q["replied"]), ("按时答复", q["replied_on_time"]),
                         ("答复满意率", q["satisfaction_rate"])]:
        ws.append([label, value])
    head = ["名称", "收件数", "受理数", "办结数", "按时办结数", "超期办结数", "平均办理工作日"]
    for title, rows in (("地区", figures.region_ranking(user, f)), ("部门", figures.department_ranking(user, f)),
                        ("事项", figures.item_ranking(user, f))):
        sheet = wb.create_sheet(title)
        sheet.append(head)
        for row in rows:
            sheet.append([row["name"], row["received"], row["accepted"], row["concluded"], row["concluded_on_time"],
                          row["concluded_late"], row["avg_work_days"]])
    sheet = wb.create_sheet("趋势")
    sheet.append(["日期", "收件数", "受理数", "办结数", "按时办结数"])
    for d in figures.trend(user, f):
        sheet.append([d["day"], d["received"], d["accepted"], d["concluded"], d["concluded_on_time"]])
    sheet = wb.create_sheet("跨域流转")
    sheet.append(["方向", "合作区划", "件数"])
    names = dict(Region.objects.filter(path__in=list(h["out_by_partner"]) + list(h["in_by_partner"])).values_list("path", "name"))
    for direction, rows in (("转出", h["out_by_partner"]), ("转入", h["in_by_partner"])):
        for path, n in sorted(rows.items()):
            sheet.append([direction, names.get(path, path), n])
    buf = io.BytesIO()
    wb.save(buf)
    response = HttpResponse(buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="cockpit.xlsx"'
    return response
