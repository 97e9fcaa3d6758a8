"""一件事 API: the public 服务清单 and guide, one multipart application (idempotent), the lead window's
intake and unified delivery, the applicant's single timeline, Chinese 4xx answers for bad input —
and the demo applications built on the real demo bundles."""

import json

import pytest

from tests.bundle_fixtures import SHARED_MATERIAL, BundleWorld
from tests.conftest import PDF_BYTES, verified_client
from tongban.bundles.models import BundleCase, BundleStatus
from tongban.cases.models import Case, CaseMaterial, Message
from tongban.cases.models import Status as S

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle_world(staff_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: BundleWorld(staff_factory, **kw)
CSRF = {"HTTP_X_CSRFTOKEN": "x"}


def _post_application(client, w, data, files=None, key=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"data": json.dumps(data, ensure_ascii=False)}
    for gkey, content in (files if files is not None else {g["key"]: PDF_BYTES + g["name"].encode() for g in w.version.material_groups}).items():
        body[f"material_{gkey}"] = SimpleUploadedFile(f"{gkey}.pdf", content, content_type="application/pdf")
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/bundles/{w.code}/applications", body, **headers)


def test_public_list_and_guide(bundle_world, client):
    w = bundle_world(items=3, market_services=("银行开户",))
    r = client.get("/api/v1/bundles/")
    assert r.status_code == 200
    row = next(b for b in r.json() if b["code"] == w.code)
    assert row["item_count"] == 3 and row["lead_department"] == w.lead.name
    r = client.get(f"/api/v1/bundles/{w.code}")
    assert r.status_code == 200
    guide = r.json()
    assert [e["department"] for e in guide["entries"]] == [d.name for d in w.departments]
    assert sorted(guide["cooperating_departments"]) == sorted(d.name for d in w.departments[1:])
    assert [f["key"] for f in guide["form_fields"]].count("id_number") == 1
    shared = next(g for g in guide["material_groups"] if g["name"] == SHARED_MATERIAL)
    assert shared["original_check"] and len(shared["items"]) == 3
    assert guide["market_services"][0]["name"] == "银行开户" and "bpmn" in guide["bpmn_xml"].lower()
    r = client.get("/api/v1/bundles/NO-SUCH-CODE")
    assert r.status_code == 404 and "一件事" in r.json()["detail"]


def test_apply_through_the_api_is_idempotent_and_atomic(bundle_world):
    w = bundle_world(items=2)
    data = {"form": w.form(), "delivery_method": "mail", "delivery_address": "莒南县十字路街道1号", "submit": True}
    before = (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count())
    r = _post_application(w.client, w, dict(data, form=w.form(id_number="110105")), key="k-bad")
    assert r.status_code == 422 and "申请人公民身份号码" in r.json()["detail"]
    r = _post_application(w.client, w, data, files={}, key="k-empty")
    assert r.status_code == 422 and "请上传必要材料" in r.json()["detail"]
    r = w.client.post(f"/api/v1/bundles/{w.code}/applications", {"data": "{not json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    assert (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count()) == before
    r = _post_application(w.client, w, data, key="k-1")
    assert r.status_code == 201, r.content.decode()
    body = r.json()
    assert body["status"] == "submitted" and len(body["children"]) == 2
    assert body["applicant_code"] != w.applicant.id_number and "*" in body["applicant_code"]  # masked
    again = _post_application(w.client, w, data, key="k-1")
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    token = _post_application(w.client, w, dict(data, token="tok-x"), key="k-2")
    token_again = _post_application(w.client, w, dict(data, token="tok-x"), key="k-3")
    assert token.json()["id"] == token_again.json()["id"]
    assert BundleCase.objects.count() == before[0] + 2


def test_staff_flow_through_the_api(bundle_world, staff_factory):
    w = bundle_world(items=2)
    parent = w.apply()
    shared = w.group(SHARED_MATERIAL)["key"]
    # Another county's clerk: 404, not a hint that the case exists.
    _outsider, outsider_client = staff_factory("clerk", "371321")
    assert outsider_client.get(f"/api/v1/bundles/cases/{parent.pk}").status_code == 404
    assert outsider_client.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "refuse", "opinion": "x"},
                                content_type="application/json").status_code == 404
    # A cooperating department's approver reads the parent but cannot take the intake.
    approver_client = w.approver_clients[1]
    r = approver_client.get(f"/api/v1/bundles/cases/{parent.pk}")
    assert r.status_code == 200 and len(r.json()["children"]) == 2
    r = approver_client.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "accept", "identity_method": "id_reader",
                                                                           "originals_checked": [shared]}, content_type="application/json")
    assert r.status_code == 403 and "牵头部门" in r.json()["detail"]
    lead = w.lead_clerk_client
    r = lead.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "maybe"}, content_type="application/json")
    assert r.status_code == 422
    r = lead.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "accept", "identity_method": "id_reader", "originals_checked": [shared]},
                  content_type="application/json")
    assert r.status_code == 200, r.content.decode()
    body = r.json()
    assert body["status"] == "in_progress" and all(c["mutual_recognition"]["department"] == w.lead.name for c in body["children"])
    assert body["deadline"]["colour"] in ("green", "yellow") and body["due_date"]
    r = lead.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "accept", "identity_method": "id_reader", "originals_checked": [shared]},
                  content_type="application/json")
    assert r.status_code == 409
    for child in w.children(parent):
        w.approve(child)
    r = lead.post(f"/api/v1/bundles/cases/{parent.pk}/deliver", {"method": "pickup"}, content_type="application/json")
    assert r.status_code == 422 and "签收人" in r.json()["detail"]
    Message.objects.filter(recipient=w.applicant.user).delete()
    r = lead.post(f"/api/v1/bundles/cases/{parent.pk}/deliver", {"method": "pickup", "recipient": "王小明"}, content_type="application/json")
    assert r.status_code == 200, r.content.decode()
    body = r.json()
    assert body["status"] == "delivered" and all(c["status"] == S.DELIVERED for c in body["children"])
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1
    doc = next(d for d in body["documents"] if d["kind"] == "conclusion")
    pdf = w.client.get(doc["url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # The applicant's single timeline: the bundle's steps and each department's, in order.
    r = w.client.get(f"/api/v1/bundles/cases/{parent.pk}/timeline")
    assert r.status_code == 200
    rows = r.json()
    assert rows[0]["label"] == "提交申请" and rows[-1]["label"] == "统一出件"
    assert {row["department"] for row in rows if row["source"] == "case"} >= {d.name for d in w.departments}
    listing = w.client.get("/api/v1/bundles/cases").json()
    assert [i["id"] for i in listing["items"]] == [parent.pk]


def test_resubmit_and_withdraw_through_the_api(bundle_world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    w = bundle_world(items=2)
    parent = w.apply()
    shared = w.group(SHARED_MATERIAL)["key"]
    r = w.lead_clerk_client.post(f"/api/v1/bundles/cases/{parent.pk}/intake", {"decision": "supplement", "supplement_items": [
        {"group": shared, "problem": "照片不清晰"}]}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "supplement"
    r = w.client.post(f"/api/v1/bundles/cases/{parent.pk}/resubmit", {"material_g99": SimpleUploadedFile("x.pdf", PDF_BYTES)})
    assert r.status_code == 422
    r = w.client.post(f"/api/v1/bundles/cases/{parent.pk}/resubmit", {f"material_{shared}": SimpleUploadedFile("id.pdf", PDF_BYTES + b"v2")})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    r = w.client.post(f"/api/v1/bundles/cases/{parent.pk}/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert w.lead_clerk_client.post(f"/api/v1/bundles/cases/{parent.pk}/withdraw").status_code == 403


def test_appointment_and_market_service_through_the_api(bundle_world):
    w = bundle_world(items=2, market_services=("公章刻制",))
    service = w.version.market_services.get()
    parent = w.accept(w.apply(market_services=[service.pk]))
    children = w.children(parent)
    r = w.lead_clerk_client.post(f"/api/v1/bundles/cases/{parent.pk}/appointments", {
        "kind": "inspection", "scheduled_at": "2099-12-01T09:30:00+08:00", "place": "经营场所", "case_ids": [c.pk for c in children]},
        content_type="application/json")
    assert r.status_code == 201, r.content.decode()
    appointment = r.json()
    r = w.lead_clerk_client.post(f"/api/v1/bundles/cases/{parent.pk}/appointments", {
        "kind": "party", "scheduled_at": "2099-12-01T09:30:00+08:00", "place": "x", "case_ids": []}, content_type="application/json")
    assert r.status_code == 422
    r = verified_client(w.approvers[0]).post(f"/api/v1/bundles/appointments/{appointment['id']}/opinion", {"opinion": "符合"},
                                             content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    r = w.approver_clients[1].post(f"/api/v1/bundles/appointments/{appointment['id']}/opinion", {"opinion": "同意"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "held"
    r = w.lead_clerk_client.post(f"/api/v1/bundles/cases/{parent.pk}/market-requests/{service.pk}", {"status": "forwarded"},
                                 content_type="application/json")
    assert r.status_code == 200 and r.json()["market_requests"][0]["status"] == "forwarded"
    r = w.client.post(f"/api/v1/bundles/cases/{parent.pk}/market-requests/{service.pk}", {"status": "done"}, content_type="application/json")
    assert r.status_code == 403


def test_prefill_through_the_api(bundle_world):
    w = bundle_world(items=2)
    w.apply()
    r = w.client.get(f"/api/v1/bundles/{w.code}/prefill")
    assert r.status_code == 200 and r.json()["own_1"] == "own_1的内容"
    assert w.lead_clerk_client.get(f"/api/v1/bundles/{w.code}/prefill").status_code == 403


# --- the demo applications on the real demo bundles ---------------------------------------------

@pytest.fixture
def demo_loaded(settings, tmp_path):
    from tongban.demo.cases import load_case_demo
    from tongban.demo.loader import load_demo

    settings.MEDIA_ROOT = str(tmp_path / "media")
    load_demo()
    return load_case_demo()


def test_demo_bundle_cases(demo_loaded):
    from tongban.bundles.models import BundleVersion
    from tongban.demo.bundle_cases import load_bundle_case_demo

    if not BundleVersion.objects.filter(bundle__code="371327YJS001", status="published").exists():
        pytest.skip("演示一件事尚未发布")
    assert demo_loaded["bundle_cases"] == 2
    birth = BundleCase.objects.get(bundle_version__bundle__code="371327YJS001")
    assert birth.status == BundleStatus.IN_PROGRESS and birth.applicant.id_number == "11010519491231002X"
    statuses = [c.status for c in Case.objects.filter(bundle_case=birth).order_by("bundle_entry__seq")]
    assert statuses[0] == S.ACCEPTED and statuses.count(S.ACCEPTED) >= 1 and len(statuses) == 5
    restaurant = BundleCase.objects.get(bundle_version__bundle__code="371327YJS002")
    assert restaurant.status == BundleStatus.SUBMITTED and restaurant.applicant.kind == "legal"
    assert load_bundle_case_demo(demo_loaded["applicants"]) == 0  # idempotent
