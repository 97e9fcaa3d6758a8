"""Remote printing (异地打印) of electronic certificates, the staff pages and API, and the admin."""

import pytest
from django.urls import reverse

from tests.conftest import make_applicant, make_department, make_id_number
from tests.test_certificate_issuing import make_type
from tongban.certificates import issuing, printing
from tongban.certificates.models import Certificate, CertificateEvent, PrintRecord
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.directory.models import Hall, Membership, Region, Window
from tongban.sharing import access_log
from tongban.sharing.models import AccessLog


@pytest.fixture
def world(db, settings, tmp_path, staff_factory):
    settings.MEDIA_ROOT = tmp_path / "media"
    issuer = make_department("371327", "莒南县测试市场监督管理局")
    ctype = make_type(issuer, template="licence")
    holder = make_applicant("赵六", id_number=make_id_number("371327", "19850505"))
    cert = issuing.issue(ctype, issuer, {"name": holder.name, "code": holder.id_number, "code_type": "公民身份号码", "applicant": holder},
                         {"business_scope": "食品销售"})
    # a clerk far away, in 鄂尔多斯, at a window of a hall there
    far_dept = make_department("150602", "东胜区行政审批局")
    hall = Hall.objects.create(name="东胜区政务服务中心", kind=Hall.COUNTY_HALL, region=Region.objects.get(code="150602"), address="东胜区测试路1号")
    window = Window.objects.create(hall=hall, number="9", name="跨域通办", kind=Window.CROSS_REGION)
    clerk, clerk_client = staff_factory("clerk", "150602", far_dept)
    Membership.objects.filter(user=clerk).update(window=window)
    issuer_approver, issuer_client = staff_factory("approver", "371327", issuer)
    return {"issuer": issuer, "ctype": ctype, "holder": holder, "cert": cert, "window": window, "clerk": clerk, "clerk_client": clerk_client,
            "far_dept": far_dept, "issuer_approver": issuer_approver, "issuer_client": issuer_client, "staff_factory": staff_factory}


def test_remote_print_needs_both_codes_and_is_logged(world):
    w = world
    cert, clerk = w["cert"], w["clerk"]
    # the clerk cannot read this certificate in their own lists
    from tongban.core.authz import filter_queryset

    assert not filter_queryset(Certificate.objects.all(), clerk).exists()
    with pytest.raises(NotFound, match="未找到"):
        printing.lookup(clerk, cert.identifier, make_id_number())
    refused = AccessLog.objects.get(outcome=AccessLog.REFUSED)
    assert refused.holder_code == cert.holder_code and refused.action == "print" and refused.identifier == cert.identifier
    assert access_log.for_holder(cert.holder_code).filter(outcome=AccessLog.REFUSED).exists()
    found = printing.lookup(clerk, cert.identifier.lower(), cert.holder_code.lower())
    assert found.pk == cert.pk
    record, blob = printing.print_certificate(clerk, found, copies=2, reason="办理银行开户", holder_code=cert.holder_code)
    assert record.window == w["window"] and record.department == w["far_dept"] and record.copies == 2
    assert record.region_path == w["window"].hall.region.path and "东胜区政务服务中心 9号窗口" == record.place
    assert blob.content_type == "application/pdf"
    assert CertificateEvent.objects.filter(certificate=cert, action="print").count() == 1
    granted = AccessLog.objects.get(outcome=AccessLog.GRANTED)
    assert granted.identifier == cert.identifier and granted.actor == clerk
    assert access_log.verify() is None
    # the issuing department sees where its certificate was printed; the printer sees its own print
    assert list(filter_queryset(PrintRecord.objects.all(), w["issuer_approver"])) == [record]
    assert list(filter_queryset(PrintRecord.objects.all(), clerk)) == [record]
    other, _ = w["staff_factory"]("approver", "371302", make_department("371302"))
    assert not filter_queryset(PrintRecord.objects.all(), other).exists()


