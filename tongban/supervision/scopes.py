"""Authorisation scopes of the cockpit's summary tables and reports: supervisors and platform
administrators of a region read its subtree (department-limited memberships their department)."""

from tongban.core.authz import register

from .models import (
    DailyCaseFigure,
    DailyFlowFigure,
    OpenCase,
    QuarterlyReport,
    RankingFigure,
    RatingDayFigure,
    RegionDayFigure,
    RegionFlowFigure,
)

READERS = frozenset({"supervisor", "platform_admin"})

register(DailyCaseFigure, region="region_path", department="department_id", read=READERS)
# No department column: figures.py reads these only for users whose grant covers the whole subtree asked.
register(RegionDayFigure, region="region_path", read=READERS)
register(RankingFigure, region="region_path", read=READERS)
register(RatingDayFigure, region="region_path", read=READERS)
register(RegionFlowFigure, region="region_path", read=READERS, also_read=(("receiving_region_path", None),))
# Like the cases: the competent place, and the receiving place for what it handed on.
register(DailyFlowFigure, region="region_path", department="department_id", read=READERS, also_read=(("receiving_region_path", None),))
register(OpenCase, region="region_path", department="department_id", read=READERS)
register(QuarterlyReport, region="region_path", read=READERS, write=READERS)
