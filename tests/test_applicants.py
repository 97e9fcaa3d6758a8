"""Applicants: SMS codes (hashed, rate-limited, burnt after wrong attempts, expiring), registration of
natural and legal persons with checked codes (historical address codes accepted), sign-in by page and
API, the developer mailbox (DEBUG only), and masked phones in the log."""

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client
from django.utils import timezone

from tongban.applicants import services, sms
from tongban.applicants.models import Applicant, OutboundSms, SmsCode
from tongban.core.codes import id_check_char, make_uscc
from tongban.core.errors import Conflict, DomainError
from tongban.directory.models import Region, RegionHistory

PHONE = "13812345678"
API = "/api/v1/applicants"


def make_id(address="110105", birth="19900307", seq="123"):
    first17 = address + birth + seq
    return first17 + id_check_char(first17)


def wrong_checksum(number):
    return number[:17] + ("0" if number[17] != "0" else "1")


CREDIT = make_uscc("91", "110105", "MA01AB2C")


def _age_codes(phone, seconds=61):
    SmsCode.objects.filter(phone=phone).update(created_at=F("created_at") - timedelta(seconds=seconds))


def _last_code(phone):
    text = OutboundSms.objects.filter(phone=phone).order_by("-created_at", "-pk").first().text
    return re.search(r"验证码是(\d{6})", text).group(1)


@pytest.fixture
def code_for(django_capture_on_commit_callbacks):
    """Ask for a code (as if a minute had passed since the last one) and read it from the mailbox."""

    def get(phone=PHONE, purpose="register"):
        _age_codes(phone)
        with django_capture_on_commit_callbacks(execute=True):
            services.request_code(phone, purpose)
        return _last_code(phone)

    return get


@pytest.fixture
def natural(code_for):
    return services.register_natural("张三", make_id(), PHONE, code_for())


def api_post(client, path, data):
    return client.post(f"{API}{path}", data, content_type="application/json")


# --- codes -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_code_is_stored_hashed_and_sent_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.request_code(PHONE, "login")
    assert not OutboundSms.objects.exists() and len(callbacks) == 1  # nothing leaves before the commit
    callbacks[0]()
    code = _last_code(PHONE)
    row = SmsCode.objects.get(phone=PHONE)
    assert code not in row.code_hash and len(row.code_hash) == 64
    text = OutboundSms.objects.get().text
    assert text == f"【通办】您的验证码是{code}，5分钟内有效。如非本人操作请忽略。"


@pytest.mark.django_db
def test_rate_limit_one_a_minute_and_ten_a_day(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = api_post(client, "/sms-code", {"phone": PHONE, "purpose": "login"})
    assert r.status_code == 202 and r.json() == {"detail": "验证码已发送"}
    r = api_post(client, "/sms-code", {"phone": PHONE, "purpose": "register"})
    assert r.status_code == 429 and re.search(r"验证码发送过于频繁，请\d+秒后再试", r.json()["detail"])
    assert SmsCode.objects.filter(phone=PHONE).count() == 1
    for _ in range(9):
        _age_codes(PHONE)
        services.request_code(PHONE, "login")
    _age_codes(PHONE)
    if SmsCode.objects.filter(phone=PHONE, created_at__lt=timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)).exists():
        pytest.skip("aged codes crossed midnight")
    with pytest.raises(DomainError, match="今天获取验证码已达10次") as exc:
        services.request_code(PHONE, "login")
    assert exc.value.status == 429
    # bad input is a Chinese 4xx, nothing stored
    r = api_post(client, "/sms-code", {"phone": "12345", "purpose": "login"})
    assert r.status_code == 422 and "手机号" in r.json()["detail"]
    r = api_post(client, "/sms-code", {"phone": "13900001111", "purpose": "reset"})
    assert r.status_code == 422
    assert not SmsCode.objects.filter(phone__in=["12345", "13900001111"]).exists()


