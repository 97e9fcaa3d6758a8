"""Applicant pages of 全程网办 through the Django test client: apply, draft, materials, submission,
我的办件, supplement, withdrawal, payment sandbox and the public 办件查询."""

import re

import pytest
from django.urls import reverse

from tests.conftest import PDF_BYTES, applicant_client, make_applicant, make_id_number, upload
from tongban.cases import services
from tongban.cases.models import Case, CaseMaterial, DeferredMaterial, Message, Payment
from tongban.cases.tracking import NOT_FOUND
from tongban.catalog.models import ApplicationForm

FIELDS = [
    {"key": "reason", "label": "申请事由", "type": "text", "required": True, "max_length": 200, "help": "简要说明申请理由"},
    {"key": "holder_id", "label": "持证人身份号码", "type": "id_number", "required": True},
    {"key": "start_on", "label": "开始日期", "type": "date"},
    {"key": "kind", "label": "申请类别", "type": "choice", "choices": ["新办", "变更"], "required": True},
    {"key": "place", "label": "经营地区划", "type": "region"},
    {"key": "mobile", "label": "联系手机", "type": "phone"},
    {"key": "staff_count", "label": "从业人数", "type": "number", "min": 0},
]


def _world(case_world, **kw):
    w = case_world(**kw)
    ApplicationForm.objects.create(version=w.version, fields=FIELDS)
    return w


def _apply_url(w):
    return reverse("portal:apply", args=[w.impl.implementation_code])


def _valid_form(**over):
    data = {"f_reason": "开办门店", "f_holder_id": make_id_number(), "f_start_on": "2026-12-01", "f_kind": "新办",
            "f_place": "371327", "f_mobile": "13900139000", "f_staff_count": "3", "delivery_method": "mail",
            "delivery_address": "山东省临沂市莒南县人民路1号 张三 13800138000", "commit_shown": "1"}
    data.update(over)
    return data


def _draft(w, **over):
    response = w.client.post(_apply_url(w), _valid_form(**over))
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get(applicant=w.applicant)
    assert response["Location"] == reverse("portal:my-case", args=[case.pk])
    return case


def _token(response):
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode()).group(1)


def _case_url(case):
    return reverse("portal:my-case", args=[case.pk])


def _upload_all(w, case):
    files = {f"material_{m.pk}": upload(f"{m.name}.pdf", PDF_BYTES + m.name.encode()) for m in w.materials}
    response = w.client.post(_case_url(case), {"action": "save", **files})
    assert response.status_code == 302, response.content.decode()[:2000]


# --- apply page and draft ------------------------------------------------------------------------

def test_apply_page_renders_the_form_definition_and_stores_nothing(case_world):
    w = _world(case_world)
    response = w.client.get(_apply_url(w))
    assert response.status_code == 200
    html = response.content.decode()
    assert w.version.name in html and w.department.name in html
    assert '<label for="f-reason">申请事由' in html and "简要说明申请理由" in html
    assert 'id="f-holder_id"' in html and 'maxlength="18"' in html
    assert 'type="date" id="f-start_on"' in html
    assert '<select id="f-kind" name="f_kind"' in html and "<option value=\"变更\">" in html
    assert 'inputmode="numeric"' in html and "行政区划代码" in html
    assert 'type="tel" id="f-mobile"' in html and 'inputmode="decimal"' in html
    assert 'enctype="multipart/form-data"' in html
    for m in w.materials:
        assert f'<label for="material-{m.pk}"' in html and f'name="material_{m.pk}"' in html
    assert "容缺受理：我承诺受理后补交" in html and "受理部门审核决定" in html
    assert "邮寄送达" in html and "网上送达" in html and "窗口领取" not in html
    assert "<script>" not in html and "onclick" not in html
    assert not Case.objects.exists()


def test_guide_offers_online_application(case_world, client):
    w = case_world()
    html = client.get(reverse("portal:guide", args=[w.impl.implementation_code])).content.decode()
    assert "在线申请" in html and _apply_url(w) in html


def test_anonymous_applicant_is_sent_to_sign_in(case_world, client):
    w = case_world()
    for url in (_apply_url(w), reverse("portal:my")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("applicants:login") + "?next=")
    assert not Case.objects.exists()


