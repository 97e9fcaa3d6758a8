"""一件事 pages through the Django test client: the one application (merged form and materials, one
submission per token, errors keep what was typed), the applicant's single timeline (supplement,
unified result, documents, withdrawal), the coordinator's workbench (list scoped to the region,
comprehensive intake, joint appointment, 一类事, unified delivery), the bundle child's banner with
mutual recognition, and Traditional Chinese / elder mode."""

import re

import pytest
from django.urls import reverse

from tests.bundle_fixtures import OPTIONAL_MATERIAL, SHARED_MATERIAL, BundleWorld
from tests.conftest import PDF_BYTES, applicant_client, make_applicant, upload
from tongban.bundles.models import BundleCase, BundleDocument, BundleEvent, BundleStatus, JointAppointment
from tongban.cases.models import Case, CaseEvent, CaseMaterial, Message
from tongban.cases.models import Status as S
from tongban.core.models import StoredBlob

pytestmark = pytest.mark.django_db

B = BundleStatus


@pytest.fixture
def bundle_world(staff_factory, settings, tmp_path):
    """tests.bundle_fixtures' world (a published bundle of several departments' items in 莒南县)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: BundleWorld(staff_factory, **kw)


def _apply_url(w):
    return reverse("bundles:apply", args=[w.code])


def _token(html):
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def _post_data(w, token=None, skip=(), **over):
    """The apply page's form as a browser posts it: every merged field, one file per material group."""
    data = {f"f_{k}": v for k, v in w.form().items()}
    data.update({f"material_{k}": u for k, u in w.uploads(skip=skip).items()})
    data.update({"delivery_method": "mail", "delivery_address": "山东省临沂市莒南县十字路街道1号 王小明 13800138111"})
    if token:
        data["token"] = token
    data.update(over)
    return data


def _applied(w, **kw):
    html = w.client.get(_apply_url(w)).content.decode()
    response = w.client.post(_apply_url(w), _post_data(w, token=_token(html), **kw))
    assert response.status_code == 302, response.content.decode()[:3000]
    parent = BundleCase.objects.get(applicant=w.applicant)
    assert response["Location"] == reverse("my_bundles:detail", args=[parent.pk])
    return parent


def _detail_url(parent):
    return reverse("bundle_workbench:detail", args=[parent.pk])


def _intake_accept(w, parent):
    return w.lead_clerk_client.post(reverse("bundle_workbench:intake", args=[parent.pk]), {
        "decision": "accept", "identity_method": "id_reader", "originals": [w.group(SHARED_MATERIAL)["key"]], "opinion": "材料齐全"})


# --- the one application ---------------------------------------------------------------------------

def test_apply_needs_an_applicant_signed_in(bundle_world, client):
    w = bundle_world(items=2)
    response = client.get(_apply_url(w))
    assert response.status_code == 302 and response["Location"].startswith("/applicant/login/?next=")
    assert client.get(reverse("bundles:apply", args=["NO-SUCH-CODE"])).status_code == 302  # sign-in first, then 404
    assert w.client.get(reverse("bundles:apply", args=["NO-SUCH-CODE"])).status_code == 404


def test_apply_page_shows_each_merged_field_and_each_shared_material_once(bundle_world):
    w = bundle_world(items=3, deferrable=True, market_services=("银行开户预约",))
    response = w.client.get(_apply_url(w))
    assert response.status_code == 200
    html = response.content.decode()
    # Three items ask for name, ID number and phone: the one form asks once.
    for key in ("applicant_name", "id_number", "phone"):
        assert html.count(f'name="f_{key}"') == 1, key
    for i in range(3):
        assert html.count(f'name="f_own_{i}"') == 1
    # Each shared field names every department that receives it; an item's own field only its own.
    block = html[html.index('id="f-id_number"'):html.index('id="f-phone"')]
    assert all(d.name in block for d in w.departments)
    own = re.search(r'<p class="bundle-receivers small">(.*?)</p>', html[html.index('id="f-own_1"'):]).group(1)
    assert w.departments[1].name in own and w.departments[0].name not in own
    # 一次提交、多次复用: identity is prefilled from the account.
    assert "一次提交、多次复用" in html and f'value="{w.applicant.id_number}"' in html
    # The shared materials appear once each, with the commitment only for the deferrable one.
    assert html.count(f"上传“{SHARED_MATERIAL}”") == 1 and html.count(f"上传“{OPTIONAL_MATERIAL}”") == 1
    deferrable = w.group(OPTIONAL_MATERIAL)["key"]
    assert html.count('name="commit"') == 1 and f'value="{deferrable}"' in html and "签署告知承诺，容缺后补" in html
    assert "银行开户预约" in html and 'name="market"' in html
    assert 'name="token"' in html and 'enctype="multipart/form-data"' in html
    assert BundleCase.objects.count() == 0  # looking stores nothing


