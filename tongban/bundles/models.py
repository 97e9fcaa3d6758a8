"""高效办成一件事: bundles of items (catalogue side, versioned like items) and bundle cases (the parent
of one child `cases.Case` per included item).

A bundle version's merged form, merged materials and order of work are computed from its entries
when the version is saved (`merging.recompute`), so a conflict between two items' forms is found by
the administrator, not by an applicant. A bundle case's status is derived from its children
(`coordination.derive_status`) in the same transaction as every child's step.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.catalog.choices import DELIVERY
from tongban.core.append_only import AppendOnly
from tongban.core.authz import ScopedQuerySet
from tongban.core.fields import FlagSetField
from tongban.core.masking import mask_id_number, mask_phone


class Theme(models.TextChoices):
    ENTERPRISE = "enterprise", "企业全生命周期"
    PERSONAL = "personal", "个人全生命周期"
    PROJECT = "project", "项目全周期"


# Life-cycle stages per theme (seed 002: 企业从开办到注销、个人从出生到身后、项目从投资到建设).
STAGES = {
    Theme.ENTERPRISE: [("open", "开办"), ("change", "变更"), ("close", "注销")],
    Theme.PERSONAL: [("birth", "出生"), ("school", "入学"), ("work", "就业"), ("retire", "退休"), ("after", "身后")],
    Theme.PROJECT: [("invest", "投资"), ("build", "建设")],
}
STAGE_CHOICES = [(k, v) for stages in STAGES.values() for k, v in stages]


class Bundle(models.Model):
    """一件事 as published by a region (its 服务清单 entry)."""

    code = models.CharField("一件事编码", max_length=40, unique=True)
    name = models.CharField("一件事名称", max_length=120)
    theme = models.CharField("主题", max_length=12, choices=Theme.choices)
    stage = models.CharField("生命周期阶段", max_length=10, choices=STAGE_CHOICES)
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="bundles", verbose_name="发布区划")
    batch = models.CharField("批次", max_length=60, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["region__code", "code"]
        verbose_name = verbose_name_plural = "一件事"

    def __str__(self):
        return self.name

    @property
    def published_version(self):
        return self.versions.filter(status=BundleVersion.PUBLISHED).first()


class BundleVersion(models.Model):
    """A version of a bundle: draft → published → retired, one published at a time."""

    DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
    STATUS_CHOICES = [(DRAFT, "草稿"), (PUBLISHED, "已发布"), (RETIRED, "已废止")]
    PARALLEL, SEQUENTIAL, STAGED = "parallel", "sequential", "staged"
    ORDER_CHOICES = [(PARALLEL, "并联办理"), (SEQUENTIAL, "按顺序办理"), (STAGED, "按阶段（同阶段并联）")]
    ALL_OR_NOTHING, PARTIAL = "all_or_nothing", "partial"
    POLICY_CHOICES = [(ALL_OR_NOTHING, "任一事项不予许可则一件事整体未办成"), (PARTIAL, "部分办成，说明未办成事项及理由")]

    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="versions", verbose_name="一件事")
    version_no = models.PositiveIntegerField("版本号")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=DRAFT, editable=False)
    change_note = models.CharField("修订说明", max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    published_at = models.DateTimeField("发布时间", null=True, blank=True, editable=False)
    retired_at = models.DateTimeField("废止时间", null=True, blank=True, editable=False)

    name = models.CharField("一件事名称", max_length=120)
    description = models.TextField("服务说明", blank=True)
    conditions = models.TextField("适用情形", blank=True)
    lead_department = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="led_bundles", verbose_name="牵头部门")
    cooperating_departments = models.ManyToManyField("directory.Department", blank=True, related_name="cooperating_bundles", verbose_name="协同部门")
    order = models.CharField("办理顺序", max_length=12, choices=ORDER_CHOICES, default=PARALLEL)
    refusal_policy = models.CharField("不予许可时的处理", max_length=16, choices=POLICY_CHOICES, default=PARTIAL)
    promised_limit_days = models.PositiveIntegerField("一件事承诺办结时限（工作日）")
    delivery_methods = FlagSetField("送达方式", flags=DELIVERY)
    combined_permit_name = models.CharField("行业综合许可证名称（一业一证）", max_length=120, blank=True,
                                            help_text="填写后，一件事全部办成时核发一张行业综合许可证，列明其代表的各项许可")
    # Computed by merging.recompute when the version or its entries change (never edited by hand):
    # form_fields — the merged definition (catalog.formdef format plus "meaning");
    # field_map — {entry id: {item field key: merged key}};
    # material_groups — [{"key", "name", "necessity", "original_check", "deferrable", "material_ids", "entry_ids"}];
    # merge_problems — Chinese descriptions of conflicts (publishing is refused while any remain);
    # bpmn_xml — the order of work, one user task per entry (task name = entry key "e<entry id>").
    form_fields = models.JSONField("合并后的申请表", default=list, blank=True, editable=False)
    field_map = models.JSONField("字段对应关系", default=dict, blank=True, editable=False)
    material_groups = models.JSONField("合并后的材料", default=list, blank=True, editable=False)
    merge_problems = models.JSONField("合并冲突", default=list, blank=True, editable=False)
    bpmn_xml = models.TextField("办理顺序（BPMN）", blank=True, editable=False)
    # Names of merged materials that may be deferred under a signed commitment (告知承诺 + 容缺).
    deferrable_materials = models.JSONField("可容缺材料", default=list, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["bundle", "-version_no"]
        verbose_name = verbose_name_plural = "一件事版本"
        constraints = [
            models.UniqueConstraint(fields=["bundle", "version_no"], name="bundle_version_no_unique"),
            models.UniqueConstraint(fields=["bundle"], condition=Q(status="published"), name="one_published_version_per_bundle"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version_no}（{self.get_status_display()}）"


class BundleEntry(models.Model):
    """An implementation included in a bundle version. Entries of one stage run in parallel; stages
    run in order (for a parallel bundle every entry is stage 1; for a sequential one each its own)."""

    version = models.ForeignKey(BundleVersion, on_delete=models.CASCADE, related_name="entries", verbose_name="一件事版本")
    seq = models.PositiveSmallIntegerField("序号")
    stage = models.PositiveSmallIntegerField("办理阶段", default=1)
    implementation = models.ForeignKey("catalog.Implementation", on_delete=models.PROTECT, related_name="bundle_entries", verbose_name="实施清单")

    class Meta:
        ordering = ["version", "seq"]
        verbose_name = verbose_name_plural = "一件事包含事项"
        constraints = [
            models.UniqueConstraint(fields=["version", "seq"], name="bundle_entry_seq_unique"),
            models.UniqueConstraint(fields=["version", "implementation"], name="bundle_entry_impl_unique"),
        ]

    def __str__(self):
        return f"{self.seq}. {self.implementation}"

    @property
    def key(self):
        return f"e{self.pk}"


class MarketService(models.Model):
    """一类事: an optional market service offered with the bundle (bank account, seal engraving …)."""

    version = models.ForeignKey(BundleVersion, on_delete=models.CASCADE, related_name="market_services", verbose_name="一件事版本")
    seq = models.PositiveSmallIntegerField("序号")
    name = models.CharField("服务名称", max_length=100)
    provider = models.CharField("服务机构", max_length=120)
    description = models.CharField("说明", max_length=300, blank=True)

    class Meta:
        ordering = ["version", "seq"]
        verbose_name = verbose_name_plural = "一类事增值服务"
        constraints = [models.UniqueConstraint(fields=["version", "seq"], name="market_service_seq_unique")]

    def __str__(self):
        return self.name


class BundleStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "待综合受理"
    SUPPLEMENT = "supplement", "待补齐补正"
    REFUSED = "refused", "不予受理"
    IN_PROGRESS = "in_progress", "分类审批中"
    READY = "ready", "待统一出件"
    DELIVERED = "delivered", "已统一出件"
    FAILED = "failed", "未办成"
    WITHDRAWN = "withdrawn", "已撤回"


BUNDLE_OPEN = (BundleStatus.SUBMITTED, BundleStatus.SUPPLEMENT, BundleStatus.IN_PROGRESS, BundleStatus.READY)


class BundleCase(models.Model):
    """The parent case of one bundle application: what the applicant sees as one 办件."""

    FULL, PARTIAL, FAILED = "full", "partial", "failed"
    OUTCOME_CHOICES = [(FULL, "全部办成"), (PARTIAL, "部分办成"), (FAILED, "未办成")]

    uid = models.UUIDField("全局编号", unique=True, default=uuid.uuid4, editable=False)
    case_no = models.CharField("一件事办件编号", max_length=24, unique=True, null=True, blank=True)
    status = models.CharField("状态", max_length=12, choices=BundleStatus.choices, default=BundleStatus.DRAFT, db_index=True)
    outcome = models.CharField("办理结果", max_length=8, choices=OUTCOME_CHOICES, blank=True)
    channel = models.CharField("申请渠道", max_length=8, default="online", help_text="online 网上申请，window 窗口申请")
    bundle_version = models.ForeignKey(BundleVersion, on_delete=models.PROTECT, related_name="cases", verbose_name="一件事版本")
    applicant = models.ForeignKey("applicants.Applicant", on_delete=models.PROTECT, related_name="bundle_cases", verbose_name="申请人")
    applicant_name = models.CharField("申请人", max_length=200)
    applicant_code = models.CharField("证件号码", max_length=18)
    contact_phone = models.CharField("联系电话", max_length=11)
    # The lead department's place (前台综合受理、窗口统一出件), denormalised for the authorisation filter.
    lead_region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="牵头部门区划")
    lead_region_path = models.CharField("牵头区划路径", max_length=80, editable=False)
    lead_department = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="+", verbose_name="牵头部门")
    form_data = models.JSONField("申请表（合并）", default=dict, blank=True)
    delivery_method = models.CharField("送达方式", max_length=12, default="mail")
    delivery_address = models.CharField("送达地址", max_length=300, blank=True)
    refusal_policy = models.CharField("不予许可时的处理", max_length=16, choices=BundleVersion.POLICY_CHOICES)
    # [{"name", "signed_by", "signed_at", "text"}] for merged materials deferred under commitment.
    commitments = models.JSONField("告知承诺（容缺）", default=list, blank=True)
    # 首办核验、接办互认: [{"what", "how", "department", "by", "at"}] recorded once at the comprehensive intake.
    verifications = models.JSONField("首办核验", default=list, blank=True)
    # 一类事 chosen with the application: [{"service_id", "name", "provider", "status", "note"}].
    market_requests = models.JSONField("增值服务申请", default=list, blank=True)
    explanation = models.TextField("结果说明", blank=True, help_text="部分办成或未办成时，向申请人说明的情况")
    permit_no = models.CharField("行业综合许可证编号", max_length=60, blank=True)
    submit_token = models.CharField("提交令牌", max_length=64, unique=True, null=True, blank=True, editable=False)
    promised_days = models.PositiveIntegerField("承诺时限（工作日）", default=0)
    due_date = models.DateField("一件事承诺办结日期", null=True, blank=True)
    process = models.ForeignKey("cases.ProcessDefinition", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="办理顺序")
    process_state = models.JSONField("流程状态", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    submitted_at = models.DateTimeField("申请时间", null=True, blank=True)
    accepted_at = models.DateTimeField("综合受理时间", null=True, blank=True)
    ready_at = models.DateTimeField("全部办结时间", null=True, blank=True)
    delivered_at = models.DateTimeField("统一出件时间", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "一件事办件"
        indexes = [
            models.Index(fields=["lead_region_path", "status"], name="bundle_case_queue"),
            models.Index(fields=["applicant", "-id"], name="bundle_case_applicant"),
        ]

    def __str__(self):
        return self.case_no or f"草稿#{self.pk}"

    @property
    def masked_code(self):
        return mask_id_number(self.applicant_code)

    @property
    def masked_phone(self):
        return mask_phone(self.contact_phone)


class BundleEvent(AppendOnly):
    """A bundle-level step (submission, comprehensive intake, release of a stage, appointment, unified
    delivery); append-only and hash-chained like case events. Children keep their own events."""

    bundle_case = models.ForeignKey(BundleCase, on_delete=models.PROTECT, related_name="events", verbose_name="一件事办件")
    seq = models.PositiveIntegerField("序号")
    action = models.CharField("动作", max_length=30)
    label = models.CharField("环节", max_length=60)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150)
    role = models.CharField("角色", max_length=20, blank=True)
    department_name = models.CharField("部门", max_length=120, blank=True)
    at = models.DateTimeField("时间")
    status_from = models.CharField("原状态", max_length=12, blank=True)
    status_to = models.CharField("新状态", max_length=12, blank=True)
    opinion = models.TextField("意见", blank=True)
    data = models.JSONField("详情", default=dict, blank=True)
    prev_hash = models.CharField("上一条摘要", max_length=64)
    hash = models.CharField("摘要", max_length=64)

    history_name = "一件事办件记录"

    class Meta:
        ordering = ["bundle_case", "seq"]
        verbose_name = verbose_name_plural = "一件事办件记录"
        constraints = [models.UniqueConstraint(fields=["bundle_case", "seq"], name="bundle_event_seq_unique")]


class JointAppointment(models.Model):
    """联合勘验 / 联合评审 / 联合验收: several departments at one appointment."""

    KINDS = [("inspection", "联合勘验"), ("review", "联合评审"), ("acceptance", "联合验收")]
    SCHEDULED, HELD, CANCELLED = "scheduled", "held", "cancelled"
    STATUS_CHOICES = [(SCHEDULED, "已预约"), (HELD, "已完成"), (CANCELLED, "已取消")]

    bundle_case = models.ForeignKey(BundleCase, on_delete=models.CASCADE, related_name="appointments", verbose_name="一件事办件")
    kind = models.CharField("类型", max_length=12, choices=KINDS)
    scheduled_at = models.DateTimeField("时间")
    place = models.CharField("地点", max_length=200)
    cases = models.ManyToManyField("cases.Case", related_name="joint_appointments", verbose_name="参加的事项")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=SCHEDULED)
    note = models.CharField("说明", max_length=300, blank=True)
    # [{"department", "opinion", "by", "at"}], one per participating department once held.
    results = models.JSONField("各部门意见", default=list, blank=True)
    created_by_name = models.CharField("预约人", max_length=150)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        ordering = ["bundle_case", "scheduled_at"]
        verbose_name = verbose_name_plural = "联合勘验评审验收"


class BundleDocument(models.Model):
    """A document issued on a bundle case: the unified 一件事办结通知书 and the 行业综合许可证 (一业一证).
    Content fixed when issued; the PDF is rendered on first download and kept content-addressed."""

    KINDS = [("conclusion", "一件事办结通知书"), ("permit", "行业综合许可证"), ("failure", "一件事未办成告知书")]
    bundle_case = models.ForeignKey(BundleCase, on_delete=models.CASCADE, related_name="documents", verbose_name="一件事办件")
    kind = models.CharField("文书", max_length=12, choices=KINDS)
    content = models.JSONField("文书内容", default=dict)
    blob = models.ForeignKey("core.StoredBlob", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="文件")
    created_at = models.DateTimeField("出具时间", auto_now_add=True)

    class Meta:
        ordering = ["bundle_case", "id"]
        verbose_name = verbose_name_plural = "一件事文书"
