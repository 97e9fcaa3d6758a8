"""Background work on Django's tasks API (django-tasks-db backend, `manage.py db_worker`), like
tongban.cases.tasks: `scan_inquiries` escalates overdue inquiries once per deadline and re-enqueues
itself, so one `manage.py schedule_inquiry_scan` after deployment keeps it going."""

import datetime

from django.tasks import task
from django.utils import timezone

from . import services


def run_scan(today=None):
    return services.escalate_overdue(today)


@task()
def scan_inquiries(reschedule_minutes=60):
    if reschedule_minutes:  # the next run is queued first, so a failing run does not end the chain
        scan_inquiries.using(run_after=timezone.now() + datetime.timedelta(minutes=reschedule_minutes)).enqueue(reschedule_minutes)
    return {"escalated": run_scan()}
