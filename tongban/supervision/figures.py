"""Cockpit figures over a filter: plain dicts, one function per figure family.

Case counts (received, accepted, concluded, on time, working days) are sums over the summary tables
(summary.py): `RegionDayFigure` (per level of the region tree) for totals, trends and region rankings,
`DailyCaseFigure` when a department or item is involved; overdue from `OpenCase`; hand-offs from
`RegionFlowFigure` (places cut to province/prefecture, by month) or `DailyFlowFigure`; ratings from
`RatingDayFigure` (per level) or, for a department or item, the ratings; inquiries are index-only
counts on their own table. Every queryset goes through `authz.filter_queryset`; the region filter
keeps the competent subtree.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from tongban.cases.models import Case, Mode
from tongban.core import authz
from tongban.directory.models import Region
from tongban.evaluation.models import BAD_LEVELS, GOOD_LEVELS, Evaluation, Rectification
from tongban.inquiries.models import Inquiry, Satisfaction
from tongban.inquiries.models import Status as InquiryStatus

from .models import DailyCaseFigure, DailyFlowFigure, OpenCase, RankingFigure, RatingDayFigure, RegionDayFigure, RegionFlowFigure
from .scopes import READERS
from .summary import FLOW_LEVELS, ITEM_LEVEL, ITEM_PROVINCE_LEVEL, LEVELS, RATING_FIELDS, depth

OPEN_STATUSES = ("submitted", "supplement", "accepted", "under_review", "special", "approved", "denied")
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
    if f.scope:
        qs = qs.filter(scopes__has=f.scope)
    return qs


def _rollup_root(user, f):
    """The region whose subtree the user reads in full under the filter region, for the per-level
    rollup (no department column): the filter region when an unrestricted grant covers it, else the one
    grant below it when it is unrestricted. None (use the department-level table) otherwise."""
    grants = [(p, d) for role, p, d in authz.grants(user) if role in READERS]
    if any(f.region_path.startswith(p) for p, d in grants if d is None):
        return f.region_path
    below = [(p, d) for p, d in grants if p.startswith(f.region_path)]
    if len(below) == 1 and below[0][1] is None:
        return below[0][0]
    return None


def _level_qs(user, f, by, model):
    """The rows of a per-level rollup (RegionDayFigure, RatingDayFigure) in the filter's period and place,
    before the mode and scope filters, or None when the rollup cannot answer (department or item asked,
    a grant narrower than the rows, a place below the county)."""
    if f.department_id or f.item_id or by not in (None, "day", "region"):
        return None
    root = _rollup_root(user, f)
    if root is None:
        return None
    level = max(depth(f.region_path) + (1 if by == "region" else 0), depth(root), LEVELS[0])
    if level > LEVELS[-1]:
        return None
    return authz.filter_queryset(model.objects.all(), user).filter(level=level, region_path__startswith=root, day__gte=f.start, day__lte=f.end)


def _level_rows(user, f, by, model, fields):
    """Sums of `fields` from a per-level rollup: {None | day | child region: sums}, or None (see _level_qs)."""
    qs = _level_qs(user, f, by, model)
    if qs is None:
        return None
    if f.mode:
        qs = qs.filter(mode=f.mode)
    if f.scope:
        qs = qs.filter(scopes__has=f.scope)
    column = {"region": "region_path", "day": "day"}.get(by)
    rows = qs.values(column).annotate(**{k: Sum(k) for k in fields}).order_by() if column else [qs.aggregate(**{k: Sum(k) for k in fields})]
    out = {}
    for r in rows:
        key = (child_path(r[column], f.region_path) if by == "region" else r[column]) if column else None
        s = out.setdefault(key, dict.fromkeys(fields, 0))
        for k in fields:
            s[k] += r[k] or 0
    return out


def _rollup(user, f, by):
    """Case counts from RegionDayFigure (totals, per day, per child region), or None when it cannot answer."""
    return _level_rows(user, f, by, RegionDayFigure, COUNTS)


def _finish(s):
    s = dict(s)
    s["concluded_late"] = s["concluded"] - s["concluded_on_time"]
    s["on_time_rate"] = round(s["concluded_on_time"] / s["concluded"], 4) if s["concluded"] else None
    s["avg_work_days"] = round(s["work_days"] / s["concluded"], 2) if s["concluded"] else None
    return s


def split_period(start, end):
    """(first whole month, last whole month or None, [(day from, day to)] of the partial months at the ends)."""
    first = start if start.day == 1 else (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    after = end + timedelta(days=1)
    stop = after.replace(day=1)  # months before this one end inside the period
    if first >= stop:
        return None, None, [(start, end)]
    edges = []
    if start < first:
        edges.append((start, first - timedelta(days=1)))
    if stop <= end:
        edges.append((stop, end))
    last = (stop - timedelta(days=1)).replace(day=1)
    return first, last, edges


def period_parts(start, end):
    """[Q] over a day-and-month table (grain "d"/"m", period): whole months as month rows, the days at the
    ends as day rows. Nothing is counted after today, so a period reaching today reads the current month's
    row (the month to date)."""
    today = timezone.localdate()
    if end >= today:
        end = max(end, (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1))
    first, last, edges = split_period(start, end)
    return ([Q(grain="m", period__gte=first, period__lte=last)] if first else []) + [
        Q(grain="d", period__gte=lo, period__lte=hi) for lo, hi in edges]


def _ranking(user, f, by):
    """Department or item counts from RankingFigure (whole months + days at the ends), or None when the
    filter needs dimensions it does not keep (mode, scope, another department or item)."""
    if by not in ("department", "item") or f.mode or f.scope or f.department_id or f.item_id:
        return None
    root = _rollup_root(user, f)
    if root is None or (by == "item" and depth(root) > ITEM_LEVEL):
        return None
    kind = RankingFigure.DEPARTMENT if by == "department" else RankingFigure.ITEM
    if by == "item" and depth(root) <= ITEM_PROVINCE_LEVEL:
        kind = RankingFigure.ITEM_PROVINCE  # a national or provincial ranking: one row per item and province
    out = {}
    # One query per part, each a range on the covering index (an OR of them would read the table).
    for when in period_parts(f.start, f.end):
        qs = authz.filter_queryset(RankingFigure.objects.all(), user).filter(when, kind=kind, region_path__startswith=root)
        for r in qs.values("key_id").annotate(**{k: Sum(k) for k in COUNTS}).order_by():
            s = out.setdefault(r["key_id"], dict.fromkeys(COUNTS, 0))
            for k in COUNTS:
                s[k] += r[k] or 0
    return out


def _grouped_counts(user, f, by):
    """by: 'region' (child of the filter region), 'department', 'item' or 'day' → {key: counts}."""
    rolled = _rollup(user, f, by)
    if rolled is None:
        rolled = _ranking(user, f, by)
    if rolled is not None:
        return rolled
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
    """Cases still open past their due date (as of today), submitted before the period's end (OpenCase)."""
    today = today or timezone.localdate()
    _lo, hi = f.bounds()
    qs = authz.filter_queryset(OpenCase.objects.all(), user).filter(region_path__startswith=f.region_path, due_date__lt=today, submitted_at__lt=hi)
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(item_id=f.item_id)
    if f.mode:
        qs = qs.filter(mode=f.mode)
    if f.scope:
        qs = qs.filter(scopes__has=f.scope)
    return qs.count()


