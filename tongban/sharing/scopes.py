"""Authorisation scopes of data sharing (see tongban.core.authz).

Base data is read by its provider's staff only (others reach it through a grant, a case and a consent,
never through a list). Services are public as a catalogue; demands are read by the consumer's and the
provider's region; grants by both sides. Consents and access-log rows are read by the applicant they
concern and by supervisors of the region; staff never list them by region alone."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import register

from .models import AccessLog, BaseRecord, Consent, DataService, EvidenceRequest, ShareDemand, ShareGrant, UsedEvidence

STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})
MANAGERS = frozenset({"catalog_admin", "platform_admin"})
OVERSIGHT = frozenset({"supervisor", "platform_admin"})


def _own_consent(user):
    return Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))


def _own_log(user):
    codes = Applicant.objects.filter(user_id=user.pk).values_list("id_number", "credit_code")
    own = {c for pair in codes for c in pair if c}
    return Q(holder_code__in=own) if own else Q(pk__in=[])


register(BaseRecord, region="region_path", department="provider_id", read=MANAGERS, write=MANAGERS)
register(DataService, region="region_path", department="provider_id", read=STAFF, write=MANAGERS, public=lambda: Q(is_active=True))
register(ShareDemand, region="region_path", department="consumer_id", read=STAFF, write=MANAGERS | frozenset({"approver"}),
         also_read=(("service__region_path", "service__provider_id"),))
register(ShareGrant, region="provider_region_path", department="service__provider_id", read=STAFF, write=MANAGERS,
         also_read=(("consumer__region__path", "consumer_id"),))
register(Consent, region="case__region_path", department="case__department_id", read=OVERSIGHT, extra_read=_own_consent)
register(EvidenceRequest, region="region_path", read=OVERSIGHT)
register(AccessLog, region="region_path", read=OVERSIGHT, extra_read=_own_log)
register(UsedEvidence, region="case__region_path", department="case__department_id", read=frozenset({"clerk", "approver", "supervisor", "platform_admin"}),
         also_read=(("case__receiving_region_path", "case__receiving_department_id"),),
         extra_read=lambda user: Q(case__applicant__user_id=user.pk))
