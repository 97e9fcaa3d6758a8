"""办件: a case, what the applicant gave, and everything that happened to it.

State lives in one field (`Case.status`) changed only by `cases.lifecycle` through its transition
table; what a person did is an append-only, hash-chained `CaseEvent`. Rows below that describe a
step (supplement, pause, special procedure, delivery, payment) carry their own explicit status.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.core.append_only import AppendOnly
from tongban.core.authz import ScopedQuerySet
from tongban.core.masking import mask_id_number, mask_phone


class Status(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已收件（待受理）"
    SUPPLEMENT = "supplement", "待补齐补正"
    REFUSED = "refused", "不予受理"
    ACCEPTED = "accepted", "已受理"
    UNDER_REVIEW = "under_review", "审查中"
    SPECIAL = "special", "特别程序中"
    APPROVED = "approved", "准予许可"
    DENIED = "denied", "不予许可"
    CONCLUDED = "concluded", "已办结"
    DELIVERED = "delivered", "已送达"
    WITHDRAWN = "withdrawn", "已撤回"
    # A bundle child stopped because its bundle failed (一件事整体未办成).
    TERMINATED = "terminated", "已终止"


OPEN_STATUSES = (Status.SUBMITTED, Status.SUPPLEMENT, Status.ACCEPTED, Status.UNDER_REVIEW, Status.SPECIAL, Status.APPROVED, Status.DENIED)
CLOCK_STATUSES = (Status.ACCEPTED, Status.UNDER_REVIEW, Status.SPECIAL, Status.SUPPLEMENT, Status.APPROVED, Status.DENIED)


class Channel(models.TextChoices):
    ONLINE = "online", "网上申请"
    WINDOW = "window", "窗口申请"


class DeliveryMethod(models.TextChoices):
    MAIL = "mail", "邮寄送达"
    ONLINE = "online", "网上送达（电子证照）"
    PICKUP = "pickup", "窗口领取"
    REMOTE_PRINT = "remote_print", "异地打印"


class Mode(models.TextChoices):
    ONLINE = "online", "全程网办"
    PROXY = "proxy", "异地代收代办"
    JOINT = "joint", "多地联办"
    BUNDLE = "bundle", "一件事"


class Duty(models.TextChoices):
    """Whose duty a step was (责任追溯 across places)."""

    RECEIVING = "receiving", "收件地"
    COMPETENT = "competent", "办理地"
    PART = "part", "联办地"


class IdentityMethod(models.TextChoices):
    ID_READER = "id_reader", "身份证阅读器"
    FACE = "face", "人脸核验"
    MANUAL = "manual", "人工核验"


# Results handed over at a window (the receiving window of a cross-region case).
AT_WINDOW = (DeliveryMethod.PICKUP, DeliveryMethod.REMOTE_PRINT)


class CaseQuerySet(ScopedQuerySet):
    pass


class Case(models.Model):
    # The case's identity across platform nodes (each node holding a copy keys it by this).
    uid = models.UUIDField("全局编号", unique=True, default=uuid.uuid4, editable=False)
    mode = models.CharField("业务模式", max_length=8, choices=Mode.choices, default=Mode.ONLINE)
    case_no = models.CharField("办件编号", max_length=24, unique=True, null=True, blank=True)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    channel = models.CharField("申请渠道", max_length=8, choices=Channel.choices, default=Channel.ONLINE)
    applicant = models.ForeignKey("applicants.Applicant", on_delete=models.PROTECT, related_name="cases", verbose_name="申请人")
    implementation = models.ForeignKey("catalog.Implementation", on_delete=models.PROTECT, related_name="cases", verbose_name="实施清单")
    item_version = models.ForeignKey("catalog.ItemVersion", on_delete=models.PROTECT, related_name="cases", verbose_name="事项版本")
    # Competent place, denormalised from the implementation so the authorisation filter and the
    # queues are one indexed table (1M rows).
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="cases", verbose_name="办理地区划")
    region_path = models.CharField("区划路径", max_length=80, editable=False)
    department = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="cases", verbose_name="办理部门")
    # Receiving place (收件地) of a proxy or joint case: where the window took the application.
    receiving_region = models.ForeignKey("directory.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="received_cases", verbose_name="收件地区划")
    receiving_region_path = models.CharField("收件地区划路径", max_length=80, blank=True, editable=False)
    receiving_department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="received_cases", verbose_name="收件部门")
    receiving_window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.SET_NULL, related_name="received_cases", verbose_name="收件窗口")
    receiving_basis = models.CharField("代收依据", max_length=200, blank=True)
    # 一件事: the parent case; the lead department's place is then this case's receiving place
    # (前台综合受理、窗口统一出件) and its own department reviews (后台分类审批).
    bundle_case = models.ForeignKey("bundles.BundleCase", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="一件事办件")
    bundle_entry = models.ForeignKey("bundles.BundleEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="一件事事项")
    receiving_node = models.CharField("收件地节点", max_length=40, blank=True)
    competent_node = models.CharField("办理地节点", max_length=40, blank=True)
    # What the receiving window checked: {"identity_method", "originals_checked": [material ids],
    # "formal_review": [{"point", "ok", "note"}], "checked_by", "checked_at"}.
    intake_check = models.JSONField("收件核验", default=dict, blank=True)
    # Highest local material / document ids already sent to the other places of the case.
    exchange_mark = models.JSONField("已同步标记", default=dict, blank=True, editable=False)
    # Snapshot of who applied, as the national record wants it (the applicant may change later).
    applicant_name = models.CharField("申请人", max_length=200)
    applicant_type = models.CharField("申请人类型", max_length=1, default="1")
    applicant_code_type = models.CharField("证件类型", max_length=20)
    applicant_code = models.CharField("证件号码", max_length=18)
    agent_name = models.CharField("经办人", max_length=60, blank=True)
    contact_phone = models.CharField("联系电话", max_length=11)
    form_data = models.JSONField("申请表", default=dict, blank=True)
    case_kind = models.CharField("办件类型", max_length=1, default="2", help_text="1 即办件，2 承诺件")
    delivery_method = models.CharField("送达方式", max_length=12, choices=DeliveryMethod.choices, default=DeliveryMethod.MAIL)
    delivery_address = models.CharField("送达地址", max_length=300, blank=True)
    fee_amount = models.DecimalField("应缴费用（元）", max_digits=12, decimal_places=2, default=0)
    # 容缺受理 asked for by the applicant: [{"material_id", "name", "signed_by", "signed_at", "text"}].
    commitments = models.JSONField("告知承诺（容缺申请）", default=list, blank=True)
    submit_token = models.CharField("提交令牌", max_length=64, unique=True, null=True, blank=True, editable=False)
    # Clock (working days from acceptance, minus pauses).
    promised_days = models.PositiveIntegerField("承诺时限（工作日）", default=0)
    statutory_days = models.PositiveIntegerField("法定时限（工作日）", default=0)
    paused_days = models.PositiveIntegerField("暂停计时（工作日）", default=0)
    due_date = models.DateField("承诺办结日期", null=True, blank=True)
    statutory_due_date = models.DateField("法定办结日期", null=True, blank=True)
    calendar_warning = models.CharField("日历提示", max_length=200, blank=True)
    # Review process (BPMN) the case started with, and its serialised state.
    process = models.ForeignKey("cases.ProcessDefinition", null=True, blank=True, on_delete=models.PROTECT, related_name="cases", verbose_name="审查流程")
    process_state = models.JSONField("流程状态", null=True, blank=True, editable=False)
    # Result.
    decision_reason = models.TextField("决定理由", blank=True)
    result_name = models.CharField("结果名称", max_length=200, blank=True)
    certificate_no = models.CharField("证照编号", max_length=100, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    submitted_at = models.DateTimeField("申请时间", null=True, blank=True)
    accepted_at = models.DateTimeField("受理时间", null=True, blank=True)
    decided_at = models.DateTimeField("决定时间", null=True, blank=True)
    concluded_at = models.DateTimeField("办结时间", null=True, blank=True)
    delivered_at = models.DateTimeField("送达时间", null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "办件"
        indexes = [
            models.Index(fields=["department", "status", "due_date"], name="case_queue"),
            models.Index(fields=["region_path", "status", "due_date"], name="case_region_queue"),
            models.Index(fields=["applicant", "-id"], name="case_applicant"),
            models.Index(fields=["status", "due_date"], name="case_status_due"),
            models.Index(fields=["receiving_region_path", "status"], name="case_receiving_queue"),
        ]

    def __str__(self):
        return self.case_no or f"草稿#{self.pk}"

    @property
    def masked_code(self):
        return mask_id_number(self.applicant_code)

    @property
    def masked_phone(self):
        return mask_phone(self.contact_phone)

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def result_at_window(self):
        """A cross-region case whose result goes back to the window that received it."""
        return bool(self.receiving_region_path) and self.delivery_method in AT_WINDOW

    def fee_settled(self):
        """No fee, or a confirmed payment: a case that owes a fee cannot conclude."""
        return self.fee_amount <= 0 or self.payments.filter(status=Payment.PAID).exists()


class ProcessDefinition(models.Model):
    """An exact BPMN document a case runs, stored once by its hash: editing the item's review process
    later never changes a running case."""

    sha256 = models.CharField("SHA-256", max_length=64, unique=True)
    process_id = models.CharField("流程标识", max_length=100)
    bpmn_xml = models.TextField("BPMN定义")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "流程定义快照"

    def __str__(self):
        return f"{self.process_id} {self.sha256[:10]}"


class CaseMaterial(models.Model):
    """A material the applicant (or a clerk) gave. Rows are never overwritten: a resubmitted material is
    a new row of a later round, and the newest row per material is the current one."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="materials", verbose_name="办件")
    material = models.ForeignKey("catalog.Material", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="材料定义")
    name = models.CharField("材料名称", max_length=200)
    blob = models.ForeignKey("core.StoredBlob", on_delete=models.PROTECT, related_name="+", verbose_name="文件")
    file_name = models.CharField("文件名", max_length=255)
    round = models.PositiveSmallIntegerField("提交轮次", default=1)
    how = models.CharField("提交方式", max_length=20, default="online", help_text="online 网上上传，window 窗口收取，reuse 复用")
    origin = models.CharField("来源节点记录", max_length=60, blank=True, help_text="由其他节点同步而来时：节点:编号")
    created_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        ordering = ["case", "material__seq", "id"]
        verbose_name = verbose_name_plural = "办件材料"


