"""Keeping the cockpit's summary tables up to date: incremental bumps per case step (in the step's
transaction), a full rebuild, and a periodic rebuild of recent days for what arrives without a step
here (replicated conclusions from other nodes, imports, corrections).

Tables: `DailyCaseFigure` (day × place × department × item × mode × scopes), `RegionDayFigure` (the same
per level of the region tree, without department and item), `RankingFigure` (per department and per
item, by day and by month), `DailyFlowFigure` (cross-region cases per day and pair of places), `OpenCase`
(open cases with a due date, for the overdue count), `RegionFlowFigure` (the flows cut to province and
prefecture, by day and month) and `RatingDayFigure` (好差评 and their rectifications, per level; kept by
the rating services through `tongban.evaluation.signals.rating_changed`).
"""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from tongban.cases.models import Case
from tongban.core.workdays import working_days_between

from .models import (
    DailyCaseFigure,
    DailyFlowFigure,
    FigureFreshness,
    OpenCase,
    RankingFigure,
    RatingDayFigure,
    RegionDayFigure,
    RegionFlowFigure,
)

FRESHNESS = "daily_case_figure"
FULL_REBUILD = "rollups_v3"  # set by a full rebuild: the tables of this version were built from all the cases
FRESHNESS_GRAIN = datetime.timedelta(minutes=1)
RECEIVED_ACTIONS = frozenset({"submit", "forward"})
COUNT_FIELDS = ("received", "accepted", "concluded", "concluded_on_time", "work_days")
OPEN_STATUSES = ("submitted", "supplement", "accepted", "under_review", "special", "approved", "denied")
LEVELS = (2, 3, 4)  # province, prefecture, county: path segments
ITEM_LEVEL = 4  # item rankings are kept per county (or higher place)
ITEM_PROVINCE_LEVEL = 2  # and per province, for national and provincial rankings
FLOW_LEVELS = (2, 3)  # flows cut to province and prefecture (a county's flows read DailyFlowFigure)
RATING_FIELDS = ("rated", "ratings", "satisfied", "bad", "rectifications", "rectified", "appeals_upheld")


def _local_day(dt):
    return timezone.localtime(dt).date()


def case_work_days(accepted_at, concluded_at):
    """Working days from acceptance to conclusion (0 when concluded on the day of acceptance)."""
    a, b = _local_day(accepted_at), _local_day(concluded_at)
    if b <= a:
        return 0
    return max(0, working_days_between(a, b).value)


def at_level(path, level):
    """The ancestor of `path` with `level` segments (the path itself when it is not that deep)."""
    parts = path.split("/")[:-1]
    return "/".join(parts[:level]) + "/" if len(parts) > level else path


def depth(path):
    return path.count("/")


def month_of(day):
    return day.replace(day=1)


def ranking_keys(day, department_id, item_id, region_path):
    """The RankingFigure keys one case event adds to: its department and its item, by day and by month."""
    place = at_level(region_path, ITEM_LEVEL)
    for grain, period in ((RankingFigure.DAY, day), (RankingFigure.MONTH, month_of(day))):
        yield {"grain": grain, "period": period, "kind": RankingFigure.DEPARTMENT, "key_id": department_id, "region_path": region_path}
        yield {"grain": grain, "period": period, "kind": RankingFigure.ITEM, "key_id": item_id, "region_path": place}
        yield {"grain": grain, "period": period, "kind": RankingFigure.ITEM_PROVINCE, "key_id": item_id,
               "region_path": at_level(region_path, ITEM_PROVINCE_LEVEL)}


def _upsert(model, key, inc, extra=None):
    updated = model.objects.filter(**key).update(**{k: F(k) + v for k, v in inc.items()})
    if not updated:
        # Concurrent first writers of the same key: the unique key makes one retry as an UPDATE.
        try:
            with transaction.atomic():
                model.objects.create(**key, **(extra or {}), **inc)
        except IntegrityError:  # the race: the row now exists
            model.objects.filter(**key).update(**{k: F(k) + v for k, v in inc.items()})


def _scopes(case):
    return case.implementation.scopes or 0


def _bump(case, day, **inc):
    scopes = _scopes(case)
    key = {"day": day, "region_path": case.region_path, "department_id": case.department_id,
           "item_id": case.implementation.item_id, "mode": case.mode, "scopes": scopes}
    _upsert(DailyCaseFigure, key, inc, {"region_code": case.region.code})
    for level in LEVELS:
        _upsert(RegionDayFigure, {"day": day, "level": level, "region_path": at_level(case.region_path, level), "mode": case.mode,
                                  "scopes": scopes}, inc)
    for rkey in ranking_keys(day, case.department_id, case.implementation.item_id, case.region_path):
        _upsert(RankingFigure, rkey, inc)
    _touch()


