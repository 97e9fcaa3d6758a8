"""Incremental summary updates (connected in apps.ready): one cheap UPDATE per counted step or rating change."""

from django.dispatch import receiver

from tongban.cases.handling import step_taken
from tongban.evaluation.signals import rating_changed

from . import summary


@receiver(step_taken, dispatch_uid="supervision_daily_figures")
def case_stepped(sender, case, action, **kwargs):
    summary.on_step(case, action)


@receiver(rating_changed, dispatch_uid="supervision_rating_figures")
def rating_changed_figures(sender, evaluation, changes, **kwargs):
    summary.on_rating(evaluation, changes)
