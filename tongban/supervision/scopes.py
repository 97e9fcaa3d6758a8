"""Authorisation scopes of the cockpit's summary tables: supervisors and platform administrators of a
region read its subtree (department-limited memberships their department)."""

from tongban.core.authz import register

from .models import DailyCaseFigure

READERS = frozenset({"supervisor", "platform_admin"})

register(DailyCaseFigure, region="region_path", department="department_id", read=READERS)