class Supplement(models.Model):
    """补齐补正: one notice listing everything missing or defective at once (一次性告知)."""

    OPEN, ANSWERED = "open", "answered"
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="supplements", verbose_name="办件")
    items = models.JSONField("需补齐补正的内容", help_text='[{"material_id": 1, "name": "…", "problem": "…"}]')
    note = models.TextField("说明", blank=True)
    status = models.CharField("状态", max_length=10, choices=[(OPEN, "待补正"), (ANSWERED, "已补正")], default=OPEN)
    requested_at = models.DateTimeField("告知时间", auto_now_add=True)
    answered_at = models.DateTimeField("补正时间", null=True, blank=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "补齐补正告知"


class ClockPause(models.Model):
    """Time the clock stood still (supplement after acceptance, special procedures)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="pauses", verbose_name="办件")
    reason = models.CharField("原因", max_length=100)
    started_on = models.DateField("开始日期")
    ended_on = models.DateField("结束日期", null=True, blank=True)
    working_days = models.PositiveIntegerField("暂停工作日", default=0)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "暂停计时"


class SpecialProcedure(models.Model):
    KINDS = [("hearing", "听证"), ("expert_review", "专家评审"), ("inspection", "现场勘验"), ("publicity", "公示"), ("other", "其他")]
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="special_procedures", verbose_name="办件")
    kind = models.CharField("特别程序种类", max_length=20, choices=KINDS)
    reason = models.TextField("启动理由")
    started_at = models.DateTimeField("开始时间")
    ended_at = models.DateTimeField("结束时间", null=True, blank=True)
    result = models.TextField("结果", blank=True)
    pause = models.OneToOneField(ClockPause, on_delete=models.PROTECT, related_name="special_procedure")

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "特别程序"


class DeferredMaterial(models.Model):
    """容缺受理: a material accepted as owed, with the applicant's signed 告知承诺 and a due date."""

    PENDING, FULFILLED, OVERDUE = "pending", "fulfilled", "overdue"
    STATUS_CHOICES = [(PENDING, "待补交"), (FULFILLED, "已补交"), (OVERDUE, "逾期未补交")]
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deferred_materials", verbose_name="办件")
    material = models.ForeignKey("catalog.Material", on_delete=models.PROTECT, related_name="+", verbose_name="容缺材料")
    commitment_text = models.TextField("告知承诺书内容")
    signed_by = models.CharField("承诺人", max_length=200)
    signed_at = models.DateTimeField("签署时间")
    due_date = models.DateField("承诺补交日期")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=PENDING)
    fulfilled_at = models.DateTimeField("补交时间", null=True, blank=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "容缺材料"
        indexes = [models.Index(fields=["status", "due_date"], name="deferred_due")]


class Delivery(models.Model):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="delivery", verbose_name="办件")
    method = models.CharField("送达方式", max_length=12, choices=DeliveryMethod.choices)
    courier = models.CharField("快递公司", max_length=60, blank=True)
    tracking_no = models.CharField("快递单号", max_length=40, blank=True)
    address = models.CharField("送达地址", max_length=300, blank=True)
    place = models.CharField("领取/打印地点", max_length=200, blank=True)
    recipient = models.CharField("签收人", max_length=60, blank=True)
    delivered_at = models.DateTimeField("送达时间")

    class Meta:
        verbose_name = verbose_name_plural = "送达记录"


