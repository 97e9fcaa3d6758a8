"""Applicant API: SMS code, registration, sign-in and sign-out, the signed-in profile; and
`applicant_auth` for every endpoint that acts for an applicant (the case API uses it).

The anonymous endpoints (sms-code, register, login) follow django-ninja's default of no CSRF check:
a session is only issued after a valid SMS code."""

from typing import Literal

from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import SessionAuth
from ninja.utils import check_csrf

from tongban.directory.api_auth import CSRF_FAILED

from . import services
from .models import Applicant

router = Router(tags=["申请人"])

LOGIN_REQUIRED = "请先以申请人身份登录（身份号码或统一社会信用代码、手机号和短信验证码）"


class ApplicantSession(SessionAuth):
    """A session of a user who has an Applicant profile (never a staff account). Who is asking is
    settled first: without such a session the answer is a 401 in Chinese whatever the CSRF token;
    with one, a missing or wrong CSRF token on a write is a 403 in Chinese.

    It raises its own 401 so the message speaks to applicants; to accept staff too, list it last:
    auth=[staff_auth, applicant_auth]."""

    def _get_key(self, request):
        if services.current_applicant(request) is None:
            raise HttpError(401, LOGIN_REQUIRED)
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, CSRF_FAILED)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        applicant = services.current_applicant(request)
        if applicant is None:
            raise HttpError(401, LOGIN_REQUIRED)
        request.applicant = applicant
        return request.user


applicant_auth = ApplicantSession()


class ApplicantOut(Schema):
    id: int
    kind: str = Field(description="natural 自然人 / legal 法人")
    name: str = Field(description="姓名或单位名称")
    applicant_type: str = Field(description="申请人类型代码：1自然人 2企业法人 3事业法人 4社会组织法人 5非法人企业 6行政机关 9其他组织")
    code_type: str = Field(description="公民身份号码 / 统一社会信用代码")
    masked_code: str
    masked_phone: str
    agent_name: str


class SmsCodeIn(Schema):
    phone: str = Field(max_length=20, description="11位手机号")
    purpose: Literal["login", "register"] = Field(description="login 登录 / register 注册")


class Detail(Schema):
    detail: str


class RegisterIn(Schema):
    """自然人：kind=natural，填 name、id_number；法人：kind=legal，填 org_name、credit_code、applicant_type、agent_name、agent_id_number。"""

    kind: Literal["natural", "legal"]
    phone: str = Field(max_length=20)
    sms_code: str = Field(max_length=10, description="用途为 register 的短信验证码")
    name: str = Field("", max_length=60, description="自然人姓名")
    id_number: str = Field("", max_length=40, description="自然人公民身份号码")
    org_name: str = Field("", max_length=200, description="单位名称")
    credit_code: str = Field("", max_length=40, description="统一社会信用代码")
    applicant_type: str = Field("", max_length=1, description="2企业法人 3事业法人 4社会组织法人 5非法人企业 6行政机关 9其他组织")
    agent_name: str = Field("", max_length=60, description="经办人姓名")
    agent_id_number: str = Field("", max_length=40, description="经办人公民身份号码")


class LoginIn(Schema):
    code_number: str = Field(max_length=40, description="公民身份号码（自然人）或统一社会信用代码（法人）")
    phone: str = Field(max_length=20)
    sms_code: str = Field(max_length=10, description="用途为 login 的短信验证码")


@router.post("/sms-code", response={202: Detail}, summary="发送短信验证码（每个手机号每分钟1次、每天10次）")
def send_sms_code(request, payload: SmsCodeIn):
    services.request_code(payload.phone, payload.purpose)
    return Status(202, {"detail": "验证码已发送"})


@router.post("/register", response={201: ApplicantOut}, summary="注册申请人（自然人或法人），注册后即登录")
def register(request, payload: RegisterIn):
    if payload.kind == Applicant.NATURAL:
        applicant = services.register_natural(payload.name, payload.id_number, payload.phone, payload.sms_code)
    else:
        applicant = services.register_legal(
            payload.org_name, payload.credit_code, payload.applicant_type, payload.agent_name, payload.agent_id_number,
            payload.phone, payload.sms_code,
        )
    services.login_applicant(request, applicant)
    return Status(201, ApplicantOut.from_orm(applicant))


@router.post("/login", response=ApplicantOut, summary="申请人登录（身份号码或统一社会信用代码 + 手机号 + 短信验证码）")
def login(request, payload: LoginIn):
    applicant = services.authenticate(payload.code_number, payload.phone, payload.sms_code)
    services.login_applicant(request, applicant)
    return applicant


@router.post("/logout", response={204: None}, auth=applicant_auth, summary="申请人退出登录")
def logout(request):
    services.logout_applicant(request)
    return Status(204, None)


@router.get("/me", response=ApplicantOut, auth=applicant_auth, summary="当前登录的申请人（证件号码和手机号已脱敏）")
def me(request):
    return request.applicant
