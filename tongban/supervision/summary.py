"""Keeping `DailyCaseFigure` up to date: incremental bumps per case step and a full rebuild."""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tongban.cases.models import Case
from tongban.core.workdays import working_days_between

from .models import DailyCaseFigure, FigureFreshness

FRESHNESS = "daily_case_figure"
FRESHNESS_GRAIN = datetime.timedelta(minutes=1)
RECEIVED_ACTIONS = frozenset({"submit", "forward"})


def _local_day(dt):
    return timezone.localtime(dt).date()


def case_work_days(accepted_at, concluded_at):
    """Working days from acceptance to conclusion (0 when concluded on the day of acceptance)."""
    a, b = _local_day(accepted_at), _local_day(concluded_at)
    if b <= a:
        return 0
    return max(0, working_days_between(a, b).value)


def _key(case, day):
    return {"day": day, "region_path": case.region_path, "department_id": case.department_id,
            "item_id": case.implementation.item_id, "mode": case.mode}


def _bump(case, day, **inc):
    key = _key(case, day)
    updated = DailyCaseFigure.objects.filter(**key).update(**{k: F(k) + v for k, v in inc.items()})
    if not updated:
        # Concurrent first writers of the same key: the unique key makes one retry as an UPDATE.
        try:
            with transaction.atomic():
                DailyCaseFigure.objects.create(region_code=case.region.code, **key, **inc)
        except IntegrityError:  # the race: the row now exists
            DailyCaseFigure.objects.filter(**key).update(**{k: F(k) + v for k, v in inc.items()})
    _touch()


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
        _bump(case, _local_day(case.submitted_at), received=1)
    elif action == "accept" and case.accepted_at:
        _bump(case, _local_day(case.accepted_at), accepted=1)
    elif action == "conclude" and case.concluded_at:
        on_time = int(case.due_date is not None and _local_day(case.concluded_at) <= case.due_date)
        days = case_work_days(case.accepted_at, case.concluded_at) if case.accepted_at else 0
        _bump(case, _local_day(case.concluded_at), concluded=1, concluded_on_time=on_time, work_days=days)


def rebuild():
    """Recompute the whole table from the cases (run after imports, replication or any doubt)."""
    rows = {}

    def row(case, day):
        k = (day, case["region_path"], case["department_id"], case["implementation__item_id"], case["mode"])
        if k not in rows:
            rows[k] = DailyCaseFigure(day=day, region_path=k[1], region_code=case["region__code"], department_id=k[2],
                                      item_id=k[3], mode=k[4])
        return rows[k]

    fields = ("region_path", "region__code", "department_id", "implementation__item_id", "mode", "submitted_at",
              "accepted_at", "concluded_at", "due_date")
    qs = Case.objects.filter(submitted_at__isnull=False).values(*fields).order_by()
    for c in qs.iterator(chunk_size=5000):
        row(c, _local_day(c["submitted_at"])).received += 1
        if c["accepted_at"]:
            row(c, _local_day(c["accepted_at"])).accepted += 1
        if c["concluded_at"]:
            r = row(c, _local_day(c["concluded_at"]))
            r.concluded += 1
            if c["due_date"] is not None and _local_day(c["concluded_at"]) <= c["due_date"]:
                r.concluded_on_time += 1
            if c["accepted_at"]:
                r.work_days += case_work_days(c["accepted_at"], c["concluded_at"])
    with transaction.atomic():
        DailyCaseFigure.objects.all().delete()
        DailyCaseFigure.objects.bulk_create(rows.values(), batch_size=5000)
        now = timezone.now()
        FigureFreshness.objects.update_or_create(name=FRESHNESS, defaults={"rebuilt_at": now, "updated_at": now})
    return len(rows)


def freshness():
    return FigureFreshness.objects.filter(name=FRESHNESS).first()
