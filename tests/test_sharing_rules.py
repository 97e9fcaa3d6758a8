"""Sharing rules: demand → grant → allowed → revoke → denied (deny by default), refusals, supervisors'
view of unmet demands, staff reading a certificate only with a case as basis (refusals logged), offers
respecting grants, prefill from certificates and base data (logged once per draft), and the workbench
pages with their bad input."""

import datetime

import pytest

from tests.conftest import make_department
from tests.test_sharing_consent import world  # noqa: F401  (fixture)
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError


def _provider_admin(s, staff_factory):
    return staff_factory("catalog_admin", "110105", s.issuer)


@pytest.mark.django_db
def test_demand_grant_allowed_revoke_denied(world, staff_factory):  # noqa: F811
    from tongban.sharing import demands, evidence, grants
    from tongban.sharing.models import ShareDemand

    s = world(grant=False)
    item_code = s.w.item.basic_code
    assert not grants.allowed(s.w.department, s.service, item_code)  # deny by default
    assert evidence.offers(s.case) == []
    demand = demands.declare(s.w.approver, s.w.department, s.service, purpose="核验申请人户籍", item_codes=[item_code], fields=["household_no"])
    assert demand.status == ShareDemand.OPEN
    with pytest.raises(DomainError) as exc:  # one open demand per department and service
        demands.declare(s.w.approver, s.w.department, s.service, purpose="再次", item_codes=[item_code])
    assert exc.value.status == 409
    # Only the provider's catalogue administrator grants.
    with pytest.raises(PermissionDenied):
        grants.grant(s.w.approver, s.service, s.w.department, demand=demand)
    admin, _client = _provider_admin(s, staff_factory)
    g = grants.grant(admin, s.service, s.w.department, demand=demand, valid_until=(datetime.date.today() + datetime.timedelta(days=30)).isoformat())
    demand.refresh_from_db()
    assert demand.status == ShareDemand.MET and g.item_codes == [item_code]
    assert grants.allowed(s.w.department, s.service, item_code)
    assert not grants.allowed(s.w.department, s.service, "000000000000")  # limited to the demand's items
    assert not grants.allowed(make_department("371327"), s.service, item_code)  # per consumer
    assert [o.certificate.pk for o in evidence.offers(s.case)] == [s.certificate.pk]
    grants.revoke(admin, g, "测试撤销")
    assert not grants.allowed(s.w.department, s.service, item_code)
    assert evidence.offers(s.case) == []
    demand.refresh_from_db()
    assert demand.status == ShareDemand.OPEN  # unmet again
    with pytest.raises(DomainError):
        grants.revoke(admin, g)


@pytest.mark.django_db
def test_grant_bad_input_and_expiry(world, staff_factory):  # noqa: F811
    from tongban.sharing import grants
    from tongban.sharing.models import ShareGrant

    s = world(grant=False)
    admin, _ = _provider_admin(s, staff_factory)
    for kwargs in ({"item_codes": ["BAD"]}, {"valid_until": "2020-01-01"}, {"valid_until": "not a date"}, {"item_codes": 5}):
        with pytest.raises(DomainError) as exc:
            grants.grant(admin, s.service, s.w.department, **kwargs)
        assert exc.value.status == 422
    g = grants.grant(admin, s.service, s.w.department)
    with pytest.raises(DomainError) as exc:
        grants.grant(admin, s.service, s.w.department)
    assert exc.value.status == 409
    ShareGrant.objects.filter(pk=g.pk).update(valid_until=datetime.date.today() - datetime.timedelta(days=1))
    assert not grants.allowed(s.w.department, s.service, s.w.item.basic_code)


@pytest.mark.django_db
def test_refuse_and_supervisor_sees_unmet(world, staff_factory):  # noqa: F811
    from tongban.sharing import demands, grants
    from tongban.sharing.models import ShareDemand

    s = world(grant=False)
    admin, admin_client = _provider_admin(s, staff_factory)
    demand = demands.declare(s.w.approver, s.w.department, s.service, purpose="核验户籍", item_codes=[s.w.item.basic_code])
    with pytest.raises(DomainError):
        grants.refuse(admin, demand, "")
    grants.refuse(admin, demand, "该数据涉及个人隐私，暂不共享")
    demand.refresh_from_db()
    assert demand.status == ShareDemand.REFUSED
    supervisor, sup_client = staff_factory("supervisor", "371327")
    assert [d.pk for d in demands.unmet(supervisor)] == [demand.pk]
    page = sup_client.get("/workbench/sharing/unmet/")
    assert page.status_code == 200 and s.w.department.name in page.content.decode() and "天" in page.content.decode()
    # A supervisor of another region does not see it.
    other, other_client = staff_factory("supervisor", "330100")
    assert demands.unmet(other) == []
    # The page is for supervisors only.
    assert s.w.clerk_client.get("/workbench/sharing/unmet/").status_code == 403


