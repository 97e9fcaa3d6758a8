"""Working-day arithmetic (工作日) on the State Council holiday arrangement.

The calendar is a sorted list of working-day ordinals built once per process from the holiday table
(binary search makes add/between O(log n)). Years without a HolidayYear row are computed from weekends
only and every result touching them carries a warning: callers must show it, never hide it.
"""

import bisect
import datetime
import threading
import time
from dataclasses import dataclass, field

FIRST_YEAR, LAST_YEAR = 2000, 2040  # span precomputed; beyond it we extend on demand
_lock = threading.Lock()
_state = {"built_at": 0.0, "calendar": None}
RECHECK_SECONDS = 30


def missing_year_warning(years):
    ys = "、".join(str(y) for y in sorted(years))
    return f"{ys}年的节假日安排尚未录入，工作日按周末推算，期限可能不准确，请管理员补录节假日"


@dataclass(frozen=True)
class WorkdayResult:
    value: object  # a date or an int
    missing_years: frozenset = field(default_factory=frozenset)

    @property
    def warning(self):
        return missing_year_warning(self.missing_years) if self.missing_years else ""

    @property
    def is_certain(self):
        return not self.missing_years


class Calendar:
    def __init__(self, exceptions, known_years, first_year=FIRST_YEAR, last_year=LAST_YEAR):
        self.known_years = frozenset(known_years)
        self.first = datetime.date(first_year, 1, 1)
        self.last = datetime.date(last_year, 12, 31)
        self.exceptions = dict(exceptions)  # date -> True (workday) / False (holiday)
        days, d, one = [], self.first, datetime.timedelta(days=1)
        while d <= self.last:
            if self.is_workday_raw(d):
                days.append(d.toordinal())
            d += one
        self.ordinals = days

    def is_workday_raw(self, d):
        if d in self.exceptions:
            return self.exceptions[d]
        return d.weekday() < 5

    def _check_span(self, *dates):
        for d in dates:
            if not (self.first <= d <= self.last):
                raise ValueError(f"日期{d}超出工作日历范围（{self.first.year}—{self.last.year}年）")

    def _missing(self, a, b):
        lo, hi = min(a, b), max(a, b)
        return frozenset(y for y in range(lo.year, hi.year + 1) if y not in self.known_years)

    def is_workday(self, d):
        self._check_span(d)
        return WorkdayResult(self.is_workday_raw(d), self._missing(d, d))

    def add(self, start, n):
        """The n-th working day after `start` (start itself not counted; 受理之日起n个工作日)."""
        self._check_span(start)
        i = bisect.bisect_right(self.ordinals, start.toordinal()) + n - 1
        if n <= 0:
            i = bisect.bisect_right(self.ordinals, start.toordinal()) - 1 + n
        if not (0 <= i < len(self.ordinals)):
            raise ValueError("期限超出工作日历范围")
        end = datetime.date.fromordinal(self.ordinals[i])
        return WorkdayResult(end, self._missing(start, end))

    def between(self, a, b):
        """Working days in (a, b]; negative when b is before a."""
        self._check_span(a, b)
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        n = bisect.bisect_right(self.ordinals, b.toordinal()) - bisect.bisect_right(self.ordinals, a.toordinal())
        return WorkdayResult(sign * n, self._missing(a, b))


def _build():
    from .models import CalendarDay, HolidayYear

    exceptions = {d: (k == CalendarDay.WORKDAY) for d, k in CalendarDay.objects.values_list("date", "kind")}
    years = HolidayYear.objects.values_list("year", flat=True)
    return Calendar(exceptions, years)


def _fingerprint():
    from django.db.models import Count, Max

    from .models import CalendarDay, HolidayYear

    y = HolidayYear.objects.aggregate(m=Max("updated_at"), c=Count("id"))
    return (y["m"], y["c"], CalendarDay.objects.count())


def calendar():
    """The process-wide calendar, rebuilt when the holiday table changes (checked every 30 s)."""
    now = time.monotonic()
    cal = _state["calendar"]
    if cal is not None and now - _state["built_at"] < RECHECK_SECONDS:
        return cal
    with _lock:
        fp = _fingerprint()
        if _state["calendar"] is None or _state.get("fingerprint") != fp:
            _state["calendar"] = _build()
            _state["fingerprint"] = fp
        _state["built_at"] = now
        return _state["calendar"]


def invalidate():
    _state["calendar"] = None


def add_working_days(start, n):
    return calendar().add(start, n)


def working_days_between(a, b):
    return calendar().between(a, b)


def is_workday(d):
    return calendar().is_workday(d)
