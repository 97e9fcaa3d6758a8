"""Background work on Django's tasks API (django-tasks-db backend, `manage.py db_worker`).

`scan_deadlines` records an overdue event once per case and tells the responsible staff, and flags
deferred materials whose committed date passed. It re-enqueues itself to run again (every hour by
default), so one `manage.py schedule_deadline_scan` after deployment keeps it going."""

import datetime
import logging

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.tasks import task
from django.utils import timezone

from tongban.core.errors import DomainError

from . import handling, notify
from .events import SYSTEM
from .models import Case, CaseEvent, DeferredMaterial

log = logging.getLogger("tongban.cases")
RUNNING = ["accepted", "under_review", "approved", "denied"]  # supplement and special procedures stop the clock


def overdue_cases(today):
    flagged = CaseEvent.objects.filter(case_id=OuterRef("pk"), action="flag_overdue")
    return Case.objects.filter(status__in=RUNNING, due_date__lt=today).exclude(Exists(flagged))


def responsible_staff(case):
    return notify.staff_for(case.region_path, case.department_id)


def run_scan(today=None):
    """One pass; returns (overdue cases flagged, cases with deferred materials flagged)."""
    today = today or timezone.localdate()
    flagged = deferred_cases = 0
    for case in list(overdue_cases(today)):
        try:
            with transaction.atomic():
                handling.perform(case.pk, "flag_overdue", actor=SYSTEM, params={}, opinion=f"已超过承诺办结日期{case.due_date:%Y-%m-%d}")
                notify.staff(responsible_staff(case), case, "办件超期预警", f"办件{case.case_no}已超过承诺办结日期{case.due_date:%Y年%m月%d日}，请尽快办理。")
            flagged += 1
        except DomainError as exc:  # e.g. concluded a moment ago: one case never stops the scan
            log.info("超期扫描跳过办件 %s：%s", case.case_no, exc.message)
    deferred = (DeferredMaterial.objects.filter(status=DeferredMaterial.PENDING, due_date__lt=today)
                .values_list("case_id", flat=True).distinct())
    for case_id in list(deferred):
        try:
            handling.perform(case_id, "flag_deferred_overdue", actor=SYSTEM)
            deferred_cases += 1
        except DomainError as exc:
            log.info("容缺逾期扫描跳过办件 #%s：%s", case_id, exc.message)
    return flagged, deferred_cases


@task()
def scan_deadlines(reschedule_minutes=60):
    if reschedule_minutes:  # the next run is queued first, so a failing run does not end the chain
        scan_deadlines.using(run_after=timezone.now() + datetime.timedelta(minutes=reschedule_minutes)).enqueue(reschedule_minutes)
    result = run_scan()
    return {"overdue": result[0], "deferred": result[1]}
