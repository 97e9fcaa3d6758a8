"""亮证 and the holder's wallet: only the holder presents, only a valid certificate, only the chosen
fields reach the verifier, a fresh verdict every time, expiry answers 410; the wallet pages, the PDF,
the API, and a legal person's agent seeing the organisation's certificates."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import applicant_client, make_applicant
from tests.test_certificate_verify import World, make_type
from tongban.applicants.models import Applicant
from tongban.certificates import issuing, presenting, verifying
from tongban.certificates.models import Presentation
from tongban.core.authz import PermissionDenied
from tongban.core.codes import make_uscc
from tongban.core.errors import DomainError
from tongban.sharing import access_log
from tongban.sharing.models import AccessLog

DATA = {"business_scope": "预包装食品销售", "founded_on": "2020-05-01"}


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return World()


def test_present_shows_exactly_the_chosen_fields_with_a_fresh_verdict(world):
    cert = world.issue(data=DATA)
    p = presenting.present(world.holder, cert, ["founded_on", "number"])
    assert len(p.token) >= 32 and p.fields == ["number", "founded_on"]
    left = p.expires_at - timezone.now()
    assert datetime.timedelta(minutes=4) < left <= datetime.timedelta(minutes=5)
    opened, verdict = presenting.open_presentation(p.token, request_meta={"REMOTE_ADDR": "10.0.0.8"})
    assert verdict.status == "valid" and opened.views == 1
    rows = dict(presenting.shown(opened))
    assert rows["证照编号"] == cert.number and rows["成立日期"] == "2020-05-01"
    assert rows["持证主体"] == "张小明" and rows["发证机构"] == cert.issuer_name and "证照名称" in rows and "有效期" in rows
    assert "经营范围" not in rows and not any("持证主体代码" in k for k in rows)
    row = AccessLog.objects.order_by("-seq").first()
    assert (row.action, row.outcome, row.identifier) == ("present", "granted", cert.identifier) and "成立日期" in row.reason
    # The verifier's page: the chosen fields only, never the unchosen ones.
    html = Client().get(f"/verify/p/{p.token}/").content.decode()
    assert 'data-status="valid"' in html and "2020-05-01" in html and cert.number in html
    assert "预包装食品销售" not in html and cert.holder_code not in html and cert.masked_holder_code not in html
    assert Presentation.objects.get(pk=p.pk).views == 2
    # Revoked after presenting: the next look says so.
    issuing.revoke(cert, None, "违法经营")
    html = Client().get(f"/verify/p/{p.token}/").content.decode()
    assert 'data-status="revoked"' in html and "违法经营" in html
    assert access_log.verify() is None


def test_holder_code_shown_only_when_chosen(world):
    cert = world.issue(data=DATA)
    p = presenting.present(world.holder, cert, ["holder_code"])
    rows = presenting.shown(p)
    assert ("持证主体代码（公民身份号码）", cert.holder_code) in rows and not any(k == "证照编号" for k, _ in rows)


def test_only_the_holder_presents(world):
    cert = world.issue()
    stranger = make_applicant(name="王五")
    with pytest.raises(PermissionDenied):
        presenting.present(stranger, cert, [])
    with pytest.raises(DomainError) as exc:
        presenting.held(stranger, cert.pk)
    assert exc.value.status == 404
    page = applicant_client(stranger).get(f"/my/certificates/{cert.pk}/present/")
    assert page.status_code == 404
    post = applicant_client(stranger).post(f"/my/certificates/{cert.pk}/present/", {"fields": ["number"]})
    assert post.status_code == 404 and not Presentation.objects.exists()


def test_only_a_valid_certificate_and_known_fields(world):
    cert = world.issue(data=DATA)
    with pytest.raises(DomainError) as exc:
        presenting.present(world.holder, cert, ["number", "secret"])
    assert exc.value.status == 422 and "secret" in exc.value.message
    with pytest.raises(DomainError):
        presenting.present(world.holder, cert, "number")
    newer = issuing.change(cert, {"business_scope": "餐饮服务"}, None, "变更")
    with pytest.raises(DomainError) as exc:
        presenting.present(world.holder, cert, [])
    assert exc.value.status == 409 and "已变更" in exc.value.message
    expired = world.issue(valid_from=datetime.date(2018, 1, 1), valid_until=datetime.date(2019, 1, 1))
    with pytest.raises(DomainError) as exc:
        presenting.present(world.holder, expired, [])
    assert exc.value.status == 409 and "已过期" in exc.value.message
    assert presenting.present(world.holder, newer, []).fields == []
    assert Presentation.objects.count() == 1


def test_expired_presentation_answers_410_and_is_logged(world):
    cert = world.issue()
    p = presenting.present(world.holder, cert, ["number"])
    Presentation.objects.filter(pk=p.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with pytest.raises(DomainError) as exc:
        presenting.open_presentation(p.token)
    assert exc.value.status == 410 and exc.value.message == "亮证码已过期，请持证人重新生成"
    row = AccessLog.objects.order_by("-seq").first()
    assert (row.action, row.outcome) == ("present", "refused")
    page = Client().get(f"/verify/p/{p.token}/")
    assert page.status_code == 410 and "亮证码已过期，请持证人重新生成" in page.content.decode() and cert.number not in page.content.decode()
    api = Client().get(f"/api/v1/certificates/presentations/{p.token}")
    assert api.status_code == 410 and api.json()["detail"] == "亮证码已过期，请持证人重新生成"
    for bad in ("nope", "x" * 40, "<script>alert(1)</script>"):
        assert Client().get(f"/api/v1/certificates/presentations/{bad}").status_code == 404
    assert Client().get("/verify/p/" + "y" * 40 + "/").status_code == 404


def test_presentation_minutes_setting(world, settings):
    settings.TONGBAN_PRESENTATION_MINUTES = 2
    p = presenting.present(world.holder, world.issue(), [])
    assert p.expires_at - timezone.now() <= datetime.timedelta(minutes=2)


def test_wallet_pages(world):
    cert = world.issue(data=DATA)
    mine = applicant_client(world.holder)
    other = make_applicant(name="王五")
    issuing.issue(world.ctype, world.dept, {"name": "王五", "code": other.id_number, "code_type": "公民身份号码", "applicant": other},
                  {"business_scope": "其他人的证照"})
    listing = mine.get("/my/certificates/")
    html = listing.content.decode()
    assert listing.status_code == 200 and cert.number in html and world.ctype.name in html and "/my/evidence/" in html
    assert html.count('class="cert-card"') == 1
    detail = mine.get(f"/my/certificates/{cert.pk}/").content.decode()
    assert "预包装食品销售" in detail and cert.identifier in detail and "<svg" in detail and "亮证" in detail
    assert cert.holder_code not in detail  # masked on screen
    pdf = mine.get(f"/my/certificates/{cert.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert applicant_client(other).get(f"/my/certificates/{cert.pk}/").status_code == 404
    assert applicant_client(other).get(f"/my/certificates/{cert.pk}/pdf/").status_code == 404
    assert Client().get("/my/certificates/").status_code == 302  # sign in first
    # Present through the page: choose fields, then the QR page with the countdown.
    form = mine.get(f"/my/certificates/{cert.pk}/present/").content.decode()
    assert 'value="founded_on"' in form and 'value="number" checked' in form
    response = mine.post(f"/my/certificates/{cert.pk}/present/", {"fields": ["founded_on"]})
    assert response.status_code == 302
    p = Presentation.objects.get()
    assert response["Location"] == f"/my/certificates/presentations/{p.token}/" and p.fields == ["founded_on"]
    screen = mine.get(response["Location"]).content.decode()
    assert "<svg" in screen and f"/verify/p/{p.token}/" in screen and "data-expires" in screen and "2020-05-01" in screen
    assert applicant_client(other).get(response["Location"]).status_code == 404
    bad = mine.post(f"/my/certificates/{cert.pk}/present/", {"fields": ["nope"]})
    assert bad.status_code == 422 and "不能展示的信息项" in bad.content.decode()
    # A superseded version shows its successor in the versions list and cannot be presented.
    newer = issuing.change(cert, {"business_scope": "餐饮服务"}, None, "变更经营项目")
    old = mine.get(f"/my/certificates/{cert.pk}/").content.decode()
    assert "第2版" in old and f"/my/certificates/{newer.pk}/" in old
    assert f'href="/my/certificates/{cert.pk}/present/"' not in old
    listing = mine.get("/my/certificates/").content.decode()
    assert listing.count('class="cert-card"') == 1 and f"/my/certificates/{newer.pk}/" in listing


def test_legal_person_agent_sees_the_organisation_certificates(world):
    from django.contrib.auth import get_user_model

    ctype = make_type(world.dept, holder_kind="legal")
    code = make_uscc("91", "371327", "MA3C5678")
    cert = issuing.issue(ctype, world.dept, {"name": "莒南县某某食品有限公司", "code": code, "code_type": "统一社会信用代码"}, {"business_scope": "食品"})
    user = get_user_model().objects.create_user(username="org-agent-1")
    agent = Applicant.objects.create(user=user, kind="legal", applicant_type="2", name="莒南县某某食品有限公司", credit_code=code,
                                     agent_name="赵六", agent_id_number="371327199001011234", phone="13900000001")
    assert list(presenting.wallet(agent)) == [cert]
    assert list(presenting.wallet(world.holder)) == []
    assert presenting.present(agent, cert, ["number"]).holder == agent


def test_api_mine_present_and_open(world):
    cert = world.issue(data=DATA)
    client = applicant_client(world.holder)
    mine = client.get("/api/v1/certificates/mine")
    assert mine.status_code == 200
    [row] = mine.json()
    assert row["identifier"] == cert.identifier and row["status"] == "valid" and row["holder_code"] == cert.masked_holder_code
    assert row["data"] == {"经营范围": "预包装食品销售", "成立日期": "2020-05-01"} and "/verify/?c=TBC1." in row["verify_url"]
    assert Client().get("/api/v1/certificates/mine").status_code == 401
    url = f"/api/v1/certificates/mine/{cert.pk}/presentations"
    headers = {"HTTP_IDEMPOTENCY_KEY": "present-1"}
    first = client.post(url, {"fields": ["number"]}, content_type="application/json", **headers)
    again = client.post(url, {"fields": ["number"]}, content_type="application/json", **headers)
    assert first.status_code == 201 and again.status_code == 201 and first.json()["token"] == again.json()["token"]
    assert Presentation.objects.count() == 1
    created = first.json()
    assert created["url"].endswith(f"/verify/p/{created['token']}/") and created["fields"] == ["number"]
    bad = client.post(url, {"fields": ["nope"]}, content_type="application/json")
    assert bad.status_code == 422
    stranger = applicant_client(make_applicant(name="王五"))
    assert stranger.post(url, {"fields": []}, content_type="application/json").status_code == 404
    opened = Client().get(f"/api/v1/certificates/presentations/{created['token']}")
    assert opened.status_code == 200
    body = opened.json()
    assert set(body) == {"verdict", "shown", "expires_at", "views"} and body["verdict"]["status"] == "valid" and body["verdict"]["fields"] == []
    labels = [f["label"] for f in body["shown"]]
    assert "证照编号" in labels and "成立日期" not in labels and "经营范围" not in labels and body["views"] == 1


def test_presentation_page_in_traditional_and_elder_mode(world):
    p = presenting.present(world.holder, world.issue(), ["number"])
    client = Client()
    client.get("/prefs/script/hant/")
    client.get("/prefs/elder/on/")
    html = client.get(f"/verify/p/{p.token}/").content.decode()
    assert "亮證查驗" in html and 'class="elder' in html and 'data-status="valid"' in html
    assert verifying.LABELS["valid"] == "有效"


def test_a_declared_item_left_empty_may_be_named_but_shows_nothing(world):
    cert = world.issue(data={"business_scope": "预包装食品销售"})
    p = presenting.present(world.holder, cert, ["founded_on"])
    assert p.fields == ["founded_on"] and not any(label == "成立日期" for label, _ in presenting.shown(p))
    assert [k for k, _ in presenting.choices(cert)] == ["number", "holder_code", "business_scope"]
