"""Periodic flagging of overdue rectifications on Django's tasks (django-tasks-db), mirroring
tongban.cases.tasks: the task re-enqueues itself, `manage.py schedule_rectification_scan` starts it."""

import datetime

from django.tasks import task
from django.utils import timezone

from . import services


@task()
def scan_rectifications(reschedule_minutes=60):
    if reschedule_minutes:  # the next run is queued first, so a failing run does not end the chain
        scan_rectifications.using(run_after=timezone.now() + datetime.timedelta(minutes=reschedule_minutes)).enqueue(reschedule_minutes)
    return {"overdue": services.flag_overdue()}