@pytest.mark.django_db
def test_wrong_attempts_burn_the_code(code_for):
    code = code_for(purpose="login")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(DomainError, match="验证码不正确或已过期"):
            services.check_code(PHONE, "login", wrong)
    assert SmsCode.objects.get(phone=PHONE).attempts == 5
    with pytest.raises(DomainError, match="验证码不正确或已过期"):
        services.check_code(PHONE, "login", code)  # burnt: even the right code no longer works


@pytest.mark.django_db
def test_code_is_single_use_and_per_purpose(code_for):
    code = code_for(purpose="login")
    with pytest.raises(DomainError):
        services.check_code(PHONE, "register", code)
    services.check_code(PHONE, "login", "  " + code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))  # full-width digits
    with pytest.raises(DomainError):
        services.check_code(PHONE, "login", code)


@pytest.mark.django_db
def test_only_the_newest_code_counts(code_for):
    old = code_for(purpose="login")
    new = code_for(purpose="login")
    if old != new:
        with pytest.raises(DomainError):
            services.check_code(PHONE, "login", old)
    services.check_code(PHONE, "login", new)


@pytest.mark.django_db
def test_expired_code(code_for):
    code = code_for(purpose="login")
    SmsCode.objects.filter(phone=PHONE).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError, match="验证码不正确或已过期") as exc:
        services.check_code(PHONE, "login", code)
    assert exc.value.status == 400


@pytest.mark.django_db
def test_log_shows_the_code_and_a_masked_phone(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="tongban.sms")
    with django_capture_on_commit_callbacks(execute=True):
        services.request_code(PHONE, "login")
    code = _last_code(PHONE)
    assert code in caplog.text
    assert "138****5678" in caplog.text and PHONE not in caplog.text


class BrokenSender(sms.Sender):
    name = "broken"

    def send(self, phone, text):
        raise ConnectionError("gateway down")


@pytest.mark.django_db
def test_a_failing_sender_is_logged_and_does_not_break_the_caller(settings, caplog, django_capture_on_commit_callbacks):
    settings.TONGBAN_SMS_SENDER = "tests.test_applicants.BrokenSender"
    assert isinstance(sms.get_sender(), BrokenSender)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_code(PHONE, "login")
    assert SmsCode.objects.filter(phone=PHONE).exists()
    assert "短信发送失败" in caplog.text and PHONE not in caplog.text
    assert sms.send_text(PHONE, "测试") is False


# --- registration ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_id_checksum_wrong_is_a_chinese_4xx_and_nothing_stored(client, code_for):
    users = get_user_model().objects.count()
    code = code_for()
    r = api_post(client, "/register", {"kind": "natural", "name": "张三", "id_number": wrong_checksum(make_id()), "phone": PHONE, "sms_code": code})
    assert r.status_code == 422 and "校验位" in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "id_number"
    # the page shows the message beside the field
    r = client.post("/applicant/register/", {"kind": "natural", "name": "张三", "id_number": wrong_checksum(make_id()), "phone": PHONE,
                                              "sms_code": code, "action": "register"})
    assert r.status_code == 422
    assert re.search(r'class="field-msg" id="id_id_number-err">[^<]*校验位', r.content.decode())
    assert not Applicant.objects.exists() and get_user_model().objects.count() == users
    services.check_code(PHONE, "register", code)  # an input error does not spend the code


@pytest.mark.django_db
def test_historical_address_code_registers(code_for):
    current = set(Region.objects.values_list("code", flat=True))
    old = RegionHistory.objects.exclude(code__in=current).exclude(code__endswith="00").values_list("code", flat=True).first()
    assert old is not None
    applicant = services.register_natural(" 李四 ", make_id(old, "19650412", "011"), PHONE, code_for())
    assert applicant.id_number.startswith(old) and applicant.name == "李四"
    assert applicant.kind == "natural" and applicant.applicant_type == "1"
    user = applicant.user
    assert user.username.startswith("p-") and not user.has_usable_password() and user.first_name == "李四"
    assert not user.is_staff and services.applicant_of(user) == applicant


@pytest.mark.django_db
def test_id_number_x_is_uppercased(code_for):
    for seq in range(100, 1000):
        number = make_id("110105", "19900307", f"{seq:03d}")
        if number.endswith("X"):
            break
    applicant = services.register_natural("王五", number.lower(), PHONE, code_for())
    assert applicant.id_number == number


