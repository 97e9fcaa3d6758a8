"""Issue the certificate of an approved case when it concludes, inside the conclusion's transaction
(a failure to issue rolls the conclusion back, so no case is concluded "with a certificate" it lacks)."""

from django.dispatch import receiver

from tongban.cases.handling import step_taken
from tongban.cases.models import Status as CaseStatus


@receiver(step_taken, dispatch_uid="certificates_issue_on_conclusion")
def issue_on_conclusion(sender, case, action, event, opinion, **kwargs):
    if action != "conclude" or event.status_from != CaseStatus.APPROVED:
        return
    if getattr(case.item_version, "certificate_type_id", None) is None:
        return
    from tongban.cases.replication import self_id

    # The competent place issues; a copy of the case replicated to another node never does.
    if case.competent_node and case.competent_node != self_id():
        return
    from .issuing import issue_for_case

    issue_for_case(case, actor=event.actor)
