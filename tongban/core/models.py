from django.conf import settings
from django.db import models

from .append_only import AppendOnly


class HolidayYear(models.Model):
    """A year whose State Council holiday arrangement is loaded. Without a row, dates of that year
    are computed from weekends only and flagged with a warning."""

    year = models.PositiveIntegerField("年份", unique=True)
    source = models.CharField("来源", max_length=200, default="国务院办公厅节假日安排")
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["year"]
        verbose_name = verbose_name_plural = "节假日年度"

    def __str__(self):
        return f"{self.year}年"


class CalendarDay(models.Model):
    """An exception to the Monday–Friday rule: a holiday on a weekday or a make-up working day (调休)."""

    HOLIDAY, WORKDAY = "holiday", "workday"
    KIND_CHOICES = [(HOLIDAY, "法定节假日（休息）"), (WORKDAY, "调休上班日")]

    year = models.ForeignKey(HolidayYear, on_delete=models.CASCADE, related_name="days", verbose_name="年度")
    date = models.DateField("日期", unique=True)
    kind = models.CharField("类型", max_length=10, choices=KIND_CHOICES)
    name = models.CharField("节日", max_length=40, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = verbose_name_plural = "节假日与调休"

    def __str__(self):
        return f"{self.date} {self.get_kind_display()} {self.name}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.date and self.year_id and self.date.year != self.year.year:
            raise ValidationError({"date": f"日期{self.date}不属于{self.year.year}年"})
        if self.date and self.kind == self.HOLIDAY and self.date.weekday() >= 5:
            raise ValidationError({"kind": "周末本来就休息，只需录入工作日上的节假日"})
        if self.date and self.kind == self.WORKDAY and self.date.weekday() < 5:
            raise ValidationError({"kind": "调休上班日应为周六或周日"})


class AuditEntry(AppendOnly):
    """Append-only record of what a person did to shared data (catalogue, directory, imports)."""

    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, verbose_name="操作人")
    actor_name = models.CharField("操作人姓名", max_length=150, blank=True)
    action = models.CharField("动作", max_length=60)
    object_type = models.CharField("对象类型", max_length=60)
    object_id = models.CharField("对象标识", max_length=64)
    summary = models.TextField("摘要", blank=True)
    data = models.JSONField("详情", default=dict, blank=True)

    history_name = "审计日志"

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = verbose_name_plural = "审计日志"
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_type}#{self.object_id}"


class IdempotencyRecord(models.Model):
    """The stored answer to a request sent with an Idempotency-Key: a retry gets the same answer
    instead of a second record."""

    key = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    method_path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "user", "method_path"], name="idempotency_unique")]


class StoredBlob(models.Model):
    """A file stored once by its SHA-256 (content-addressed): the same bytes uploaded twice, by anyone,
    are one blob. The bytes live in MEDIA_ROOT/blobs/ab/cd/<sha256>; see core.files."""

    sha256 = models.CharField("SHA-256", max_length=64, primary_key=True)
    size = models.PositiveBigIntegerField("字节数")
    content_type = models.CharField("类型", max_length=60)
    created_at = models.DateTimeField("首次存储时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "文件（内容寻址）"

    def __str__(self):
        return f"{self.sha256[:12]}… {self.content_type} {self.size}B"
