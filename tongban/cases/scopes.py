"""Authorisation scopes of cases (see tongban.core.authz): staff by the competent region and
department, and on a cross-region case also the receiving window's region and the departments of
its joint parts; an applicant reads their own cases and nothing else."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import grants, register

from .models import Case, CasePart

HANDLERS = frozenset({"clerk", "approver"})
READERS = HANDLERS | {"supervisor", "platform_admin"}


def parts_q(user, roles=READERS):
    """Cases with a joint part in the user's region (and department): a subquery on the part table."""
    q = Q(pk__in=[])
    for role, path, dept in grants(user):
        if role in roles:
            q |= Q(region_path__startswith=path, **({"department_id": dept} if dept is not None else {}))
    return q


def _extra_read(user):
    # Subqueries, not joins: the staff queues then stay on the case table alone.
    q = Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))
    if any(role in READERS for role, _, _ in grants(user)):
        q |= Q(pk__in=CasePart.objects.filter(parts_q(user)).values("case_id"))
    return q


register(Case, region="region_path", department="department_id", read=READERS, write=HANDLERS,
         also_read=(("receiving_region_path", None),), extra_read=_extra_read)