@pytest.mark.django_db
def test_bad_names_and_unknown_address_code(code_for):
    code = code_for()
    with pytest.raises(services.InvalidInput, match="姓名应为2至30个字"):
        services.register_natural("张", make_id(), PHONE, code)
    with pytest.raises(services.InvalidInput, match="地址码999999"):
        services.register_natural("张三", make_id("999999"), PHONE, code)
    assert not Applicant.objects.exists()


@pytest.mark.django_db
def test_duplicate_registration_is_409(client, natural, code_for):
    r = api_post(client, "/register", {"kind": "natural", "name": "张三丰", "id_number": make_id(), "phone": "13900001111",
                                       "sms_code": code_for("13900001111")})
    assert r.status_code == 409 and r.json()["detail"] == "该身份号码已注册，请直接登录"
    assert Applicant.objects.count() == 1


@pytest.mark.django_db
def test_bad_credit_code(client, code_for):
    code = code_for()
    body = {"kind": "legal", "org_name": "北京测试科技有限公司", "credit_code": CREDIT[:17] + ("0" if CREDIT[17] != "0" else "1"),
            "applicant_type": "2", "agent_name": "赵六", "agent_id_number": make_id(), "phone": PHONE, "sms_code": code}
    r = api_post(client, "/register", body)
    assert r.status_code == 422 and "统一社会信用代码校验位不正确" in r.json()["detail"]
    r = api_post(client, "/register", {**body, "credit_code": "91110105MA01AB2CI"})
    assert r.status_code == 422 and "统一社会信用代码" in r.json()["detail"]
    r = api_post(client, "/register", {**body, "credit_code": CREDIT, "applicant_type": "1"})
    assert r.status_code == 422 and "申请人类型" in r.json()["detail"]
    assert not Applicant.objects.exists()


@pytest.mark.django_db
def test_legal_person_registers_and_signs_in(client, code_for):
    body = {"kind": "legal", "org_name": "北京测试科技有限公司", "credit_code": CREDIT.lower(), "applicant_type": "2",
            "agent_name": "赵六", "agent_id_number": make_id(), "phone": PHONE, "sms_code": code_for()}
    r = api_post(client, "/register", body)
    assert r.status_code == 201, r.content
    profile = r.json()
    assert profile["kind"] == "legal" and profile["code_type"] == "统一社会信用代码" and profile["agent_name"] == "赵六"
    assert profile["masked_phone"] == "138****5678" and CREDIT not in r.content.decode()
    applicant = Applicant.objects.get()
    assert applicant.credit_code == CREDIT and applicant.user.username.startswith("o-")
    # the same agent again, or another agent with the same phone: 409
    other = {**body, "agent_name": "钱七", "agent_id_number": make_id(seq="456"), "sms_code": code_for()}
    assert api_post(Client(), "/register", other).status_code == 409
    again = {**body, "phone": "13900001111", "sms_code": code_for("13900001111")}
    r = api_post(Client(), "/register", again)
    assert r.status_code == 409 and "经办人已注册" in r.json()["detail"]
    # sign in by credit code + the agent's phone
    c = Client()
    r = api_post(c, "/login", {"code_number": CREDIT, "phone": PHONE, "sms_code": code_for(purpose="login")})
    assert r.status_code == 200 and r.json()["id"] == applicant.pk
    assert c.get(f"{API}/me").json()["name"] == "北京测试科技有限公司"


# --- sign-in -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_login_by_api(natural, code_for):
    c = Client(enforce_csrf_checks=True)
    assert c.get(f"{API}/me").status_code == 401
    r = api_post(c, "/login", {"code_number": natural.id_number, "phone": PHONE, "sms_code": code_for(purpose="login")})
    assert r.status_code == 200
    me = c.get(f"{API}/me")
    assert me.status_code == 200
    data = me.json()
    assert data["masked_code"] == "110105********" + natural.id_number[-4:] and data["masked_phone"] == "138****5678"
    assert natural.id_number not in me.content.decode() and PHONE not in me.content.decode()
    # logout is a write: CSRF checked, in Chinese
    r = c.post(f"{API}/logout")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    token = c.cookies["csrftoken"].value if "csrftoken" in c.cookies else None
    if token is None:
        c.get("/applicant/login/")
        token = c.cookies["csrftoken"].value
    assert c.post(f"{API}/logout", HTTP_X_CSRFTOKEN=token).status_code == 204
    r = c.get(f"{API}/me")
    assert r.status_code == 401 and "申请人" in r.json()["detail"]


