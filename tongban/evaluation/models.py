"""好差评: ratings (Evaluation), one-time window rating tokens (一次一评) and the rectification of bad
ratings (Rectification) with its append-only step history.

Place columns (region_path, department, window) are copied onto each row when it is written, so the
authorisation filter and later statistics are indexed queries on one table.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.core.append_only import AppendOnly
from tongban.core.authz import ScopedQuerySet


class Level(models.IntegerChoices):
    VERY_SATISFIED = 5, "非常满意"
    SATISFIED = 4, "满意"
    BASIC = 3, "基本满意"
    DISSATISFIED = 2, "不满意"
    VERY_DISSATISFIED = 1, "非常不满意"


BAD_LEVELS = (Level.DISSATISFIED, Level.VERY_DISSATISFIED)
GOOD_LEVELS = (Level.VERY_SATISFIED, Level.SATISFIED, Level.BASIC)  # 满意率: the top three of five


class Channel(models.TextChoices):
    ONLINE = "online", "网上评价（一事一评）"
    WINDOW = "window", "窗口评价（一次一评）"


# Indicator tags per channel (评价指标).
TAGS = {
    Channel.ONLINE: ("整体满意度", "办事效率", "办事指南精确度", "办事便捷度", "平台操作性"),
    Channel.WINDOW: ("整体满意度", "服务效率", "服务水平", "服务态度"),
}


class Evaluation(models.Model):
    INITIAL, ADDITIONAL = "initial", "additional"
    KIND_CHOICES = [(INITIAL, "评价"), (ADDITIONAL, "追加评价")]
    # Counted in statistics unless an appeal was upheld (申诉成立): the row itself is kept.
    COUNTED, EXCLUDED = "counted", "excluded"
    STATUS_CHOICES = [(COUNTED, "有效"), (EXCLUDED, "申诉成立，不计入统计")]

    channel = models.CharField("评价渠道", max_length=8, choices=Channel.choices, db_index=True)
    kind = models.CharField("类型", max_length=12, choices=KIND_CHOICES, default=INITIAL)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="additions", verbose_name="原评价")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=COUNTED, db_index=True)
    level = models.PositiveSmallIntegerField("评价等级", choices=Level.choices)
    tags = models.JSONField("评价指标", default=list, blank=True)
    comment = models.TextField("评价内容", blank=True)
    anonymous = models.BooleanField("匿名评价", default=False)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations", verbose_name="办件")
    # Who rated: kept for anonymous ratings too (one rating per case, own reads), never shown to staff then.
    applicant = models.ForeignKey("applicants.Applicant", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations", verbose_name="评价人")
    token = models.OneToOneField("evaluation.WindowRatingToken", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluation", verbose_name="评价码")
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="区划")
    region_path = models.CharField("区划路径", max_length=80, db_index=True, editable=False)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="办理部门")
    window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="窗口")
    implementation = models.ForeignKey("catalog.Implementation", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="实施清单")
    item_name = models.CharField("事项名称", max_length=200, blank=True)
    created_at = models.DateTimeField("评价时间", auto_now_add=True, db_index=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "好差评"
        indexes = [
            models.Index(fields=["region_path", "created_at"], name="eval_region_time"),
            models.Index(fields=["department", "created_at"], name="eval_dept_time"),
            models.Index(fields=["implementation", "created_at"], name="eval_impl_time"),
            models.Index(fields=["level", "status"], name="eval_level_status"),
        ]
        constraints = [
            # 一事一评: one online rating per case, and one addition per rating.
            models.UniqueConstraint(fields=["case"], condition=Q(channel="online", kind="initial"), name="eval_one_per_case"),
            models.UniqueConstraint(fields=["parent"], condition=Q(kind="additional"), name="eval_one_addition"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.get_level_display()} #{self.pk}"

    @property
    def is_bad(self):
        return self.level in BAD_LEVELS

    @property
    def rater_label(self):
        """What staff see as the rater: never the person behind an anonymous rating."""
        if self.anonymous or self.applicant_id is None:
            return "匿名"
        return self.applicant.name


class WindowRatingToken(models.Model):
    """A one-time rating invitation issued by a window for one visit (一次一评)."""

    ISSUED, USED = "issued", "used"
    STATUS_CHOICES = [(ISSUED, "待评价"), (USED, "已评价")]

    token = models.CharField("评价令牌", max_length=64, unique=True, editable=False)
    short_code = models.CharField("评价码", max_length=8, unique=True, editable=False)
    status = models.CharField("状态", max_length=8, choices=STATUS_CHOICES, default=ISSUED)
    window = models.ForeignKey("directory.Window", on_delete=models.PROTECT, related_name="+", verbose_name="窗口")
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="区划")
    region_path = models.CharField("区划路径", max_length=80, db_index=True, editable=False)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="部门")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="办件")
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="发起人")
    issued_at = models.DateTimeField("发起时间", auto_now_add=True)
    expires_at = models.DateTimeField("失效时间")
    used_at = models.DateTimeField("评价时间", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "窗口评价码"

    def __str__(self):
        return self.short_code


class Rectification(models.Model):
    """差评整改 owned by the unit that handled the case (谁办理谁负责)."""

    OPEN, RECTIFYING, APPEALED, DONE, EXCLUDED = "open", "rectifying", "appealed", "done", "excluded"
    STATUS_CHOICES = [(OPEN, "待回访核实"), (RECTIFYING, "限期整改中"), (APPEALED, "申诉复核中"), (DONE, "整改办结"), (EXCLUDED, "申诉成立")]
    ACTIVE = (OPEN, RECTIFYING, APPEALED)
    IMMEDIATE, DEADLINE, EXPLAIN = "immediate", "deadline", "explain"
    OUTCOME_CHOICES = [(IMMEDIATE, "立行立改"), (DEADLINE, "限期整改"), (EXPLAIN, "解释说明")]

    evaluation = models.OneToOneField(Evaluation, on_delete=models.PROTECT, related_name="rectification", verbose_name="差评")
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=OPEN, db_index=True)
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="区划")
    region_path = models.CharField("区划路径", max_length=80, db_index=True, editable=False)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="责任部门")
    real_name = models.BooleanField("实名差评", default=False)
    # Last call-back (回访); every call-back is also a step.
    called_back_at = models.DateTimeField("回访时间", null=True, blank=True, db_index=True)
    callback_reached = models.BooleanField("已联系上", null=True, blank=True)
    callback_summary = models.TextField("回访记录", blank=True)
    outcome = models.CharField("处理方式", max_length=10, choices=OUTCOME_CHOICES, blank=True)
    outcome_note = models.TextField("处理说明", blank=True)
    deadline = models.DateField("整改期限", null=True, blank=True, db_index=True)
    deadline_warning = models.CharField("日历提示", max_length=200, blank=True)
    overdue_at = models.DateTimeField("超期标记时间", null=True, blank=True)
    result = models.TextField("整改结果", blank=True)
    completed_at = models.DateTimeField("办结时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True, db_index=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "差评整改"
        indexes = [models.Index(fields=["department", "status"], name="rect_dept_status"),
                   models.Index(fields=["region_path", "status"], name="rect_region_status")]

    def __str__(self):
        return f"差评整改 #{self.pk}"


class RectificationStep(AppendOnly):
    history_name = "整改记录"

    rectification = models.ForeignKey(Rectification, on_delete=models.PROTECT, related_name="steps", verbose_name="差评整改")
    action = models.CharField("操作", max_length=20)
    label = models.CharField("操作名称", max_length=40)
    status_from = models.CharField("原状态", max_length=12, blank=True)
    status_to = models.CharField("新状态", max_length=12, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150)
    note = models.TextField("说明", blank=True)
    data = models.JSONField("数据", default=dict, blank=True)
    at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = verbose_name_plural = "整改记录"
