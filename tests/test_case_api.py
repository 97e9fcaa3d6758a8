"""The case API: applicant and staff actions with the same rules as the pages, and bad input."""

import json

import pytest

from tests.conftest import PDF_BYTES, applicant_client, make_applicant, upload
from tongban.cases.models import Case, CaseEvent, CaseMaterial


def _apply(w, client=None, submit=True, files=None, key=None, **data):
    payload = {"implementation_code": w.impl.implementation_code, "submit": submit, **data}
    body = {"data": json.dumps(payload)}
    body.update(files if files is not None else {f"material_{m.pk}": upload(f"{m.name}.pdf", PDF_BYTES + m.name.encode()) for m in w.materials})
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return (client or w.client).post("/api/v1/cases/applications", body, **headers)


def _act(client, case_id, action, opinion="", **params):
    return client.post(f"/api/v1/cases/{case_id}/actions/{action}", {"opinion": opinion, "params": params}, content_type="application/json")


@pytest.mark.django_db
def test_apply_accept_approve_conclude_deliver_over_api(case_world):
    w = case_world()
    r = _apply(w)
    assert r.status_code == 201, r.content.decode()
    case = r.json()
    assert case["case_no"].startswith("371327-") and case["status"] == "submitted"
    assert case["applicant_code"].count("*") >= 8  # masked
    assert [d["kind"] for d in case["documents"]] == ["receipt"]
    cid = case["id"]
    assert _act(w.clerk_client, cid, "accept").json()["status"] == "accepted"
    r = _act(w.approver_client, cid, "approve", "材料齐全，符合条件")
    assert r.json()["status"] == "approved"
    assert _act(w.approver_client, cid, "conclude").json()["status"] == "concluded"
    r = _act(w.clerk_client, cid, "deliver", method="mail", courier="EMS", tracking_no="EA123456789CN")
    assert r.json()["status"] == "delivered"
    events = w.client.get(f"/api/v1/cases/{cid}/events").json()
    assert [e["label"] for e in events] == ["收件", "受理", "准予许可", "办结", "送达"]
    record = w.clerk_client.get(f"/api/v1/cases/{cid}/exchange-record")
    assert record.status_code == 200 and "up_pro_accept" in record.json()
    assert w.client.get(f"/api/v1/cases/{cid}/exchange-record").status_code == 403


@pytest.mark.django_db
def test_retried_submission_with_idempotency_key_creates_one_case(case_world):
    w = case_world()
    first = _apply(w, key="retry-1")
    second = _apply(w, key="retry-1")
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Case.objects.filter(applicant=w.applicant).count() == 1


@pytest.mark.django_db
def test_submitting_a_draft_twice_with_one_token_gives_one_case(case_world):
    w = case_world()
    draft = _apply(w, submit=False).json()
    one = w.client.post(f"/api/v1/cases/{draft['id']}/submit", {"token": "t-1"}, content_type="application/json")
    two = w.client.post(f"/api/v1/cases/{draft['id']}/submit", {"token": "t-1"}, content_type="application/json")
    assert one.status_code == two.status_code == 200
    assert one.json()["case_no"] == two.json()["case_no"]
    assert CaseEvent.objects.filter(case_id=draft["id"], action="submit").count() == 1
    again = w.client.post(f"/api/v1/cases/{draft['id']}/submit", {"token": "t-2"}, content_type="application/json")
    assert again.status_code == 409 and "不能收件" in again.json()["detail"]


@pytest.mark.django_db
def test_executable_renamed_pdf_is_refused_and_nothing_stored(case_world):
    w = case_world()
    files = {f"material_{w.materials[0].pk}": upload("申请书.pdf", b"MZ\x90\x00\x03" + b"\x00" * 100)}
    r = _apply(w, files=files)
    assert r.status_code == 415 and "不是PDF" in r.json()["detail"]
    assert not Case.objects.filter(applicant=w.applicant).exists()
    assert not CaseMaterial.objects.exists()


@pytest.mark.django_db
def test_oversized_file_is_refused(case_world, settings):
    settings.TONGBAN_MATERIAL_MAX_MB = 1
    w = case_world()
    files = {f"material_{w.materials[0].pk}": upload("大文件.pdf", PDF_BYTES + b"0" * (1024 * 1024 + 10))}
    r = _apply(w, files=files, submit=False)
    assert r.status_code == 413 and "超过大小上限1MB" in r.json()["detail"]
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_missing_required_material_is_refused_and_nothing_stored(case_world):
    w = case_world()
    files = {f"material_{w.materials[0].pk}": upload()}
    r = _apply(w, files=files)
    assert r.status_code == 422 and "身份证明" in r.json()["detail"]
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_same_file_is_stored_once(case_world):
    from tongban.core.models import StoredBlob

    w = case_world()
    same = PDF_BYTES + b"same"
    files = {f"material_{m.pk}": upload(f"{m.name}.pdf", same) for m in w.materials}
    assert _apply(w, files=files).status_code == 201
    assert CaseMaterial.objects.count() == 2
    assert StoredBlob.objects.filter(content_type="application/pdf", size=len(same)).count() == 1


