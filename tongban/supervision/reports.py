"""Periodic supervision reports built from the cockpit's figures (figures.py), never from separate counts:

- 季度工作进展报告 (seed 001): each region reports its 跨省通办 progress to the coordination office by the
  25th of each quarter's last month. A draft holds the supervisor's text and a snapshot of the figures;
  报送 freezes both (who/when), a second submission is refused.
- 定期通报 (seed 000): for a month or a quarter, the departments and the child regions ranked by a
  composite score of on-time conclusion, satisfaction, rectification of bad ratings and inquiry handling,
  with 表扬 (top) and 督促整改 (bottom) lists.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from tongban.catalog.choices import SCOPES
from tongban.catalog.models import ListEntry
from tongban.core import audit, authz
from tongban.core.errors import Conflict, DomainError
from tongban.core.masking import mask_text
from tongban.directory.models import Department, Region
from tongban.evaluation.models import Rectification
from tongban.inquiries.models import Inquiry
from tongban.inquiries.models import Status as InquiryStatus

from . import figures
from .models import QuarterlyReport
from .scopes import READERS

DEADLINE_DAY = 25
SCOPE_LABELS = dict(SCOPES)
REPORT_SCOPES = ("cross_province", "province_wide", "city_wide")  # 跨省 / 省内 / 市内
PROBLEM_ROWS = 50
TOP_ITEMS = 10
# The 通报's composite score: weights in percent over the rates a unit has (a unit without ratings is
# scored on the others, the weights rescaled), documented on the page.
WEIGHTS = [
    ("on_time_rate", "按时办结率", 40),
    ("satisfaction_rate", "好差评满意率", 30),
    ("rectification_rate", "差评整改率", 15),
    ("inquiry_rate", "咨询投诉按时答复率", 15),
]
PRAISE_SHARE = 0.2  # 表扬 the top fifth, 督促整改 the bottom fifth (at least one each when two or more units)


class SystemReader:
    """A national read-only identity for scheduled generation (manage.py supervision_report): the
    same authorisation filters then apply as for a national platform administrator."""

    pk = None
    id = None
    is_authenticated = True
    is_active = True
    is_superuser = False
    _tongban_grants = (("platform_admin", "000000/", None),)

    def get_full_name(self):
        return "系统定时生成"

    get_username = get_full_name


# --- periods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str
    key: str  # 2026Q4 / 2026-10


def parse_quarter(text):
    m = re.fullmatch(r"\s*(\d{4})\s*[Qq]([1-4])\s*", text or "")
    if not m:
        raise DomainError("季度格式不正确，应为 2026Q4 这样的年份加季度", status=400)
    return int(m.group(1)), int(m.group(2))


def quarter_period(year, quarter):
    if not (2000 <= year <= 2100 and 1 <= quarter <= 4):
        raise DomainError("季度超出范围", status=400)
    start = date(year, 3 * quarter - 2, 1)
    end = (date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)) - timedelta(days=1)
    return Period(start, end, f"{year}年第{quarter}季度", f"{year}Q{quarter}")


def parse_period(text):
    """A month (2026-10) or a quarter (2026Q4)."""
    text = (text or "").strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise DomainError("月份超出范围", status=400)
        start = date(year, month, 1)
        end = (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)
        return Period(start, end, f"{year}年{month}月", f"{year}-{month:02d}")
    if re.fullmatch(r"\d{4}[Qq][1-4]", text):
        return quarter_period(*parse_quarter(text))
    raise DomainError("通报期间格式不正确，应为月份（2026-10）或季度（2026Q4）", status=400)


def current_quarter(today=None):
    today = today or timezone.localdate()
    return today.year, (today.month - 1) // 3 + 1


def deadline(year, quarter):
    """Due by the 25th of the quarter's last month (seed 001); no working-day shift."""
    return date(year, 3 * quarter, DEADLINE_DAY)


def deadline_status(year, quarter, today=None):
    today = today or timezone.localdate()
    due = deadline(year, quarter)
    days = (due - today).days
    if days > 0:
        text = f"报送截止 {due:%Y年%m月%d日}，还剩 {days} 天"
    elif days == 0:
        text = f"报送截止 {due:%Y年%m月%d日}，今天截止"
    else:
        text = f"报送截止 {due:%Y年%m月%d日}，已逾期 {-days} 天"
    return {"deadline": due, "days_left": days, "overdue": days < 0, "text": text}


