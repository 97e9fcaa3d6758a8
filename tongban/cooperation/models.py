"""通办合作: agreements between regions (with 一地签约、全市共享), liaisons (the 通办通讯录) and
problem reports (问题反馈单) raised while a case travels between places."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tongban.core.authz import ScopedQuerySet
from tongban.core.codes import CodeError, validate_phone
from tongban.directory.models import Region


def validate_liaison_phone(value):
    # validate_phone accepts mobiles and landlines with area code, with or without the dash (0539-7211234).
    try:
        validate_phone(value)
    except CodeError as exc:
        raise ValidationError(str(exc)) from None


class Agreement(models.Model):
    """通办合作协议 between two regions. With `city_shared` (一地签约、全市共享, seed 003) a county (or
    township) signing binds its whole prefecture-level city; see receiving.area_of."""

    ACTIVE, TERMINATED = "active", "terminated"
    STATUS_CHOICES = [(ACTIVE, "生效"), (TERMINATED, "终止")]

    name = models.CharField("协议名称", max_length=200)
    document_no = models.CharField("文号", max_length=100, blank=True)
    party_a = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="agreements_as_a", verbose_name="签约地区（本方）")
    party_b = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="agreements_as_b", verbose_name="合作地区（对方）")
    signed_on = models.DateField("签订日期")
    valid_from = models.DateField("生效日期")
    valid_until = models.DateField("有效期至", null=True, blank=True, help_text="留空表示长期有效")
    all_items = models.BooleanField("全部事项", default=False, help_text="协议适用于双方的全部通办事项")
    items = models.ManyToManyField("catalog.Item", blank=True, related_name="agreements", verbose_name="适用事项")
    city_shared = models.BooleanField(
        "一地签约、全市共享", default=True,
        help_text="县（市、区）签订的协议效力及于其所在地级市全域（对双方均适用）",
    )
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=ACTIVE)
    note = models.TextField("备注", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_on", "id"]
        verbose_name = verbose_name_plural = "通办合作协议"
        indexes = [models.Index(fields=["status", "valid_from"], name="agreement_status_from")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.party_a_id and self.party_b_id and self.party_a_id == self.party_b_id:
            errors["party_b"] = "合作地区不能与签约地区相同"
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            errors["valid_until"] = "有效期至不能早于生效日期"
        if errors:
            raise ValidationError(errors)

    def is_valid_on(self, day):
        return self.status == self.ACTIVE and self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


class Liaison(models.Model):
    """联络人 of an agreement (either side), or a region's standing liaison (no agreement)."""

    agreement = models.ForeignKey(Agreement, null=True, blank=True, on_delete=models.CASCADE, related_name="liaisons", verbose_name="合作协议")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="liaisons", verbose_name="所在区划")
    name = models.CharField("姓名", max_length=60)
    department_name = models.CharField("单位", max_length=120)
    title = models.CharField("职务", max_length=60, blank=True)
    phone = models.CharField("联系电话", max_length=20, validators=[validate_liaison_phone], help_text="手机或带区号的固定电话，如 0539-7211234")
    note = models.CharField("备注", max_length=300, blank=True)
    # Who manages the row: the agreement's signing side (also for the partner's liaison), else the region.
    owner_path = models.CharField("管理区划路径", max_length=80, editable=False, db_index=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["agreement_id", "region__code", "name"]
        verbose_name = verbose_name_plural = "联络人"

    def __str__(self):
        return f"{self.name}（{self.department_name}）"

    def save(self, *args, **kwargs):
        self.refresh_owner_path()
        super().save(*args, **kwargs)

    def refresh_owner_path(self):
        agreement = self.agreement  # may be an agreement being created in the same form (no id yet)
        if agreement is not None and agreement.party_a_id:
            self.owner_path = agreement.party_a.path
        elif self.region_id:
            self.owner_path = self.region.path
        return self.owner_path

    def clean(self):
        self.refresh_owner_path()  # the write rule (authz) reads it before the row is saved
        a = self.agreement
        if a is not None and a.party_a_id and a.party_b_id and self.region_id:
            # A liaison of an agreement belongs to one of its two sides (within a party's city when shared).
            from .receiving import area_of, regions_on_paths

            ancestors = regions_on_paths([a.party_a, a.party_b, self.region])
            areas = [area_of(a.party_a, a, ancestors), area_of(a.party_b, a, ancestors)]
            if not any(self.region.is_within(area) or area.is_within(self.region) for area in areas):
                raise ValidationError({"region": "联络人所在区划应属于协议的一方"})


class WorkOrder(models.Model):
    """问题反馈单: a problem met while handling a cross-region case, raised by one side for the other.
    `uid` is its identity across platform nodes, so the same report arriving twice is stored once."""

    RECEIVING, COMPETENT, PART = "receiving", "competent", "part"
    SIDE_CHOICES = [(RECEIVING, "收件地"), (COMPETENT, "办理地"), (PART, "联办地")]
    OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
    STATUS_CHOICES = [(OPEN, "待处理"), (ANSWERED, "已答复"), (CLOSED, "已关闭")]

    uid = models.UUIDField("全局标识", unique=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="work_orders", verbose_name="办件")
    raised_side = models.CharField("提出方", max_length=12, choices=SIDE_CHOICES)
    raised_by_name = models.CharField("提出人", max_length=60)
    raised_region_code = models.CharField("提出地区划代码", max_length=12)
    raised_department_name = models.CharField("提出单位", max_length=120, blank=True)
    title = models.CharField("问题标题", max_length=100)
    body = models.TextField("问题描述", max_length=2000)
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=OPEN)
    created_at = models.DateTimeField("提出时间", default=timezone.now)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True)
    closed_by_name = models.CharField("关闭人", max_length=60, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = verbose_name_plural = "问题反馈单"

    def __str__(self):
        return self.title


class WorkOrderReply(models.Model):
    uid = models.UUIDField("全局标识", unique=True, default=uuid.uuid4, editable=False)
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="replies", verbose_name="问题反馈单")
    author_name = models.CharField("答复人", max_length=60)
    side = models.CharField("答复方", max_length=12, choices=WorkOrder.SIDE_CHOICES)
    region_code = models.CharField("答复地区划代码", max_length=12)
    body = models.TextField("答复内容", max_length=2000)
    created_at = models.DateTimeField("答复时间", default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = verbose_name_plural = "问题反馈答复"

    def __str__(self):
        return f"{self.author_name}：{self.body[:30]}"
