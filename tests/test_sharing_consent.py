"""Once-only use of a certificate in an application: consent rules, attaching a verified material,
refusals (another case, expired, withdrawn, used twice, revoked, tampered), the upload fallback, and the
portal and API entry points."""

import datetime
import uuid

import pytest
from django.utils import timezone

from tests.conftest import PDF_BYTES, applicant_client, make_applicant, make_department, upload
from tongban.core.authz import PermissionDenied
from tongban.core.codes import make_uscc
from tongban.core.errors import DomainError

_n = [0]


class SharingWorld:
    """CaseWorld (an online item in 莒南县 with materials 申请书 and 身份证明) plus a certificate type
    (居民户口簿) that stands for 身份证明, issued by a 北京 department to the applicant, its data service,
    and (unless grant=False) a grant of that service to the case's department."""

    def __init__(self, case_world, staff_factory, grant=True):
        from tongban.cases import services as cases
        from tongban.certificates import issuing
        from tongban.certificates.models import CertificateType
        from tongban.directory.models import Region
        from tongban.sharing.models import DataService, ShareGrant

        _n[0] += 1
        self.w = w = case_world()
        self.applicant, self.client = w.applicant, w.client
        self.issuer = make_department("110105", f"北京市朝阳区公安分局{_n[0]}")
        self.ctype = CertificateType.objects.create(
            code=make_uscc("11", "100000", f"{_n[0]:08d}") + "001", name="居民户口簿", ministry_name="公安部", region=Region.objects.get(code="000000"),
            fields=[{"key": "household_no", "label": "户号", "type": "text", "required": True},
                    {"key": "address", "label": "住址", "type": "text", "required": False}],
            stands_for=["身份证明", "户口簿复印件"])
        self.ctype.issuing_departments.add(self.issuer)
        self.certificate = issuing.issue(self.ctype, self.issuer, self.holder(), {"household_no": f"H{_n[0]:06d}", "address": "北京市朝阳区演示路1号"})
        self.service = DataService.objects.create(code=f"svc-hukou-{_n[0]}", name="居民户口簿", provider=self.issuer, region_path=self.issuer.region.path,
                                                  source=DataService.CERTIFICATE, certificate_type=self.ctype,
                                                  fields=[{"key": "household_no", "label": "户号"}])
        if grant:
            ShareGrant.objects.create(service=self.service, consumer=w.department, provider_region_path=self.issuer.region.path)
        self.case = cases.create_draft(self.applicant, w.impl.implementation_code)
        self.material = next(m for m in w.materials if m.name == "身份证明")

    def holder(self, applicant=None):
        a = applicant or self.applicant
        return {"name": a.name, "code": a.id_number, "code_type": "公民身份号码", "applicant": a}


@pytest.fixture
def world(case_world, staff_factory):
    return lambda **kw: SharingWorld(case_world, staff_factory, **kw)


def _logs(**kw):
    from tongban.sharing.models import AccessLog

    return list(AccessLog.objects.filter(**kw).order_by("seq"))


# --- services -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_offer_consent_attach_creates_verified_material(world):
    from tongban.cases import services as cases
    from tongban.sharing import consent, evidence, using
    from tongban.sharing.models import Consent, UsedEvidence

    s = world()
    offers = evidence.offers(s.case)
    assert [(o.material.name, o.kind, o.certificate.pk) for o in offers] == [("身份证明", "certificate", s.certificate.pk)]
    assert ("持证主体代码", s.certificate.holder_code) not in offers[0].preview  # masked in the preview
    c = consent.give(s.applicant, s.case, s.material, s.certificate, "")
    assert c.status == Consent.GIVEN and c.expires_at > timezone.now()
    cm = using.attach(s.applicant, s.case, c)
    assert cm.how == "reuse" and cm.material_id == s.material.pk and cm.blob.content_type == "application/pdf"
    used = UsedEvidence.objects.get(case_material=cm)
    assert used.verification["status"] == "valid" and used.identifier == s.certificate.identifier
    c.refresh_from_db()
    assert c.status == Consent.USED and c.used_at is not None
    assert [m.pk for m in cases.current_materials(s.case) if m.material_id == s.material.pk] == [cm.pk]
    use = _logs(action="use", case_uid=str(s.case.uid))
    assert [(r.outcome, r.consent_ref, r.identifier) for r in use] == [("granted", str(c.pk), s.certificate.identifier)]
    # Used once: a second attach with the same consent is refused and logged.
    with pytest.raises(DomainError) as exc:
        using.attach(s.applicant, s.case, c)
    assert exc.value.status == 409 and "已使用" in exc.value.message
    assert [r.outcome for r in _logs(action="use", case_uid=str(s.case.uid))] == ["granted", "refused"]


