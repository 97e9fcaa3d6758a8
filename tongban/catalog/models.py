from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from tongban.core.authz import ScopedQuerySet
from tongban.core.codes import CodeError, validate_basic_code, validate_implementation_code
from tongban.core.fields import FlagSetField
from tongban.directory.models import Department, Hall, Region

from . import choices


def validate_basic(value):
    try:
        validate_basic_code(value)
    except CodeError as exc:
        raise ValidationError(str(exc)) from None


def validate_implementation(value):
    try:
        validate_implementation_code(value)
    except CodeError as exc:
        raise ValidationError(str(exc)) from None


class Item(models.Model):
    """政务服务事项, identified by its 12-character 基本编码, owned by a catalogue (national or provincial)."""

    basic_code = models.CharField("基本编码", max_length=12, unique=True, validators=[validate_basic])
    name = models.CharField("事项名称", max_length=200, db_index=True)
    item_type = models.CharField("事项类型", max_length=2, choices=choices.ITEM_TYPE_CHOICES)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="items", verbose_name="目录所属区划")
    competent_authority = models.CharField("主管部门", max_length=120, blank=True)
    category = models.CharField("服务对象分类", max_length=20, blank=True, help_text="个人 / 企业")
    name_initials = models.CharField("拼音首字母", max_length=200, blank=True, db_index=True, editable=False)
    name_pinyin = models.CharField("全拼", max_length=600, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["basic_code"]
        verbose_name = verbose_name_plural = "政务服务事项"

    def __str__(self):
        return f"{self.name}（{self.basic_code}）"

    def save(self, *args, **kwargs):
        from .pinyin import full_pinyin, initials

        self.name_initials, self.name_pinyin = initials(self.name), full_pinyin(self.name)
        super().save(*args, **kwargs)

    def clean(self):
        # A catalogue is national or provincial (GB/T 39554.1: the first two digits name it); counties implement.
        if self.region_id and self.region.level not in (Region.NATIONAL, Region.PROVINCE):
            raise ValidationError({"region": "事项目录只能属于国家或省级区划；市县通过实施清单实施事项"})
        if self.region_id and self.basic_code and len(self.basic_code) >= 2:
            expected = "00" if self.region.level == Region.NATIONAL else self.region.code[:2]
            if self.basic_code[:2] != expected:
                raise ValidationError({"basic_code": f"基本编码前两位应为目录所属区划代码“{expected}”（国家目录为00）"})

    @property
    def published_version(self):
        return self.versions.filter(status=ItemVersion.PUBLISHED).first()


class ItemVersion(models.Model):
    """A version of an item's guide (办事指南): draft → published → retired, one published at a time."""

    DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
    STATUS_CHOICES = [(DRAFT, "草稿"), (PUBLISHED, "已发布"), (RETIRED, "已废止")]

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="versions", verbose_name="事项")
    version_no = models.PositiveIntegerField("版本号")
    status = models.CharField("状态", max_length=10, choices=STATUS_CHOICES, default=DRAFT, editable=False)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="基于版本", editable=False)
    change_note = models.CharField("修订说明", max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    published_at = models.DateTimeField("发布时间", null=True, blank=True, editable=False)
    retired_at = models.DateTimeField("废止时间", null=True, blank=True, editable=False)

    # --- the unified elements (seed 001) and national guide fields (STANDARDS.md) ---
    name = models.CharField("事项名称", max_length=200)
    service_objects = models.CharField("服务对象", max_length=40, default="1", help_text="申请人类型代码，逗号分隔：1自然人 2企业法人 …")
    business_category = models.CharField("业务分类", max_length=100, blank=True)
    handling_level = models.CharField("办理层级", max_length=100, blank=True, help_text="如：省、市、县三级")
    conditions = models.TextField("申请条件（受理条件）")
    application_methods = models.TextField("申报方式", help_text="网上申报、窗口申报、邮寄申报等")
    acceptance_mode = models.TextField("受理模式", blank=True, help_text="如：收受分离、一窗受理、容缺受理")
    review_procedure = models.TextField("审核程序", help_text="受理、审核、审批、办结等环节")
    process_description = models.TextField("办理流程", blank=True)
    prerequisites = models.TextField("前置环节", blank=True)
    formal_review_points = models.TextField("形式审查要点", blank=True)
    statutory_limit_days = models.PositiveIntegerField("法定办结时限（工作日）")
    statutory_limit_note = models.CharField("法定时限说明", max_length=300, blank=True)
    promised_limit_days = models.PositiveIntegerField("承诺办结时限（工作日）")
    promised_limit_note = models.CharField("承诺时限说明", max_length=300, blank=True)
    certificate_method = models.TextField("发证方式", blank=True, help_text="电子证照、邮寄、窗口领取、异地打印")
    fee_standard = models.TextField("收费标准", default="不收费")
    fee_basis = models.TextField("收费依据", blank=True)
    legal_basis = models.TextField("设定依据")
    case_kind = models.CharField("办件类型", max_length=1, choices=choices.CASE_KINDS, default="2")
    power_source = models.CharField("权力来源", max_length=1, choices=choices.POWER_SOURCES, default="1")
    consult_method = models.TextField("咨询方式", blank=True)
    complaint_method = models.TextField("监督投诉方式", blank=True)
    special_procedures = models.TextField("特别程序", blank=True, help_text="听证、专家评审、现场勘验、公示等")
    result_name = models.CharField("审批结果名称", max_length=200, blank=True)
    result_type = models.CharField("审批结果类型", max_length=40, blank=True, help_text="证照、批文、其他")
    # Approval of a case of this version issues an electronic certificate of this type (电子证照).
    certificate_type = models.ForeignKey("certificates.CertificateType", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="item_versions", verbose_name="核发电子证照类型")
    result_sample = models.FileField("审批结果样本", upload_to="catalog/results/", blank=True)
    online_depth = models.CharField("网上办理深度", max_length=40, blank=True, help_text="如：全程网办（四级）")
    supports_appointment = models.BooleanField("支持预约", default=True)
    supports_express = models.BooleanField("支持物流快递", default=True)
    supports_online_payment = models.BooleanField("支持网上支付", default=False)
    supports_self_service = models.BooleanField("支持自助终端", default=False)
    joint_agencies = models.TextField("联办机构", blank=True)
    intermediary_services = models.TextField("中介服务", blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["item", "-version_no"]
        verbose_name = verbose_name_plural = "事项版本（办事指南）"
        constraints = [
            models.UniqueConstraint(fields=["item", "version_no"], name="item_version_no_unique"),
            models.UniqueConstraint(fields=["item"], condition=Q(status="published"), name="one_published_version_per_item"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version_no}（{self.get_status_display()}）"

    def clean(self):
        codes = [c.strip() for c in (self.service_objects or "").split(",") if c.strip()]
        unknown = [c for c in codes if c not in dict(choices.APPLICANT_TYPES)]
        if not codes or unknown:
            raise ValidationError({"service_objects": f"服务对象应为申请人类型代码（逗号分隔）：{'、'.join(f'{k}{v}' for k, v in choices.APPLICANT_TYPES)}"})
        # Model.clean runs even when a field failed its own validation: compare only two real numbers.
        promised, statutory = self.promised_limit_days, self.statutory_limit_days
        if isinstance(promised, int) and isinstance(statutory, int) and promised > statutory:
            raise ValidationError({"promised_limit_days": "承诺办结时限不能长于法定办结时限"})


class Material(models.Model):
    """申请材料 of an item version, with templates (申报模板 / 零基础模板) and acceptance standard."""

    FORM_CHOICES = [("paper", "纸质"), ("electronic", "电子"), ("both", "纸质或电子")]
    NECESSITY_CHOICES = [("required", "必要"), ("optional", "非必要"), ("conditional", "容缺/情形必要")]
    SOURCE_CHOICES = [("applicant", "申请人自备"), ("government", "政府部门核发"), ("intermediary", "中介机构出具"), ("other", "其他")]
    TYPE_CHOICES = [("original", "原件"), ("copy", "复印件"), ("original_and_copy", "原件和复印件"), ("electronic", "电子材料")]

    version = models.ForeignKey(ItemVersion, on_delete=models.CASCADE, related_name="materials", verbose_name="事项版本")
    seq = models.PositiveIntegerField("序号")
    name = models.CharField("材料名称", max_length=200)
    material_type = models.CharField("材料类型", max_length=20, choices=TYPE_CHOICES, default="original")
    form = models.CharField("材料形式", max_length=12, choices=FORM_CHOICES, default="both")
    necessity = models.CharField("必要性", max_length=12, choices=NECESSITY_CHOICES, default="required")
    necessity_note = models.CharField("必要性说明", max_length=300, blank=True, help_text="何种情形下需要")
    source = models.CharField("来源渠道", max_length=20, choices=SOURCE_CHOICES, default="applicant")
    source_note = models.CharField("来源说明", max_length=200, blank=True)
    paper_copies = models.PositiveIntegerField("纸质份数", default=1)
    spec = models.CharField("规格", max_length=100, blank=True, default="A4")
    blank_form = models.FileField("空白表格（申报模板）", upload_to="catalog/forms/", blank=True)
    sample = models.FileField("示例样表（零基础模板）", upload_to="catalog/samples/", blank=True)
    acceptance_standard = models.TextField("受理标准", blank=True)
    original_check = models.BooleanField("需核验原件", default=False)
    fill_instructions = models.TextField("填报须知", blank=True)
    basis = models.TextField("依据", blank=True)

    class Meta:
        ordering = ["version", "seq"]
        verbose_name = verbose_name_plural = "申请材料"
        constraints = [models.UniqueConstraint(fields=["version", "seq"], name="material_seq_unique")]

    def __str__(self):
        return self.name


class Implementation(models.Model):
    """实施清单: an item implemented by a department in a region at a level, with its 实施编码."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="implementations", verbose_name="事项")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="implementations", verbose_name="实施主体")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="implementations", verbose_name="实施区划")
    level = models.CharField("行使层级", max_length=1, choices=choices.LEVEL_CHOICES)
    implementation_code = models.CharField("实施编码", max_length=36, unique=True, validators=[validate_implementation])
    business_code = models.CharField("业务办理项编码", max_length=50, blank=True)
    statutory_limit_days = models.PositiveIntegerField("法定办结时限（工作日）")
    promised_limit_days = models.PositiveIntegerField("承诺办结时限（工作日）")
    fee_amount = models.DecimalField("收费金额（元）", max_digits=12, decimal_places=2, default=0)
    fee_note = models.CharField("收费说明", max_length=300, blank=True)
    delivery_methods = FlagSetField("送达方式", flags=choices.DELIVERY)
    visits_needed = models.PositiveSmallIntegerField("到办事现场次数", default=0)
    presence_required = models.BooleanField("法律要求本人到场", default=False)
    presence_basis = models.CharField("到场依据", max_length=300, blank=True)
    modes = FlagSetField("通办模式", flags=choices.MODES)
    scopes = FlagSetField("通办范围", flags=choices.SCOPES, blank=True)
    partner_regions = models.ManyToManyField(Region, blank=True, related_name="partner_implementations", verbose_name="区域通办合作区划")
    halls = models.ManyToManyField(Hall, blank=True, related_name="implementations", verbose_name="办理地点")
    is_active = models.BooleanField("在用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["item", "region__code"]
        verbose_name = verbose_name_plural = "实施清单"
        indexes = [models.Index(fields=["item", "id"], name="impl_item_id")]

    def __str__(self):
        return f"{self.item.name}（{self.region.name} {self.department.name}）"

    def clean(self):
        errors = {}
        if self.promised_limit_days and self.statutory_limit_days and self.promised_limit_days > self.statutory_limit_days:
            errors["promised_limit_days"] = "承诺办结时限不能长于法定办结时限"
        if self.department_id and self.region_id and not self.department.region.is_within(self.region) and not self.region.is_within(self.department.region):
            errors["department"] = "实施主体应位于实施区划或其上级区划"
        if self.implementation_code and self.department_id and self.item_id:
            code = self.implementation_code.upper()
            if code[:18] != self.department.credit_code:
                errors["implementation_code"] = "实施编码前18位应为实施主体的统一社会信用代码"
            elif code[18:19] != self.level:
                errors["implementation_code"] = "实施编码第19位应与行使层级一致"
            elif code[19:] != self.item.basic_code:
                errors["implementation_code"] = "实施编码后12位应为事项基本编码"
        if self.presence_required and not self.presence_basis:
            errors["presence_basis"] = "法律要求本人到场时请写明依据"
        if errors:
            raise ValidationError(errors)


class JointPartner(models.Model):
    """多地联办: a department of another place that handles one step of the item's review process
    (the step's name in the BPMN) for cases of this implementation."""

    implementation = models.ForeignKey(Implementation, on_delete=models.CASCADE, related_name="joint_partners", verbose_name="实施清单")
    step_name = models.CharField("审查环节名称", max_length=60, help_text="与审查流程（BPMN）中该环节的名称一致")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="joint_parts", verbose_name="联办部门")

    class Meta:
        ordering = ["implementation", "id"]
        verbose_name = verbose_name_plural = "联办部门"
        constraints = [models.UniqueConstraint(fields=["implementation", "step_name"], name="joint_partner_step_unique")]

    def __str__(self):
        return f"{self.step_name}：{self.department}"


class TongbanList(models.Model):
    """通办清单 issued by a region: 跨省, 全省, 全市 or regional (e.g. 湾区)."""

    name = models.CharField("清单名称", max_length=200)
    scope = models.CharField("通办范围", max_length=20, choices=choices.SCOPES)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="tongban_lists", verbose_name="发布区划")
    partner_regions = models.ManyToManyField(Region, blank=True, related_name="partner_lists", verbose_name="合作区划")
    document_no = models.CharField("文号", max_length=100, blank=True)
    issued_on = models.DateField("发布日期", null=True, blank=True)
    description = models.TextField("说明", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["region__code", "name"]
        verbose_name = verbose_name_plural = "通办清单"

    def __str__(self):
        return self.name


class ListEntry(models.Model):
    """An entry of a 通办 list with its 责任分工 (responsible department), mode, batch and deadline."""

    PLANNED, IN_PROGRESS, IMPLEMENTED = "planned", "in_progress", "implemented"
    STATUS_CHOICES = [(PLANNED, "未开始"), (IN_PROGRESS, "推进中"), (IMPLEMENTED, "已实现")]

    tongban_list = models.ForeignKey(TongbanList, on_delete=models.CASCADE, related_name="entries", verbose_name="清单")
    seq = models.PositiveIntegerField("序号")
    item_name = models.CharField("事项名称", max_length=200)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="list_entries", verbose_name="对应事项")
    responsible_department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="list_entries", verbose_name="责任单位")
    responsible_department_name = models.CharField("责任单位（原文）", max_length=200, blank=True)
    modes = FlagSetField("办理模式", flags=choices.MODES, blank=True)
    batch = models.CharField("批次", max_length=40, blank=True)
    deadline = models.DateField("完成时限", null=True, blank=True)
    status = models.CharField("实施状态", max_length=12, choices=STATUS_CHOICES, default=PLANNED)
    note = models.CharField("备注", max_length=500, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tongban_list", "seq"]
        verbose_name = verbose_name_plural = "清单条目"
        constraints = [models.UniqueConstraint(fields=["tongban_list", "item_name"], name="list_entry_name_unique")]

    def __str__(self):
        return f"{self.seq}. {self.item_name}"


class ImportBatch(models.Model):
    """An uploaded spreadsheet: parsed and previewed first (every row problem listed), then applied
    all-or-nothing. Applying twice is refused, so a retried confirmation imports once."""

    TONGBAN_LIST, NATIONAL_LIST = "tongban_list", "national_list"
    KIND_CHOICES = [(TONGBAN_LIST, "通办清单导入"), (NATIONAL_LIST, "国家清单比对")]
    PREVIEWED, APPLIED, DISCARDED = "previewed", "applied", "discarded"
    STATUS_CHOICES = [(PREVIEWED, "待确认"), (APPLIED, "已导入"), (DISCARDED, "已放弃")]

    kind = models.CharField("类型", max_length=20, choices=KIND_CHOICES)
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=PREVIEWED, editable=False)
    file_name = models.CharField("文件名", max_length=255)
    file_sha256 = models.CharField("文件SHA-256", max_length=64, db_index=True)
    tongban_list = models.ForeignKey(TongbanList, null=True, blank=True, on_delete=models.CASCADE, related_name="imports", verbose_name="目标清单")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="所属区划")
    rows = models.JSONField("解析结果", default=list)
    problems = models.JSONField("问题", default=list)
    summary = models.JSONField("汇总", default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name="上传人")
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    applied_at = models.DateTimeField("导入时间", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = verbose_name_plural = "导入批次"

    def __str__(self):
        return f"{self.get_kind_display()} {self.file_name}"


class ApplicationForm(models.Model):
    """The online application form of an item version, as data: a list of field definitions
    (see catalog.formdef). Rendered and validated on the server from this definition."""

    version = models.OneToOneField(ItemVersion, on_delete=models.CASCADE, related_name="application_form", verbose_name="事项版本")
    fields = models.JSONField("表单字段", default=list, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "申请表单"

    def __str__(self):
        return f"{self.version} 申请表单"

    def clean(self):
        from .formdef import definition_errors

        problems = definition_errors(self.fields)
        if problems:
            raise ValidationError({"fields": problems})


class ReviewProcess(models.Model):
    """The item version's own review steps as BPMN (SpiffWorkflow): generated from an ordered list of
    steps with roles, or uploaded by an administrator. A running case keeps the definition it started
    with (cases store the exact XML by its hash)."""

    GENERATED, UPLOADED = "generated", "uploaded"
    SOURCE_CHOICES = [(GENERATED, "按环节列表生成"), (UPLOADED, "上传BPMN")]

    version = models.OneToOneField(ItemVersion, on_delete=models.CASCADE, related_name="review_process", verbose_name="事项版本")
    source = models.CharField("来源", max_length=10, choices=SOURCE_CHOICES, default=GENERATED)
    steps = models.JSONField("审查环节", default=list, blank=True, help_text='按顺序，如 [{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}]')
    bpmn_xml = models.TextField("BPMN定义", blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "审查流程"

    def __str__(self):
        return f"{self.version} 审查流程"

    def clean(self):
        from tongban.cases.workflow import WorkflowError, generate_bpmn, parse_definition

        try:
            if self.source == self.GENERATED:
                self.bpmn_xml = generate_bpmn(self.steps)
            parse_definition(self.bpmn_xml)
        except WorkflowError as exc:
            raise ValidationError({"bpmn_xml" if self.source == self.UPLOADED else "steps": str(exc)}) from None
