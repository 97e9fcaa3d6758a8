"""Electronic certificates (电子证照, GB/T 36901–36906): the catalogue of certificate types, the
departments' signing keys, issued certificates (one row per version), their history, remote prints
and presentations (亮证)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.core.append_only import AppendOnly
from tongban.core.masking import mask_id_number


class TrustLevel(models.TextChoices):
    # 国办函〔2016〕108号: how far the certificate can stand in for the paper one.
    A = "A", "A级（可替代纸质证照）"
    B = "B", "B级（可作为办事依据）"
    C = "C", "C级（可作为参考）"
    D = "D", "D级（仅作展示）"


class Template(models.TextChoices):
    LICENCE = "licence", "执照式（横版，正副本）"
    CERTIFICATE = "certificate", "证书式（竖版）"
    PROOF = "proof", "证明式（证明文书）"


class CertificateType(models.Model):
    """证照目录: one kind of certificate with its GB/T 36904 type code (responsible ministry's
    统一社会信用代码 + 3-digit sequence)."""

    NATURAL, LEGAL, BOTH = "natural", "legal", "both"
    HOLDER_CHOICES = [(NATURAL, "自然人"), (LEGAL, "法人和其他组织"), (BOTH, "均可")]

    code = models.CharField("证照类型代码", max_length=21, unique=True, help_text="主管部委统一社会信用代码（18位）+ 3位顺序号")
    name = models.CharField("证照名称", max_length=100)
    ministry_name = models.CharField("主管部委", max_length=100)
    # Who maintains this entry of the catalogue (the national catalogue is the root region).
    region = models.ForeignKey("directory.Region", on_delete=models.PROTECT, related_name="+", verbose_name="目录维护区划")
    holder_kind = models.CharField("持证主体", max_length=8, choices=HOLDER_CHOICES, default=NATURAL)
    # A subset of the GB/T 36903 metadata beyond the common head (name, number, holder, issuer, dates):
    # [{"key": "legal_person", "label": "法定代表人", "type": "text|date|number", "required": true}].
    fields = models.JSONField("照面信息项", default=list, blank=True)
    # Validity: a number of years from issue (0 = 长期有效), or taken from a data field.
    validity_years = models.PositiveSmallIntegerField("有效期（年）", default=0, help_text="0 表示长期有效")
    validity_rule = models.CharField("有效期规则", max_length=200, blank=True)
    trust_level = models.CharField("可信等级", max_length=1, choices=TrustLevel.choices, default=TrustLevel.A)
    template = models.CharField("版式模板", max_length=12, choices=Template.choices, default=Template.CERTIFICATE)
    # An e-proof (电子证明) is issued automatically from a base-data table (sharing.BaseRecord.kind).
    proof_source = models.CharField("证明数据来源", max_length=40, blank=True, help_text="电子证明：基础数据表种类，如 social_insurance")
    issuing_departments = models.ManyToManyField("directory.Department", blank=True, related_name="certificate_types", verbose_name="发证部门")
    # Material names this certificate can stand for in an application (免提交), besides its own name.
    stands_for = models.JSONField("可替代的申请材料名称", default=list, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = verbose_name_plural = "证照目录"

    def __str__(self):
        return f"{self.name}（{self.code}）"


class IssuerKey(models.Model):
    """A department's signing key: the private half encrypted at rest (AES-GCM under the deployment's
    key-encryption key), one active key per department; retired keys still verify what they signed,
    revoked keys do not."""

    ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"
    STATUS_CHOICES = [(ACTIVE, "在用"), (RETIRED, "已轮换（仍可验签）"), (REVOKED, "已吊销（不再可信）")]

    department = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="signing_keys", verbose_name="发证部门")
    key_id = models.CharField("密钥标识", max_length=60, unique=True)
    algorithm = models.CharField("算法", max_length=10, help_text="sm2 或 ed25519")
    public_key = models.CharField("公钥（十六进制）", max_length=200)
    encrypted_private_key = models.TextField("加密私钥", editable=False)
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=ACTIVE)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    retired_at = models.DateTimeField("轮换时间", null=True, blank=True)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)

    class Meta:
        ordering = ["department", "-created_at"]
        verbose_name = verbose_name_plural = "发证部门签名密钥"
        constraints = [models.UniqueConstraint(fields=["department"], condition=Q(status="active"), name="issuer_one_active_key")]

    def __str__(self):
        return f"{self.department} {self.key_id}"


class Status(models.TextChoices):
    VALID = "valid", "有效"
    SUPERSEDED = "superseded", "已变更（有新版本）"
    REVOKED = "revoked", "已吊销"
    CANCELLED = "cancelled", "已注销"


class Certificate(models.Model):
    """One version of an issued certificate. A change issues a new row with the same serial and the next
    version; the old row becomes superseded. The signed content is `canonical` bytes of the record."""

    identifier = models.CharField("证照标识", max_length=120, unique=True, help_text="1.2.156.3005.2.类型代码.发证机构代码.顺序号.版本号.校验位")
    type = models.ForeignKey(CertificateType, on_delete=models.PROTECT, related_name="certificates", verbose_name="证照类型")
    serial = models.CharField("顺序号", max_length=20)
    version = models.PositiveSmallIntegerField("版本号", default=1)
    number = models.CharField("证照编号", max_length=60, help_text="照面上的证照编号")
    holder = models.ForeignKey("applicants.Applicant", null=True, blank=True, on_delete=models.PROTECT, related_name="certificates", verbose_name="持证人账号")
    holder_name = models.CharField("持证主体", max_length=200)
    holder_code = models.CharField("持证主体代码", max_length=18, db_index=True)
    holder_code_type = models.CharField("持证主体代码类型", max_length=20, help_text="公民身份号码 / 统一社会信用代码")
    issuer = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="issued_certificates", verbose_name="发证机构")
    issuer_name = models.CharField("发证机构名称", max_length=120)
    issuer_code = models.CharField("发证机构代码", max_length=18)
    region_path = models.CharField("发证机构区划路径", max_length=80, editable=False)
    jurisdiction = models.CharField("管辖区划代码", max_length=12)
    issued_on = models.DateField("颁发日期")
    valid_from = models.DateField("有效期起始")
    valid_until = models.DateField("有效期截止", null=True, blank=True, help_text="空表示长期有效")
    data = models.JSONField("照面信息", default=dict, blank=True)
    algorithm = models.CharField("签名算法", max_length=10)
    key_id = models.CharField("签名密钥标识", max_length=60)
    signature = models.CharField("签名（十六进制）", max_length=300)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.VALID, db_index=True)
    status_reason = models.CharField("状态变更原因", max_length=300, blank=True)
    status_changed_at = models.DateTimeField("状态变更时间", null=True, blank=True)
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by", verbose_name="替代的上一版本")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="certificates", verbose_name="来源办件")
    source = models.CharField("来源", max_length=20, default="case", help_text="case 办件办结，base_data 基础数据（电子证明），import 存量导入")
    pdf = models.ForeignKey("core.StoredBlob", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="版式文件")
    created_at = models.DateTimeField("签发时间", auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "电子证照"
        constraints = [models.UniqueConstraint(fields=["type", "issuer_code", "serial", "version"], name="certificate_version_unique")]
        indexes = [models.Index(fields=["holder_code", "status"], name="certificate_holder")]

    def __str__(self):
        return f"{self.type.name} {self.number}"

    @property
    def masked_holder_code(self):
        return mask_id_number(self.holder_code)


class SerialCounter(models.Model):
    """Next serial per (type, issuer): locked while issuing so two approvals never share a serial."""

    type = models.ForeignKey(CertificateType, on_delete=models.PROTECT, related_name="+")
    issuer = models.ForeignKey("directory.Department", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["type", "issuer", "year"], name="certificate_serial_unique")]


class CertificateEvent(AppendOnly):
    """What happened to a certificate: 签发, 变更, 吊销, 注销, 打印, 下载. Append-only."""

    history_name = "证照记录"
    ISSUE, SUPERSEDE, REVOKE, CANCEL, PRINT, RENDER = "issue", "supersede", "revoke", "cancel", "print", "render"
    ACTION_CHOICES = [(ISSUE, "签发"), (SUPERSEDE, "变更（新版本替代）"), (REVOKE, "吊销"), (CANCEL, "注销"), (PRINT, "打印"), (RENDER, "生成版式文件")]

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="events", verbose_name="证照")
    action = models.CharField("动作", max_length=12, choices=ACTION_CHOICES)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150, blank=True)
    reason = models.CharField("原因", max_length=300, blank=True)
    data = models.JSONField("详情", default=dict, blank=True)
    at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        ordering = ["certificate", "id"]
        verbose_name = verbose_name_plural = "证照记录"


class PrintRecord(AppendOnly):
    """异地打印: who printed which certificate at which window (append-only)."""

    history_name = "证照打印记录"

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="prints", verbose_name="证照")
    printed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="打印人")
    printed_by_name = models.CharField("打印人姓名", max_length=150)
    window = models.ForeignKey("directory.Window", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="打印窗口")
    department = models.ForeignKey("directory.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="打印部门")
    region_path = models.CharField("打印地区划路径", max_length=80)
    place = models.CharField("打印地点", max_length=200)
    copies = models.PositiveSmallIntegerField("份数", default=1)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="办件")
    reason = models.CharField("用途", max_length=200, blank=True)
    at = models.DateTimeField("打印时间", auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "证照打印记录"


class Presentation(models.Model):
    """亮证: a short-lived code the holder shows a verifier, with the fields the holder chose to show."""

    token = models.CharField("亮证码", max_length=64, unique=True)
    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="presentations", verbose_name="证照")
    holder = models.ForeignKey("applicants.Applicant", on_delete=models.CASCADE, related_name="+", verbose_name="持证人")
    fields = models.JSONField("展示的信息项", default=list)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    expires_at = models.DateTimeField("失效时间", db_index=True)
    views = models.PositiveIntegerField("查验次数", default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = verbose_name_plural = "亮证记录"


class PeerTrustList(models.Model):
    """对端节点的可信发证机构名单: the signed list another platform node publishes, as last fetched.
    Only a list whose signature verified with the peer's registered node key (`verified`) is used to
    check certificates that node's issuers signed; a failed fetch keeps the last verified list and
    records the error, a bad signature is stored untrusted."""

    node_id = models.CharField("对端节点标识", max_length=64, unique=True)
    node_name = models.CharField("对端节点名称", max_length=120, blank=True)
    document = models.JSONField("名单内容", default=dict, blank=True)
    signature = models.TextField("签名（十六进制）", blank=True)
    key_id = models.CharField("节点密钥标识", max_length=64, blank=True)
    algorithm = models.CharField("算法", max_length=12, blank=True)
    version = models.BigIntegerField("名单版本", default=0)
    verified = models.BooleanField("签名已验证", default=False)
    fetched_at = models.DateTimeField("最近成功获取时间", null=True, blank=True)
    checked_at = models.DateTimeField("最近尝试时间", null=True, blank=True)
    error = models.TextField("最近错误", blank=True)

    class Meta:
        ordering = ["node_id"]
        verbose_name = verbose_name_plural = "对端节点可信发证机构名单"

    def __str__(self):
        return f"{self.node_name or self.node_id}（{'已验证' if self.verified else '未验证'}）"
