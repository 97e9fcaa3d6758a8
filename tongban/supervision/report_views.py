"""Pages of the periodic supervision reports under /cockpit/reports/: the quarterly progress report
(draft → 报送) and the periodic 通报, each downloadable as Excel and PDF. Supervisors and platform
administrators of the region or a region above it only (scopes.READERS)."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from tongban.core import authz
from tongban.core.errors import DomainError
from tongban.directory.models import Region
from tongban.workbench.views import nav_context, staff_required

from . import report_documents as docs
from . import reports
from .models import QuarterlyReport


def _errors(view):
    """Domain and permission errors as a Chinese page (documents: plain text) with their 4xx status."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except authz.PermissionDenied as exc:
            message, status = exc.message, 403
        except DomainError as exc:
            message, status = exc.message, exc.status
        if kwargs.get("fmt"):
            return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        return render(request, "supervision/error.html", {"message": message, **nav_context(request)}, status=status)

    return wrapper


def _region(request):
    value = request.POST.get("region") if request.method == "POST" else request.GET.get("region")
    return reports.readable_region(request.user, value) if value else reports.default_region(request.user)


def _quarter(request):
    value = request.POST.get("quarter") if request.method == "POST" else request.GET.get("quarter")
    return reports.parse_quarter(value) if value else reports.current_quarter()


def _child_regions(user, region):
    """The region and the regions below it a supervisor may pick (their own subtree, two levels)."""
    rows = list(Region.objects.filter(path__startswith=region.path, level__in=_levels_below(region)).order_by("path").values("path", "name", "code"))
    return rows[:400]


def _levels_below(region):
    order = [Region.NATIONAL, Region.PROVINCE, Region.PREFECTURE, Region.COUNTY, Region.TOWNSHIP]
    try:
        i = order.index(region.level)
    except ValueError:
        return [region.level]
    return order[i:i + 3]


def _root_regions(user):
    paths = sorted({p for role, p, _d in authz.grants(user) if role in reports.READERS})
    return list(Region.objects.filter(path__in=paths).order_by("path"))


@staff_required
@_errors
def index(request):
    roots = _root_regions(request.user)
    if not roots:
        raise authz.PermissionDenied("仅监管人员和平台管理员可以查看监管报告")
    year, quarter = reports.current_quarter()
    recent = authz.filter_queryset(QuarterlyReport.objects.select_related("region"), request.user).order_by("-year", "-quarter", "region_path")[:50]
    return render(request, "supervision/reports_index.html", {
        "nav": "cockpit", "roots": roots, "quarter": f"{year}Q{quarter}", "deadline": reports.deadline_status(year, quarter),
        "recent": recent, "regions": _child_regions(request.user, roots[0]), **nav_context(request),
    })


def _quarter_query(region, year, quarter):
    return urlencode({"region": region.path, "quarter": f"{year}Q{quarter}"})


@staff_required
@_errors
@require_http_methods(["GET", "POST"])
def quarterly(request):
    region, (year, quarter) = _region(request), _quarter(request)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "submit":
            reports.submit(request.user, region, year, quarter, request.POST)
            messages.success(request, "季度报告已报送")
        elif action == "save":
            reports.save_draft(request.user, region, year, quarter, request.POST)
            messages.success(request, "草稿已保存")
        else:
            raise DomainError("未知操作", status=400)
        return redirect(f"{reverse('supervision:quarterly')}?{_quarter_query(region, year, quarter)}")
    report, data = reports.view(request.user, region, year, quarter)
    query = _quarter_query(region, year, quarter)
    return render(request, "supervision/quarterly.html", {
        "nav": "cockpit", "region": region, "year": year, "quarter": quarter, "report": report, "data": data,
        "sections": docs.quarterly_sections(data), "deadline": reports.deadline_status(year, quarter), "query": query,
        "frozen": report is not None and report.status == QuarterlyReport.SUBMITTED, "regions": _child_regions(request.user, region),
        **nav_context(request),
    })


@staff_required
@_errors
def quarterly_download(request, fmt):
    region, (year, quarter) = _region(request), _quarter(request)
    report, data = reports.view(request.user, region, year, quarter)
    name = f"quarterly-{region.code}-{year}Q{quarter}"
    return _download(docs.quarterly_xlsx(data, report) if fmt == "xlsx" else docs.quarterly_pdf(data, report), fmt, name)


def _period(request):
    value = request.GET.get("period")
    if value:
        return reports.parse_period(value)
    return reports.quarter_period(*reports.current_quarter())


@staff_required
@_errors
def bulletin(request):
    region, period = _region(request), _period(request)
    data = reports.bulletin(request.user, region, period)
    return render(request, "supervision/bulletin.html", {
        "nav": "cockpit", "region": region, "period": period, "data": data, "sections": docs.bulletin_sections(data),
        "query": urlencode({"region": region.path, "period": period.key}), "regions": _child_regions(request.user, region),
        **nav_context(request),
    })


@staff_required
@_errors
def bulletin_download(request, fmt):
    region, period = _region(request), _period(request)
    data = reports.bulletin(request.user, region, period)
    name = f"bulletin-{region.code}-{period.key}"
    return _download(docs.bulletin_xlsx(data) if fmt == "xlsx" else docs.bulletin_pdf(data), fmt, name)


def _download(body, fmt, name):
    response = HttpResponse(body, content_type=docs.XLSX_TYPE if fmt == "xlsx" else "application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