@pytest.mark.django_db
def test_transition_not_allowed_and_case_of_another_applicant(case_world):
    w = case_world()
    cid = _apply(w).json()["id"]
    assert _act(w.clerk_client, cid, "refuse_intake", "不属于本机关职权范围").json()["status"] == "refused"
    r = _act(w.approver_client, cid, "approve")
    assert r.status_code == 409 and "不予受理" in r.json()["detail"]
    assert Case.objects.get(pk=cid).status == "refused"
    other = applicant_client(make_applicant("李四", phone="13900139000"))
    assert other.get(f"/api/v1/cases/{cid}").status_code == 404
    assert _act(other, cid, "withdraw").status_code == 404
    assert other.get("/api/v1/cases/").json()["total"] == 0


@pytest.mark.django_db
def test_refusal_needs_a_reason_and_clerk_cannot_approve(case_world):
    w = case_world()
    cid = _apply(w).json()["id"]
    r = _act(w.clerk_client, cid, "refuse_intake")
    assert r.status_code == 422 and "不予受理理由" in r.json()["detail"]
    _act(w.clerk_client, cid, "accept")
    r = _act(w.clerk_client, cid, "approve")
    assert r.status_code == 403 and "准予许可" in r.json()["detail"]


@pytest.mark.django_db
def test_invalid_id_number_in_form_is_refused(case_world):
    from tongban.catalog.models import ApplicationForm

    w = case_world()
    ApplicationForm.objects.create(version=w.version, fields=[
        {"key": "holder_id", "label": "持证人身份号码", "type": "id_number", "required": True},
        {"key": "company", "label": "单位信用代码", "type": "credit_code"},
    ])
    r = _apply(w, form={"holder_id": "110105194912310021"})
    assert r.status_code == 422 and "持证人身份号码" in r.json()["detail"] and "校验位" in r.json()["detail"]
    r = _apply(w, form={"holder_id": "11010519491231002X", "company": "91350100M000100Y4"})
    assert r.status_code == 422 and "单位信用代码" in r.json()["detail"]
    assert not Case.objects.exists()
    r = _apply(w, form={"holder_id": "11010519491231002x"})
    assert r.status_code == 201 and r.json()["form_data"]["holder_id"] == "11010519491231002X"


@pytest.mark.django_db
def test_public_tracking_shows_progress_only(case_world, client):
    w = case_world()
    case = _apply(w).json()
    tail = w.applicant.id_number[-6:]
    r = client.get("/api/v1/cases/track", {"case_no": case["case_no"], "tail": tail})
    assert r.status_code == 200
    body = r.content.decode()
    assert "收件" in body and w.applicant.id_number not in body and w.applicant.name not in body
    r = client.get("/api/v1/cases/track", {"case_no": case["case_no"], "tail": "000000"})
    assert r.status_code == 404 and "未查询到办件" in r.json()["detail"]


@pytest.mark.django_db
def test_issued_notice_downloads_as_pdf_with_embedded_font(case_world):
    w = case_world()
    case = _apply(w).json()
    doc = case["documents"][0]
    r = w.client.get(doc["url"])
    body = b"".join(r.streaming_content)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf" and body.startswith(b"%PDF-") and b"/FontFile2" in body
    assert w.clerk_client.get(doc["url"]).status_code == 200
    other = applicant_client(make_applicant("王五", phone="13700137000"))
    assert other.get(doc["url"]).status_code == 404


@pytest.mark.django_db
def test_idempotency_key_on_a_multipart_submission_with_csrf_checks(case_world):
    """Over real HTTP the CSRF check parses the multipart body before the idempotency key is looked at."""
    from django.test import Client

    w = case_world()
    client = Client(enforce_csrf_checks=True)
    client.force_login(w.applicant.user, backend="django.contrib.auth.backends.ModelBackend")
    client.get("/my/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    def post(material_bytes):
        body = {"data": json.dumps({"implementation_code": w.impl.implementation_code, "submit": True})}
        body.update({f"material_{m.pk}": upload(f"{m.name}.pdf", material_bytes + m.name.encode()) for m in w.materials})
        return client.post("/api/v1/cases/applications", body, HTTP_IDEMPOTENCY_KEY="k-multipart", HTTP_X_CSRFTOKEN=token)

    first, second = post(PDF_BYTES), post(PDF_BYTES)
    assert first.status_code == second.status_code == 201, first.content.decode()
    assert first.json()["id"] == second.json()["id"] and Case.objects.count() == 1
    changed = post(PDF_BYTES + b"other")
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["detail"]
