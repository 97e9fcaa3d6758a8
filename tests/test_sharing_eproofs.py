"""E-proofs issued from base data: from the record's provider with the record's data, valid three months
(or the type's rule), logged; no record → 404; the holder's page; an e-proof offered for a material and
attached under consent (issued, verified, stored)."""

import datetime

import pytest

from tests.conftest import make_department
from tests.test_sharing_consent import world  # noqa: F401  (fixture)
from tongban.core.codes import make_uscc
from tongban.core.errors import DomainError


def _proof_world(s, rule=""):
    from tongban.certificates.models import CertificateType, Template
    from tongban.directory.models import Region
    from tongban.sharing.models import BaseRecord, DataService, ShareGrant

    hr = make_department("110105", f"北京市朝阳区社会保险事业管理中心{s.issuer.pk}")
    ptype = CertificateType.objects.create(
        code=make_uscc("11", "100000", f"{90000000 + s.issuer.pk:08d}") + "002", name="社会保险参保证明", ministry_name="人力资源和社会保障部",
        region=Region.objects.get(code="000000"), template=Template.PROOF, proof_source="social_insurance", validity_rule=rule,
        fields=[{"key": "insured_unit", "label": "参保单位", "type": "text", "required": True},
                {"key": "months", "label": "累计缴费月数", "type": "number", "required": False}],
        stands_for=["社会保险参保证明", "申请书"])
    ptype.issuing_departments.add(hr)
    record = BaseRecord.objects.create(kind="social_insurance", subject_code=s.applicant.id_number, subject_name=s.applicant.name, provider=hr,
                                       region_path=hr.region.path, data={"insured_unit": "北京演示科技有限公司", "months": "120", "internal": "x"})
    service = DataService.objects.create(code=f"svc-si-{hr.pk}", name="社会保险参保信息", provider=hr, region_path=hr.region.path,
                                         source=DataService.BASE_DATA, base_kind="social_insurance",
                                         fields=[{"key": "insured_unit", "label": "参保单位"}, {"key": "months", "label": "累计缴费月数"}])
    ShareGrant.objects.create(service=service, consumer=s.w.department, provider_region_path=hr.region.path)
    return hr, ptype, record, service


@pytest.mark.django_db
def test_issue_proof_from_base_data(world):  # noqa: F811
    from tongban.certificates import verifying
    from tongban.sharing import eproofs
    from tongban.sharing.models import AccessLog

    s = world()
    hr, ptype, record, _service = _proof_world(s)
    cert = eproofs.issue_proof(s.applicant, "social_insurance")
    assert cert.type == ptype and cert.issuer == hr and cert.source == "base_data" and cert.holder == s.applicant
    assert cert.data == {"insured_unit": "北京演示科技有限公司", "months": "120"}  # only the type's fields
    today = datetime.date.today()
    assert (cert.valid_until - today).days in range(89, 93)
    assert verifying.verify_certificate(cert).status == "valid"
    assert AccessLog.objects.filter(action="issue", identifier=cert.identifier, outcome="granted").exists()
    with pytest.raises(DomainError) as exc:
        eproofs.issue_proof(s.applicant, "housing_fund")  # no proof type / no record
    assert exc.value.status == 404
    with pytest.raises(DomainError) as exc:
        eproofs.issue_proof(s.applicant, "nonsense")
    assert exc.value.status == 422


@pytest.mark.django_db
def test_no_record_is_404_and_type_rule(world):  # noqa: F811
    from tests.conftest import make_applicant
    from tongban.sharing import eproofs

    s = world()
    _proof_world(s, rule="6个月")
    with pytest.raises(DomainError) as exc:
        eproofs.issue_proof(make_applicant("无记录"), "social_insurance")
    assert exc.value.status == 404 and exc.value.message == "未查到您的参保/缴存记录"
    cert = eproofs.issue_proof(s.applicant, "social_insurance")
    assert (cert.valid_until - datetime.date.today()).days in range(180, 185)


@pytest.mark.django_db
def test_proofs_page(world):  # noqa: F811
    from tongban.certificates.models import Certificate

    s = world()
    _proof_world(s)
    page = s.client.get("/my/evidence/proofs/")
    assert page.status_code == 200 and "社会保险参保证明" in page.content.decode() and "开具电子证明" in page.content.decode()
    r = s.client.post("/my/evidence/proofs/", {"kind": "social_insurance"})
    assert r.status_code == 302
    assert Certificate.objects.filter(holder=s.applicant, source="base_data").count() == 1
    assert s.client.post("/my/evidence/proofs/", {"kind": "housing_fund"}).status_code == 404
    assert s.client.post("/my/evidence/proofs/", {"kind": "x" * 500}).status_code == 422


@pytest.mark.django_db
def test_eproof_offered_and_attached_under_consent(world):  # noqa: F811
    from tongban.sharing import consent, evidence, using
    from tongban.sharing.models import UsedEvidence

    s = world()
    _hr, ptype, _record, service = _proof_world(s)
    application = next(m for m in s.w.materials if m.name == "申请书")
    offers = [o for o in evidence.offers(s.case) if o.material.pk == application.pk]
    assert [(o.kind, o.service.pk) for o in offers] == [("proof", service.pk)]
    assert ("参保单位", "北京演示科技有限公司") in offers[0].preview
    c = consent.give(s.applicant, s.case, application, service, "")
    cm = using.attach(s.applicant, s.case, c)
    used = UsedEvidence.objects.get(case_material=cm)
    assert used.certificate.type == ptype and used.certificate.case_id == s.case.pk and used.verification["status"] == "valid"
    # Through the consent page as well (a fresh e-proof each time).
    r = s.client.post(f"/my/evidence/consent/{s.case.pk}/{application.pk}/", {"offer": f"p{service.pk}", "agree": "yes"})
    assert r.status_code == 302
    assert s.case.materials.filter(how="reuse", material=application).count() == 2


@pytest.mark.django_db
def test_proofs_page_rate_limited(world, settings):  # noqa: F811
    s = world()
    _proof_world(s)
    settings.TONGBAN_EPROOF_PER_HOUR = 1
    assert s.client.post("/my/evidence/proofs/", {"kind": "social_insurance"}).status_code == 302
    r = s.client.post("/my/evidence/proofs/", {"kind": "social_insurance"})
    assert r.status_code == 429 and "过于频繁" in r.content.decode()
