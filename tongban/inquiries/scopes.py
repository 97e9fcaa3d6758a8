"""Authorisation scopes of 咨询投诉建议 (see tongban.core.authz): staff read the inquiries of their region
(and department, when their role is limited to one); clerks and approvers of the assigned department
write them; supervisors of a region read its subtree; an applicant reads their own. Hotline clients
belong to platform administrators."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import register

from .models import HotlineClient, Inquiry, InquiryReply, InquiryStep

HANDLERS = frozenset({"clerk", "approver"})
READERS = HANDLERS | {"supervisor", "platform_admin"}


def _own(user):
    return Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))


register(Inquiry, region="region_path", department="department_id", read=READERS, write=HANDLERS, extra_read=_own)
register(InquiryStep, region="inquiry__region_path", department="inquiry__department_id", read=READERS)
register(InquiryReply, region="inquiry__region_path", department="inquiry__department_id", read=READERS)
register(HotlineClient, region="region__path", read=frozenset({"platform_admin"}), write=frozenset({"platform_admin"}))
