"""Applicant accounts: SMS codes, registration of natural and legal persons, sign-in. Pages and the
API call these functions; the rules live here and nowhere else."""

import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from tongban.core import audit
from tongban.core.codes import CodeError, validate_id_number, validate_phone, validate_uscc
from tongban.core.errors import Conflict, DomainError

from .models import Applicant, SmsCode
from .sms import send_on_commit

RESEND_SECONDS = 60
DAILY_LIMIT = 10
MAX_ATTEMPTS = 5
AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"
LEGAL_TYPES = {code: label for code, label in Applicant.TYPE_CHOICES if code != "1"}
LOGIN_FAILED = "账号或手机号不匹配，或验证码不正确"
CODE_FAILED = "验证码不正确或已过期"
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidInput(DomainError):
    """One field's value is wrong (422); `field` lets a page show the message beside that field."""

    status = 422

    def __init__(self, field, message):
        super().__init__(message, details=[{"field": field, "message": message}])
        self.field = field


# --- input cleaning -------------------------------------------------------------------------

def _code_text(value):
    """Codes typed on a Chinese keyboard may be full-width (１３８…, Ｘ): fold them, drop spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).upper()


def clean_mobile(phone, field="phone"):
    phone = _code_text(phone).replace("-", "")
    if not phone:
        raise InvalidInput(field, "请填写手机号")
    try:
        phone = validate_phone(phone)
    except CodeError as exc:
        raise InvalidInput(field, str(exc)) from None
    if not _MOBILE.fullmatch(phone):
        raise InvalidInput(field, "请填写11位手机号（以1开头），用于接收短信验证码")
    return phone


def _clean_name(value, field, label, max_length):
    value = re.sub(r"\s+", " ", (value or "").strip())
    if not value:
        raise InvalidInput(field, f"请填写{label}")
    if _CONTROL.search(value):
        raise InvalidInput(field, f"{label}含有不允许的控制字符")
    if not 2 <= len(value) <= max_length:
        raise InvalidInput(field, f"{label}应为2至{max_length}个字")
    return value


def _clean_id_number(value, field, label="公民身份号码"):
    from tongban.directory.services import address_code_exists

    value = _code_text(value)
    if not value:
        raise InvalidInput(field, f"请填写{label}")
    try:
        return validate_id_number(value, address_exists=address_code_exists).number
    except CodeError as exc:
        raise InvalidInput(field, str(exc).replace("公民身份号码", label, 1)) from None


def _clean_credit_code(value, field="credit_code"):
    value = _code_text(value)
    if not value:
        raise InvalidInput(field, "请填写统一社会信用代码")
    try:
        return validate_uscc(value)
    except CodeError as exc:
        raise InvalidInput(field, str(exc)) from None


# --- SMS codes --------------------------------------------------------------------------------

def _hash(phone, purpose, code):
    message = f"{phone}:{purpose}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _check_purpose(purpose):
    if purpose not in (SmsCode.LOGIN, SmsCode.REGISTER):
        raise InvalidInput("purpose", "验证码用途应为 login（登录）或 register（注册）")


def request_code(phone, purpose):
    """Issue a 6-digit code for phone+purpose and send it once the transaction commits. At most one
    code a minute and ten a day per phone. Returns the SmsCode row (which holds only a hash)."""
    phone = clean_mobile(phone)
    _check_purpose(purpose)
    now = timezone.now()
    with transaction.atomic():
        last = SmsCode.objects.filter(phone=phone).order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None and (now - last).total_seconds() < RESEND_SECONDS:
            wait = max(1, math.ceil(RESEND_SECONDS - (now - last).total_seconds()))
            raise DomainError(f"验证码发送过于频繁，请{wait}秒后再试", status=429)
        day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if SmsCode.objects.filter(phone=phone, created_at__gte=day_start).count() >= DAILY_LIMIT:
            raise DomainError(f"该手机号今天获取验证码已达{DAILY_LIMIT}次，请明天再试", status=429)
        code = f"{secrets.randbelow(10**6):06d}"
        minutes = settings.TONGBAN_SMS_CODE_MINUTES
        sms = SmsCode.objects.create(phone=phone, purpose=purpose, code_hash=_hash(phone, purpose, code), expires_at=now + timedelta(minutes=minutes))
        send_on_commit(phone, f"【通办】您的验证码是{code}，{minutes}分钟内有效。如非本人操作请忽略。")
    return sms


def _latest_code(phone, purpose):
    """Only the newest code of phone+purpose counts: a new code replaces the older ones."""
    return SmsCode.objects.select_for_update().filter(phone=phone, purpose=purpose).order_by("-created_at", "-pk").first()


def _usable(sms, now):
    return sms is not None and sms.used_at is None and sms.expires_at > now and sms.attempts < MAX_ATTEMPTS


def check_code(phone, purpose, code):
    """Use the newest unused, unexpired code of phone+purpose; the fifth wrong attempt burns it.

    Call it outside any transaction of your own (or do not let its error roll one back): a wrong
    attempt is committed before the error is raised, and must stay counted."""
    phone = clean_mobile(phone)
    _check_purpose(purpose)
    code = _code_text(code)
    if not code:
        raise InvalidInput("sms_code", "请填写短信验证码")
    now = timezone.now()
    with transaction.atomic():
        sms = _latest_code(phone, purpose)
        if not _usable(sms, now):
            ok = False
        elif re.fullmatch(r"[0-9]{6}", code) and hmac.compare_digest(sms.code_hash, _hash(phone, purpose, code)):
            SmsCode.objects.filter(pk=sms.pk).update(used_at=now)
            ok = True
        else:
            SmsCode.objects.filter(pk=sms.pk).update(attempts=F("attempts") + 1)
            ok = False
    if not ok:
        raise DomainError(CODE_FAILED, status=400)


def _count_failed_attempt(phone, purpose):
    """A sign-in for an account that does not match still spends an attempt of the current code, so
    that nobody can tell a missing account from a wrong code by how the code behaves."""
    with transaction.atomic():
        sms = _latest_code(phone, purpose)
        if _usable(sms, timezone.now()):
            SmsCode.objects.filter(pk=sms.pk).update(attempts=F("attempts") + 1)


# --- registration ------------------------------------------------------------------------------

def _new_user(prefix, display_name):
    User = get_user_model()  # noqa: N806
    while True:
        username = f"{prefix}-{secrets.token_hex(6)}"
        if not User.objects.filter(username=username).exists():
            return User.objects.create_user(username=username, password=None, first_name=display_name[:150])


def register_natural(name, id_number, phone, code):
    """A natural person: name, 公民身份号码 (historical address codes accepted), phone, SMS code."""
    name = _clean_name(name, "name", "姓名", 30)
    id_number = _clean_id_number(id_number, "id_number")
    phone = clean_mobile(phone)
    check_code(phone, SmsCode.REGISTER, code)  # only a verified phone learns whether an ID is registered
    if Applicant.objects.filter(kind=Applicant.NATURAL, id_number=id_number).exists():
        raise Conflict("该身份号码已注册，请直接登录")
    try:
        with transaction.atomic():
            applicant = Applicant.objects.create(
                user=_new_user("p", name), kind=Applicant.NATURAL, applicant_type="1", name=name, id_number=id_number, phone=phone,
            )
            audit.record(applicant.user, "applicant.register", applicant, f"自然人注册：{name}")
    except IntegrityError:
        raise Conflict("该身份号码已注册，请直接登录") from None
    return applicant


def register_legal(org_name, credit_code, applicant_type, agent_name, agent_id_number, phone, code):
    """A legal person acting through an agent: one account per (credit code, agent), and per (credit code, phone)."""
    org_name = _clean_name(org_name, "org_name", "单位名称", 200)
    credit_code = _clean_credit_code(credit_code)
    applicant_type = (applicant_type or "").strip()
    if applicant_type not in LEGAL_TYPES:
        choices = "、".join(f"{k}{v}" for k, v in LEGAL_TYPES.items())
        raise InvalidInput("applicant_type", f"请选择申请人类型（{choices}）")
    agent_name = _clean_name(agent_name, "agent_name", "经办人姓名", 30)
    agent_id_number = _clean_id_number(agent_id_number, "agent_id_number", "经办人身份号码")
    phone = clean_mobile(phone)
    check_code(phone, SmsCode.REGISTER, code)
    legal = Applicant.objects.filter(kind=Applicant.LEGAL, credit_code=credit_code)
    if legal.filter(agent_id_number=agent_id_number).exists():
        raise Conflict("该单位的此经办人已注册，请直接登录")
    if legal.filter(phone=phone).exists():
        raise Conflict("该单位已有经办人使用此手机号注册，请直接登录或更换手机号")
    try:
        with transaction.atomic():
            applicant = Applicant.objects.create(
                user=_new_user("o", agent_name), kind=Applicant.LEGAL, applicant_type=applicant_type, name=org_name,
                credit_code=credit_code, agent_name=agent_name, agent_id_number=agent_id_number, phone=phone,
            )
            audit.record(applicant.user, "applicant.register", applicant, f"法人注册：{org_name}（经办人{agent_name}）")
    except IntegrityError:
        raise Conflict("该单位的此经办人或此手机号已注册，请直接登录") from None
    return applicant


# --- sign-in -----------------------------------------------------------------------------------

def authenticate(code_number, phone, sms_code):
    """`code_number` is an ID number (natural person) or a credit code (legal person, whose agent is
    identified by the phone). The answer never tells whether an account exists."""
    code_number = _code_text(code_number)
    if not code_number:
        raise InvalidInput("code_number", "请填写身份号码或统一社会信用代码")
    phone = clean_mobile(phone)
    if not _code_text(sms_code):
        raise InvalidInput("sms_code", "请填写短信验证码")
    applicant = (
        Applicant.objects.filter(Q(kind=Applicant.NATURAL, id_number=code_number) | Q(kind=Applicant.LEGAL, credit_code=code_number), phone=phone)
        .select_related("user").order_by("created_at").first()
    )
    if applicant is None or not applicant.user.is_active:
        _count_failed_attempt(phone, SmsCode.LOGIN)
        raise DomainError(LOGIN_FAILED, status=400)
    try:
        check_code(phone, SmsCode.LOGIN, sms_code)
    except DomainError:
        raise DomainError(LOGIN_FAILED, status=400) from None
    return applicant


def login_applicant(request, applicant):
    login(request, applicant.user, backend=AUTH_BACKEND)


def logout_applicant(request):
    logout(request)


def applicant_of(user):
    """The Applicant of a user, or None; a staff account (staff flag, superuser or any role) never is one."""
    if user is None or not user.is_authenticated or not user.is_active or user.is_staff or user.is_superuser:
        return None
    try:
        applicant = user.applicant
    except Applicant.DoesNotExist:
        return None
    if user.memberships.exists():  # any role, active or not
        return None
    return applicant


def current_applicant(request):
    return applicant_of(getattr(request, "user", None))


# --- applicants met at a window -------------------------------------------------------------------

def applicant_at_window(kind, name, phone, id_number="", credit_code="", applicant_type="2", agent_name="", agent_id_number=""):
    """The applicant a window clerk verified in person (or that another node's window verified): found by
    their code, else created with an account they can later sign in to with an SMS code."""
    phone = clean_mobile(phone)
    if kind == Applicant.NATURAL:
        name = _clean_name(name, "name", "姓名", 30)
        id_number = _clean_id_number(id_number, "id_number")
        existing = Applicant.objects.filter(kind=kind, id_number=id_number).first()
        fields = dict(applicant_type="1", name=name, id_number=id_number, phone=phone)
        prefix, display = "p", name
    elif kind == Applicant.LEGAL:
        name = _clean_name(name, "org_name", "单位名称", 200)
        credit_code = _clean_credit_code(credit_code)
        if applicant_type not in LEGAL_TYPES:
            raise InvalidInput("applicant_type", "申请人类型不正确")
        agent_name = _clean_name(agent_name, "agent_name", "经办人姓名", 30)
        agent_id_number = _clean_id_number(agent_id_number, "agent_id_number", "经办人身份号码")
        existing = Applicant.objects.filter(kind=kind, credit_code=credit_code, agent_id_number=agent_id_number).first()
        fields = dict(applicant_type=applicant_type, name=name, credit_code=credit_code, agent_name=agent_name,
                      agent_id_number=agent_id_number, phone=phone)
        prefix, display = "o", agent_name
    else:
        raise InvalidInput("kind", "申请人类别应为自然人（natural）或法人（legal）")
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Applicant.objects.create(user=_new_user(prefix, display), kind=kind, **fields)
    except IntegrityError:  # same applicant created concurrently, or a legal person's phone already taken
        found = Applicant.objects.filter(kind=kind, **({"id_number": id_number} if kind == Applicant.NATURAL else {"credit_code": credit_code, "agent_id_number": agent_id_number})).first()
        if found is None:
            raise Conflict("该单位已有其他经办人使用此手机号，请更换手机号") from None
        return found


def identity_values(applicant):
    """What the applicant record itself says, by form meaning (authoritative for identity): prefilled in
    every application form."""
    if applicant.kind == applicant.NATURAL:
        values = {"applicant_name": applicant.name, "id_number": applicant.id_number}
    else:
        values = {"company_name": applicant.name, "credit_code": applicant.credit_code}
        if applicant.agent_name:
            values["applicant_name"] = applicant.agent_name
        if applicant.agent_id_number:
            values["id_number"] = applicant.agent_id_number
    values["phone"] = applicant.phone
    return {k: v for k, v in values.items() if v}
