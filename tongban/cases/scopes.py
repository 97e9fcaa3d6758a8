"""Authorisation scopes of cases (see tongban.core.authz): staff by the competent region and
department; an applicant reads their own cases and nothing else."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import register

from .models import Case

HANDLERS = frozenset({"clerk", "approver"})
READERS = HANDLERS | {"supervisor", "platform_admin"}

register(Case, region="region_path", department="department_id", read=READERS, write=HANDLERS,
         # A subquery, not a join: the staff queues then stay on the case table alone.
         extra_read=lambda user: Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk")))
