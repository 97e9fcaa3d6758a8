"""Applicants (自然人 and 法人) who sign in with a one-time SMS code, and the codes themselves."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from tongban.core.masking import mask_id_number, mask_phone


class Applicant(models.Model):
    """A natural person (公民身份号码) or a legal person (统一社会信用代码) acting through a named agent.
    Each applicant has one Django user for the session; it never has staff rights."""

    NATURAL, LEGAL = "natural", "legal"
    KIND_CHOICES = [(NATURAL, "自然人"), (LEGAL, "法人")]
    # 申请人类型 code of the national record (STANDARDS.md): 1 自然人, 2 企业法人 …
    TYPE_CHOICES = [("1", "自然人"), ("2", "企业法人"), ("3", "事业法人"), ("4", "社会组织法人"), ("5", "非法人企业"), ("6", "行政机关"), ("9", "其他组织")]

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applicant", verbose_name="登录账号")
    kind = models.CharField("类别", max_length=8, choices=KIND_CHOICES)
    applicant_type = models.CharField("申请人类型", max_length=1, choices=TYPE_CHOICES, default="1")
    name = models.CharField("姓名/单位名称", max_length=200)
    id_number = models.CharField("公民身份号码", max_length=18, blank=True, help_text="自然人本人的身份号码")
    credit_code = models.CharField("统一社会信用代码", max_length=18, blank=True)
    agent_name = models.CharField("经办人姓名", max_length=60, blank=True)
    agent_id_number = models.CharField("经办人身份号码", max_length=18, blank=True)
    phone = models.CharField("手机号码", max_length=11, help_text="接收验证码与办件通知")
    created_at = models.DateTimeField("注册时间", auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = verbose_name_plural = "申请人"
        constraints = [
            models.UniqueConstraint(fields=["id_number"], condition=Q(kind="natural"), name="applicant_natural_unique"),
            models.UniqueConstraint(fields=["credit_code", "agent_id_number"], condition=Q(kind="legal"), name="applicant_legal_agent_unique"),
            # sign-in of a legal person is credit code + phone: one agent per phone within an organisation
            models.UniqueConstraint(fields=["credit_code", "phone"], condition=Q(kind="legal"), name="applicant_legal_phone_unique"),
        ]

    def __str__(self):
        return f"{self.name}（{self.masked_code}）"

    @property
    def code(self):
        """证件号码 of the record: the ID number of a person, the credit code of an organisation."""
        return self.id_number if self.kind == self.NATURAL else self.credit_code

    @property
    def code_type(self):
        return "公民身份号码" if self.kind == self.NATURAL else "统一社会信用代码"

    @property
    def masked_code(self):
        return mask_id_number(self.code)

    @property
    def masked_phone(self):
        return mask_phone(self.phone)


class SmsCode(models.Model):
    """A one-time code sent to a phone: stored as a hash, a few attempts, expires in minutes."""

    LOGIN, REGISTER = "login", "register"
    PURPOSE_CHOICES = [(LOGIN, "登录"), (REGISTER, "注册")]

    phone = models.CharField("手机号码", max_length=11, db_index=True)
    purpose = models.CharField("用途", max_length=10, choices=PURPOSE_CHOICES)
    code_hash = models.CharField("验证码摘要", max_length=64)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    created_at = models.DateTimeField("发送时间", auto_now_add=True)
    expires_at = models.DateTimeField("过期时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = verbose_name_plural = "短信验证码"


class OutboundSms(models.Model):
    """Every text handed to the SMS sender (the embedded sender stops here: the developer mailbox
    page shows these when DEBUG is on)."""

    phone = models.CharField("手机号码", max_length=11, db_index=True)
    text = models.CharField("内容", max_length=500)
    sender = models.CharField("发送通道", max_length=60)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = verbose_name_plural = "短信发送记录"
