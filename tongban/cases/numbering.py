"""Case numbers: region code + date + daily sequence, e.g. 371327-20261122-000042.

The counter row of (region, day) is incremented with a single UPDATE, which holds its row lock until
the submitting transaction ends, so two concurrent submissions never get the same number."""

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import CaseCounter


def next_case_no(region_code):
    day = timezone.localdate()
    seq = _increment(region_code, day)
    if seq is None:
        try:
            with transaction.atomic():
                CaseCounter.objects.create(region_code=region_code, day=day, last=1)
            seq = 1
        except IntegrityError:  # created by a concurrent submission a moment ago
            seq = _increment(region_code, day)
    return f"{region_code[:6]}-{day:%Y%m%d}-{seq:06d}"


def _increment(region_code, day):
    # One statement (PostgreSQL and SQLite ≥ 3.35 both return the new value).
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {CaseCounter._meta.db_table} SET last = last + 1 WHERE region_code = %s AND day = %s RETURNING last",
                    [region_code, day.isoformat()])
        row = cur.fetchone()
    return row[0] if row else None