def case_counts_by(user, f, by):
    raw = _grouped_counts(user, f, by)
    return {k: _finish(v) for k, v in raw.items()}


def handoffs(user, f):
    """Cross-region hand-offs submitted in the period (RegionFlowFigure, or DailyFlowFigure for a department,
    an item or a county): out (received here, competent
    elsewhere) and in (competent here, received elsewhere), counted per partner region (province of the
    other side). Mode and scope filters apply (every hand-off is a case with both)."""
    if depth(f.region_path) <= 1:  # the whole country: both places of every case are inside, nothing goes in or out
        return {"out": 0, "in": 0, "out_by_partner": {}, "in_by_partner": {}}
    level = None if f.department_id or f.item_id else flow_rollup_level(user, max(depth(f.region_path), LEVELS[0]))
    if level is None:
        bases = [authz.filter_queryset(DailyFlowFigure.objects.all(), user).filter(day__gte=f.start, day__lte=f.end)]
    else:  # places cut to the level: whole months and the days at the ends
        bases = [authz.filter_queryset(RegionFlowFigure.objects.all(), user).filter(when, level=level)
                 for when in period_parts(f.start, f.end)]
    out_by, in_by = {}, {}
    for base in bases:
        _handoffs_into(f, base, out_by, in_by)
    return {"out": sum(out_by.values()), "in": sum(in_by.values()), "out_by_partner": out_by, "in_by_partner": in_by}