def flow_keys(day, region_path, receiving_region_path, mode, scopes):
    """The RegionFlowFigure keys one cross-region case adds to: both places cut to each level, by day and by month."""
    for level in FLOW_LEVELS:
        for grain, period in ((RegionFlowFigure.DAY, day), (RegionFlowFigure.MONTH, month_of(day))):
            yield {"grain": grain, "period": period, "level": level, "region_path": at_level(region_path, level),
                   "receiving_region_path": at_level(receiving_region_path, level), "mode": mode, "scopes": scopes}


def _flow(case, day):
    if not case.receiving_region_path or case.receiving_region_path == case.region_path:
        return
    _upsert(DailyFlowFigure, {"day": day, "region_path": case.region_path, "receiving_region_path": case.receiving_region_path,
                              "department_id": case.department_id, "receiving_department_id": case.receiving_department_id or 0,
                              "item_id": case.implementation.item_id, "mode": case.mode, "scopes": _scopes(case)}, {"cases": 1})
    for key in flow_keys(day, case.region_path, case.receiving_region_path, case.mode, _scopes(case)):
        _upsert(RegionFlowFigure, key, {"cases": 1})


def rating_keys(day, region_path, mode, scopes, scoped):
    for level in LEVELS:
        yield {"day": day, "level": level, "region_path": at_level(region_path, level), "mode": mode, "scopes": scopes, "scoped": scoped}


def rating_place(evaluation):
    """(day, region path, mode, scopes, scoped) of an initial rating's figures."""
    impl = evaluation.implementation if evaluation.implementation_id else None
    return (_local_day(evaluation.created_at), evaluation.region_path, evaluation.case.mode if evaluation.case_id else "",
            (impl.scopes or 0) if impl else 0, impl is not None)


def on_rating(evaluation, changes):
    """Add `changes` (RATING_FIELDS → delta) to the figures of an initial rating, in the caller's transaction."""
    if evaluation.kind != evaluation.INITIAL or not any(changes.values()):
        return
    for key in rating_keys(*rating_place(evaluation)):
        _upsert(RatingDayFigure, key, {k: v for k, v in changes.items() if v})
    _touch()


def sync_open(case):
    """The case's row in OpenCase: present while it is open with a due date, with its current deadline."""
    if case.status in OPEN_STATUSES and case.due_date is not None and case.submitted_at is not None:
        values = {"region_path": case.region_path, "department_id": case.department_id, "item_id": case.implementation.item_id,
                  "mode": case.mode, "scopes": _scopes(case), "due_date": case.due_date, "submitted_at": case.submitted_at}
        # Most steps change neither place nor deadline: no write (and no row lock) then.
        if OpenCase.objects.filter(case_id=case.pk).values(*values).first() != values:
            OpenCase.objects.update_or_create(case_id=case.pk, defaults=values)
    else:
        OpenCase.objects.filter(case_id=case.pk).delete()


def _touch():
    """Record when the summary last moved, at most once a minute: an update of one row by every case step
    would make all submissions nationwide wait on that row's lock until they commit. An UPDATE whose
    condition does not match locks nothing."""
    now = timezone.now()
    if not FigureFreshness.objects.filter(name=FRESHNESS, updated_at__lt=now - FRESHNESS_GRAIN).update(updated_at=now):
        if not FigureFreshness.objects.filter(name=FRESHNESS).exists():
            try:
                with transaction.atomic():
                    FigureFreshness.objects.create(name=FRESHNESS, updated_at=now)
            except IntegrityError:  # created by a concurrent step a moment ago
                pass


def on_step(case, action):
    """Called inside the step's transaction (handling.perform holds the case row lock)."""
    if action in RECEIVED_ACTIONS and case.submitted_at:
        day = _local_day(case.submitted_at)
        _bump(case, day, received=1)
        _flow(case, day)
    elif action == "accept" and case.accepted_at:
        _bump(case, _local_day(case.accepted_at), accepted=1)
    elif action == "conclude" and case.concluded_at:
        on_time = int(case.due_date is not None and _local_day(case.concluded_at) <= case.due_date)
        days = case_work_days(case.accepted_at, case.concluded_at) if case.accepted_at else 0
        _bump(case, _local_day(case.concluded_at), concluded=1, concluded_on_time=on_time, work_days=days)
    sync_open(case)


