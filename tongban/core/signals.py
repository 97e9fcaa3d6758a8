from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import workdays
from .models import CalendarDay, HolidayYear


@receiver([post_save, post_delete], sender=CalendarDay)
@receiver([post_save, post_delete], sender=HolidayYear)
def _calendar_changed(**kwargs):
    workdays.invalidate()
