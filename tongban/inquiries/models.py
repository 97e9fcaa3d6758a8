"""咨询投诉建议 (Inquiry): from the portal or pushed by a 12345 hotline system, routed to a department,
answered within a number of working days per kind, rated by the inquirer, escalated when overdue.

State is the explicit `status`; every change appends one InquiryStep (append-only in the ORM and in the
database). Region path, department, item, dates and status are indexed columns for later reports."""

from django.conf import settings
from django.db import models

from tongban.core.append_only import AppendOnly
from tongban.core.authz import ScopedQuerySet


class Kind(models.TextChoices):
    CONSULT = "consult", "咨询"
    COMPLAINT = "complaint", "投诉"
    SUGGESTION = "suggestion", "建议"


class Status(models.TextChoices):
    RECEIVED = "received", "待分派"
    ASSIGNED = "assigned", "办理中"
    REPLIED = "replied", "已答复"
    CLOSED = "closed", "已办结"
    ESCALATED = "escalated", "超期督办"


class Source(models.TextChoices):
    PORTAL = "portal", "网上提交"
    HOTLINE = "hotline", "12345热线"


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", "满意"
    BASIC = "basic", "基本满意"
    UNSATISFIED = "unsatisfied", "不满意"


OPEN_STATUSES = (Status.RECEIVED, Status.ASSIGNED, Status.ESCALATED)


class HotlineClient(models.Model):
    """A 12345 hotline system allowed to push tickets for its region (and below). Only the SHA-256 of
    its key is stored; the key is printed once by `manage.py hotline_client_create`."""

    name = models.CharField("名称", max_length=100)
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="所属区划")
    key_prefix = models.CharField("密钥前缀", max_length=12, unique=True, editable=False)
    key_hash = models.CharField("密钥摘要", max_length=64, editable=False)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "12345热线接入"

    def __str__(self):
        return f"{self.name}（{self.key_prefix}…）"


FIGURE_COLUMNS = ["region_path", "department_id", "item_id", "case_id", "status", "replied_at", "due_date", "satisfaction"]


class Inquiry(models.Model):
    inquiry_no = models.CharField("编号", max_length=32, unique=True, null=True, blank=True)
    kind = models.CharField("类别", max_length=12, choices=Kind.choices, db_index=True)
    source = models.CharField("来源", max_length=10, choices=Source.choices, default=Source.PORTAL, db_index=True)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    title = models.CharField("标题", max_length=100)
    content = models.TextField("内容", max_length=2000)

    applicant = models.ForeignKey("applicants.Applicant", null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", verbose_name="申请人")
    inquirer_name = models.CharField("姓名", max_length=60, blank=True)
    inquirer_phone = models.CharField("联系电话", max_length=20)

    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", verbose_name="相关办件")
    item = models.ForeignKey("catalog.Item", null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", verbose_name="相关事项")
    item_text = models.CharField("事项（原文）", max_length=200, blank=True, help_text="提交时填写的事项名称或编码")
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="inquiries", verbose_name="所属区划")
    region_path = models.CharField("区划路径", max_length=80, db_index=True, editable=False)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", verbose_name="承办部门")
    routed_by = models.CharField("分派依据", max_length=20, blank=True, help_text="case 相关办件；item 事项实施部门；region 区划政务服务管理部门；manual 人工分派")

    hotline_client = models.ForeignKey(HotlineClient, null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries", verbose_name="热线接入")
    hotline_ticket_no = models.CharField("热线工单号", max_length=40, blank=True)
    occurred_at = models.DateTimeField("发生时间", null=True, blank=True)

    submitted_at = models.DateTimeField("提交时间", db_index=True)
    due_date = models.DateField("答复期限", db_index=True)
    calendar_warning = models.CharField("日历提示", max_length=200, blank=True)
    assigned_at = models.DateTimeField("分派时间", null=True, blank=True)
    replied_at = models.DateTimeField("答复时间", null=True, blank=True)
    closed_at = models.DateTimeField("办结时间", null=True, blank=True)
    satisfaction = models.CharField("满意度", max_length=12, choices=Satisfaction.choices, blank=True, db_index=True)
    reopen_count = models.PositiveSmallIntegerField("重新办理次数", default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "咨询投诉建议"
        constraints = [
            models.UniqueConstraint(fields=["hotline_client", "hotline_ticket_no"], condition=models.Q(source="hotline"), name="inquiry_hotline_ticket_unique"),
        ]
        indexes = [
            models.Index(fields=["region_path", "status"], name="inquiry_region_status"),
            models.Index(fields=["department", "status"], name="inquiry_department_status"),
            models.Index(fields=["status", "due_date"], name="inquiry_status_due"),
            # The cockpit's period counts as index-only scans (PostgreSQL INCLUDE): nationally by time, in a
            # region by place and time.
            models.Index(fields=["submitted_at"], name="inquiry_period", include=FIGURE_COLUMNS),
            models.Index(fields=["region_path", "submitted_at"], name="inquiry_region_period", opclasses=["varchar_pattern_ops", "timestamptz_ops"],
                         include=FIGURE_COLUMNS),
        ]

    def __str__(self):
        return f"{self.inquiry_no or '—'} {self.title}"


class InquiryStep(AppendOnly):
    """One thing that happened to an inquiry (append-only: ORM guard + database triggers)."""

    history_name = "咨询投诉建议记录"

    inquiry = models.ForeignKey(Inquiry, on_delete=models.PROTECT, related_name="steps", verbose_name="咨询投诉建议")
    seq = models.PositiveIntegerField("序号")
    action = models.CharField("动作", max_length=20)
    label = models.CharField("环节", max_length=60)
    status_from = models.CharField("原状态", max_length=12, blank=True)
    status_to = models.CharField("新状态", max_length=12)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="承办部门")
    due_date = models.DateField("答复期限", null=True, blank=True)
    round = models.PositiveSmallIntegerField("办理轮次", default=0, help_text="重新办理次数（不满意后重新办理为第1轮）")
    note = models.TextField("说明", blank=True)
    at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        ordering = ["inquiry", "seq"]
        verbose_name = verbose_name_plural = "咨询投诉建议记录"
        constraints = [models.UniqueConstraint(fields=["inquiry", "seq"], name="inquiry_step_seq_unique")]
        indexes = [models.Index(fields=["action", "due_date"], name="inquiry_step_action_due")]


class InquiryReply(AppendOnly):
    """A reply by the assigned department; the inquirer rates it (on the inquiry and in a step)."""

    history_name = "答复记录"

    inquiry = models.ForeignKey(Inquiry, on_delete=models.PROTECT, related_name="replies", verbose_name="咨询投诉建议")
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="答复部门")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="答复人")
    author_name = models.CharField("答复人姓名", max_length=150)
    body = models.TextField("答复内容")
    created_at = models.DateTimeField("答复时间", auto_now_add=True)

    class Meta:
        ordering = ["inquiry", "id"]
        verbose_name = verbose_name_plural = "答复"