def flow_rollup_level(user, needed):
    """The RegionFlowFigure level that answers for `user` with places at least `needed` segments deep, or
    None (read DailyFlowFigure): every grant must cover whole places (no department) no deeper than a level kept."""
    grants = [(p, d) for role, p, d in authz.grants(user) if role in READERS]
    if not grants or any(d is not None for _p, d in grants):
        return None
    level = max([needed] + [depth(p) for p, _d in grants])
    return level if level <= FLOW_LEVELS[-1] else None


def _handoffs_into(f, base, out_by, in_by):
    if f.mode:
        base = base.filter(mode=f.mode)
    if f.item_id:
        base = base.filter(item_id=f.item_id)
    if f.scope:
        base = base.filter(scopes__has=f.scope)
    p = f.region_path
    out_qs = base.filter(receiving_region_path__startswith=p).exclude(region_path__startswith=p)
    in_qs = base.filter(region_path__startswith=p).exclude(receiving_region_path__startswith=p)
    if f.department_id:
        out_qs = out_qs.filter(receiving_department_id=f.department_id)
        in_qs = in_qs.filter(department_id=f.department_id)

    def per_partner(qs, column, result):
        for path, n in qs.values_list(column).annotate(n=Sum("cases")).order_by():
            key = child_path(path, "000000/")
            result[key] = result.get(key, 0) + n

    per_partner(out_qs, "region_path", out_by)
    per_partner(in_qs, "receiving_region_path", in_by)


def _case_dimensions(qs, f, case_prefix, scope_lookup):
    """Mode and scope filters on ratings and inquiries: only rows tied to a case (mode) or to an
    implementation (scope) carry them. Returns (filtered qs, number of rows left out because they
    carry no such dimension — shown on the page as 不区分通办范围/业务模式)."""
    if not (f.mode or f.scope):
        return qs, 0
    missing = Q()
    filtered = qs
    if f.mode:
        filtered = filtered.filter(**{f"{case_prefix}mode": f.mode})
        missing |= Q(**{f"{case_prefix}isnull": True})
    if f.scope:
        filtered = filtered.filter(**{f"{scope_lookup}__has": f.scope})
        missing |= Q(**{f"{scope_lookup}__isnull": True})
    return filtered, qs.filter(missing).count()


def _group_key(by, f):
    if by == "region":
        return "region_path", lambda v: child_path(v, f.region_path)
    if by == "department":
        return "department_id", lambda v: v
    return None, lambda v: None


def _rating_q(f, prefix=""):
    """The period/place/dimension conditions on ratings (prefix: the path to the rating, e.g. from a rectification)."""
    lo, hi = f.bounds()
    q = Q(**{f"{prefix}region_path__startswith": f.region_path, f"{prefix}created_at__gte": lo, f"{prefix}created_at__lt": hi,
             f"{prefix}kind": Evaluation.INITIAL})
    if f.department_id:
        q &= Q(**{f"{prefix}department_id": f.department_id})
    if f.item_id:
        q &= Q(**{f"{prefix}implementation__item_id": f.item_id})
    if f.mode:
        q &= Q(**{f"{prefix}case__mode": f.mode})
    if f.scope:
        q &= Q(**{f"{prefix}implementation__scopes__has": f.scope})
    return q


