"""Administrators edit a draft version's application form and review process in the admin; bad
definitions are refused with Chinese messages; cases are read-only there and scoped."""

import pytest

from tests.conftest import make_item
from tongban.catalog.models import ItemVersion, ReviewProcess

pytestmark = pytest.mark.django_db


def _inline_post(version, form_fields, steps, source="generated", bpmn=""):
    data = {
        "name": version.name, "service_objects": "1", "conditions": "条件", "application_methods": "网上申报", "review_procedure": "受理—审核",
        "statutory_limit_days": "20", "promised_limit_days": "10", "legal_basis": "依据", "case_kind": "2", "power_source": "1", "fee_standard": "不收费",
        "materials-TOTAL_FORMS": "0", "materials-INITIAL_FORMS": "0",
        "application_form-TOTAL_FORMS": "1", "application_form-INITIAL_FORMS": "0", "application_form-0-fields": form_fields,
        "review_process-TOTAL_FORMS": "1", "review_process-INITIAL_FORMS": "0", "review_process-0-source": source,
        "review_process-0-steps": steps, "review_process-0-bpmn_xml": bpmn,
    }
    return data


def test_draft_version_form_and_process_in_admin(staff_factory):
    item = make_item("测试许可", "370100900000", region_code="370000", publish=False)
    version = item.versions.get()
    _, client = staff_factory("catalog_admin", "370000")
    url = f"/admin/catalog/itemversion/{version.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "网上申请表单" in page.content.decode() and "审查流程" in page.content.decode()
    bad = client.post(url, _inline_post(version, '[{"key": "Bad Key", "label": "x", "type": "text"}]', '[{"name": "审核", "role": "boss"}]'))
    body = bad.content.decode()
    assert bad.status_code == 200 and "小写字母开头" in body and "角色" in body
    assert not ReviewProcess.objects.filter(version=version).exists()
    ok = client.post(url, _inline_post(version, '[{"key": "reason", "label": "申请事由", "type": "text", "required": true}]',
                                       '[{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}]'))
    assert ok.status_code == 302, ok.content.decode()[:2000]
    rp = ReviewProcess.objects.get(version=version)
    assert "userTask" in rp.bpmn_xml and rp.steps[1]["name"] == "审批"
    # a new draft of the published version starts from copies of both
    from tongban.catalog import versioning

    ItemVersion.objects.filter(pk=version.pk).update(status=ItemVersion.PUBLISHED)
    user = ok.wsgi_request.user
    draft = versioning.create_draft(user, item)
    assert draft.application_form.fields[0]["key"] == "reason" and draft.review_process.bpmn_xml == rp.bpmn_xml


def test_cases_are_read_only_and_scoped_in_the_admin(case_world, staff_factory):
    w = case_world()
    case = w.submitted_case()
    _, admin_here = staff_factory("platform_admin", "371300")
    _, admin_elsewhere = staff_factory("platform_admin", "150000")
    listing = admin_here.get("/admin/cases/case/")
    assert listing.status_code == 200 and case.case_no in listing.content.decode()
    assert w.applicant.id_number not in listing.content.decode()
    assert case.case_no not in admin_elsewhere.get("/admin/cases/case/").content.decode()
    assert admin_elsewhere.get(f"/admin/cases/case/{case.pk}/change/").status_code in (302, 404)
    detail = admin_here.get(f"/admin/cases/case/{case.pk}/change/")
    assert detail.status_code == 200 and "收件" in detail.content.decode()
    assert admin_here.post(f"/admin/cases/case/{case.pk}/change/", {"status": "approved"}).status_code == 403