def rebuild(since=None):
    """Recompute the summaries from the cases: everything, or (since=a date) the rows of that day and
    later — what the periodic task runs for figures that arrived without a step on this node."""
    daily, regional, flows, ranked = {}, {}, {}, {}
    lo = None
    if since is not None:
        lo = datetime.datetime.combine(since, datetime.time.min, tzinfo=timezone.get_current_timezone())

    def add(c, day, **inc):
        if since is not None and day < since:
            return
        k = (day, c["region_path"], c["department_id"], c["implementation__item_id"], c["mode"], c["implementation__scopes"] or 0)
        row = daily.get(k)
        if row is None:
            row = daily[k] = DailyCaseFigure(day=day, region_path=k[1], region_code=c["region__code"], department_id=k[2], item_id=k[3],
                                             mode=k[4], scopes=k[5])
        for level in LEVELS:
            rk = (day, level, at_level(c["region_path"], level), c["mode"], k[5])
            if rk not in regional:
                regional[rk] = RegionDayFigure(day=day, level=level, region_path=rk[2], mode=rk[3], scopes=rk[4])
            for name, v in inc.items():
                setattr(regional[rk], name, getattr(regional[rk], name) + v)
        for rkey in ranking_keys(day, k[2], k[3], k[1]):
            if since is not None and rkey["period"] < since:
                continue  # a month row that starts before the window: recomputed below from the day rows
            t = tuple(rkey.values())
            if t not in ranked:
                ranked[t] = RankingFigure(**rkey)
            for name, v in inc.items():
                setattr(ranked[t], name, getattr(ranked[t], name) + v)
        for name, v in inc.items():
            setattr(row, name, getattr(row, name) + v)

    fields = ("region_path", "region__code", "department_id", "implementation__item_id", "implementation__scopes", "mode", "submitted_at",
              "accepted_at", "concluded_at", "due_date", "receiving_region_path", "receiving_department_id")
    qs = Case.objects.filter(submitted_at__isnull=False)
    if lo is not None:
        qs = qs.filter(Q(submitted_at__gte=lo) | Q(accepted_at__gte=lo) | Q(concluded_at__gte=lo))
    for c in qs.values(*fields).order_by().iterator(chunk_size=5000):
        day = _local_day(c["submitted_at"])
        add(c, day, received=1)
        if c["receiving_region_path"] and c["receiving_region_path"] != c["region_path"] and (since is None or day >= since):
            fk = (day, c["region_path"], c["receiving_region_path"], c["department_id"], c["receiving_department_id"] or 0,
                  c["implementation__item_id"], c["mode"], c["implementation__scopes"] or 0)
            if fk not in flows:
                flows[fk] = DailyFlowFigure(day=day, region_path=fk[1], receiving_region_path=fk[2], department_id=fk[3],
                                            receiving_department_id=fk[4], item_id=fk[5], mode=fk[6], scopes=fk[7])
            flows[fk].cases += 1
        if c["accepted_at"]:
            add(c, _local_day(c["accepted_at"]), accepted=1)
        if c["concluded_at"]:
            cday = _local_day(c["concluded_at"])
            add(c, cday, concluded=1, concluded_on_time=int(c["due_date"] is not None and cday <= c["due_date"]),
                work_days=case_work_days(c["accepted_at"], c["concluded_at"]) if c["accepted_at"] else 0)
    open_rows = [OpenCase(case_id=c["pk"], region_path=c["region_path"], department_id=c["department_id"], item_id=c["implementation__item_id"],
                          mode=c["mode"], scopes=c["implementation__scopes"] or 0, due_date=c["due_date"], submitted_at=c["submitted_at"])
                 for c in Case.objects.filter(status__in=OPEN_STATUSES, due_date__isnull=False, submitted_at__isnull=False).values(
                     "pk", "region_path", "department_id", "implementation__item_id", "mode", "implementation__scopes", "due_date",
                     "submitted_at").order_by().iterator(chunk_size=5000)]
    region_flows = {}
    for fk, row in flows.items():
        for key in flow_keys(fk[0], fk[1], fk[2], fk[6], fk[7]):
            if since is not None and key["period"] < since:
                continue  # a month row that starts before the window: recomputed below from the day rows
            t = tuple(key.values())
            if t not in region_flows:
                region_flows[t] = RegionFlowFigure(**key)
            region_flows[t].cases += row.cases
    rated = _rating_rows(lo)
    with transaction.atomic():
        for model in (DailyCaseFigure, RegionDayFigure, DailyFlowFigure, RatingDayFigure):
            (model.objects.all() if since is None else model.objects.filter(day__gte=since)).delete()
        (RegionFlowFigure.objects.all() if since is None else RegionFlowFigure.objects.filter(
            Q(grain=RegionFlowFigure.DAY, period__gte=since) | Q(grain=RegionFlowFigure.MONTH, period__gte=month_of(since)))).delete()
        RegionFlowFigure.objects.bulk_create(region_flows.values(), batch_size=5000)
        RatingDayFigure.objects.bulk_create(rated.values(), batch_size=5000)
        OpenCase.objects.all().delete()
        rank_rows = RankingFigure.objects.all() if since is None else RankingFigure.objects.filter(
            Q(grain=RankingFigure.DAY, period__gte=since) | Q(grain=RankingFigure.MONTH, period__gte=month_of(since)))
        rank_rows.delete()
        for model, rows in ((DailyCaseFigure, daily), (RegionDayFigure, regional), (DailyFlowFigure, flows), (RankingFigure, ranked)):
            model.objects.bulk_create(rows.values(), batch_size=5000)
        if since is not None and since != month_of(since):
            _month_from_days(month_of(since))
            _flow_month_from_days(month_of(since))  # the window's first month, partly before it: summed from its day rows
        OpenCase.objects.bulk_create(open_rows, batch_size=5000)
        now = timezone.now()
        FigureFreshness.objects.update_or_create(name=FRESHNESS, defaults={"rebuilt_at": now, "updated_at": now})
        if since is None:
            FigureFreshness.objects.update_or_create(name=FULL_REBUILD, defaults={"rebuilt_at": now})
    return len(daily)