@pytest.mark.django_db
def test_login_failures_do_not_tell_which_part_was_wrong(natural, code_for):
    code = code_for(purpose="login")
    for body in (
        {"code_number": make_id(seq="999"), "phone": PHONE, "sms_code": code},  # no such account
        {"code_number": natural.id_number, "phone": "13900001111", "sms_code": code},  # wrong phone
    ):
        r = api_post(Client(), "/login", body)
        assert r.status_code == 400 and r.json()["detail"] == "账号或手机号不匹配，或验证码不正确"
    r = api_post(Client(), "/login", {"code_number": natural.id_number, "phone": PHONE, "sms_code": "000000" if code != "000000" else "111111"})
    assert r.status_code == 400 and r.json()["detail"] == "账号或手机号不匹配，或验证码不正确"
    assert SmsCode.objects.filter(phone=PHONE, purpose="login").get().attempts == 2  # the missing account spent one too
    assert api_post(Client(), "/login", {"code_number": natural.id_number, "phone": PHONE, "sms_code": code}).status_code == 200


@pytest.mark.django_db
def test_login_by_page_without_javascript(natural, django_capture_on_commit_callbacks):
    c = Client(enforce_csrf_checks=True)
    r = c.get("/applicant/login/?next=/my/cases/")
    page = r.content.decode()
    for label, field in (("身份号码或统一社会信用代码", "id_code_number"), ("手机号", "id_phone"), ("短信验证码", "id_sms_code")):
        assert f'<label for="{field}">{label}</label>' in page
    token = c.cookies["csrftoken"].value
    form = {"csrfmiddlewaretoken": token, "code_number": natural.id_number, "phone": PHONE, "next": "/my/cases/"}
    _age_codes(PHONE)
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/applicant/login/", {**form, "action": "send"})
    assert r.status_code == 200
    page = r.content.decode()
    assert "验证码已发送至 138****5678" in page and natural.id_number in page  # values kept
    assert page.index('value="login"') < page.index('value="send"')  # Enter now signs in
    r = c.post("/applicant/login/", {**form, "action": "login", "sms_code": "000000" if _last_code(PHONE) != "000000" else "111111"})
    assert r.status_code == 400 and "账号或手机号不匹配，或验证码不正确" in r.content.decode()
    r = c.post("/applicant/login/", {**form, "action": "login", "sms_code": _last_code(PHONE)})
    assert r.status_code == 302 and r["Location"] == "/my/cases/"
    assert services.applicant_of(get_user_model().objects.get(pk=c.session["_auth_user_id"])) == natural
    # already signed in: the login page forwards
    assert c.get("/applicant/login/")["Location"] == "/my/"
    # logout is POST only
    assert c.get("/applicant/logout/").status_code == 405
    r = c.post("/applicant/logout/", {"csrfmiddlewaretoken": c.cookies["csrftoken"].value})
    assert r.status_code == 302 and "_auth_user_id" not in c.session


@pytest.mark.django_db
def test_page_csrf_and_unsafe_next(natural, code_for):
    c = Client(enforce_csrf_checks=True)
    assert c.post("/applicant/login/", {"code_number": natural.id_number, "phone": PHONE, "action": "send"}).status_code == 403
    c = Client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        r = c.post("/applicant/login/", {"code_number": natural.id_number, "phone": PHONE, "action": "login",
                                         "sms_code": code_for(purpose="login"), "next": target})
        assert r.status_code == 302 and r["Location"] == "/my/", target
        c.post("/applicant/logout/")