class Payment(models.Model):
    PENDING, PAID, FAILED = "pending", "paid", "failed"
    STATUS_CHOICES = [(PENDING, "待支付"), (PAID, "已支付"), (FAILED, "支付失败")]
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="payments", verbose_name="办件")
    amount = models.DecimalField("金额（元）", max_digits=12, decimal_places=2)
    provider = models.CharField("支付通道", max_length=40)
    reference = models.CharField("支付流水号", max_length=64, unique=True)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=PENDING)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "缴费记录"


class CaseDocument(models.Model):
    """A notice issued on a case (PDF with an embedded CJK font), kept as issued."""

    KINDS = [
        ("receipt", "收件凭证"), ("acceptance", "受理通知书"), ("refusal", "不予受理通知书"),
        ("supplement", "补齐补正通知书"), ("conclusion", "办结通知书"), ("denial", "不予许可通知书"),
    ]
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents", verbose_name="办件")
    kind = models.CharField("文书", max_length=12, choices=KINDS)
    # The notice's content is fixed when it is issued; the PDF is rendered from it on first download
    # (rendering costs ~50 ms, which a submission should not pay) and then kept content-addressed.
    content = models.JSONField("文书内容", default=dict)
    blob = models.ForeignKey("core.StoredBlob", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="文件")
    origin = models.CharField("来源节点记录", max_length=60, blank=True)
    created_at = models.DateTimeField("出具时间", auto_now_add=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "办件文书"


class Message(models.Model):
    """An in-site message to an applicant or a staff member (also sent as SMS to applicants)."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_messages", verbose_name="接收人")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", verbose_name="办件")
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容")
    created_at = models.DateTimeField("时间", auto_now_add=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "站内消息"
        indexes = [models.Index(fields=["recipient", "-id"], name="message_recipient")]


class CaseEvent(AppendOnly):
    """One thing that happened to a case. Append-only (ORM guard + database triggers) and hash-chained
    per case: `hash` = SHA-256 over the previous hash and this event's canonical content."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", verbose_name="办件")
    seq = models.PositiveIntegerField("序号")
    action = models.CharField("动作", max_length=30)
    label = models.CharField("环节", max_length=60)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150)
    role = models.CharField("角色", max_length=20, blank=True)
    department_name = models.CharField("部门", max_length=120, blank=True)
    department_code = models.CharField("部门代码", max_length=18, blank=True)
    region_code = models.CharField("区划", max_length=12, blank=True)
    window_name = models.CharField("窗口", max_length=120, blank=True)
    at = models.DateTimeField("时间")
    status_from = models.CharField("原状态", max_length=16, blank=True)
    status_to = models.CharField("新状态", max_length=16, blank=True)
    opinion = models.TextField("意见", blank=True)
    data = models.JSONField("详情", default=dict, blank=True)
    duty = models.CharField("责任方", max_length=12, blank=True, choices=Duty.choices)
    # "node:seq" of the event where it happened; an event mirrored from another node keeps it, so the
    # same step is never recorded twice and both places can trace it to its source.
    origin = models.CharField("来源", max_length=60, blank=True)
    prev_hash = models.CharField("上一条摘要", max_length=64)
    hash = models.CharField("摘要", max_length=64)

    history_name = "办件记录"

    class Meta:
        ordering = ["case", "seq"]
        verbose_name = verbose_name_plural = "办件过程记录"
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique"),
            models.UniqueConstraint(fields=["case", "origin"], condition=~Q(origin=""), name="case_event_origin_unique"),
        ]


