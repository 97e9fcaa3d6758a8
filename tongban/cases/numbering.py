"""Case numbers: region code + date + daily sequence, e.g. 371327-20261122-000042.

The counter row of (region, day) is incremented with a single UPDATE, which holds its row lock until
the submitting transaction ends, so two concurrent submissions never get the same number."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import CaseCounter


def next_case_no(region_code):
    day = timezone.localdate()
    counters = CaseCounter.objects.filter(region_code=region_code, day=day)
    if not counters.update(last=F("last") + 1):
        try:
            with transaction.atomic():
                CaseCounter.objects.create(region_code=region_code, day=day, last=1)
        except IntegrityError:  # created by a concurrent submission a moment ago
            counters.update(last=F("last") + 1)
    seq = counters.values_list("last", flat=True).get()
    return f"{region_code[:6]}-{day:%Y%m%d}-{seq:06d}"
