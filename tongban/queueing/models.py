"""主题叫号 at halls (seed 002: 在政务服务大厅、专业大厅实施“一件事”主题叫号，设置“一件事一次办”服务专区 …
建立“一件事”绿色审批通道).

A kiosk ticket joins one queue of its hall for the day: a 一件事 theme queue (企业 Q, 个人 G, 项目 X) or the
ordinary queue (A). A comprehensive window's clerk calls the next ticket of the queues that window
serves, green-channel tickets first. Numbers come from a counter row per (hall, day, letter) that is
incremented with one statement, so two kiosks never print the same number. Every step of a ticket is
appended to its log.
"""

from django.conf import settings
from django.db import models

from tongban.core.append_only import AppendOnly
from tongban.core.authz import ScopedQuerySet
from tongban.core.masking import mask_phone


class Queue(models.TextChoices):
    # The three theme values are those of bundles.Theme, so a bundle's theme names its queue.
    ENTERPRISE = "enterprise", "企业全生命周期“一件事”"
    PERSONAL = "personal", "个人全生命周期“一件事”"
    PROJECT = "project", "项目全周期“一件事”"
    ORDINARY = "ordinary", "其他业务（综合受理）"


LETTERS = {Queue.ENTERPRISE: "Q", Queue.PERSONAL: "G", Queue.PROJECT: "X", Queue.ORDINARY: "A"}
SHORT_LABELS = {Queue.ENTERPRISE: "企业一件事", Queue.PERSONAL: "个人一件事", Queue.PROJECT: "项目一件事", Queue.ORDINARY: "其他业务"}

# 绿色通道: who is served first (seed 002 “绿色审批通道”; halls' 老弱病残孕 priority service).
GREEN_REASONS = [
    ("elderly", "老年人（65周岁以上）"),
    ("disabled", "残疾人"),
    ("pregnant", "孕妇、怀抱婴儿者"),
    ("military", "现役军人、退役军人及优抚对象"),
    ("key_project", "重点项目"),
]


class QueueCounter(models.Model):
    """The last number given in one queue of a hall on one day."""

    hall = models.ForeignKey("directory.Hall", on_delete=models.CASCADE, related_name="+", verbose_name="大厅")
    day = models.DateField("日期")
    letter = models.CharField("队列字母", max_length=1)
    last = models.PositiveIntegerField("已发号", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "叫号计数"
        constraints = [models.UniqueConstraint(fields=["hall", "day", "letter"], name="queue_counter_unique")]


class WindowQueue(models.Model):
    """Which queues a window serves. A window without rows serves the default of its kind
    (`services.DEFAULT_QUEUES`: comprehensive and help-desk windows serve every queue)."""

    window = models.ForeignKey("directory.Window", on_delete=models.CASCADE, related_name="queues", verbose_name="窗口")
    queue = models.CharField("队列", max_length=12, choices=Queue.choices)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["window", "queue"]
        verbose_name = verbose_name_plural = "窗口叫号队列"
        constraints = [models.UniqueConstraint(fields=["window", "queue"], name="window_queue_unique")]

    def __str__(self):
        return f"{self.window} · {self.get_queue_display()}"


class TicketStatus(models.TextChoices):
    WAITING = "waiting", "等候中"
    CALLED = "called", "已叫号"
    SERVING = "serving", "办理中"
    DONE = "done", "已办结"
    NO_SHOW = "no_show", "过号"
    TRANSFERRED = "transferred", "已转窗口（等候）"


OPEN_STATUSES = (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING, TicketStatus.TRANSFERRED)


class QueueTicket(models.Model):
    """One number taken at a hall's kiosk."""

    hall = models.ForeignKey("directory.Hall", on_delete=models.PROTECT, related_name="queue_tickets", verbose_name="大厅")
    day = models.DateField("日期")
    letter = models.CharField("队列字母", max_length=1)
    seq = models.PositiveIntegerField("序号")
    number = models.CharField("号码", max_length=8)
    queue = models.CharField("队列", max_length=12, choices=Queue.choices)
    bundle = models.ForeignKey("bundles.Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="queue_tickets", verbose_name="一件事")
    green = models.BooleanField("绿色通道", default=False)
    green_reason = models.CharField("绿色通道事由", max_length=20, choices=GREEN_REASONS, blank=True)
    status = models.CharField("状态", max_length=12, choices=TicketStatus.choices, default=TicketStatus.WAITING, db_index=True)
    window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="叫号窗口")
    # Set while the ticket waits for a particular window after a transfer (转窗口).
    target_window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="转至窗口")
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="叫号人")
    called_at = models.DateTimeField("叫号时间", null=True, blank=True)
    served_at = models.DateTimeField("开始办理时间", null=True, blank=True)
    done_at = models.DateTimeField("结束时间", null=True, blank=True)
    recall_count = models.PositiveSmallIntegerField("重呼次数", default=0)
    phone = models.CharField("手机号（短信提醒）", max_length=11, blank=True)
    bundle_case = models.ForeignKey("bundles.BundleCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="queue_tickets",
                                    verbose_name="一件事办件")
    token = models.CharField("取号令牌", max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField("取号时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["day", "id"]
        verbose_name = verbose_name_plural = "叫号票"
        constraints = [
            models.UniqueConstraint(fields=["hall", "day", "letter", "seq"], name="queue_ticket_seq_unique"),
            models.UniqueConstraint(fields=["hall", "day", "number"], name="queue_ticket_number_unique"),
        ]
        indexes = [models.Index(fields=["hall", "day", "status"], name="queue_ticket_waiting")]

    def __str__(self):
        return f"{self.number}（{self.day:%Y-%m-%d}）"

    @property
    def masked_phone(self):
        return mask_phone(self.phone)

    @property
    def short_queue(self):
        return SHORT_LABELS.get(self.queue, self.get_queue_display())


class TicketLog(AppendOnly):
    """Every step of a ticket (取号、叫号、重呼、开始办理、办结、过号、转窗口), append-only."""

    ticket = models.ForeignKey(QueueTicket, on_delete=models.PROTECT, related_name="logs", verbose_name="叫号票")
    action = models.CharField("动作", max_length=16)
    window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="窗口")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150)
    at = models.DateTimeField("时间")
    note = models.CharField("说明", max_length=300, blank=True)

    history_name = "叫号记录"

    class Meta:
        ordering = ["ticket", "id"]
        verbose_name = verbose_name_plural = "叫号记录"