class PaperTransfer(models.Model):
    """Paper originals mailed from the receiving window to the competent place, and their receipt."""

    SENT, RECEIVED = "sent", "received"
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="paper_transfers", verbose_name="办件")
    courier = models.CharField("快递公司", max_length=60)
    tracking_no = models.CharField("快递单号", max_length=40)
    status = models.CharField("状态", max_length=10, choices=[(SENT, "已寄出"), (RECEIVED, "办理地已签收")], default=SENT)
    sent_at = models.DateTimeField("寄出时间")
    received_at = models.DateTimeField("签收时间", null=True, blank=True)
    received_by = models.CharField("签收人", max_length=150, blank=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "纸质材料流转"


class CasePart(models.Model):
    """多地联办: one department's part of a joint case, bound to a step of the item's review process."""

    WAITING, ACTIVE, CONCLUDED = "waiting", "active", "concluded"
    STATUS_CHOICES = [(WAITING, "待分派"), (ACTIVE, "办理中"), (CONCLUDED, "已办结")]
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parts", verbose_name="办件")
    seq = models.PositiveSmallIntegerField("序号")
    step_name = models.CharField("对应审查环节", max_length=60)
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="case_parts", verbose_name="联办部门")
    department_name = models.CharField("联办部门名称", max_length=120)
    department_code = models.CharField("联办部门代码", max_length=18)
    region_code = models.CharField("联办地区划", max_length=12)
    region_path = models.CharField("联办地区划路径", max_length=80, db_index=True)
    node_id = models.CharField("联办地节点", max_length=40, blank=True)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=WAITING)
    opinion = models.TextField("联办意见", blank=True)
    concluded_by = models.CharField("办结人", max_length=150, blank=True)
    concluded_at = models.DateTimeField("办结时间", null=True, blank=True)

    class Meta:
        ordering = ["case", "seq"]
        verbose_name = verbose_name_plural = "联办事项"
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="case_part_seq_unique")]


class CaseCounter(models.Model):
    """Per region and day, the last sequence number handed out (row-locked while incremented)."""

    region_code = models.CharField(max_length=12)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["region_code", "day"], name="case_counter_unique")]


def applicant_cases_q(user):
    return Q(applicant__user=user)