@pytest.mark.django_db
def test_no_consent_and_foreign_case_consent_refused_and_logged(world):
    from tongban.cases import services as cases
    from tongban.sharing import consent, using

    s = world()
    other_case = cases.create_draft(s.applicant, s.w.impl.implementation_code)
    c = consent.give(s.applicant, other_case, s.material, s.certificate, "")
    with pytest.raises(PermissionDenied) as exc:
        using.attach(s.applicant, s.case, c)
    assert exc.value.message == "该授权不适用于本办件"
    refused = _logs(action="use", outcome="refused")
    assert refused and refused[-1].case_uid == str(s.case.uid) and refused[-1].reason == "该授权不适用于本办件"
    assert not s.case.materials.exists()
    # Another applicant can neither consent for this case nor use this consent.
    stranger = make_applicant("李四")
    with pytest.raises(PermissionDenied):
        consent.give(stranger, s.case, s.material, s.certificate, "")
    with pytest.raises(DomainError) as exc:
        using.attach(stranger, other_case, c)
    assert exc.value.status == 404


@pytest.mark.django_db
def test_expired_and_withdrawn_consents_refused(world, settings):
    from tongban.sharing import consent, using
    from tongban.sharing.models import Consent

    s = world()
    c = consent.give(s.applicant, s.case, s.material, s.certificate, "")
    Consent.objects.filter(pk=c.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    c.refresh_from_db()
    assert consent.status_of(c) == Consent.EXPIRED
    with pytest.raises(DomainError) as exc:
        using.attach(s.applicant, s.case, c)
    assert exc.value.status == 409 and "过期" in exc.value.message
    with pytest.raises(DomainError):
        consent.withdraw(s.applicant, c)  # an expired consent is not withdrawn, it is over
    settings.TONGBAN_CONSENT_MINUTES = 5
    c2 = consent.give(s.applicant, s.case, s.material, s.certificate, "")
    assert c2.expires_at <= timezone.now() + datetime.timedelta(minutes=5)
    consent.withdraw(s.applicant, c2)
    with pytest.raises(DomainError) as exc:
        using.attach(s.applicant, s.case, c2)
    assert "撤回" in exc.value.message
    assert not s.case.materials.exists()


@pytest.mark.django_db
def test_revoked_or_tampered_certificate_refused(world):
    from tongban.certificates import issuing
    from tongban.certificates.models import Certificate
    from tongban.sharing import consent, using

    s = world()
    c = consent.give(s.applicant, s.case, s.material, s.certificate, "")
    # Tampered in the database after consent: the signature no longer matches.
    Certificate.objects.filter(pk=s.certificate.pk).update(data={"household_no": "FORGED", "address": "北京市朝阳区演示路1号"})
    with pytest.raises(DomainError) as exc:
        using.attach(s.applicant, s.case, c)
    assert exc.value.status == 409
    assert not s.case.materials.exists()
    assert _logs(action="use", outcome="refused")[-1].reason.startswith("核验未通过")
    # Revoked: no longer offered, and a consent given before is refused.
    s2 = world()
    c2 = consent.give(s2.applicant, s2.case, s2.material, s2.certificate, "")
    approver = s2.w.approver
    approver.is_superuser = True
    approver.save()
    issuing.revoke(s2.certificate, approver, "测试吊销")
    with pytest.raises(DomainError) as exc:
        using.attach(s2.applicant, s2.case, c2)
    assert exc.value.status == 409
    with pytest.raises(DomainError):
        consent.give(s2.applicant, s2.case, s2.material, Certificate.objects.get(pk=s2.certificate.pk), "")


@pytest.mark.django_db
def test_not_draft_case_refused(world):
    from tongban.cases.models import Case
    from tongban.sharing import consent

    s = world()
    Case.objects.filter(pk=s.case.pk).update(status="accepted")
    s.case.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        consent.give(s.applicant, s.case, s.material, s.certificate, "")
    assert exc.value.status == 409


# --- portal pages -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_portal_offer_consent_page_attach_remove_and_upload_fallback(world):
    s = world()
    draft = s.client.get(f"/my/cases/{s.case.pk}/")
    assert draft.status_code == 200
    page = draft.content.decode()
    consent_url = f"/my/evidence/consent/{s.case.pk}/{s.material.pk}/"
    assert "使用我的电子证照" in page and consent_url in page
    r = s.client.get(consent_url)
    body = r.content.decode()
    assert r.status_code == 200 and "居民户口簿" in body and s.certificate.issuer_name in body and "同意并使用" in body
    assert s.applicant.id_number not in body  # masked in the preview
    assert f"/my/certificates/{s.certificate.pk}/pdf/" in body  # the certificate's PDF can be viewed first
    assert s.client.get(consent_url + "?script=hant").status_code == 200
    r = s.client.post(consent_url, {"offer": f"c{s.certificate.pk}", "agree": "yes"})
    assert r.status_code == 302
    page = s.client.get(f"/my/cases/{s.case.pk}/").content.decode()
    assert "已使用电子证照（已核验）" in page and s.certificate.identifier in page
    cm = s.case.materials.get(how="reuse")
    # Remove and upload instead.
    r = s.client.post(f"/my/evidence/remove/{s.case.pk}/{cm.pk}/")
    assert r.status_code == 302 and not s.case.materials.filter(how="reuse").exists()
    assert s.client.post(f"/my/evidence/remove/{s.case.pk}/{cm.pk}/").status_code == 404  # removed already
    assert s.client.get(f"/my/evidence/remove/{s.case.pk}/{cm.pk}/").status_code == 405
    r = s.client.post(f"/my/cases/{s.case.pk}/", {"action": "save", f"material_{s.material.pk}": upload("身份证明.pdf", PDF_BYTES)})
    assert r.status_code == 302 and s.case.materials.filter(how="online", material=s.material).exists()


@pytest.mark.django_db
def test_portal_upload_later_supersedes_reused_material(world):
    from tongban.cases import services as cases
    from tongban.sharing import consent, using

    s = world()
    using.attach(s.applicant, s.case, consent.give(s.applicant, s.case, s.material, s.certificate, ""))
    s.client.post(f"/my/cases/{s.case.pk}/", {"action": "save", f"material_{s.material.pk}": upload("身份证明.pdf", PDF_BYTES + b"x")})
    current = [m for m in cases.current_materials(s.case) if m.material_id == s.material.pk]
    assert [m.how for m in current] == ["online"]


@pytest.mark.django_db
def test_portal_consent_page_refusals(world):
    s = world()
    base = f"/my/evidence/consent/{s.case.pk}/{s.material.pk}/"
    assert s.client.post(base, {"offer": f"c{s.certificate.pk}"}).status_code == 422  # not agreed
    assert s.client.post(base, {"offer": "c999999", "agree": "yes"}).status_code == 422
    assert s.client.post(base, {"offer": "bogus", "agree": "yes"}).status_code == 422
    assert s.client.get(f"/my/evidence/consent/{s.case.pk}/999999/").status_code == 404
    assert s.client.get(f"/my/evidence/consent/999999/{s.material.pk}/").status_code == 404
    other = applicant_client(make_applicant("王五"))
    assert other.get(base).status_code == 404  # someone else's case reveals nothing
    assert not s.case.materials.exists()


@pytest.mark.django_db
def test_no_grant_means_no_offer_and_no_consent(world):
    from tongban.sharing import consent, evidence

    s = world(grant=False)
    assert evidence.offers(s.case) == []
    with pytest.raises(PermissionDenied):
        consent.give(s.applicant, s.case, s.material, s.certificate, "")
    page = s.client.get(f"/my/cases/{s.case.pk}/").content.decode()
    assert "使用我的电子证照" not in page


# --- API --------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_api_offers_consent_attach_idempotent(world):
    from tongban.cases.models import CaseMaterial

    s = world()
    r = s.client.get(f"/api/v1/sharing/cases/{s.case.pk}/offers")
    assert r.status_code == 200, r.content
    offers = r.json()
    assert offers[0]["offer"] == f"c{s.certificate.pk}" and offers[0]["material_id"] == s.material.pk
    r = s.client.post(f"/api/v1/sharing/cases/{s.case.pk}/consents", {"material_id": s.material.pk, "offer": f"c{s.certificate.pk}"},
                      content_type="application/json")
    assert r.status_code == 201, r.content
    consent_id = r.json()["id"]
    key = str(uuid.uuid4())
    first = s.client.post(f"/api/v1/sharing/consents/{consent_id}/attach", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    again = s.client.post(f"/api/v1/sharing/consents/{consent_id}/attach", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201, first.content
    assert first.json()["case_material_id"] == again.json()["case_material_id"]
    assert CaseMaterial.objects.filter(case=s.case, how="reuse").count() == 1
    # Without the key, a second attach is refused: the consent is spent.
    assert s.client.post(f"/api/v1/sharing/consents/{consent_id}/attach", {}, content_type="application/json").status_code == 409


@pytest.mark.django_db
def test_api_bad_input_is_4xx(world):
    s = world()
    c = s.client
    assert c.get("/api/v1/sharing/cases/999999/offers").status_code == 404
    for body in ({}, {"material_id": "x", "offer": "c1"}, {"material_id": s.material.pk, "offer": "zz"},
                 {"material_id": s.material.pk, "offer": "c99999999"}, {"material_id": 99999, "offer": f"c{s.certificate.pk}"},
                 {"material_id": s.material.pk, "offer": f"c{s.certificate.pk}", "purpose": "x" * 400},
                 {"material_id": s.material.pk, "offer": "p\x00"}):
        r = c.post(f"/api/v1/sharing/cases/{s.case.pk}/consents", body, content_type="application/json")
        assert 400 <= r.status_code < 500, (body, r.status_code, r.content)
    assert c.post("/api/v1/sharing/cases/999999/consents", {"material_id": 1, "offer": "c1"}, content_type="application/json").status_code == 404
    assert c.post("/api/v1/sharing/consents/999999/attach", {}, content_type="application/json").status_code == 404
    assert c.post("/api/v1/sharing/consents/999999/withdraw", {}, content_type="application/json").status_code == 404
    assert c.get("/api/v1/sharing/prefill/NOPE").status_code == 404
    assert c.post(f"/api/v1/sharing/cases/{s.case.pk}/consents", "not json", content_type="application/json").status_code in (400, 422)
    # Anonymous and staff callers are refused.
    from django.test import Client

    assert Client().get(f"/api/v1/sharing/cases/{s.case.pk}/offers").status_code in (401, 403)
    assert s.w.clerk_client.get(f"/api/v1/sharing/cases/{s.case.pk}/offers").status_code == 403


@pytest.mark.django_db
def test_api_withdraw_and_my_log(world):
    s = world()
    r = s.client.post(f"/api/v1/sharing/cases/{s.case.pk}/consents", {"material_id": s.material.pk, "offer": f"c{s.certificate.pk}"},
                      content_type="application/json")
    cid = r.json()["id"]
    r = s.client.post(f"/api/v1/sharing/consents/{cid}/withdraw", {}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert s.client.post(f"/api/v1/sharing/consents/{cid}/withdraw", {}, content_type="application/json").status_code == 409
    r = s.client.get("/api/v1/sharing/my/log")
    assert r.status_code == 200 and isinstance(r.json()["items"], list)


@pytest.mark.django_db
def test_staff_case_include_shows_verified_certificate(world, staff_factory):
    from django.template import Context, Template
    from django.test import RequestFactory

    from tongban.sharing import consent, using

    s = world()
    using.attach(s.applicant, s.case, consent.give(s.applicant, s.case, s.material, s.certificate, ""))
    template = Template("{% load sharing_tags %}{% used_evidence case %}")

    def render(user):
        request = RequestFactory().get("/")
        request.user = user
        return template.render(Context({"case": s.case, "request": request}))

    html = render(s.w.approver)
    assert "已核验" in html and s.certificate.identifier in html and "身份证明" in html
    outsider, _ = staff_factory("approver", "330100", make_department("330100"))
    assert s.certificate.identifier not in render(outsider)


@pytest.mark.django_db
def test_remote_issuer_request_release_and_tampered_release(world):
    """In one process: the issuer's region served by a peer node B. Attaching sends an evidence request
    (nothing attached yet); B's release (simulated with the same signed record) attaches it; a release
    whose data was changed on the way is refused and logged."""
    from tongban.cases import services as cases
    from tongban.certificates import canonical, rendering
    from tongban.exchange import service as exchange
    from tongban.exchange import signing
    from tongban.exchange.models import OutboxMessage
    from tongban.sharing import consent, exchange_evidence, using
    from tongban.sharing.models import AccessLog, EvidenceRequest

    s = world()
    exchange.self_node()
    key = signing.generate_key("ed25519")
    exchange.register_peer({"node_id": "B", "name": "节点B", "base_url": "http://127.0.0.1:9", "regions": ["110000"],
                            "keys": [{"key_id": key["key_id"], "algorithm": "ed25519", "public_key": key["public_key"]}]})
    assert using.is_remote(s.certificate)

    def request_one():
        case = s.case if not s.case.materials.exists() else cases.create_draft(s.applicant, s.w.impl.implementation_code)
        er = using.attach(s.applicant, case, consent.give(s.applicant, case, s.material, s.certificate, ""))
        assert isinstance(er, EvidenceRequest) and er.status == "requested" and not case.materials.exists()
        out = OutboxMessage.objects.get(receiver="B", type="evidence_request", payload__uid=str(er.uid))
        assert out.payload["consent"]["id"] and out.payload["identifier"] == s.certificate.identifier
        return case, er

    def release(er, data):
        blob = rendering.pdf_blob(s.certificate)
        payload = {"uid": str(er.uid), "head": canonical.head(s.certificate), "signature": s.certificate.signature, "data": data, "pdf": blob.sha256,
                   "file_name": "户口簿.pdf", "issuer_key": {"key_id": s.certificate.key_id, "algorithm": s.certificate.algorithm, "public_key": ""}}
        msg = exchange.Message(sender="B", type="evidence_release", payload=payload, message_id="m", created_at=timezone.now(), stream="x", seq=1,
                               blobs=[blob.sha256])
        exchange_evidence.receive_release(msg)
        er.refresh_from_db()
        return er

    case, er = request_one()
    assert "已向发证地（节点B）请求电子证照" in s.client.get(f"/my/cases/{case.pk}/").content.decode()
    er = release(er, dict(s.certificate.data))
    assert er.status == "released" and case.materials.get().how == "reuse"
    assert case.used_evidence.get().verification["note"] == "发证密钥与本节点登记的一致"
    case2, er2 = request_one()
    er2 = release(er2, {**s.certificate.data, "household_no": "FORGED"})
    assert er2.status == "failed" and "摘要" in er2.reason and not case2.materials.exists()
    assert AccessLog.objects.filter(action="use", outcome="refused", case_uid=str(case2.uid)).exists()
    assert release(er2, dict(s.certificate.data)).status == "failed"  # answered once: a late duplicate changes nothing


@pytest.mark.django_db
def test_supplement_asks_for_a_material_and_the_certificate_answers_it(world):
    """补正 with 免提交: the supplement notice offers the applicant's certificate for the asked material; once used
    (verified, under consent) it is that material of the second round and the case can be resubmitted."""
    from tongban.cases import services as cases

    s = world()
    w = s.w
    for m in w.materials:
        cases.add_material(s.applicant.user, s.case.pk, m.pk, upload(f"{m.name}.pdf", PDF_BYTES + m.name.encode()))
    case = cases.submit(s.applicant.user, s.case.pk, None)
    other = next(m for m in w.materials if m.pk != s.material.pk)
    w.act(case, "request_supplement", w.clerk, items=[{"material_id": s.material.pk, "problem": "复印件不清晰"},
                                                       {"material_id": other.pk, "problem": "缺少签字"}])
    page = s.client.get(f"/my/cases/{case.pk}/").content.decode()
    consent_url = f"/my/evidence/consent/{case.pk}/{s.material.pk}/"
    assert "复印件不清晰" in page and "使用我的电子证照" in page and consent_url in page
    assert f"/my/evidence/consent/{case.pk}/{other.pk}/" not in page  # no certificate stands for the other one
    assert s.client.post(consent_url, {"offer": f"c{s.certificate.pk}", "agree": "yes"}).status_code == 302
    page = s.client.get(f"/my/cases/{case.pk}/").content.decode()
    assert "已使用电子证照（已核验）" in page and s.certificate.identifier in page and consent_url not in page
    reused = case.materials.get(how="reuse")
    assert reused.material_id == s.material.pk and reused.round == 2
    # The other asked material still needs a file; with it the case goes back to the department.
    r = s.client.post(f"/my/cases/{case.pk}/", {"action": "resubmit"})
    assert r.status_code == 422 and other.name in r.content.decode()
    r = s.client.post(f"/my/cases/{case.pk}/", {"action": "resubmit", f"material_{other.pk}": upload("签字版.pdf", PDF_BYTES + b"v2")})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == "submitted"
    current = {m.material_id: m for m in cases.current_materials(case)}
    assert current[s.material.pk].how == "reuse" and current[other.pk].file_name == "签字版.pdf"
