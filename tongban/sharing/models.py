"""Once-only use of evidence (免提交、免填写) and the rules of data sharing: base-data tables, the data
services providers offer, the sharing demand list (共享需求清单), grants per consumer and service (deny by
default), the applicant's consent per piece of evidence and case, cross-node evidence requests, and the
append-only, hash-chained access log."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.core.append_only import AppendOnly
from tongban.core.masking import mask_id_number


class BaseRecord(models.Model):
    """A row of a base-data table (基础数据) a department keeps about a person or an organisation:
    社保参保, 公积金缴存, 户籍, 婚姻 … E-proofs are issued from these rows."""

    KIND_CHOICES = [
        ("social_insurance", "社会保险参保信息"),
        ("housing_fund", "住房公积金缴存信息"),
        ("household", "户籍信息"),
        ("marriage", "婚姻登记信息"),
        ("tax", "纳税信息"),
        ("enterprise", "企业登记信息"),
    ]

    kind = models.CharField("数据种类", max_length=40, choices=KIND_CHOICES)
    subject_code = models.CharField("主体代码", max_length=18, help_text="公民身份号码或统一社会信用代码")
    subject_name = models.CharField("主体名称", max_length=200)
    provider = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="base_records", verbose_name="数据提供部门")
    region_path = models.CharField("区划路径", max_length=80, editable=False)
    data = models.JSONField("数据项", default=dict)
    updated_at = models.DateTimeField("数据更新时间", auto_now=True)

    class Meta:
        ordering = ["kind", "subject_code"]
        verbose_name = verbose_name_plural = "基础数据"
        constraints = [models.UniqueConstraint(fields=["kind", "subject_code", "provider"], name="base_record_unique")]
        indexes = [models.Index(fields=["subject_code", "kind"], name="base_record_subject")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.subject_name}（{mask_id_number(self.subject_code)}）"


class DataService(models.Model):
    """A data service a provider department offers (a certificate type, or a base-data table)."""

    CERTIFICATE, BASE_DATA = "certificate", "base_data"
    SOURCE_CHOICES = [(CERTIFICATE, "电子证照"), (BASE_DATA, "基础数据")]

    code = models.CharField("服务编码", max_length=40, unique=True)
    name = models.CharField("服务名称", max_length=100)
    provider = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="data_services", verbose_name="提供部门")
    region_path = models.CharField("区划路径", max_length=80, editable=False)
    source = models.CharField("数据来源", max_length=12, choices=SOURCE_CHOICES)
    certificate_type = models.ForeignKey("certificates.CertificateType", null=True, blank=True, on_delete=models.PROTECT, related_name="services", verbose_name="证照类型")
    base_kind = models.CharField("基础数据种类", max_length=40, blank=True)
    fields = models.JSONField("数据项", default=list, blank=True, help_text='[{"key": "…", "label": "…"}]')
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = verbose_name_plural = "共享数据服务"

    def __str__(self):
        return f"{self.name}（{self.provider}）"


class ShareDemand(models.Model):
    """共享需求清单: a department declares which data it needs for which items and why."""

    OPEN, MET, REFUSED = "open", "met", "refused"
    STATUS_CHOICES = [(OPEN, "待满足"), (MET, "已满足"), (REFUSED, "不予共享")]

    consumer = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="share_demands", verbose_name="需求部门")
    region_path = models.CharField("区划路径", max_length=80, editable=False)
    service = models.ForeignKey(DataService, null=True, blank=True, on_delete=models.PROTECT, related_name="demands", verbose_name="对应数据服务")
    data_name = models.CharField("所需数据", max_length=200)
    fields = models.JSONField("所需数据项", default=list, blank=True)
    item_codes = models.JSONField("用于事项（基本编码）", default=list, blank=True)
    purpose = models.CharField("用途", max_length=300)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=OPEN, db_index=True)
    answer = models.CharField("答复", max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name="登记人")
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "共享需求清单"


class ShareGrant(models.Model):
    """A provider's permission for one consumer department to use one data service (deny by default)."""

    service = models.ForeignKey(DataService, on_delete=models.PROTECT, related_name="grants", verbose_name="数据服务")
    consumer = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="share_grants", verbose_name="使用部门")
    provider_region_path = models.CharField("提供方区划路径", max_length=80, editable=False)
    item_codes = models.JSONField("限于事项（基本编码，空为不限）", default=list, blank=True)
    demand = models.ForeignKey(ShareDemand, null=True, blank=True, on_delete=models.SET_NULL, related_name="grants", verbose_name="依据的需求")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name="授权人")
    granted_at = models.DateTimeField("授权时间", auto_now_add=True)
    valid_until = models.DateField("授权截止", null=True, blank=True)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="撤销人")

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "共享授权"
        constraints = [models.UniqueConstraint(fields=["service", "consumer"], condition=Q(revoked_at__isnull=True), name="share_grant_one_active")]