def test_submitting_creates_one_bundle_case_and_a_double_submit_creates_no_second(bundle_world):
    w = bundle_world(items=3)
    blobs = StoredBlob.objects.count()
    html = w.client.get(_apply_url(w)).content.decode()
    token = _token(html)
    first = w.client.post(_apply_url(w), _post_data(w, token=token))
    assert first.status_code == 302
    second = w.client.post(_apply_url(w), _post_data(w, token=token))  # the same page submitted again
    assert second.status_code == 302 and second["Location"] == first["Location"]
    parent = BundleCase.objects.get()
    assert parent.status == B.SUBMITTED and parent.case_no and parent.submit_token == token
    children = list(Case.objects.filter(bundle_case=parent))
    assert len(children) == 3 and {c.status for c in children} == {S.SUBMITTED}
    # The shared material was uploaded once and each department received it; stored once.
    shared = CaseMaterial.objects.filter(case__in=children, name=SHARED_MATERIAL)
    assert shared.count() == 3 and len({m.blob_id for m in shared}) == 1
    assert StoredBlob.objects.count() - blobs == len(w.version.material_groups)
    # The timeline page: the bundle's number, every item and its department, the deadline line.
    page = w.client.get(first["Location"])
    text = page.content.decode()
    assert page.status_code == 200 and parent.case_no in text and "待综合受理" in text
    for c in children:
        assert c.item_version.name in text and c.department.name in text
    assert "提交申请" in text and "撤回申请" in text
    assert Message.objects.filter(recipient=w.applicant.user, title="一件事申请已提交").count() == 1