def test_unknown_identifier_and_malformed_input(world):
    w = world
    cert, clerk = w["cert"], w["clerk"]
    unknown = issuing.identifiers.make(w["ctype"].code, w["issuer"].credit_code, "209900000001", 1)
    code = make_id_number()
    with pytest.raises(NotFound):
        printing.lookup(clerk, unknown, code)
    assert AccessLog.objects.get().holder_code == code
    with pytest.raises(DomainError, match="校验位") as exc:
        printing.lookup(clerk, cert.identifier[:-1] + ("A" if cert.identifier[-1] != "A" else "B"), cert.holder_code)
    assert exc.value.status == 422
    with pytest.raises(DomainError, match="证件号码"):
        printing.lookup(clerk, cert.identifier, " ")


def test_only_valid_certificates_print_and_bad_copies(world):
    w = world
    cert, clerk = w["cert"], w["clerk"]
    for copies in (0, 11, "x"):
        with pytest.raises(DomainError, match="份数"):
            printing.print_certificate(clerk, cert, copies=copies, holder_code=cert.holder_code)
    issuing.revoke(cert, w["issuer_approver"], "违法经营")
    with pytest.raises(Conflict, match="已吊销"):
        printing.print_certificate(clerk, cert, holder_code=cert.holder_code)
    with pytest.raises(NotFound):
        printing.print_certificate(clerk, cert, holder_code=make_id_number())  # without the holder's code: not found
    assert not PrintRecord.objects.exists()


def test_printing_needs_a_clerk_at_a_window(world):
    w = world
    approver = w["issuer_approver"]
    with pytest.raises(PermissionDenied, match="窗口"):
        printing.lookup(approver, w["cert"].identifier, w["cert"].holder_code)
    with pytest.raises(PermissionDenied, match="不是该窗口"):
        printing.place_of(w["clerk"], window=Window.objects.create(hall=w["window"].hall, number="10", name="另一个窗口").pk)
    # a clerk of the issuing department at a window may print without the holder's code (they can read it)
    hall = Hall.objects.create(name="莒南县政务服务中心", kind=Hall.COUNTY_HALL, region=Region.objects.get(code="371327"), address="莒南县测试路")
    local, _ = w["staff_factory"]("clerk", "371327", w["issuer"])
    Membership.objects.filter(user=local).update(window=Window.objects.create(hall=hall, number="1", name="综合"))
    record, _blob = printing.print_certificate(local, w["cert"])
    assert record.place == "莒南县政务服务中心 1号窗口"
    with pytest.raises(NotFound):
        printing.print_certificate(w["clerk"], w["cert"])  # the far clerk cannot without the code


def test_lookups_are_rate_limited(world, settings):
    w = world
    for _ in range(printing.LOOKUP_LIMIT):
        with pytest.raises(NotFound):
            printing.lookup(w["clerk"], w["cert"].identifier, make_id_number())
    with pytest.raises(DomainError, match="次数过多") as exc:
        printing.lookup(w["clerk"], w["cert"].identifier, w["cert"].holder_code)
    assert exc.value.status == 429


