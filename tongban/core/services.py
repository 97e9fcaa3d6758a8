"""Facade of the core app: calendar maintenance."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit
from .models import CalendarDay, HolidayYear

SEED_FIRST, SEED_LAST = 2004, 2026


def seed_holidays_from_chinesecalendar(first=SEED_FIRST, last=SEED_LAST):
    """Load the holiday arrangement from the `chinesecalendar` package (idempotent)."""
    import chinese_calendar

    holidays, workdays = chinese_calendar.constants.holidays, chinese_calendar.constants.workdays
    with transaction.atomic():
        for year in range(first, last + 1):
            hy, _ = HolidayYear.objects.get_or_create(year=year, defaults={"source": "chinesecalendar（国务院办公厅节假日安排）"})
            rows = []
            for d, name in holidays.items():
                if d.year == year and d.weekday() < 5:
                    rows.append(CalendarDay(year=hy, date=d, kind=CalendarDay.HOLIDAY, name=_holiday_name(name)))
            for d, name in workdays.items():
                if d.year == year and d.weekday() >= 5:
                    rows.append(CalendarDay(year=hy, date=d, kind=CalendarDay.WORKDAY, name=_holiday_name(name)))
            CalendarDay.objects.bulk_create(rows, update_conflicts=True, unique_fields=["date"], update_fields=["kind", "name", "year"])
    return last - first + 1


_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def _holiday_name(holiday):
    value = getattr(holiday, "value", holiday)
    if isinstance(value, tuple):
        value = value[0]
    return _NAMES.get(str(value), str(value))


@transaction.atomic
def set_year(actor, year, holidays, workdays, source="国务院办公厅通知"):
    """Administrators enter a year published by the State Council: weekday holidays and weekend
    make-up working days. Replaces the year's exceptions in one transaction."""
    if not (2000 <= year <= 2040):
        raise ValueError("年份应在2000至2040之间")
    for d in list(holidays) + list(workdays):
        if not isinstance(d, datetime.date):
            raise ValueError(f"“{d}”不是日期")
    hy, _ = HolidayYear.objects.update_or_create(year=year, defaults={"source": source})
    hy.days.all().delete()
    days = [CalendarDay(year=hy, date=d, kind=CalendarDay.HOLIDAY, name=n) for d, n in holidays.items()]
    days += [CalendarDay(year=hy, date=d, kind=CalendarDay.WORKDAY, name=n) for d, n in workdays.items()]
    for day in days:  # the same rules the admin form applies (CalendarDay.clean)
        try:
            day.full_clean(exclude=["year"])
            day.clean()
        except ValidationError as exc:
            raise ValueError("；".join(exc.messages)) from None
    CalendarDay.objects.bulk_create(days)
    audit.record(actor, "calendar.set_year", hy, f"录入{year}年节假日安排")
    return hy