def test_errors_keep_what_was_typed_and_write_nothing(bundle_world):
    w = bundle_world(items=3)
    html = w.client.get(_apply_url(w)).content.decode()
    data = _post_data(w, token=_token(html), f_own_1="", f_own_2="第三项的内容保留")
    response = w.client.post(_apply_url(w), data)
    assert response.status_code == 422
    text = response.content.decode()
    assert "申请表填写有误" in text and 'aria-invalid="true"' in text
    assert 'value="第三项的内容保留"' in text and "十字路街道1号" in text
    assert "请重新选择各项材料" in text
    assert (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count()) == (0, 0, 0)

    # A missing required material: named, beside its group, nothing written.
    missing = w.group(SHARED_MATERIAL)["key"]
    response = w.client.post(_apply_url(w), _post_data(w, token=_token(html), skip=(missing,)))
    assert response.status_code == 422
    text = response.content.decode()
    assert "请上传必要材料" in text and SHARED_MATERIAL in text and f'id="material-{missing}-err"' in text
    assert (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count()) == (0, 0, 0)

    # A delivery method the bundle does not offer and a fake file: Chinese 4xx, never 500.
    response = w.client.post(_apply_url(w), _post_data(w, delivery_method="pigeon"))
    assert response.status_code == 422 and "送达方式" in response.content.decode()
    fake = _post_data(w, **{f"material_{missing}": upload("假.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    response = w.client.post(_apply_url(w), fake)
    assert 400 <= response.status_code < 500 and BundleCase.objects.count() == 0


def test_timeline_is_the_applicants_own(bundle_world):
    w = bundle_world(items=2)
    parent = _applied(w)
    other = applicant_client(make_applicant(name="李四", phone="13800138222"))
    url = reverse("my_bundles:detail", args=[parent.pk])
    assert other.get(url).status_code == 404
    assert other.post(url, {"action": "withdraw", "confirm": "yes"}).status_code == 404
    assert BundleCase.objects.get(pk=parent.pk).status == B.SUBMITTED
    assert other.get(reverse("my_bundles:list")).content.decode().count(parent.case_no) == 0
    mine = w.client.get(reverse("my_bundles:list")).content.decode()
    assert parent.case_no in mine
    # 我的办件 links to 我的一件事.
    assert reverse("my_bundles:list") in w.client.get(reverse("portal:my")).content.decode()


def test_withdraw_from_the_timeline(bundle_world):
    w = bundle_world(items=2)
    parent = _applied(w)
    url = reverse("my_bundles:detail", args=[parent.pk])
    response = w.client.post(url, {"action": "withdraw"})
    assert response.status_code == 422 and "我确认撤回" in response.content.decode()
    response = w.client.post(url, {"action": "withdraw", "confirm": "yes"})
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.status == B.WITHDRAWN
    assert set(Case.objects.filter(bundle_case=parent).values_list("status", flat=True)) == {S.WITHDRAWN}


# --- the coordinator's workbench ---------------------------------------------------------------------

def test_coordinator_list_shows_only_own_regions_bundle_cases(bundle_world, staff_factory):
    w = bundle_world(items=2)
    parent = _applied(w)
    html = w.lead_clerk_client.get(reverse("bundle_workbench:list")).content.decode()
    assert parent.case_no in html and w.version.name in html
    assert w.applicant.id_number not in html and w.applicant.phone not in html  # masked in lists
    assert parent.masked_code in html and parent.masked_phone in html
    assert "一件事" in html and reverse("bundle_workbench:list") in html  # the nav tab
    # Filters: by status and number.
    assert parent.case_no in w.lead_clerk_client.get(reverse("bundle_workbench:list"), {"status": "submitted"}).content.decode()
    assert parent.case_no not in w.lead_clerk_client.get(reverse("bundle_workbench:list"), {"status": "delivered"}).content.decode()
    assert parent.case_no not in w.lead_clerk_client.get(reverse("bundle_workbench:list"), {"number": "999999-x"}).content.decode()
    # Another county's clerk sees nothing of it, and its page is a 404.
    _outsider, outsider_client = staff_factory("clerk", "371321")
    assert parent.case_no not in outsider_client.get(reverse("bundle_workbench:list")).content.decode()
    assert outsider_client.get(_detail_url(parent)).status_code == 404
    assert outsider_client.post(reverse("bundle_workbench:intake", args=[parent.pk]), {"decision": "accept"}).status_code == 404
    # Signed-out: to the staff sign-in.
    from django.test import Client

    assert Client().get(reverse("bundle_workbench:list")).status_code == 302


def test_comprehensive_intake_through_the_page(bundle_world):
    w = bundle_world(items=3)
    parent = _applied(w)
    page = w.lead_clerk_client.get(_detail_url(parent))
    html = page.content.decode()
    assert page.status_code == 200 and "前台综合受理" in html and "需核验原件" in html
    for d in w.departments:
        assert d.name in html
    # A department's approver sees the parent but has no intake form.
    approver_html = w.approver_clients[1].get(_detail_url(parent)).content.decode()
    assert parent.case_no in approver_html and "前台综合受理" not in approver_html

    # Without the identity check: refused with the Chinese reason, nothing changes, the page keeps the ticks.
    before = BundleEvent.objects.count()
    response = w.lead_clerk_client.post(reverse("bundle_workbench:intake", args=[parent.pk]), {
        "decision": "accept", "originals": [w.group(SHARED_MATERIAL)["key"]]})
    assert response.status_code == 422 and "请选择身份核验方式" in response.content.decode()
    assert f'value="{w.group(SHARED_MATERIAL)["key"]}" checked' in response.content.decode()
    assert BundleEvent.objects.count() == before and BundleCase.objects.get(pk=parent.pk).status == B.SUBMITTED
    # Without the original checked.
    response = w.lead_clerk_client.post(reverse("bundle_workbench:intake", args=[parent.pk]), {"decision": "accept", "identity_method": "face"})
    assert response.status_code == 422 and "请核验以下材料的原件" in response.content.decode()

    response = _intake_accept(w, parent)
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.status == B.IN_PROGRESS and parent.due_date and parent.verifications
    assert set(Case.objects.filter(bundle_case=parent).values_list("status", flat=True)) == {S.ACCEPTED}
    html = w.lead_clerk_client.get(_detail_url(parent)).content.decode()
    assert "分类审批中" in html and "首办核验" in html and "综合受理" in html and "前台综合受理</h3>" not in html
    # Again: 409, not a second intake.
    assert _intake_accept(w, parent).status_code == 409


def test_supplement_once_and_resubmit_once(bundle_world):
    w = bundle_world(items=3)
    parent = _applied(w)
    shared = w.group(SHARED_MATERIAL)["key"]
    response = w.lead_clerk_client.post(reverse("bundle_workbench:intake", args=[parent.pk]), {
        "decision": "supplement", "sup_group": [shared], f"sup_problem_{shared}": "身份证明不清晰", "opinion": "请重新扫描"})
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.status == B.SUPPLEMENT
    # The applicant sees one notice listing the material once (three departments asked for it).
    url = reverse("my_bundles:detail", args=[parent.pk])
    html = w.client.get(url).content.decode()
    assert "补齐补正告知" in html and "身份证明不清晰" in html and html.count(f"重新上传“{SHARED_MATERIAL}”") == 1
    # Resubmitting without the file: refused, nothing changes.
    response = w.client.post(url, {"action": "resubmit"})
    assert response.status_code == 422 and BundleCase.objects.get(pk=parent.pk).status == B.SUPPLEMENT
    response = w.client.post(url, {"action": "resubmit", f"material_{shared}": upload("身份证明.pdf", PDF_BYTES + b"clear")})
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.status == B.SUBMITTED
    assert CaseMaterial.objects.filter(case__bundle_case=parent, name=SHARED_MATERIAL, round=2).count() == 3


def test_appointment_market_service_and_unified_delivery_through_the_pages(bundle_world):
    w = bundle_world(items=3, market_services=("公章刻制",))
    html = w.client.get(_apply_url(w)).content.decode()
    service = w.version.market_services.get()
    w.client.post(_apply_url(w), _post_data(w, token=_token(html), market=[str(service.pk)]))
    parent = BundleCase.objects.get()
    assert _intake_accept(w, parent).status_code == 302
    children = w.children(parent)
    url = _detail_url(parent)

    # 联合勘验 with two departments; a bad time is a Chinese 422.
    response = w.lead_clerk_client.post(reverse("bundle_workbench:schedule", args=[parent.pk]), {
        "kind": "inspection", "scheduled_at": "明天上午", "place": "经营场所", "case_ids": [children[0].pk, children[1].pk]})
    assert response.status_code == 422 and "预约时间" in response.content.decode()
    response = w.lead_clerk_client.post(reverse("bundle_workbench:schedule", args=[parent.pk]), {
        "kind": "inspection", "scheduled_at": "2099-03-02T09:30", "place": "经营场所", "case_ids": [children[0].pk, children[1].pk]})
    assert response.status_code == 302
    appointment = JointAppointment.objects.get()
    # Department 1's approver records its opinion from the coordinator page.
    page = w.approver_clients[1].get(url).content.decode()
    assert "本部门意见" in page
    response = w.approver_clients[1].post(reverse("bundle_workbench:record", args=[parent.pk, appointment.pk]), {"opinion": "现场符合要求"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.results[0]["opinion"] == "现场符合要求" and appointment.status == JointAppointment.SCHEDULED
    # Department 2 did not take part: no form, and posting is refused.
    response = w.approver_clients[2].post(reverse("bundle_workbench:record", args=[parent.pk, appointment.pk]), {"opinion": "我也要写"})
    assert response.status_code == 403

    # 一类事: requested → forwarded.
    response = w.lead_clerk_client.post(reverse("bundle_workbench:market", args=[parent.pk]), {"service_id": str(service.pk), "status": "forwarded"})
    assert response.status_code == 302
    assert BundleCase.objects.get(pk=parent.pk).market_requests[0]["status"] == "forwarded"
    response = w.lead_clerk_client.post(reverse("bundle_workbench:market", args=[parent.pk]), {"service_id": str(service.pk), "status": "forwarded"})
    assert response.status_code == 409

    # Not ready yet: no delivery form; posting is a 409.
    assert "窗口统一出件" not in w.lead_clerk_client.get(url).content.decode()
    assert w.lead_clerk_client.post(reverse("bundle_workbench:deliver", args=[parent.pk]), {"method": "mail"}).status_code == 409
    for child in children:
        w.approve(child)
    parent.refresh_from_db()
    assert parent.status == B.READY
    page = w.lead_clerk_client.get(url).content.decode()
    assert "窗口统一出件" in page
    messages_before = Message.objects.filter(recipient=w.applicant.user).count()
    response = w.lead_clerk_client.post(reverse("bundle_workbench:deliver", args=[parent.pk]), {
        "method": "mail", "courier": "中国邮政EMS", "tracking_no": "EA000000001CN"})
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.status == B.DELIVERED and parent.outcome == BundleCase.FULL
    assert set(Case.objects.filter(bundle_case=parent).values_list("status", flat=True)) == {S.DELIVERED}
    # One notice, one conclusion document, on the applicant's timeline.
    assert Message.objects.filter(recipient=w.applicant.user).count() - messages_before == 1
    conclusion = BundleDocument.objects.get(bundle_case=parent, kind="conclusion")
    html = w.client.get(reverse("my_bundles:detail", args=[parent.pk])).content.decode()
    assert "办理结果（统一出件）" in html and "全部办成" in html and html.count("一件事办结通知书") == 1
    doc_url = reverse("my_bundles:document", args=[parent.pk, conclusion.pk])
    response = w.client.get(doc_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    other = applicant_client(make_applicant(name="李四", phone="13800138222"))
    assert other.get(doc_url).status_code == 404
    assert w.lead_clerk_client.get(reverse("bundle_workbench:document", args=[parent.pk, conclusion.pk])).status_code == 200


def test_partial_result_needs_an_explanation(bundle_world):
    w = bundle_world(items=2, policy="partial")
    parent = _applied(w)
    assert _intake_accept(w, parent).status_code == 302
    first, second = w.children(parent)
    w.approve(first)
    w.deny(second, reason="场所面积不符合要求")
    page = w.lead_clerk_client.get(_detail_url(parent)).content.decode()
    assert "部分办成" in page and "场所面积不符合要求" in page  # the explanation is drafted from the reason
    response = w.lead_clerk_client.post(reverse("bundle_workbench:deliver", args=[parent.pk]), {"method": "mail", "courier": "EMS", "tracking_no": "1"})
    assert response.status_code == 422 and "结果说明" in response.content.decode()
    assert BundleCase.objects.get(pk=parent.pk).status == B.READY
    response = w.lead_clerk_client.post(reverse("bundle_workbench:deliver", args=[parent.pk]), {
        "method": "mail", "courier": "EMS", "tracking_no": "1", "explanation": "食品经营许可未办成：场所面积不符合要求"})
    assert response.status_code == 302
    html = w.client.get(reverse("my_bundles:detail", args=[parent.pk])).content.decode()
    assert "部分办成" in html and "场所面积不符合要求" in html


def test_child_banner_names_the_bundle_and_mutual_recognition(bundle_world):
    w = bundle_world(items=2)
    parent = _applied(w)
    child = w.children(parent)[1]
    html = w.approver_clients[1].get(reverse("workbench:case", args=[child.pk])).content.decode()
    assert f"本件属于一件事《{w.version.name}》" in html and parent.case_no in html and _detail_url(parent) in html
    assert "首办核验、接办互认" not in html  # nothing verified yet
    assert _intake_accept(w, parent).status_code == 302
    html = w.approver_clients[1].get(reverse("workbench:case", args=[child.pk])).content.decode()
    assert "首办核验、接办互认" in html and f"已由{w.lead.name}" in html and "本部门无需重复核验" in html
    # The department reviews its own child; the comprehensive steps are not offered there.
    assert 'class="action-form action-accept' not in html and 'class="action-form action-deliver' not in html
    assert CaseEvent.objects.filter(case=child, action="accept").exists()


def test_traditional_chinese_and_elder_mode(bundle_world):
    w = bundle_world(items=2)
    w.client.cookies["tb_script"] = "hant"
    html = w.client.get(_apply_url(w)).content.decode()
    assert "一次申請" in html and "接收部門" in html
    parent = _applied(w)
    assert "辦理進度" in w.client.get(reverse("my_bundles:detail", args=[parent.pk])).content.decode()
    w.client.cookies["tb_script"] = "hans"
    w.client.cookies["tb_elder"] = "1"
    html = w.client.get(_apply_url(w)).content.decode()
    assert re.search(r'<body class="elder', html) and "标准模式" in html
    html = w.client.get(reverse("my_bundles:detail", args=[parent.pk])).content.decode()
    assert re.search(r'<body class="elder', html)
