"""Small helpers for the applicant templates."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def demo_site():
    """True on a DEBUG deployment, whose data is demo data (the banner says so)."""
    return settings.DEBUG