@pytest.mark.django_db
def test_register_by_page(code_for):
    c = Client()
    page = c.get("/applicant/register/?kind=legal").content.decode()
    for label in ("单位名称", "统一社会信用代码", "申请人类型", "经办人姓名", "经办人身份号码", "手机号", "短信验证码"):
        assert f">{label}</label>" in page
    assert 'aria-current="page">企业和组织（法人）' in page
    r = c.post("/applicant/register/", {"kind": "natural", "name": "孙八", "id_number": make_id(), "phone": PHONE, "sms_code": code_for(),
                                        "action": "register", "next": "/my/"})
    assert r.status_code == 302 and r["Location"] == "/my/"
    assert Applicant.objects.get().name == "孙八"
    # again: 409 with a link to sign in
    r = Client().post("/applicant/register/", {"kind": "natural", "name": "孙八", "id_number": make_id(), "phone": PHONE,
                                               "sms_code": code_for(), "action": "register"})
    assert r.status_code == 409 and "该身份号码已注册，请直接登录" in r.content.decode() and "去登录" in r.content.decode()


@pytest.mark.django_db
def test_page_rate_limit_is_shown(natural, django_capture_on_commit_callbacks):
    c = Client()
    with django_capture_on_commit_callbacks(execute=True):
        c.post("/applicant/login/", {"code_number": natural.id_number, "phone": "13700001111", "action": "send"})
        r = c.post("/applicant/login/", {"code_number": natural.id_number, "phone": "13700001111", "action": "send"})
    assert r.status_code == 429 and "验证码发送过于频繁" in r.content.decode()


@pytest.mark.django_db
def test_staff_user_is_not_an_applicant(staff_factory, natural):
    user, c = staff_factory("clerk", "371327")
    assert services.applicant_of(user) is None
    r = c.get(f"{API}/me")
    assert r.status_code == 401
    # even a staff account that somehow has an applicant profile is not one
    Applicant.objects.create(user=user, kind="natural", name="工作人员", id_number=make_id(seq="777"), phone="13600001111")
    user.refresh_from_db()
    assert services.applicant_of(user) is None
    superuser = get_user_model().objects.create_superuser("root_test", password="Tongban-test-2026")
    assert services.applicant_of(superuser) is None
    assert services.applicant_of(natural.user) == natural


@pytest.mark.django_db
def test_duplicate_service_conflict(natural, code_for):
    with pytest.raises(Conflict):
        services.register_natural("张三", make_id(), "13900001111", code_for("13900001111"))


# --- developer mailbox -------------------------------------------------------------------------

@pytest.mark.django_db
def test_mailbox_only_in_debug(client, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.request_code(PHONE, "login")
    settings.DEBUG = False
    assert client.get("/dev/mailbox/").status_code == 404
    settings.DEBUG = True
    r = client.get("/dev/mailbox/")
    page = r.content.decode()
    assert r.status_code == 200 and "开发用短信收件箱：仅在调试模式下提供" in page
    assert PHONE in page and _last_code(PHONE) in page
    assert "开发用短信收件箱" in client.get("/applicant/login/").content.decode()


# --- admin -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_admin_lists_masked_and_is_read_only(staff_factory, natural, django_capture_on_commit_callbacks):
    _u, admin_client = staff_factory("platform_admin", "000000")
    page = admin_client.get("/admin/applicants/applicant/").content.decode()
    assert "张三" in page and natural.masked_code in page and "138****5678" in page
    assert natural.id_number not in page and PHONE not in page
    assert admin_client.get("/admin/applicants/applicant/?q=张").status_code == 200
    assert admin_client.get("/admin/applicants/applicant/add/").status_code == 403
    assert admin_client.get(f"/admin/applicants/applicant/{natural.pk}/change/").status_code == 200
    page = admin_client.get("/admin/applicants/outboundsms/").content.decode()
    assert "138****5678" in page and PHONE not in page
    assert admin_client.get("/admin/applicants/smscode/").status_code == 404
    _c, clerk = staff_factory("clerk", "371327")
    assert clerk.get("/admin/applicants/applicant/").status_code in (302, 403)