def _in_period(user, qs, f, at, item_lookup):
    """Rows (ratings, inquiries) of the filter's region, department and item whose `at` falls in the period,
    through the model's authorisation filter."""
    lo, hi = f.bounds()
    qs = authz.filter_queryset(qs, user).filter(region_path__startswith=f.region_path, **{f"{at}__gte": lo, f"{at}__lt": hi})
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(**{item_lookup: f.item_id})
    return qs


def _rating_rows(user, f):
    qs = _in_period(user, Evaluation.objects.filter(kind=Evaluation.INITIAL), f, "created_at", "implementation__item_id")
    # A window rating without a case has no mode; the scope comes from the implementation rated.
    return _case_dimensions(qs, f, "case__", "implementation__scopes")


def _rating_rollup(user, f, by):
    """ratings_by from RatingDayFigure, or None when the filter needs a department or item."""
    sums = _level_rows(user, f, by, RatingDayFigure, RATING_FIELDS)
    if sums is None:
        return None
    unattributed = 0
    if by is None and (f.mode or f.scope):  # ratings without a case (no mode) or without an implementation (no scope)
        missing = Q(pk__in=[])
        if f.mode:
            missing |= Q(mode="")
        if f.scope:
            missing |= Q(scoped=False)
        unattributed = _level_qs(user, f, None, RatingDayFigure).filter(missing).aggregate(n=Sum("rated"))["n"] or 0
    out = {}
    for key, s in sums.items():
        if key is not None and not (s["ratings"] or s["rectifications"]):
            continue
        out[key] = {k: s[k] for k in RATING_FIELDS if k != "rated"}
    if by is None:
        out.setdefault(None, dict.fromkeys((k for k in RATING_FIELDS if k != "rated"), 0))
        out[None]["unattributed"] = unattributed
    return out


def ratings_by(user, f, by=None):
    """Satisfaction over counted initial ratings (appeals upheld excluded), bad ratings and rectification,
    grouped by 'region' (child of the filter region), 'department' or None (one group): from the rating
    rollup when it can answer, else from the ratings."""
    out = _rating_rollup(user, f, by)
    if out is None:
        out = _rating_rows_by(user, f, by)
    for s in out.values():
        due = s["rectifications"] - s["appeals_upheld"]
        s["satisfaction_rate"] = round(s["satisfied"] / s["ratings"], 4) if s["ratings"] else None
        s["rectification_rate"] = round(s["rectified"] / due, 4) if due else None
        s.setdefault("unattributed", 0)
    return out


def _rating_rows_by(user, f, by):
    qs, unattributed = _rating_rows(user, f)
    column, key = _group_key(by, f)
    out = {}

    def slot(k):
        return out.setdefault(k, {"ratings": 0, "satisfied": 0, "bad": 0, "rectifications": 0, "rectified": 0, "appeals_upheld": 0})

    counted = qs.filter(status=Evaluation.COUNTED).order_by()
    counted = counted.values(column) if column else counted.values()
    agg = {"total": Count("id"), "good": Count("id", filter=Q(level__in=GOOD_LEVELS)),
           "bad": Count("id", filter=Q(level__in=BAD_LEVELS))}
    rows = counted.annotate(**agg) if column else [qs.filter(status=Evaluation.COUNTED).aggregate(**agg)]
    for r in rows:
        s = slot(key(r[column]) if column else None)
        s["ratings"] += r["total"]
        s["satisfied"] += r["good"]
        s["bad"] += r["bad"]
    # The same conditions through the join (one index lookup per rectification), not an IN over every rating.
    rect = authz.filter_queryset(Rectification.objects.all(), user).filter(_rating_q(f, "evaluation__")).order_by()
    ragg = {"total": Count("id"), "done": Count("id", filter=Q(status=Rectification.DONE)),
            "excluded": Count("id", filter=Q(status=Rectification.EXCLUDED))}
    rcol = {"region_path": "evaluation__region_path", "department_id": "evaluation__department_id"}.get(column)
    rrows = rect.values(rcol).annotate(**ragg) if rcol else [rect.aggregate(**ragg)]
    for r in rrows:
        s = slot(key(r[rcol]) if rcol else None)
        s["rectifications"] += r["total"]
        s["rectified"] += r["done"]
        s["appeals_upheld"] += r["excluded"]
    if not column:
        out[None]["unattributed"] = unattributed
    return out