def test_print_pages(world):
    w = world
    c, cert = w["clerk_client"], w["cert"]
    page = c.get(reverse("certificates_workbench:print"))
    assert page.status_code == 200 and "异地打印" in page.content.decode()
    wrong = c.post(reverse("certificates_workbench:print"), {"identifier": cert.identifier, "holder_code": make_id_number()})
    assert wrong.status_code == 404 and "未找到" in wrong.content.decode()
    found = c.post(reverse("certificates_workbench:print"), {"identifier": cert.identifier, "holder_code": cert.holder_code})
    body = found.content.decode()
    assert found.status_code == 200 and cert.number in body and f"<code>{cert.masked_holder_code}</code>" in body  # masked on screen
    pdf = c.post(reverse("certificates_workbench:print-do"), {"identifier": cert.identifier, "holder_code": cert.holder_code, "copies": "1"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and b"".join(pdf.streaming_content).startswith(b"%PDF-")
    assert PrintRecord.objects.count() == 1
    bad = c.post(reverse("certificates_workbench:print-do"), {"identifier": cert.identifier, "holder_code": cert.holder_code, "copies": "99"})
    assert bad.status_code == 422 and "份数" in bad.content.decode()
    no_window = w["issuer_client"].get(reverse("certificates_workbench:print"))
    assert no_window.status_code == 403
    assert c.get(reverse("certificates_workbench:print") + "?script=hant").status_code == 200


def test_staff_list_detail_change_and_revoke_pages(world):
    w = world
    c, cert = w["issuer_client"], w["cert"]
    listing = c.get(reverse("certificates_workbench:list"), {"q": "赵六"})
    body = listing.content.decode()
    assert listing.status_code == 200 and cert.number in body and cert.holder_code not in body and cert.masked_holder_code in body
    assert cert.number not in w["clerk_client"].get(reverse("certificates_workbench:list")).content.decode()
    assert w["clerk_client"].get(reverse("certificates_workbench:detail", args=[cert.pk])).status_code == 404
    detail = c.get(reverse("certificates_workbench:detail", args=[cert.pk]))
    assert detail.status_code == 200 and cert.identifier in detail.content.decode() and "变更原因" in detail.content.decode()
    assert c.get(reverse("certificates_workbench:pdf", args=[cert.pk]))["Content-Type"] == "application/pdf"
    refused = c.post(reverse("certificates_workbench:change", args=[cert.pk]), {"data_business_scope": "餐饮", "reason": ""})
    assert refused.status_code == 422 and "变更原因" in refused.content.decode()
    changed = c.post(reverse("certificates_workbench:change", args=[cert.pk]), {"data_business_scope": "餐饮服务", "reason": "范围变更"})
    new = Certificate.objects.get(supersedes=cert)
    assert changed.status_code == 302 and changed["Location"] == reverse("certificates_workbench:detail", args=[new.pk])
    again = c.post(reverse("certificates_workbench:revoke", args=[cert.pk]), {"reason": "x"})
    assert again.status_code == 409
    done = c.post(reverse("certificates_workbench:revoke", args=[new.pk]), {"reason": "申请注销", "kind": "cancel"})
    assert done.status_code == 302 and Certificate.objects.get(pk=new.pk).status == "cancelled"
    prints = c.get(reverse("certificates_workbench:prints"))
    assert prints.status_code == 200


def test_staff_api(world):
    w = world
    c, cert = w["issuer_client"], w["cert"]
    base = "/api/v1/certificates/staff"
    page = c.get(f"{base}/", {"q": cert.identifier}).json()
    assert page["total"] == 1 and page["items"][0]["holder_code"] == cert.masked_holder_code
    assert c.get(f"{base}/", {"status": "nonsense"}).status_code == 422
    assert w["clerk_client"].get(f"{base}/{cert.pk}").status_code == 404
    detail = c.get(f"{base}/{cert.pk}").json()
    assert detail["identifier"] == cert.identifier and detail["may_manage"] and detail["events"][0]["action"] == "issue"
    headers = {"HTTP_IDEMPOTENCY_KEY": "change-1"}
    first = c.post(f"{base}/{cert.pk}/change", {"data": {"business_scope": "餐饮"}, "reason": "变更"}, content_type="application/json", **headers)
    second = c.post(f"{base}/{cert.pk}/change", {"data": {"business_scope": "餐饮"}, "reason": "变更"}, content_type="application/json", **headers)
    assert first.status_code == 201 and second.status_code == 201 and first.json()["identifier"] == second.json()["identifier"]
    assert Certificate.objects.filter(serial=cert.serial).count() == 2
    new_id = first.json()["id"]
    assert c.post(f"{base}/{new_id}/revoke", {"reason": ""}, content_type="application/json").status_code == 422
    # remote printing through the API
    f = w["clerk_client"]
    new = Certificate.objects.get(pk=new_id)
    miss = f.post(f"{base}/print-lookup", {"identifier": new.identifier, "holder_code": make_id_number()}, content_type="application/json")
    assert miss.status_code == 404
    hit = f.post(f"{base}/print-lookup", {"identifier": new.identifier, "holder_code": new.holder_code}, content_type="application/json")
    assert hit.status_code == 200 and hit.json()["printable"] and hit.json()["holder_code"] == new.masked_holder_code
    body = {"identifier": new.identifier, "holder_code": new.holder_code, "copies": 1, "reason": "银行开户"}
    p1 = f.post(f"{base}/print", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="print-1")
    p2 = f.post(f"{base}/print", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="print-1")
    assert p1.status_code == 201 and p2.json()["print_id"] == p1.json()["print_id"] and PrintRecord.objects.count() == 1
    pdf = f.get(p1.json()["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert c.get(p1.json()["pdf_url"]).status_code == 404  # only the one who printed downloads it there
    assert f.post(f"{base}/print", {**body, "copies": 50}, content_type="application/json").status_code == 422
    refused = f.post(f"{base}/print", {**body, "holder_code": make_id_number()}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="print-2")
    assert refused.status_code == 404
    assert AccessLog.objects.filter(outcome=AccessLog.REFUSED).count() == 2  # the refused lookup stayed logged
    records = c.get(f"{base}/prints").json()
    assert [r["place"] for r in records] == ["东胜区政务服务中心 9号窗口"]


def test_admin_pages_load_and_revoke_action(world):
    w = world
    admin, client = w["staff_factory"]("platform_admin", "000000")
    for model in ("certificatetype", "issuerkey", "certificate", "certificateevent", "printrecord"):
        response = client.get(f"/admin/certificates/{model}/")
        assert response.status_code == 200, model
    cert = w["cert"]
    detail = client.get(f"/admin/certificates/certificate/{cert.pk}/change/")
    assert detail.status_code == 200 and cert.holder_code not in detail.content.decode()
    assert client.get(f"/admin/certificates/certificatetype/{w['ctype'].pk}/change/").status_code == 200
    ask = client.post("/admin/certificates/certificate/", {"action": "revoke_certificates", "_selected_action": [cert.pk]})
    assert ask.status_code == 200 and "原因" in ask.content.decode()
    client.post("/admin/certificates/certificate/", {"action": "revoke_certificates", "_selected_action": [cert.pk], "kind": "revoke", "reason": "违法"})
    assert Certificate.objects.get(pk=cert.pk).status == "revoked"
    from tongban.certificates.models import IssuerKey

    key = IssuerKey.objects.get(department=w["issuer"])
    client.post("/admin/certificates/issuerkey/", {"action": "rotate_keys", "_selected_action": [key.pk]})
    assert IssuerKey.objects.get(pk=key.pk).status == "retired"
    assert IssuerKey.objects.filter(department=w["issuer"], status="active").exclude(pk=key.pk).exists()
    # a county catalogue admin cannot edit the national catalogue entry
    county, county_client = w["staff_factory"]("catalog_admin", "371327")
    response = county_client.get("/admin/certificates/certificatetype/")
    assert response.status_code == 200


def test_type_admin_checks_code_and_fields(world):
    w = world
    admin, client = w["staff_factory"]("platform_admin", "000000")
    root = Region.objects.get(code="000000")
    data = {"code": "12345", "name": "测试证", "ministry_name": "测试部", "region": root.pk, "holder_kind": "natural", "fields": "[]",
            "validity_years": 0, "trust_level": "A", "template": "certificate", "stands_for": "[]", "is_active": "on"}
    response = client.post("/admin/certificates/certificatetype/add/", data)
    assert response.status_code == 200 and "证照类型代码应为" in response.content.decode()
    data["code"] = w["ctype"].code[:18] + "999"
    data["fields"] = '[{"key": "Bad Key", "label": "x"}]'
    response = client.post("/admin/certificates/certificatetype/add/", data)
    assert response.status_code == 200 and "key" in response.content.decode()
    data["fields"] = '[{"key": "scope", "label": "范围", "type": "text"}]'
    response = client.post("/admin/certificates/certificatetype/add/", data)
    assert response.status_code == 302
    assert w["ctype"].__class__.objects.filter(code=data["code"]).exists()
