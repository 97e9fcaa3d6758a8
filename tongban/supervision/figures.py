"""Cockpit figures over a filter: plain dicts, one function per figure family.

Case counts (received, accepted, concluded, on time, working days) are sums over `DailyCaseFigure`;
a scope filter (on the implementation) is not in the summary key, so it is answered from the cases
directly. Overdue, hand-offs, ratings and inquiries are indexed queries on their own tables. Every
queryset goes through `authz.filter_queryset`; the region filter keeps the competent subtree.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from tongban.cases.models import Case, Mode
from tongban.core import authz
from tongban.directory.models import Region
from tongban.evaluation.models import Evaluation, Level, Rectification
from tongban.inquiries.models import Inquiry, Satisfaction
from tongban.inquiries.models import Status as InquiryStatus

from .models import DailyCaseFigure
from .summary import case_work_days

OPEN_STATUSES = ("submitted", "supplement", "accepted", "under_review", "special", "approved", "denied")
GOOD_LEVELS = (Level.VERY_SATISFIED, Level.SATISFIED, Level.BASIC)
COUNTS = ("received", "accepted", "concluded", "concluded_on_time", "work_days")


@dataclass(frozen=True)
class Filter:
    start: date
    end: date  # inclusive
    region_path: str
    department_id: int | None = None
    item_id: int | None = None
    mode: str = ""
    scope: str = ""

    def bounds(self):
        tz = timezone.get_current_timezone()
        return (datetime.combine(self.start, time.min, tzinfo=tz), datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz))


def child_path(path, parent):
    """The path of `parent`'s child that `path` lies under (itself when it is the parent)."""
    rest = path[len(parent):]
    seg = rest.split("/", 1)[0]
    return parent + seg + "/" if seg else parent


def _case_place(qs, f, prefix=""):
    qs = qs.filter(**{f"{prefix}region_path__startswith": f.region_path})
    if f.department_id:
        qs = qs.filter(**{f"{prefix}department_id": f.department_id})
    if f.item_id:
        qs = qs.filter(**{f"{prefix}implementation__item_id": f.item_id})
    if f.mode:
        qs = qs.filter(**{f"{prefix}mode": f.mode})
    if f.scope:
        qs = qs.filter(**{f"{prefix}implementation__scopes__has": f.scope})
    return qs


def cases(user, f):
    return _case_place(authz.filter_queryset(Case.objects.all(), user), f)


def _summary(user, f):
    qs = authz.filter_queryset(DailyCaseFigure.objects.all(), user).filter(
        region_path__startswith=f.region_path, day__gte=f.start, day__lte=f.end)
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(item_id=f.item_id)
    if f.mode:
        qs = qs.filter(mode=f.mode)
    return qs


def _direct_counts(user, f, group=None):
    """The same counts as the summary, straight from the cases (scope filter; tests)."""
    lo, hi = f.bounds()
    out = {}
    base = cases(user, f)

    def slot(key):
        return out.setdefault(key, dict.fromkeys(COUNTS, 0))

    for c in base.filter(Q(submitted_at__gte=lo, submitted_at__lt=hi) | Q(accepted_at__gte=lo, accepted_at__lt=hi)
                         | Q(concluded_at__gte=lo, concluded_at__lt=hi)).values(
            "region_path", "department_id", "implementation__item_id", "submitted_at", "accepted_at", "concluded_at", "due_date"):
        for field, name in (("submitted_at", "received"), ("accepted_at", "accepted"), ("concluded_at", "concluded")):
            at = c[field]
            if at is None or not (lo <= at < hi):
                continue
            day = timezone.localtime(at).date()
            s = slot(group(c, day) if group else None)
            s[name] += 1
            if name == "concluded":
                if c["due_date"] is not None and day <= c["due_date"]:
                    s["concluded_on_time"] += 1
                if c["accepted_at"]:
                    s["work_days"] += case_work_days(c["accepted_at"], at)
    return out