def _month_from_days(month):
    """Recompute the month rows of `month` from the day rows (which are complete for every day)."""
    nxt = (month + datetime.timedelta(days=32)).replace(day=1)
    RankingFigure.objects.filter(grain=RankingFigure.MONTH, period=month).delete()
    sums = (RankingFigure.objects.filter(grain=RankingFigure.DAY, period__gte=month, period__lt=nxt)
            .values("kind", "key_id", "region_path").annotate(**{k: Sum(k) for k in COUNT_FIELDS}).order_by())
    RankingFigure.objects.bulk_create([RankingFigure(grain=RankingFigure.MONTH, period=month, kind=r["kind"], key_id=r["key_id"],
                                                     region_path=r["region_path"], **{k: r[k] for k in COUNT_FIELDS}) for r in sums],
                                      batch_size=5000)


def _flow_month_from_days(month):
    nxt = (month + datetime.timedelta(days=32)).replace(day=1)
    RegionFlowFigure.objects.filter(grain=RegionFlowFigure.MONTH, period=month).delete()
    sums = (RegionFlowFigure.objects.filter(grain=RegionFlowFigure.DAY, period__gte=month, period__lt=nxt)
            .values("level", "region_path", "receiving_region_path", "mode", "scopes").annotate(n=Sum("cases")).order_by())
    RegionFlowFigure.objects.bulk_create([RegionFlowFigure(grain=RegionFlowFigure.MONTH, period=month, cases=r.pop("n"), **r) for r in sums],
                                         batch_size=5000)


def _rating_rows(lo=None):
    """RatingDayFigure rows recomputed from the initial ratings rated at `lo` or later (all when None)."""
    from tongban.evaluation.models import BAD_LEVELS as bad
    from tongban.evaluation.models import GOOD_LEVELS as good
    from tongban.evaluation.models import Evaluation, Rectification

    qs = Evaluation.objects.filter(kind=Evaluation.INITIAL)
    if lo is not None:
        qs = qs.filter(created_at__gte=lo)
    rows = {}
    for e in qs.values("created_at", "region_path", "case__mode", "implementation_id", "implementation__scopes", "status", "level",
                       "rectification__status").order_by().iterator(chunk_size=5000):
        counted = e["status"] == Evaluation.COUNTED
        rect = e["rectification__status"]
        inc = {"rated": 1, "ratings": int(counted), "satisfied": int(counted and e["level"] in good), "bad": int(counted and e["level"] in bad),
               "rectifications": int(rect is not None), "rectified": int(rect == Rectification.DONE),
               "appeals_upheld": int(rect == Rectification.EXCLUDED)}
        place = (_local_day(e["created_at"]), e["region_path"], e["case__mode"] or "", e["implementation__scopes"] or 0,
                 e["implementation_id"] is not None)
        for key in rating_keys(*place):
            t = tuple(key.values())
            if t not in rows:
                rows[t] = RatingDayFigure(**key)
            for k, v in inc.items():
                setattr(rows[t], k, getattr(rows[t], k) + v)
    return rows


def freshness():
    return FigureFreshness.objects.filter(name=FRESHNESS).first()
