"""Authorisation scopes of 好差评: staff of the handling region/department and supervisors read;
the rater reads their own ratings; handling staff write rectifications (reviews are checked apart)."""

from django.db.models import Q

from tongban.applicants.models import Applicant
from tongban.core.authz import register

from .models import Evaluation, Rectification, RectificationStep, WindowRatingToken

HANDLERS = frozenset({"clerk", "approver"})
READERS = HANDLERS | {"supervisor", "platform_admin"}


def _own(user):
    return Q(applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))


def _own_rectification(user):
    return Q(evaluation__applicant_id__in=Applicant.objects.filter(user_id=user.pk).values("pk"))


register(Evaluation, region="region_path", department="department_id", read=READERS, extra_read=_own)
register(Rectification, region="region_path", department="department_id", read=READERS, write=HANDLERS, extra_read=_own_rectification)
register(RectificationStep, region="rectification__region_path", department="rectification__department_id", read=READERS, write=HANDLERS)
register(WindowRatingToken, region="region_path", department="department_id", read=READERS, write=frozenset({"clerk"}))