# --- authorisation ----------------------------------------------------------------------------------


def readable_region(user, region_path_or_code):
    """The region if the user supervises it (their own or one below), else PermissionDenied."""
    value = (region_path_or_code or "").strip()
    region = Region.objects.filter(Q(path=value) | Q(code=value)).first() if value else None
    if region is None:
        raise DomainError("区划不存在", status=404)
    paths = [p for role, p, _d in authz.grants(user) if role in READERS]
    if not any(region.path.startswith(p) for p in paths):
        raise authz.PermissionDenied("您无权查看该区划的报告")
    return region


def default_region(user):
    paths = sorted({p for role, p, _d in authz.grants(user) if role in READERS})
    if not paths:
        raise authz.PermissionDenied("仅监管人员和平台管理员可以查看监管报告")
    return Region.objects.get(path=paths[0])


# --- figures ---------------------------------------------------------------------------------------


def _filter(region, period, **kw):
    return figures.Filter(start=period.start, end=period.end, region_path=region.path, **kw)


def _names(model, ids, field="name"):
    return dict(model.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", field))


def list_items(region):
    """Entries of the 通办 lists that apply to the region: published by it or a region above it, or
    naming it (or a region above it) as a partner — per scope, with how many are implemented."""
    ancestors = [p for p in _ancestor_paths(region.path)]
    lists_q = Q(tongban_list__region__path__in=ancestors) | Q(tongban_list__partner_regions__path__in=ancestors)
    rows = (ListEntry.objects.filter(lists_q).values("tongban_list__scope")
            .annotate(n=Count("id", distinct=True), done=Count("id", filter=Q(status=ListEntry.IMPLEMENTED), distinct=True)).order_by())
    out = {scope: {"label": label, "items": 0, "implemented": 0} for scope, label in SCOPES}
    for r in rows:
        s = out.setdefault(r["tongban_list__scope"], {"label": r["tongban_list__scope"], "items": 0, "implemented": 0})
        s["items"] += r["n"]
        s["implemented"] += r["done"]
    total = {"items": sum(s["items"] for s in out.values()), "implemented": sum(s["implemented"] for s in out.values())}
    return {"by_scope": out, **total}


def _ancestor_paths(path):
    codes = [c for c in path.split("/") if c]
    return ["/".join(codes[: i + 1]) + "/" for i in range(len(codes))]


def problems(user, region, period, today=None):
    """Open overdue cases, unrectified bad ratings and overdue inquiries of the period (first rows and totals)."""
    today = today or timezone.localdate()
    f = _filter(region, period)
    lo, hi = f.bounds()
    overdue = figures.cases(user, f).filter(status__in=figures.OPEN_STATUSES, due_date__lt=today, submitted_at__lt=hi).order_by("due_date", "case_no")
    rect = (authz.filter_queryset(Rectification.objects.all(), user)
            .filter(region_path__startswith=region.path, evaluation__created_at__gte=lo, evaluation__created_at__lt=hi)
            .exclude(status__in=(Rectification.DONE, Rectification.EXCLUDED)).order_by("deadline", "pk"))
    inq = (authz.filter_queryset(Inquiry.objects.all(), user)
           .filter(region_path__startswith=region.path, submitted_at__gte=lo, submitted_at__lt=hi)
           .filter(Q(replied_at__isnull=True, due_date__lt=today) | Q(status=InquiryStatus.ESCALATED)).order_by("due_date", "pk"))
    case_rows = [{"case_no": c.case_no, "item": c.implementation.item.name, "department": c.department.name if c.department_id else "",
                  "due_date": c.due_date.isoformat(), "days_over": (today - c.due_date).days}
                 for c in overdue.select_related("implementation__item", "department")[:PROBLEM_ROWS]]
    rect_rows = [{"item": r.evaluation.item_name, "department": r.department.name if r.department_id else "",
                  "status": r.get_status_display(), "deadline": r.deadline.isoformat() if r.deadline else ""}
                 for r in rect.select_related("evaluation", "department")[:PROBLEM_ROWS]]
    # An inquiry's title is free text: ID numbers and phone numbers in it are masked.
    inq_rows = [{"no": q.inquiry_no or str(q.pk), "title": mask_text(q.title), "department": q.department.name if q.department_id else "",
                 "due_date": q.due_date.isoformat(), "status": q.get_status_display()}
                for q in inq.select_related("department")[:PROBLEM_ROWS]]
    return {"overdue_cases": case_rows, "overdue_cases_total": overdue.count(),
            "unrectified": rect_rows, "unrectified_total": rect.count(),
            "overdue_inquiries": inq_rows, "overdue_inquiries_total": inq.count()}


def _handoff_partners(h):
    paths = set(h["out_by_partner"]) | set(h["in_by_partner"])
    names = dict(Region.objects.filter(path__in=paths).values_list("path", "name"))
    return [{"partner": names.get(p, p), "path": p, "out": h["out_by_partner"].get(p, 0), "in": h["in_by_partner"].get(p, 0)}
            for p in sorted(paths, key=lambda p: (-(h["out_by_partner"].get(p, 0) + h["in_by_partner"].get(p, 0)), p))]


def quarterly_figures(user, region, year, quarter, today=None):
    """Everything the quarterly report shows, as JSON-ready data (the snapshot stored on the report)."""
    period = quarter_period(year, quarter)
    f = _filter(region, period)
    cases = figures.case_counts(user, f)
    by_scope = []
    for scope in REPORT_SCOPES:
        c = figures.case_counts(user, _filter(region, period, scope=scope))
        by_scope.append({"scope": scope, "label": SCOPE_LABELS[scope], **c})
    h = figures.handoffs(user, f)
    items = [{"name": r["name"], "received": r["received"], "concluded": r["concluded"], "on_time_rate": r["on_time_rate"]}
             for r in figures.item_ranking(user, f, limit=TOP_ITEMS)]
    return {
        "region": {"code": region.code, "name": region.name, "path": region.path},
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "label": period.label},
        "cases": cases, "by_scope": by_scope,
        "handoffs": {"out": h["out"], "in": h["in"], "partners": _handoff_partners(h)},
        "ratings": figures.ratings(user, f), "inquiries": figures.inquiries(user, f),
        "list_items": list_items(region), "top_items": items,
        "problems": problems(user, region, period, today),
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
    }


