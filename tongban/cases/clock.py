"""Deadlines in working days from acceptance, minus paused time (supplement after acceptance and
special procedures). Days come from core.workdays; a year without holiday data carries its warning."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from tongban.core.workdays import add_working_days, working_days_between

from .models import ClockPause, Status

PAUSED_STATUSES = (Status.SPECIAL,)


def start(case):
    """On acceptance: both deadlines from the acceptance day (受理之日起n个工作日)."""
    day = timezone.localdate(case.accepted_at)
    recompute(case, day)


def recompute(case, accepted_on=None):
    accepted_on = accepted_on or timezone.localdate(case.accepted_at)
    promised = add_working_days(accepted_on, case.promised_days + case.paused_days)
    statutory = add_working_days(accepted_on, case.statutory_days + case.paused_days)
    case.due_date, case.statutory_due_date = promised.value, statutory.value
    case.calendar_warning = promised.warning or statutory.warning


def pause(case, reason):
    return ClockPause.objects.create(case=case, reason=reason, started_on=timezone.localdate())


def resume(case, pause_row):
    today = timezone.localdate()
    days = max(0, working_days_between(pause_row.started_on, today).value)
    pause_row.ended_on, pause_row.working_days = today, days
    pause_row.save(update_fields=["ended_on", "working_days"])
    case.paused_days += days
    recompute(case)


def open_pause(case):
    return case.pauses.filter(ended_on__isnull=True).first()


@dataclass(frozen=True)
class Deadline:
    remaining: int | None  # working days left (negative: overdue); None before acceptance
    colour: str  # "", "green", "yellow", "red", "paused"
    label: str
    warning: str


def deadline(case, today=None, paused_since=None):
    """What a person sees next to a case. `paused_since` avoids a query when the caller knows it."""
    if case.due_date is None:
        return Deadline(None, "", "未开始计时" if case.is_open else "", "")
    if not case.is_open:
        return Deadline(None, "", "", case.calendar_warning)
    today = today or timezone.localdate()
    if case.status in PAUSED_STATUSES or (case.status == Status.SUPPLEMENT and case.accepted_at):
        since = paused_since or getattr(open_pause(case), "started_on", today)
        left = working_days_between(since, case.due_date)
        return Deadline(left.value, "paused", f"计时暂停（剩余{left.value}个工作日）", case.calendar_warning or left.warning)
    left = working_days_between(today, case.due_date)
    n = left.value
    warning = case.calendar_warning or left.warning
    if n < 0:
        return Deadline(n, "red", f"已超期{-n}个工作日", warning)
    colour = "yellow" if n <= settings.TONGBAN_DEADLINE_YELLOW_DAYS else "green"
    return Deadline(n, colour, "今日到期" if n == 0 else f"剩余{n}个工作日", warning)
