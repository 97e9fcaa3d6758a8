"""Summary tables of the supervision cockpit (政务服务驾驶舱).

`DailyCaseFigure` holds per-day counts by place, item and mode, bumped in the same transaction as the
case step (signals.py) and recomputed from scratch by `manage.py rebuild_figures`, so the cockpit's
period figures are sums over few rows instead of scans over millions of cases.
"""

from django.conf import settings
from django.db import models

from tongban.cases.models import Mode
from tongban.catalog.choices import SCOPES
from tongban.core.fields import FlagSetField


class DailyCaseFigure(models.Model):
    day = models.DateField("日期")
    region_path = models.CharField("区划路径", max_length=80)
    region_code = models.CharField("区划代码", max_length=12)
    department_id = models.BigIntegerField("部门")
    item_id = models.BigIntegerField("事项")
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    received = models.PositiveIntegerField("收件数", default=0)
    accepted = models.PositiveIntegerField("受理数", default=0)
    concluded = models.PositiveIntegerField("办结数", default=0)
    concluded_on_time = models.PositiveIntegerField("按时办结数", default=0)
    work_days = models.PositiveBigIntegerField("受理至办结工作日合计", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "办件日统计"
        constraints = [
            models.UniqueConstraint(fields=["day", "region_path", "department_id", "item_id", "mode", "scopes"], name="daily_case_figure_key"),
        ]
        indexes = [
            # varchar_pattern_ops: the subtree filter is a LIKE 'path%' and the database collation is not "C".
            models.Index(fields=["region_path", "day"], name="dcf_region_day", opclasses=["varchar_pattern_ops", "date_ops"]),
            models.Index(fields=["department_id", "day"], name="dcf_dept_day"),
        ]

    def __str__(self):
        return f"{self.day} {self.region_code}"


class RegionDayFigure(models.Model):
    """The same counts rolled up per day, place and level without department and item: one row per level
    (province 2, prefecture 3, county 4 segments of the path; a case registered higher up counts at its
    own place on the deeper levels). Totals, trends and region rankings then read a few rows per day
    whatever the number of cases. No national row: every step in the country would queue on it."""

    day = models.DateField("日期")
    level = models.PositiveSmallIntegerField("层级（区划路径段数）")
    region_path = models.CharField("区划路径", max_length=80)
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    received = models.PositiveIntegerField("收件数", default=0)
    accepted = models.PositiveIntegerField("受理数", default=0)
    concluded = models.PositiveIntegerField("办结数", default=0)
    concluded_on_time = models.PositiveIntegerField("按时办结数", default=0)
    work_days = models.PositiveBigIntegerField("受理至办结工作日合计", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "地区办件日统计"
        constraints = [models.UniqueConstraint(fields=["day", "level", "region_path", "mode", "scopes"], name="region_day_figure_key")]
        # Covering on PostgreSQL (INCLUDE): a year's national total reads tens of thousands of rows spread over
        # as many pages; an index-only scan does not visit them.
        indexes = [models.Index(fields=["level", "region_path", "day"], name="rdf_level_region_day", opclasses=["int2_ops", "varchar_pattern_ops", "date_ops"],
                                include=["mode", "scopes", "received", "accepted", "concluded", "concluded_on_time", "work_days"])]

    def __str__(self):
        return f"{self.day} {self.region_path}"


class RankingFigure(models.Model):
    """Counts per department (kind "d", key = department id, place = the department's region path) and
    per item (kind "i", key = item id, place = the county or higher place of the case; kind "p": the
    province), by day and by month: a national department or item ranking over a year reads whole months plus the days at the
    period's ends, not a row per day, department, item and mode."""

    DAY, MONTH = "d", "m"
    DEPARTMENT, ITEM, ITEM_PROVINCE = "d", "i", "p"

    grain = models.CharField("粒度", max_length=1, choices=[(DAY, "日"), (MONTH, "月")])
    period = models.DateField("日期或月初")
    kind = models.CharField("维度", max_length=1, choices=[(DEPARTMENT, "部门"), (ITEM, "事项（区县）"), (ITEM_PROVINCE, "事项（省）")])
    key_id = models.BigIntegerField("部门或事项")
    region_path = models.CharField("区划路径", max_length=80)
    received = models.PositiveIntegerField("收件数", default=0)
    accepted = models.PositiveIntegerField("受理数", default=0)
    concluded = models.PositiveIntegerField("办结数", default=0)
    concluded_on_time = models.PositiveIntegerField("按时办结数", default=0)
    work_days = models.PositiveBigIntegerField("受理至办结工作日合计", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "部门与事项排名统计"
        constraints = [models.UniqueConstraint(fields=["grain", "period", "kind", "key_id", "region_path"], name="ranking_figure_key")]
        # Covering: a ranking is an index-only scan over the period's rows (the counts as trailing key columns,
        # as SQLite has no INCLUDE).
        indexes = [models.Index(fields=["kind", "grain", "period", "region_path", "key_id", "received", "accepted", "concluded",
                                        "concluded_on_time", "work_days"], name="rank_kind_period_region",
                                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "date_ops", "varchar_pattern_ops", "int8_ops",
                                           "int4_ops", "int4_ops", "int4_ops", "int4_ops", "int8_ops"])]

    def __str__(self):
        return f"{self.grain}{self.period} {self.kind}{self.key_id}"


class DailyFlowFigure(models.Model):
    """Cross-region cases (received in one place, handled in another) per submission day and pair of places:
    hand-offs in/out and the flow map read these rows instead of the cases."""

    day = models.DateField("日期")
    region_path = models.CharField("办理地区划路径", max_length=80)
    receiving_region_path = models.CharField("收件地区划路径", max_length=80)
    department_id = models.BigIntegerField("办理部门")
    receiving_department_id = models.BigIntegerField("收件部门（0：未知）", default=0)
    item_id = models.BigIntegerField("事项")
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    cases = models.PositiveIntegerField("件数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "跨域流转日统计"
        constraints = [models.UniqueConstraint(fields=["day", "region_path", "receiving_region_path", "department_id", "receiving_department_id",
                                                       "item_id", "mode", "scopes"], name="daily_flow_figure_key")]
        indexes = [models.Index(fields=["region_path", "day"], name="dff_region_day", opclasses=["varchar_pattern_ops", "date_ops"]),
                   models.Index(fields=["receiving_region_path", "day"], name="dff_receiving_day", opclasses=["varchar_pattern_ops", "date_ops"]),
                   models.Index(fields=["day"], name="dff_day")]

    def __str__(self):
        return f"{self.day} {self.receiving_region_path} → {self.region_path}"


class RegionFlowFigure(models.Model):
    """Cross-region cases per pair of places cut to one level of the region tree (province 2, prefecture 3
    segments), by day and by month, without department and item: the national map and the hand-offs of
    a province or prefecture over a year read whole months plus the days at the period's ends, a few
    thousand rows, instead of a row per day and pair of departments."""

    DAY, MONTH = "d", "m"

    grain = models.CharField("粒度", max_length=1, choices=[(DAY, "日"), (MONTH, "月")])
    period = models.DateField("日期或月初")
    level = models.PositiveSmallIntegerField("层级（区划路径段数）")
    region_path = models.CharField("办理地区划路径", max_length=80)
    receiving_region_path = models.CharField("收件地区划路径", max_length=80)
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    cases = models.PositiveIntegerField("件数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "跨域流转分级统计"
        constraints = [models.UniqueConstraint(fields=["grain", "period", "level", "region_path", "receiving_region_path", "mode", "scopes"],
                                               name="region_flow_figure_key")]
        indexes = [models.Index(fields=["level", "grain", "period"], name="rff_level_period",
                                include=["region_path", "receiving_region_path", "mode", "scopes", "cases"]),
                   models.Index(fields=["level", "region_path", "grain", "period"], name="rff_level_region",
                                opclasses=["int2_ops", "varchar_pattern_ops", "varchar_pattern_ops", "date_ops"]),
                   models.Index(fields=["level", "receiving_region_path", "grain", "period"], name="rff_level_receiving",
                                opclasses=["int2_ops", "varchar_pattern_ops", "varchar_pattern_ops", "date_ops"])]

    def __str__(self):
        return f"{self.grain}{self.period} {self.receiving_region_path} → {self.region_path}"


class RatingDayFigure(models.Model):
    """好差评 per rating day, place (per level of the region tree, like RegionDayFigure), mode and scopes:
    initial ratings (all, and counted), satisfied and bad among the counted, and the rectifications of
    those ratings (all, done, excluded on appeal). Mode "" marks a rating without a case and `scoped`
    false one without an implementation: the page counts them apart under a mode or scope filter. Kept
    by the rating services in the same transaction (tongban.evaluation.figures_hook) and by rebuilds."""

    day = models.DateField("评价日期")
    level = models.PositiveSmallIntegerField("层级（区划路径段数）")
    region_path = models.CharField("区划路径", max_length=80)
    mode = models.CharField("业务模式（空：无办件）", max_length=8, blank=True)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    scoped = models.BooleanField("有实施清单", default=True)
    rated = models.PositiveIntegerField("评价数（含不计入）", default=0)
    ratings = models.PositiveIntegerField("计入评价数", default=0)
    satisfied = models.PositiveIntegerField("满意数", default=0)
    bad = models.PositiveIntegerField("差评数", default=0)
    rectifications = models.PositiveIntegerField("整改数", default=0)
    rectified = models.PositiveIntegerField("已整改数", default=0)
    appeals_upheld = models.PositiveIntegerField("申诉成立数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "好差评日统计"
        constraints = [models.UniqueConstraint(fields=["day", "level", "region_path", "mode", "scopes", "scoped"], name="rating_day_figure_key")]
        indexes = [models.Index(fields=["level", "region_path", "day"], name="rtf_level_region_day",
                                opclasses=["int2_ops", "varchar_pattern_ops", "date_ops"])]

    def __str__(self):
        return f"{self.day} {self.region_path}"


class OpenCase(models.Model):
    """The cases still open with a due date (a copy of their place and deadline), kept in step with each
    case step: the overdue count reads this small table, not the millions of finished cases."""

    case_id = models.BigIntegerField("办件", primary_key=True)
    region_path = models.CharField("区划路径", max_length=80)
    department_id = models.BigIntegerField("部门")
    item_id = models.BigIntegerField("事项")
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices)
    scopes = FlagSetField("通办范围", flags=SCOPES, blank=True)
    due_date = models.DateField("办理期限")
    submitted_at = models.DateTimeField("提交时间")

    class Meta:
        verbose_name = verbose_name_plural = "在办办件期限"
        # Index-only counts (PostgreSQL INCLUDE; other databases get the key columns only): nationally by due
        # date, in a region by place and due date.
        indexes = [models.Index(fields=["region_path", "due_date"], name="open_case_region_due", opclasses=["varchar_pattern_ops", "date_ops"],
                                include=["submitted_at", "department_id", "item_id", "mode", "scopes"]),
                   models.Index(fields=["due_date"], name="open_case_due", include=["region_path", "submitted_at", "department_id", "item_id",
                                                                                   "mode", "scopes"])]

    def __str__(self):
        return str(self.case_id)


class FigureFreshness(models.Model):
    """One row: when the summary was last rebuilt and last updated incrementally (shown on the page)."""

    name = models.CharField("名称", max_length=40, unique=True)
    rebuilt_at = models.DateTimeField("最近重建时间", null=True, blank=True)
    updated_at = models.DateTimeField("最近增量更新时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计数据更新时间"

    def __str__(self):
        return self.name


class QuarterlyReport(models.Model):
    """季度工作进展报告 of a region to the coordination office (seed 001): the figures are a snapshot
    taken from the cockpit's figures when the draft is saved and frozen when it is submitted (报送)."""

    DRAFT, SUBMITTED = "draft", "submitted"
    STATUS_CHOICES = [(DRAFT, "草稿"), (SUBMITTED, "已报送")]

    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="区划")
    region_path = models.CharField("区划路径", max_length=80, editable=False)
    year = models.PositiveSmallIntegerField("年度")
    quarter = models.PositiveSmallIntegerField("季度")
    figures = models.JSONField("统计数据快照", default=dict, blank=True)
    measures = models.TextField("工作举措", blank=True, max_length=5000)
    problems = models.TextField("存在问题", blank=True, max_length=5000)
    plans = models.TextField("下一步计划", blank=True, max_length=5000)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="起草人")
    updated_at = models.DateTimeField("最近保存时间", auto_now=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="报送人")
    submitted_by_name = models.CharField("报送人姓名", max_length=150, blank=True)
    submitted_at = models.DateTimeField("报送时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "季度工作进展报告"
        constraints = [models.UniqueConstraint(fields=["region", "year", "quarter"], name="quarterly_report_key")]
        indexes = [models.Index(fields=["region_path", "year", "quarter"], name="qr_region_period", opclasses=["varchar_pattern_ops", "int2_ops", "int2_ops"])]

    def __str__(self):
        return f"{self.year}年第{self.quarter}季度 {self.region_path}"