# --- the quarterly report's workflow -------------------------------------------------------------------


def find(user, region, year, quarter):
    return authz.filter_queryset(QuarterlyReport.objects.all(), user).filter(region=region, year=year, quarter=quarter).first()


def view(user, region, year, quarter):
    """(report or None, figures): a submitted report shows its frozen snapshot, a draft live figures."""
    report = find(user, region, year, quarter)
    if report is not None and report.status == QuarterlyReport.SUBMITTED:
        return report, report.figures
    return report, quarterly_figures(user, region, year, quarter)


TEXT_FIELDS = (("measures", "工作举措"), ("problems", "存在问题"), ("plans", "下一步计划"))
TEXT_MAX = 5000


def _clean_text(data):
    out = {}
    for name, label in TEXT_FIELDS:
        value = str(data.get(name) or "").strip()
        if len(value) > TEXT_MAX:
            raise DomainError(f"{label}不能超过{TEXT_MAX}字", status=400)
        out[name] = value
    return out


def _locked(user, region, year, quarter):
    """The report row, locked, created as a draft when missing (unique key: a concurrent creator wins once)."""
    QuarterlyReport.objects.get_or_create(region=region, year=year, quarter=quarter,
                                          defaults={"region_path": region.path, "created_by": _user_or_none(user)})
    return QuarterlyReport.objects.select_for_update().get(region=region, year=year, quarter=quarter)


def _user_or_none(user):
    return user if getattr(user, "pk", None) else None


def _check_writer(user, region):
    readable_region(user, region.path)


def save_draft(user, region, year, quarter, data):
    quarter_period(year, quarter)
    _check_writer(user, region)
    text = _clean_text(data)
    with transaction.atomic():
        report = _locked(user, region, year, quarter)
        if report.status == QuarterlyReport.SUBMITTED:
            raise Conflict("该季度报告已报送，不能再修改")
        for k, v in text.items():
            setattr(report, k, v)
        report.figures = quarterly_figures(user, region, year, quarter)
        report.save()
    return report


