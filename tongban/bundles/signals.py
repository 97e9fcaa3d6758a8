from django.dispatch import receiver

from tongban.cases.handling import step_taken


@receiver(step_taken)
def _child_step(sender, case, action, event, opinion, **kwargs):
    # Only children of a bundle: their parent's status is derived in the same transaction.
    if case.bundle_case_id:
        from . import coordination

        coordination.child_stepped(case, action, event, opinion)