def test_invalid_id_number_is_shown_beside_the_field_and_nothing_is_stored(case_world):
    w = _world(case_world)
    good = make_id_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = w.client.post(_apply_url(w), _valid_form(f_holder_id=bad))
    assert response.status_code == 422
    html = response.content.decode()
    assert "申请表填写有误" in html
    assert re.search(r'<p class="field-msg" id="f-holder_id-err">持证人身份号码：[^<]*校验位', html)
    assert 'aria-invalid="true" aria-describedby="f-holder_id-help f-holder_id-err"' in html
    assert 'value="开办门店"' in html  # what was typed comes back
    assert not Case.objects.exists()


def test_save_draft_then_edit_it(case_world):
    w = _world(case_world)
    case = _draft(w, **{"commit": str(w.materials[1].pk)})
    assert case.status == "draft" and case.form_data["reason"] == "开办门店" and case.form_data["staff_count"] == 3
    assert [c["material_id"] for c in case.commitments] == [w.materials[1].pk]
    page = w.client.get(_case_url(case))
    html = page.content.decode()
    assert page.status_code == 200 and "草稿已保存" in html and 'value="开办门店"' in html
    assert f'id="commit-{w.materials[1].pk}" name="commit" value="{w.materials[1].pk}" checked' in html
    # an edit changes only what was sent; unticking every commitment clears them
    response = w.client.post(_case_url(case), {"action": "save", "f_reason": "扩大经营", "commit_shown": "1"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.form_data["reason"] == "扩大经营" and case.form_data["kind"] == "新办" and case.commitments == []


def test_renamed_executable_is_refused_with_415(case_world):
    w = _world(case_world)
    case = _draft(w)
    exe = upload("申请书.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64)
    response = w.client.post(_case_url(case), {"action": "save", f"material_{w.materials[0].pk}": exe})
    assert response.status_code == 415
    html = response.content.decode()
    assert "不是PDF" in html and "按文件内容判断" in html and f'id="material-{w.materials[0].pk}-err"' in html
    assert not CaseMaterial.objects.exists()


def test_oversized_file_is_refused_with_413(case_world, settings):
    settings.TONGBAN_MATERIAL_MAX_MB = 1
    w = _world(case_world)
    case = _draft(w)
    big = upload("申请书.pdf", PDF_BYTES + b"0" * int(1.5 * 1024 * 1024))
    response = w.client.post(_case_url(case), {"action": "save", f"material_{w.materials[0].pk}": big})
    assert response.status_code == 413
    assert "超过大小上限1MB" in response.content.decode()
    assert not CaseMaterial.objects.exists()


def test_a_failed_file_rolls_back_the_whole_save(case_world):
    w = _world(case_world)
    case = _draft(w)
    response = w.client.post(_case_url(case), {
        "action": "save", "f_reason": "改过的事由",
        f"material_{w.materials[0].pk}": upload("a.pdf"), f"material_{w.materials[1].pk}": upload("b.pdf", b"not a pdf"),
    })
    assert response.status_code == 415
    case.refresh_from_db()
    assert case.form_data["reason"] == "开办门店" and not CaseMaterial.objects.exists()


def test_submit_with_a_missing_material_is_refused(case_world):
    w = _world(case_world)
    case = _draft(w)
    page = w.client.get(_case_url(case))
    response = w.client.post(_case_url(case), {
        "action": "submit", "token": _token(page), f"material_{w.materials[0].pk}": upload("申请书.pdf"),
    })
    assert response.status_code == 422
    assert f"请上传必要材料：{w.materials[1].name}" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "draft" and case.case_no is None
    assert CaseMaterial.objects.filter(case=case).count() == 1  # the file chosen with 提交 was saved


def test_submit_twice_with_the_same_token_makes_one_case(case_world):
    w = _world(case_world)
    case = _draft(w)
    _upload_all(w, case)
    token = _token(w.client.get(_case_url(case)))
    first = w.client.post(_case_url(case), {"action": "submit", "token": token})
    second = w.client.post(_case_url(case), {"action": "submit", "token": token})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == _case_url(case)
    case.refresh_from_db()
    assert case.status == "submitted" and case.case_no
    assert Case.objects.filter(applicant=w.applicant).count() == 1
    assert case.events.filter(action="submit").count() == 1
    page = w.client.get(_case_url(case))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"申请已提交，办件编号：{case.case_no}" in html
    receipt = case.documents.get(kind="receipt")
    assert reverse("cases:document-file", args=[case.pk, receipt.pk]) in html and "收件凭证" in html
    assert w.client.get(reverse("cases:document-file", args=[case.pk, receipt.pk])).status_code == 200


def test_my_page_lists_cases_drafts_and_messages(case_world):
    w = case_world()
    case = w.submitted_case()
    services.create_draft(w.applicant, w.impl.implementation_code)
    html = w.client.get(reverse("portal:my")).content.decode()
    assert case.case_no in html and w.version.name in html and "已收件" in html and "未开始计时" in html and "收件" in html
    assert "继续填写" not in html
    drafts = w.client.get(reverse("portal:my") + "?tab=drafts").content.decode()
    assert "继续填写" in drafts
    assert Message.objects.filter(recipient=w.applicant.user, read_at__isnull=True).count() == 1
    inbox = w.client.get(reverse("portal:my") + "?tab=messages").content.decode()
    assert "申请已收件" in inbox and "case-message-unread" in inbox
    assert not Message.objects.filter(recipient=w.applicant.user, read_at__isnull=True).exists()
    again = w.client.get(reverse("portal:my") + "?tab=messages").content.decode()
    assert "申请已收件" in again and "case-message-unread" not in again


def test_another_applicant_gets_404(case_world):
    w = case_world()
    case = w.submitted_case()
    other = applicant_client(make_applicant("李四", phone="13700137000"))
    response = other.get(_case_url(case))
    assert response.status_code == 404
    assert "不属于当前登录的账号" in response.content.decode()
    assert other.post(_case_url(case), {"action": "withdraw", "confirm": "yes"}).status_code == 404
    case.refresh_from_db()
    assert case.status == "submitted"
    assert case.case_no not in other.get(reverse("portal:my")).content.decode()


def test_withdrawal_needs_the_confirmation(case_world):
    w = case_world()
    case = w.submitted_case()
    assert "撤回申请" in w.client.get(_case_url(case)).content.decode()
    response = w.client.post(_case_url(case), {"action": "withdraw"})
    assert response.status_code == 422 and "我确认撤回该申请" in response.content.decode()
    response = w.client.post(_case_url(case), {"action": "withdraw", "confirm": "yes", "reason": "信息填错了"}, follow=True)
    assert response.status_code == 200 and "申请已撤回" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "withdrawn"
    assert "信息填错了" in response.content.decode()
    # no second withdrawal: the button is gone and the action answers 409
    assert 'value="withdraw"' not in response.content.decode()
    assert w.client.post(_case_url(case), {"action": "withdraw", "confirm": "yes"}).status_code == 409
    done = w.client.get(reverse("portal:my") + "?tab=done").content.decode()
    assert case.case_no in done and "已撤回" in done


def test_supplement_then_resubmit_through_the_page(case_world):
    w = case_world()
    case = w.submitted_case()
    m = w.materials[0]
    w.act(case, "request_supplement", w.clerk, items=[{"material_id": m.pk, "problem": "不清晰"}, {"name": "申请表签字", "problem": "缺少签字"}])
    html = w.client.get(_case_url(case)).content.decode()
    assert "一次性告知" in html and "不清晰" in html and "缺少签字" in html and f'name="material_{m.pk}"' in html
    assert "补齐补正通知书" in html
    response = w.client.post(_case_url(case), {"action": "resubmit"})
    assert response.status_code == 422 and f"请先重新上传补正材料：{m.name}" in response.content.decode()
    response = w.client.post(_case_url(case), {"action": "resubmit", f"material_{m.pk}": upload("清晰版.pdf", PDF_BYTES + b"v2")})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "submitted" and case.supplements.get().status == "answered"
    current = {x.material_id: x for x in CaseMaterial.objects.filter(case=case).order_by("id")}
    assert current[m.pk].file_name == "清晰版.pdf" and current[m.pk].round == 2
    html = w.client.get(_case_url(case)).content.decode()
    assert "补正材料已提交" in html and "一次性告知" not in html


def test_deferred_material_committed_then_fulfilled(case_world):
    w = _world(case_world)
    owed = w.materials[1]
    case = _draft(w, commit=str(owed.pk), f_holder_id=make_id_number())
    page = w.client.get(_case_url(case))
    response = w.client.post(_case_url(case), {"action": "submit", "token": _token(page), "commit_shown": "1", "commit": str(owed.pk),
                                               f"material_{w.materials[0].pk}": upload("申请书.pdf")})
    assert response.status_code == 302
    case.refresh_from_db()
    w.act(case, "accept")
    deferred = DeferredMaterial.objects.get(case=case)
    html = w.client.get(_case_url(case)).content.decode()
    assert "容缺材料" in html and "待补交" in html and f'name="deferred_{deferred.pk}"' in html
    response = w.client.post(_case_url(case), {"action": "fulfil", "deferred_id": str(deferred.pk)})
    assert response.status_code == 422 and owed.name in response.content.decode()
    response = w.client.post(_case_url(case), {"action": "fulfil", "deferred_id": str(deferred.pk), f"deferred_{deferred.pk}": upload("补交.pdf")})
    assert response.status_code == 302
    deferred.refresh_from_db()
    assert deferred.status == "fulfilled"


def test_payment_sandbox(case_world):
    w = case_world(fee=50)
    case = w.submitted_case()
    html = w.client.get(_case_url(case)).content.decode()
    assert "50.00 元" in html and "尚未缴费" in html and 'value="pay"' in html
    response = w.client.post(_case_url(case), {"action": "pay"})
    payment = Payment.objects.get(case=case)
    assert response.status_code == 302 and response["Location"] == reverse("portal:pay-sandbox", args=[payment.reference])
    page = w.client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "支付沙箱（演示环境，不产生真实扣款）" in html and "50.00" in html and case.case_no in html and "确认支付" in html
    # nobody else sees or confirms it
    other = applicant_client(make_applicant("李四", phone="13700137000"))
    assert other.get(response["Location"]).status_code == 404
    assert other.post(response["Location"]).status_code == 404
    from django.test import Client

    assert Client().post(response["Location"]).status_code == 404
    payment.refresh_from_db()
    assert payment.status == "pending"
    done = w.client.post(response["Location"], follow=True)
    assert done.redirect_chain[-1][0] == _case_url(case)
    payment.refresh_from_db()
    assert payment.status == "paid"
    html = done.content.decode()
    assert "缴费成功" in html and "已缴费" in html and 'value="pay"' not in html
    assert case.events.filter(action="pay").count() == 1
    # a repeated confirmation records nothing more
    assert w.client.post(response["Location"]).status_code == 302
    assert case.events.filter(action="pay").count() == 1


def test_tracking_shows_the_timeline_without_personal_data(case_world, client):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    page = client.get(reverse("portal:track") + f"?case_no={case.case_no}")
    assert page.status_code == 200 and f'value="{case.case_no}"' in page.content.decode()
    response = client.post(reverse("portal:track"), {"case_no": case.case_no, "tail": w.applicant.id_number[-6:]})
    assert response.status_code == 200
    html = response.content.decode()
    assert w.version.name in html and w.department.name in html and "收件" in html and "受理" in html and "已受理" in html
    assert w.applicant.id_number not in html and w.applicant.name not in html and w.applicant.phone not in html
    assert w.clerk.username not in html
    by_phone = client.get(reverse("portal:track"), {"case_no": case.case_no, "tail": w.applicant.phone[-6:]})
    assert by_phone.status_code == 200 and "查询结果" in by_phone.content.decode()


def test_tracking_with_a_wrong_tail_is_404_in_chinese(case_world, client):
    w = case_world()
    case = w.submitted_case()
    response = client.post(reverse("portal:track"), {"case_no": case.case_no, "tail": "000000"})
    assert response.status_code == 404
    html = response.content.decode()
    assert NOT_FOUND in html and "查询结果" not in html
    short = client.post(reverse("portal:track"), {"case_no": case.case_no, "tail": "12"})
    assert short.status_code == 422 and "后六位" in short.content.decode()


def test_tracking_too_often_is_429(case_world, client):
    from django.core.cache import cache

    w = case_world()
    case = w.submitted_case()
    cache.set("track:127.0.0.1", 30, 3600)
    response = client.get(reverse("portal:track"), {"case_no": case.case_no, "tail": w.applicant.id_number[-6:]})
    assert response.status_code == 429 and "查询过于频繁" in response.content.decode()


@pytest.mark.parametrize("status", ["submitted", "withdrawn"])
def test_resubmitting_a_stale_page_is_a_chinese_409(case_world, status):
    w = case_world()
    case = w.submitted_case()
    if status == "withdrawn":
        w.act(case, "withdraw", w.applicant.user)
    response = w.client.post(_case_url(case), {"action": "submit", "token": "f" * 32})
    assert response.status_code == 409 and "无需重复提交" in response.content.decode()


# --- in a real browser (Debian's Chromium through Playwright), at phone size -------------------------

@pytest.fixture
def live_world(live_server, reference_data, case_world):
    from django.db import connection

    yield _world(case_world)
    if connection.vendor == "sqlite":  # let the flush after this test remove the append-only history
        with connection.cursor() as cur:
            cur.execute("INSERT INTO cases_history_purge (id) VALUES (1) ON CONFLICT DO NOTHING")


@pytest.mark.browser
def test_apply_and_submit_in_a_phone_browser(live_server, live_world):
    import os
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, PHONE, SCREENSHOTS, no_horizontal_scroll

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium package is needed for browser tests"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    w = live_world
    session = applicant_client(w.applicant).cookies["sessionid"].value
    pdf = {"name": "材料.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(**PHONE)
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.goto(f"{live_server.url}/guide/{w.impl.implementation_code}/")
        page.get_by_role("link", name="在线申请").click()
        page.wait_for_url(f"**{_apply_url(w)}")
        assert no_horizontal_scroll(page)
        page.screenshot(path=SCREENSHOTS / "apply-phone.png", full_page=True)
        page.get_by_label("申请事由").fill("开办门店")
        page.get_by_label("持证人身份号码").fill(make_id_number())
        page.get_by_label("开始日期").fill("2026-12-01")
        page.get_by_label("申请类别").select_option("新办")
        page.get_by_label("经营地区划").fill("371327")
        page.get_by_label("送达地址").fill("山东省临沂市莒南县人民路1号")
        page.get_by_label("上传“申请书”").set_input_files(pdf)
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url("**/my/cases/*/")
        assert "草稿已保存" in page.content() and "已上传" in page.content()
        assert no_horizontal_scroll(page)
        page.screenshot(path=SCREENSHOTS / "draft-phone.png", full_page=True)
        page.get_by_role("button", name="提交申请").click()
        page.wait_for_load_state()
        assert "请上传必要材料" in page.content()
        page.get_by_label("上传“身份证明”").set_input_files(dict(pdf, name="身份证明.pdf"))
        page.get_by_role("button", name="提交申请").click()
        page.wait_for_load_state()
        case = Case.objects.get(applicant=w.applicant)
        assert case.status == "submitted" and f"办件编号：{case.case_no}" in page.content()
        assert no_horizontal_scroll(page)
        page.screenshot(path=SCREENSHOTS / "case-phone.png", full_page=True)
        for name, path in [("my", "/my/"), ("my-messages", "/my/?tab=messages"), ("track", f"/track/?case_no={case.case_no}")]:
            page.goto(f"{live_server.url}{path}")
            assert no_horizontal_scroll(page), path
            page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
        page.get_by_label("证件号码或手机号后六位").fill(w.applicant.id_number[-6:])
        page.get_by_role("button", name="查询").click()
        page.wait_for_load_state()
        assert "查询结果" in page.content() and w.applicant.id_number not in page.content()
        page.goto(f"{live_server.url}/prefs/elder/on/?next={_case_url(case)}")
        assert "elder" in page.evaluate("document.body.className") and no_horizontal_scroll(page)
        page.screenshot(path=SCREENSHOTS / "case-elder-phone.png", full_page=True)
        context.close()
        browser.close()