class Consent(models.Model):
    """The applicant's explicit consent to fetch one piece of evidence for one case (one material or
    form prefill). Bound to the case: a consent never serves another case."""

    GIVEN, USED, WITHDRAWN, EXPIRED = "given", "used", "withdrawn", "expired"
    STATUS_CHOICES = [(GIVEN, "已同意"), (USED, "已使用"), (WITHDRAWN, "已撤回"), (EXPIRED, "已过期")]

    applicant = models.ForeignKey("applicants.Applicant", on_delete=models.PROTECT, related_name="consents", verbose_name="申请人")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="consents", verbose_name="办件")
    material = models.ForeignKey("catalog.Material", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="申请材料")
    certificate = models.ForeignKey("certificates.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="consents", verbose_name="电子证照")
    service = models.ForeignKey(DataService, null=True, blank=True, on_delete=models.PROTECT, related_name="consents", verbose_name="数据服务")
    evidence_label = models.CharField("证据名称", max_length=200)
    purpose = models.CharField("用途", max_length=300)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=GIVEN)
    given_at = models.DateTimeField("同意时间", auto_now_add=True)
    expires_at = models.DateTimeField("有效期至")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    withdrawn_at = models.DateTimeField("撤回时间", null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "用证授权（同意）"


class EvidenceRequest(models.Model):
    """A request for evidence held on another node (跨节点用证): requested → consented → released or
    refused; both nodes keep a row with the same uid."""

    REQUESTED, RELEASED, REFUSED, FAILED = "requested", "released", "refused", "failed"
    STATUS_CHOICES = [(REQUESTED, "已请求"), (RELEASED, "已提供"), (REFUSED, "已拒绝"), (FAILED, "失败")]
    CONSUMER, PROVIDER = "consumer", "provider"

    uid = models.UUIDField("请求编号", unique=True)
    side = models.CharField("本节点角色", max_length=10, choices=[(CONSUMER, "请求方"), (PROVIDER, "提供方")])
    consumer_node = models.CharField("请求方节点", max_length=40)
    provider_node = models.CharField("提供方节点", max_length=40)
    # This node's department in the exchange (consumer side: the case's; provider side: the issuer's).
    region_path = models.CharField("本方区划路径", max_length=80, blank=True)
    case_uid = models.UUIDField("办件全局编号")
    case_no = models.CharField("办件编号", max_length=24, blank=True)
    consumer_department_code = models.CharField("请求部门代码", max_length=18)
    consumer_department_name = models.CharField("请求部门", max_length=120)
    holder_code = models.CharField("持证主体代码", max_length=18)
    holder_name = models.CharField("持证主体", max_length=200)
    identifier = models.CharField("证照标识", max_length=120, blank=True)
    service_code = models.CharField("数据服务编码", max_length=40, blank=True)
    purpose = models.CharField("用途", max_length=300)
    consent = models.JSONField("同意凭据", default=dict, blank=True, help_text="申请人同意的时间、范围与签名")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=REQUESTED)
    reason = models.CharField("说明", max_length=300, blank=True)
    payload = models.JSONField("提供的数据", default=dict, blank=True)
    created_at = models.DateTimeField("请求时间", auto_now_add=True)
    answered_at = models.DateTimeField("答复时间", null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "跨节点用证请求"


class AccessLog(AppendOnly):
    """Every access to a certificate or base data: who, for which case, why, under which consent, and the
    outcome. Append-only (ORM and database trigger) and hash-chained (each row's hash covers the previous
    row's), kept at least 12 months."""

    history_name = "用证日志"
    GRANTED, REFUSED, ERROR = "granted", "refused", "error"
    OUTCOME_CHOICES = [(GRANTED, "已提供"), (REFUSED, "已拒绝"), (ERROR, "出错")]

    seq = models.PositiveBigIntegerField("序号", unique=True)
    at = models.DateTimeField("时间")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="使用人")
    actor_name = models.CharField("使用人", max_length=150)
    actor_department = models.CharField("使用部门", max_length=120, blank=True)
    actor_node = models.CharField("使用节点", max_length=40, blank=True)
    action = models.CharField("动作", max_length=20, help_text="view 查看，use 用于申请，verify 验真，present 亮证查验，prefill 预填，release 跨节点提供，print 打印")
    holder_code = models.CharField("持证主体代码", max_length=18, db_index=True)
    # Where the data came from (issuer or provider): supervisors of that region read the log.
    region_path = models.CharField("数据所属区划路径", max_length=80, blank=True)
    identifier = models.CharField("证照标识", max_length=120, blank=True)
    service_code = models.CharField("数据服务编码", max_length=40, blank=True)
    case_uid = models.CharField("办件全局编号", max_length=36, blank=True)
    case_no = models.CharField("办件编号", max_length=24, blank=True)
    purpose = models.CharField("用途", max_length=300, blank=True)
    consent_ref = models.CharField("同意凭据", max_length=60, blank=True)
    outcome = models.CharField("结果", max_length=10, choices=OUTCOME_CHOICES)
    reason = models.CharField("说明", max_length=300, blank=True)
    prev_hash = models.CharField("上一条摘要", max_length=64)
    hash = models.CharField("摘要", max_length=64)

    class Meta:
        ordering = ["seq"]
        verbose_name = verbose_name_plural = "用证日志"


