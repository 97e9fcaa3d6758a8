"""Working-day calendar API: every answer carries the warning when a year's holidays are missing."""

import datetime

from ninja import Router, Schema

from tongban.core.errors import DomainError

from . import workdays

router = Router(tags=["工作日历"])


class WorkdayOut(Schema):
    value: str | int | bool
    certain: bool
    warning: str


def _wrap(fn, *args):
    try:
        result = fn(*args)
    except ValueError as exc:
        raise DomainError(str(exc), status=422) from None
    value = result.value.isoformat() if isinstance(result.value, datetime.date) else result.value
    return {"value": value, "certain": result.is_certain, "warning": result.warning}


@router.get("/add", response=WorkdayOut, summary="起始日期后第N个工作日（起始日不计）")
def add(request, start: datetime.date, days: int):
    if not (0 <= days <= 3650):
        raise DomainError("工作日数应在0至3650之间", status=422)
    return _wrap(workdays.add_working_days, start, days)


@router.get("/between", response=WorkdayOut, summary="两个日期之间的工作日数")
def between(request, start: datetime.date, end: datetime.date):
    return _wrap(workdays.working_days_between, start, end)


@router.get("/is-workday", response=WorkdayOut, summary="是否工作日")
def is_workday(request, date: datetime.date):
    return _wrap(workdays.is_workday, date)
