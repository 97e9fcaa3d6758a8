"""Authorisation scopes of electronic certificates (see tongban.core.authz).

Staff read the certificates their region and department issued; the holder reads their own. The
catalogue of types is public; catalogue administrators of its region edit it. Prints are read where
they were made and where the certificate was issued. Presentations are read by their holder only."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import register

from .models import Certificate, CertificateEvent, CertificateType, IssuerKey, Presentation, PrintRecord

STAFF = frozenset({"clerk", "approver", "supervisor", "platform_admin"})
ISSUERS = frozenset({"approver", "platform_admin"})
EDIT = frozenset({"catalog_admin", "platform_admin"})


def _own(user):
    # A legal person's agent reads the organisation's certificates (held under its credit code).
    mine = Applicant.objects.filter(user_id=user.pk)
    return Q(holder_id__in=mine.values("pk")) | Q(holder_code_type="统一社会信用代码", holder_code__in=mine.filter(kind="legal").values("credit_code"))


def _own_event(user):
    return Q(certificate__holder_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))


register(CertificateType, region="region__path", read=STAFF | EDIT, write=EDIT, public=lambda: Q(is_active=True))
register(IssuerKey, region="department__region__path", department="department_id", read=EDIT | ISSUERS, write=frozenset({"platform_admin"}))
register(Certificate, region="region_path", department="issuer_id", read=STAFF, write=ISSUERS, extra_read=_own)
register(CertificateEvent, region="certificate__region_path", department="certificate__issuer_id", read=STAFF, write=ISSUERS, extra_read=_own_event)
register(PrintRecord, region="region_path", department="department_id", read=STAFF, write=frozenset({"clerk"}),
         also_read=(("certificate__region_path", "certificate__issuer_id"),), extra_read=_own_event)
register(Presentation, region="certificate__region_path", department="certificate__issuer_id", read=frozenset(),
         extra_read=lambda user: Q(holder_id__in=Applicant.objects.filter(user_id=user.pk).values("pk")))