@pytest.mark.django_db
def test_staff_access_needs_case_basis_and_grant(world, staff_factory):  # noqa: F811
    from tongban.sharing import grants
    from tongban.sharing.models import AccessLog

    s = world()
    with pytest.raises(PermissionDenied) as exc:
        grants.staff_access(s.w.approver, s.certificate, None, "查看")
    assert exc.value.message == "查看证照须有办件依据"
    refused = AccessLog.objects.filter(action="view", outcome="refused", identifier=s.certificate.identifier)
    assert refused.count() == 1
    # With the applicant's case (readable by the approver) and the department's grant: allowed and logged.
    grants.staff_access(s.w.approver, s.certificate, s.case, "审查材料")
    assert AccessLog.objects.filter(action="view", outcome="granted", identifier=s.certificate.identifier, case_uid=str(s.case.uid)).exists()
    # Page: without a case 403; with it 200.
    r = s.w.approver_client.get(f"/workbench/sharing/certificates/{s.certificate.pk}/")
    assert r.status_code == 403 and "查看证照须有办件依据" in r.content.decode()
    r = s.w.approver_client.get(f"/workbench/sharing/certificates/{s.certificate.pk}/?case={s.case.pk}")
    assert r.status_code == 200 and s.certificate.identifier in r.content.decode()
    assert s.w.approver_client.get("/workbench/sharing/certificates/99999999/").status_code == 404
    assert s.w.approver_client.get(f"/workbench/sharing/certificates/{s.certificate.pk}/?case=abc").status_code == 403
    # Another region's staff cannot use a case they cannot read.
    stranger, _ = staff_factory("approver", "330100", make_department("330100"))
    with pytest.raises(PermissionDenied):
        grants.staff_access(stranger, s.certificate, s.case, "查看")


@pytest.mark.django_db
def test_staff_access_without_grant_refused(world):  # noqa: F811
    from tongban.sharing import grants
    from tongban.sharing.models import AccessLog

    s = world(grant=False)
    with pytest.raises(PermissionDenied):
        grants.staff_access(s.w.approver, s.certificate, s.case, "审查材料")
    row = AccessLog.objects.filter(action="view", outcome="refused").order_by("-seq").first()
    assert row.reason == "本部门未获得该证照的共享授权" and row.case_uid == str(s.case.uid)


@pytest.mark.django_db
def test_prefill_from_certificate_and_base_data_logged_once(world, settings):  # noqa: F811
    from tongban.catalog.models import ApplicationForm
    from tongban.sharing import using
    from tongban.sharing.models import AccessLog, BaseRecord, DataService, ShareGrant, UsedEvidence

    s = world()
    ApplicationForm.objects.create(version=s.w.version, fields=[
        {"key": "name", "label": "申请人姓名", "type": "text"},
        {"key": "household_no", "label": "户号", "type": "text"},
        {"key": "insured_unit", "label": "参保单位", "type": "text"},
        {"key": "reason", "label": "申请事由", "type": "text"},
    ])
    hr = make_department("110105", "北京市朝阳区人社局（测试）")
    BaseRecord.objects.create(kind="social_insurance", subject_code=s.applicant.id_number, subject_name=s.applicant.name, provider=hr,
                              region_path=hr.region.path, data={"insured_unit": "北京演示科技有限公司", "months": "120"})
    svc = DataService.objects.create(code="svc-si-test", name="社会保险参保信息", provider=hr, region_path=hr.region.path, source=DataService.BASE_DATA,
                                     base_kind="social_insurance", fields=[{"key": "insured_unit", "label": "参保单位"}])
    version = s.w.version
    details = using.prefill_details(s.applicant, version, s.w.department)
    assert details["name"][0] == s.applicant.name and details["name"][1].kind == "account"
    assert details["household_no"][0] == s.certificate.data["household_no"] and details["household_no"][1].kind == "certificate"
    assert "insured_unit" not in details  # no grant of the base-data service: not prefilled
    ShareGrant.objects.create(service=svc, consumer=s.w.department, provider_region_path=hr.region.path)
    values = using.prefill(s.applicant, version, s.w.department)
    assert values["insured_unit"] == "北京演示科技有限公司" and "reason" not in values
    # The apply page shows them with the note; saving the draft logs each kept value once.
    page = s.client.get(f"/apply/{s.w.impl.implementation_code}/")
    body = page.content.decode()
    assert page.status_code == 200 and "以下内容来自您的电子证照/基础数据" in body and "北京演示科技有限公司" in body
    before = AccessLog.objects.filter(action="prefill").count()
    r = s.client.post(f"/apply/{s.w.impl.implementation_code}/", {
        "action": "save", "f_name": s.applicant.name, "f_household_no": s.certificate.data["household_no"], "f_insured_unit": "改过的单位", "f_reason": "x"})
    assert r.status_code == 302, r.content.decode()[:500]
    logged = AccessLog.objects.filter(action="prefill").order_by("seq")[before:]
    assert [row.identifier for row in logged] == [s.certificate.identifier]  # the edited value is not counted as used
    case_id = int(r["Location"].rstrip("/").split("/")[-1])
    used = UsedEvidence.objects.get(case_id=case_id, use="prefill")
    assert used.fields == ["household_no"] and used.consent.status == "used"
    s.client.get(f"/my/cases/{case_id}/")  # viewing the draft logs nothing more
    assert AccessLog.objects.filter(action="prefill").count() == before + 1
    api = s.client.get(f"/api/v1/sharing/prefill/{s.w.impl.implementation_code}").json()
    assert api["values"]["household_no"] == s.certificate.data["household_no"] and "居民户口簿" in api["sources"]["household_no"]
    assert api["values"]["insured_unit"] == "北京演示科技有限公司"