def _finish(s):
    s = dict(s)
    s["concluded_late"] = s["concluded"] - s["concluded_on_time"]
    s["on_time_rate"] = round(s["concluded_on_time"] / s["concluded"], 4) if s["concluded"] else None
    s["avg_work_days"] = round(s["work_days"] / s["concluded"], 2) if s["concluded"] else None
    return s


def _grouped_counts(user, f, by):
    """by: 'region' (child of the filter region), 'department', 'item' or 'day' → {key: counts}."""
    if f.scope:
        def group(c, day):
            return {"region": child_path(c["region_path"], f.region_path), "department": c["department_id"],
                    "item": c["implementation__item_id"], "day": day}.get(by) if by else None
        return _direct_counts(user, f, group)
    column = {"region": "region_path", "department": "department_id", "item": "item_id", "day": "day"}.get(by)
    qs = _summary(user, f)
    rows = qs.values(column).annotate(**{k: Sum(k) for k in COUNTS}).order_by() if column else [qs.aggregate(**{k: Sum(k) for k in COUNTS})]
    out = {}
    for r in rows:
        key = None
        if column:
            key = child_path(r[column], f.region_path) if by == "region" else r[column]
        s = out.setdefault(key, dict.fromkeys(COUNTS, 0))
        for k in COUNTS:
            s[k] += r[k] or 0
    return out


def case_counts(user, f):
    """received, accepted, concluded, concluded_on_time, concluded_late, avg_work_days, overdue."""
    s = _finish(_grouped_counts(user, f, None).get(None) or dict.fromkeys(COUNTS, 0))
    s["open_overdue"] = open_overdue(user, f)
    s["overdue"] = s["open_overdue"] + s["concluded_late"]
    return s


def open_overdue(user, f, today=None):
    """Cases still open past their due date (as of today), accepted in the period or before."""
    today = today or timezone.localdate()
    _lo, hi = f.bounds()
    return cases(user, f).filter(status__in=OPEN_STATUSES, due_date__lt=today, submitted_at__lt=hi).count()


def case_counts_by(user, f, by):
    raw = _grouped_counts(user, f, by)
    return {k: _finish(v) for k, v in raw.items()}


def handoffs(user, f):
    """Cross-region hand-offs submitted in the period: out (received here, competent elsewhere) and in
    (competent here, received elsewhere), counted per partner region (province of the other side)."""
    lo, hi = f.bounds()
    base = authz.filter_queryset(Case.objects.all(), user).filter(submitted_at__gte=lo, submitted_at__lt=hi).exclude(receiving_region_path="")
    if f.mode:
        base = base.filter(mode=f.mode)
    if f.item_id:
        base = base.filter(implementation__item_id=f.item_id)
    p = f.region_path
    out_qs = base.filter(receiving_region_path__startswith=p).exclude(region_path__startswith=p)
    in_qs = base.filter(region_path__startswith=p).exclude(receiving_region_path__startswith=p)
    if f.department_id:
        out_qs = out_qs.filter(receiving_department_id=f.department_id)
        in_qs = in_qs.filter(department_id=f.department_id)

    def per_partner(qs, column):
        result = {}
        for path, n in qs.values_list(column).annotate(n=Count("id")).order_by():
            key = child_path(path, "000000/")
            result[key] = result.get(key, 0) + n
        return result

    out_by, in_by = per_partner(out_qs, "region_path"), per_partner(in_qs, "receiving_region_path")
    return {"out": sum(out_by.values()), "in": sum(in_by.values()), "out_by_partner": out_by, "in_by_partner": in_by}


