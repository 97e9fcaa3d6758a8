"""Summary tables of the supervision cockpit (政务服务驾驶舱).

`DailyCaseFigure` holds per-day counts by place, item and mode, bumped in the same transaction as the
case step (signals.py) and recomputed from scratch by `manage.py rebuild_figures`, so the cockpit's
period figures are sums over few rows instead of scans over millions of cases.
"""

from django.db import models

from tongban.cases.models import Mode


class DailyCaseFigure(models.Model):
    day = models.DateField("日期")
    region_path = models.CharField("区划路径", max_length=80)
    region_code = models.CharField("区划代码", max_length=12)
    department_id = models.BigIntegerField("部门")
    item_id = models.BigIntegerField("事项")
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    received = models.PositiveIntegerField("收件数", default=0)
    accepted = models.PositiveIntegerField("受理数", default=0)
    concluded = models.PositiveIntegerField("办结数", default=0)
    concluded_on_time = models.PositiveIntegerField("按时办结数", default=0)
    work_days = models.PositiveBigIntegerField("受理至办结工作日合计", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "办件日统计"
        constraints = [
            models.UniqueConstraint(fields=["day", "region_path", "department_id", "item_id", "mode"], name="daily_case_figure_key"),
        ]
        indexes = [
            models.Index(fields=["region_path", "day"], name="dcf_region_day"),
            models.Index(fields=["department_id", "day"], name="dcf_dept_day"),
        ]

    def __str__(self):
        return f"{self.day} {self.region_code}"


class FigureFreshness(models.Model):
    """One row: when the summary was last rebuilt and last updated incrementally (shown on the page)."""

    name = models.CharField("名称", max_length=40, unique=True)
    rebuilt_at = models.DateTimeField("最近重建时间", null=True, blank=True)
    updated_at = models.DateTimeField("最近增量更新时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计数据更新时间"

    def __str__(self):
        return self.name