@pytest.mark.django_db
def test_workbench_pages_and_bad_input(world, staff_factory):  # noqa: F811
    from tongban.sharing.models import ShareDemand, ShareGrant

    s = world(grant=False)
    c = s.w.approver_client
    page = c.get("/workbench/sharing/")
    assert page.status_code == 200 and "登记共享需求" in page.content.decode()
    for body in ({}, {"consumer": "x", "service": s.service.pk}, {"consumer": s.w.department.pk, "service": "999999", "purpose": "p", "item_codes": s.w.item.basic_code},
                 {"consumer": s.w.department.pk, "service": s.service.pk, "purpose": "", "item_codes": s.w.item.basic_code},
                 {"consumer": s.w.department.pk, "service": s.service.pk, "purpose": "p", "item_codes": "bad"},
                 {"consumer": s.w.department.pk, "service": s.service.pk, "purpose": "p\x00", "item_codes": s.w.item.basic_code}):
        r = c.post("/workbench/sharing/demands/", body)
        assert r.status_code == 422 and "alert-error" in r.content.decode(), body
    assert not ShareDemand.objects.exists()
    r = c.post("/workbench/sharing/demands/", {"consumer": s.w.department.pk, "service": s.service.pk, "purpose": "核验户籍", "item_codes": s.w.item.basic_code})
    assert r.status_code == 302
    demand = ShareDemand.objects.get()
    admin, admin_client = _provider_admin(s, staff_factory)
    assert "待本部门答复" in admin_client.get("/workbench/sharing/").content.decode()
    assert c.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "grant"}).status_code == 403
    assert not ShareGrant.objects.exists()  # the consumer cannot grant itself
    assert admin_client.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "bogus"}).status_code == 422
    assert admin_client.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "grant", "valid_until": "nonsense"}).status_code == 422
    assert admin_client.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "refuse", "answer": ""}).status_code == 422
    assert not ShareGrant.objects.exists()
    assert admin_client.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "grant"}).status_code == 302
    g = ShareGrant.objects.get()
    assert admin_client.post("/workbench/sharing/demands/99999/answer/", {"decision": "grant"}).status_code == 404
    assert admin_client.post(f"/workbench/sharing/demands/{demand.pk}/answer/", {"decision": "grant"}).status_code == 409
    assert c.post(f"/workbench/sharing/grants/{g.pk}/revoke/", {}).status_code == 403
    g.refresh_from_db()
    assert g.revoked_at is None  # only the provider revokes
    assert admin_client.post(f"/workbench/sharing/grants/{g.pk}/revoke/", {"reason": "到期"}).status_code == 302
    g.refresh_from_db()
    assert g.revoked_at is not None
    assert admin_client.post(f"/workbench/sharing/grants/{g.pk}/revoke/", {}).status_code == 409
    assert admin_client.post("/workbench/sharing/grants/99999/revoke/", {}).status_code == 404
    # Traditional Chinese rendering works.
    assert c.get("/workbench/sharing/?script=hant").status_code == 200