def ratings(user, f):
    empty = {"ratings": 0, "satisfied": 0, "bad": 0, "rectifications": 0, "rectified": 0, "appeals_upheld": 0,
             "satisfaction_rate": None, "rectification_rate": None}
    got = ratings_by(user, f).get(None)
    if got is None:
        got = {**empty, "unattributed": _rating_rows(user, f)[1]}
    return got


def _inquiry_rows(user, f):
    qs = _in_period(user, Inquiry.objects.all(), f, "submitted_at", "item_id")
    # An inquiry not about a case has neither mode nor scope.
    return _case_dimensions(qs, f, "case__", "case__implementation__scopes")


def inquiries_by(user, f, by=None):
    """咨询投诉建议 received in the period: replied, replied on time, overdue, satisfaction with the reply."""
    qs, unattributed = _inquiry_rows(user, f)
    column, key = _group_key(by, f)
    today = timezone.localdate()
    agg = {
        "received": Count("id"), "replied": Count("id", filter=Q(replied_at__isnull=False)),
        "replied_on_time": Count("id", filter=Q(replied_at__date__lte=F("due_date"))),
        "overdue": Count("id", filter=Q(replied_at__isnull=True, due_date__lt=today) | Q(status=InquiryStatus.ESCALATED)),
        "rated": Count("id", filter=~Q(satisfaction="")),
        "satisfied": Count("id", filter=Q(satisfaction__in=(Satisfaction.SATISFIED, Satisfaction.BASIC))),
    }
    rows = qs.values(column).annotate(**agg).order_by() if column else [qs.aggregate(**agg)]
    out = {}
    for r in rows:
        if not r["received"]:
            continue
        s = out.setdefault(key(r[column]) if column else None, dict.fromkeys(agg, 0))
        for k in agg:
            s[k] += r[k]
    for s in out.values():
        s["satisfaction_rate"] = round(s["satisfied"] / s["rated"], 4) if s["rated"] else None
        s["on_time_rate"] = round(s["replied_on_time"] / s["received"], 4) if s["received"] else None
        s["unattributed"] = unattributed if not column else 0
    return out


def inquiries(user, f):
    got = inquiries_by(user, f).get(None)
    if got is None:
        got = {"received": 0, "replied": 0, "replied_on_time": 0, "overdue": 0, "rated": 0, "satisfied": 0,
               "satisfaction_rate": None, "on_time_rate": None, "unattributed": _inquiry_rows(user, f)[1]}
    return got


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


def _named_ranking(raw, model, limit):
    """Rows with names, most received first; names are looked up only for the rows returned."""
    order = sorted(((k, v) for k, v in raw.items() if k), key=lambda kv: -kv[1]["received"])
    if limit is not None:
        # Ties at the cut are kept in name order below, so take all rows tied with the last one.
        if len(order) > limit:
            cut = order[limit - 1][1]["received"]
            order = [kv for kv in order if kv[1]["received"] >= cut]
    names = dict(model.objects.filter(pk__in=[k for k, _v in order]).values_list("pk", "name"))
    rows = sorted(({"id": k, "name": names.get(k, str(k)), **v} for k, v in order), key=lambda r: (-r["received"], r["name"]))
    return rows[:limit] if limit is not None else rows


def department_ranking(user, f, limit=None):
    from tongban.directory.models import Department

    return _named_ranking(case_counts_by(user, f, "department"), Department, limit)


def item_ranking(user, f, limit=None):
    from tongban.catalog.models import Item

    return _named_ranking(case_counts_by(user, f, "item"), Item, limit)


def overview(user, f):
    return {"cases": case_counts(user, f), "handoffs": handoffs(user, f), "ratings": ratings(user, f), "inquiries": inquiries(user, f)}


MODE_LABELS = dict(Mode.choices)