class UsedEvidence(models.Model):
    """A piece of evidence used in an application under a consent: a certificate (or an e-proof)
    attached as a verified material, or data prefilled into the form. Shows the department that the
    material came from the issuer and was verified when attached."""

    MATERIAL, PREFILL = "material", "prefill"
    USE_CHOICES = [(MATERIAL, "作为申请材料（免提交）"), (PREFILL, "预填申请表（免填写）")]

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="used_evidence", verbose_name="办件")
    use = models.CharField("用途", max_length=10, choices=USE_CHOICES)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="uses", verbose_name="同意凭据")
    case_material = models.OneToOneField("cases.CaseMaterial", null=True, blank=True, on_delete=models.CASCADE, related_name="evidence", verbose_name="办件材料")
    certificate = models.ForeignKey("certificates.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="uses", verbose_name="电子证照")
    identifier = models.CharField("证照标识", max_length=120, blank=True)
    service_code = models.CharField("数据服务编码", max_length=40, blank=True)
    fields = models.JSONField("预填的数据项", default=list, blank=True)
    # The verification done when attaching: {"status": "valid", "key_id": …, "algorithm": …, "at": …}.
    verification = models.JSONField("核验结果", default=dict, blank=True)
    created_at = models.DateTimeField("使用时间", auto_now_add=True)

    class Meta:
        ordering = ["case", "id"]
        verbose_name = verbose_name_plural = "免提交、免填写记录"