def submit(user, region, year, quarter, data=None):
    """报送: the text (if given) and a fresh snapshot frozen with who/when; a second submission is a 409."""
    quarter_period(year, quarter)
    _check_writer(user, region)
    text = _clean_text(data) if data is not None else None
    with transaction.atomic():
        report = _locked(user, region, year, quarter)
        if report.status == QuarterlyReport.SUBMITTED:
            raise Conflict(f"该季度报告已于 {timezone.localtime(report.submitted_at):%Y-%m-%d %H:%M} 由{report.submitted_by_name}报送，不能重复报送")
        if text is not None:
            for k, v in text.items():
                setattr(report, k, v)
        if not (report.measures or report.problems or report.plans):
            raise DomainError("请先填写工作举措、存在问题或下一步计划再报送", status=400)
        report.figures = quarterly_figures(user, region, year, quarter)
        report.status = QuarterlyReport.SUBMITTED
        report.submitted_by = _user_or_none(user)
        report.submitted_by_name = (user.get_full_name() or user.get_username()) if hasattr(user, "get_full_name") else ""
        report.submitted_at = timezone.now()
        report.save()
        audit.record(_user_or_none(user), "quarterly_report_submit", report, f"报送{region.name}{year}年第{quarter}季度工作进展报告")
    return report


# --- 定期通报 --------------------------------------------------------------------------------------------


def composite(unit):
    """Score 0–100 over the rates present, weights rescaled; None when the unit has no rate at all."""
    have = [(unit[k], w) for k, _label, w in WEIGHTS if unit.get(k) is not None]
    if not have:
        return None
    return round(100 * sum(v * w for v, w in have) / sum(w for _v, w in have), 1)


def _units(user, f, by, name_of):
    cases = figures.case_counts_by(user, f, by)
    rates = figures.ratings_by(user, f, by)
    inq = figures.inquiries_by(user, f, by)
    keys = [k for k in set(cases) | set(rates) | set(inq) if k]
    names = name_of(keys)
    rows = []
    for k in keys:
        c, r, q = cases.get(k, {}), rates.get(k, {}), inq.get(k, {})
        unit = {
            "key": str(k), "name": names.get(k, str(k)),
            "received": c.get("received", 0), "concluded": c.get("concluded", 0), "concluded_on_time": c.get("concluded_on_time", 0),
            "on_time_rate": c.get("on_time_rate"),
            "ratings": r.get("ratings", 0), "bad": r.get("bad", 0), "satisfaction_rate": r.get("satisfaction_rate"),
            "rectification_rate": r.get("rectification_rate"),
            "inquiries": q.get("received", 0), "inquiry_rate": q.get("on_time_rate"),
        }
        unit["score"] = composite(unit)
        rows.append(unit)
    rows.sort(key=lambda u: (u["score"] is None, -(u["score"] or 0), -u["received"], u["name"]))
    return _rank(rows)


def bulletin(user, region, period):
    f = _filter(region, period)
    departments = _units(user, f, "department", lambda ids: _names(Department, ids))
    regions = _units(user, f, "region", lambda paths: dict(Region.objects.filter(path__in=paths).values_list("path", "name")))
    # The region's own level (cases registered at the region itself) is not a child to rank against them.
    regions = _rank([u for u in regions["rows"] if u["key"] != region.path])
    return {
        "region": {"code": region.code, "name": region.name, "path": region.path},
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "label": period.label, "key": period.key},
        "weights": [{"key": k, "label": label, "weight": w} for k, label, w in WEIGHTS],
        "departments": departments, "regions": regions,
        "overall": figures.case_counts(user, f),
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
    }


def _rank(rows):
    """Ranks over the scored units (best first), 表扬 the top share and 督促整改 the bottom share."""
    scored = [u for u in rows if u["score"] is not None]
    for u in rows:
        u["rank"] = None
    for rank, u in enumerate(scored, 1):
        u["rank"] = rank
    k = max(1, round(len(scored) * PRAISE_SHARE)) if len(scored) >= 2 else 0
    return {"rows": rows, "praise": [u["name"] for u in scored[:k]], "urge": [u["name"] for u in reversed(scored[-k:])] if k else []}