def ratings(user, f):
    """Satisfaction over counted initial ratings (appeals upheld excluded), bad ratings and rectification."""
    lo, hi = f.bounds()
    qs = authz.filter_queryset(Evaluation.objects.all(), user).filter(
        region_path__startswith=f.region_path, created_at__gte=lo, created_at__lt=hi, kind=Evaluation.INITIAL)
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(implementation__item_id=f.item_id)
    if f.mode:
        qs = qs.filter(case__mode=f.mode)
    counted = qs.filter(status=Evaluation.COUNTED)
    agg = counted.aggregate(total=Count("id"), good=Count("id", filter=Q(level__in=GOOD_LEVELS)),
                            bad=Count("id", filter=Q(level__in=(Level.DISSATISFIED, Level.VERY_DISSATISFIED))))
    rect = authz.filter_queryset(Rectification.objects.all(), user).filter(evaluation__in=qs.values("pk"))
    r = rect.aggregate(total=Count("id"), done=Count("id", filter=Q(status=Rectification.DONE)),
                       excluded=Count("id", filter=Q(status=Rectification.EXCLUDED)))
    due = r["total"] - r["excluded"]
    return {
        "ratings": agg["total"], "satisfied": agg["good"], "bad": agg["bad"],
        "satisfaction_rate": round(agg["good"] / agg["total"], 4) if agg["total"] else None,
        "rectifications": r["total"], "rectified": r["done"], "appeals_upheld": r["excluded"],
        "rectification_rate": round(r["done"] / due, 4) if due else None,
    }


def inquiries(user, f):
    """咨询投诉建议 received in the period: replied, replied on time, overdue, satisfaction with the reply."""
    lo, hi = f.bounds()
    qs = authz.filter_queryset(Inquiry.objects.all(), user).filter(region_path__startswith=f.region_path, submitted_at__gte=lo, submitted_at__lt=hi)
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(item_id=f.item_id)
    today = timezone.localdate()
    rows = list(qs.values("replied_at", "due_date", "status", "satisfaction"))
    replied = [r for r in rows if r["replied_at"]]
    on_time = sum(1 for r in replied if timezone.localtime(r["replied_at"]).date() <= r["due_date"])
    rated = [r for r in rows if r["satisfaction"]]
    good = sum(1 for r in rated if r["satisfaction"] in (Satisfaction.SATISFIED, Satisfaction.BASIC))
    overdue = sum(1 for r in rows if (not r["replied_at"] and r["due_date"] < today) or r["status"] == InquiryStatus.ESCALATED)
    return {"received": len(rows), "replied": len(replied), "replied_on_time": on_time, "overdue": overdue,
            "rated": len(rated), "satisfied": good, "satisfaction_rate": round(good / len(rated), 4) if rated else None}


def trend(user, f):
    """Per-day case counts for the period (days without cases included as zeros)."""
    by_day = case_counts_by(user, f, "day")
    days, d = [], f.start
    while d <= f.end:
        s = by_day.get(d) or _finish(dict.fromkeys(COUNTS, 0))
        days.append({"day": d.isoformat(), **{k: s[k] for k in ("received", "accepted", "concluded", "concluded_on_time")}})
        d += timedelta(days=1)
    return days


def region_ranking(user, f):
    """Per child region of the filter region (drill-down), best on-time rate first."""
    raw = case_counts_by(user, f, "region")
    names = dict(Region.objects.filter(path__in=[k for k in raw if k]).values_list("path", "name"))
    rows = [{"path": k, "name": names.get(k, k), "drill": k != f.region_path, **v} for k, v in raw.items() if k]
    return sorted(rows, key=lambda r: (-(r["on_time_rate"] or 0), -r["received"]))


def department_ranking(user, f):
    from tongban.directory.models import Department

    raw = case_counts_by(user, f, "department")
    names = dict(Department.objects.filter(pk__in=[k for k in raw if k]).values_list("pk", "name"))
    return sorted(({"id": k, "name": names.get(k, str(k)), **v} for k, v in raw.items() if k),
                  key=lambda r: (-r["received"], r["name"]))


def item_ranking(user, f):
    from tongban.catalog.models import Item

    raw = case_counts_by(user, f, "item")
    names = dict(Item.objects.filter(pk__in=[k for k in raw if k]).values_list("pk", "name"))
    return sorted(({"id": k, "name": names.get(k, str(k)), **v} for k, v in raw.items() if k),
                  key=lambda r: (-r["received"], r["name"]))


def overview(user, f):
    return {"cases": case_counts(user, f), "handoffs": handoffs(user, f), "ratings": ratings(user, f), "inquiries": inquiries(user, f)}


MODE_LABELS = dict(Mode.choices)
