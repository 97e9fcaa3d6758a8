"""Authorisation scopes of bundles, declared as data (see tongban.core.authz).

Published bundles are public (the 一件事 服务清单). A bundle case belongs to its lead department's place
(综合受理、统一出件); staff of a child's department read the parent of the child they handle, and an
applicant reads their own."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import filter_q, grants, register

from .models import Bundle, BundleCase, BundleDocument, BundleEntry, BundleVersion, JointAppointment, MarketService

EDIT = frozenset({"catalog_admin", "platform_admin"})
STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})
CASE_READERS = frozenset({"clerk", "approver", "supervisor", "platform_admin"})
CASE_HANDLERS = frozenset({"clerk", "approver", "platform_admin"})


def _case_extra(user):
    from tongban.cases.models import Case

    q = Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))
    if any(role in CASE_READERS for role, _, _ in grants(user)):
        q |= Q(pk__in=Case.objects.filter(filter_q(user, Case), bundle_case__isnull=False).values("bundle_case_id"))
    return q


register(Bundle, region="region__path", read=STAFF, write=EDIT, public=lambda: Q(pk__in=BundleVersion.objects.filter(status="published").values("bundle_id")))
register(BundleVersion, region="bundle__region__path", read=STAFF, write=EDIT, public=lambda: Q(status="published"))
register(BundleEntry, region="version__bundle__region__path", read=STAFF, write=EDIT, public=lambda: Q(version__status="published"))
register(MarketService, region="version__bundle__region__path", read=STAFF, write=EDIT, public=lambda: Q(version__status="published"))
register(BundleCase, region="lead_region_path", department="lead_department_id", read=CASE_READERS, write=CASE_HANDLERS, extra_read=_case_extra)
register(JointAppointment, region="bundle_case__lead_region_path", department="bundle_case__lead_department_id", read=CASE_READERS,
         write=CASE_HANDLERS, extra_read=lambda user: Q(bundle_case__in=BundleCase.objects.filter(_case_extra(user)).values("pk")))
register(BundleDocument, region="bundle_case__lead_region_path", department="bundle_case__lead_department_id", read=CASE_READERS,
         write=CASE_HANDLERS, extra_read=lambda user: Q(bundle_case__in=BundleCase.objects.filter(_case_extra(user)).values("pk")))
