"""Incremental summary updates (connected in apps.ready): one cheap UPDATE per counted step."""

from django.dispatch import receiver

from tongban.cases.handling import step_taken

from . import summary


@receiver(step_taken, dispatch_uid="supervision_daily_figures")
def case_stepped(sender, case, action, **kwargs):
    summary.on_step(case, action)
