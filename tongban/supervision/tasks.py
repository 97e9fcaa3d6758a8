"""Background work on Django's tasks API (django-tasks-db backend, `manage.py db_worker`), like
tongban.inquiries.tasks: `refresh_figures` recomputes the cockpit's summaries for the recent days and
re-enqueues itself, so one `manage.py schedule_figures_refresh` after deployment keeps it going. It
catches what changed without a case step on this node (conclusions replicated from other nodes,
imports, corrections); the step hook keeps the rest current between runs."""

import datetime

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from . import summary
from .models import FigureFreshness

DEFAULT_DAYS = 35


def run_refresh(days=None, today=None):
    days = days if days is not None else getattr(settings, "TONGBAN_FIGURES_REFRESH_DAYS", DEFAULT_DAYS)
    since = (today or timezone.localdate()) - datetime.timedelta(days=max(1, int(days)) - 1)
    if not FigureFreshness.objects.filter(name=summary.FULL_REBUILD).exists():
        since = None  # first run after the rollup tables were added (migration 0002): build them from all the cases
    return summary.rebuild(since=since)


@task()
def refresh_figures(reschedule_minutes=60):
    if reschedule_minutes:  # the next run is queued first, so a failing run does not end the chain
        refresh_figures.using(run_after=timezone.now() + datetime.timedelta(minutes=reschedule_minutes)).enqueue(reschedule_minutes)
    return {"rows": run_refresh()}
