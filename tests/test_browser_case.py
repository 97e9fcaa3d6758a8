"""The whole online path in Chromium: an applicant signs in with an SMS code and applies with
materials → the clerk requests a supplement → the applicant supplements → the clerk accepts → the
approver passes the review steps and approves → conclusion → mail delivery is recorded → the public
case query shows the timeline."""

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PDF_BYTES, make_id_number
from tests.test_browser import CHROMIUM_ARGS, SCREENSHOTS, no_horizontal_scroll

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
pytestmark = pytest.mark.browser


@pytest.fixture
def world(live_server, reference_data, case_world):
    from django.db import connection

    from tongban.applicants.models import Applicant

    w = case_world(steps=[{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}])
    Applicant.objects.filter(pk=w.applicant.pk).update(id_number=make_id_number("371327", "19560315"), phone="13912345678", name="赵秀兰")
    w.applicant.refresh_from_db()
    yield w
    if connection.vendor == "sqlite":  # let the flush after this test remove the append-only history
        with connection.cursor() as cur:
            cur.execute("INSERT INTO cases_history_purge (id) VALUES (1) ON CONFLICT DO NOTHING")


def _sms_code():
    from tongban.applicants.models import OutboundSms

    return re.search(r"验证码是(\d{6})", OutboundSms.objects.order_by("-id").first().text).group(1)


def _staff_context(browser, live_server, client):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context


def test_apply_supplement_approve_conclude_deliver_track(live_server, world):
    from playwright.sync_api import sync_playwright

    from tongban.cases.models import Case

    w = world
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pdf = {"name": "申请书.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES + b"v1"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        assert Path("/usr/bin/chromium").exists()
        applicant = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

        # 1. The applicant signs in with a one-time SMS code and applies online with materials.
        applicant.goto(f"{live_server.url}/applicant/login/?next=/apply/{w.impl.implementation_code}/")
        applicant.get_by_label("身份号码或统一社会信用代码").fill(w.applicant.id_number)
        applicant.get_by_label("手机号").fill(w.applicant.phone)
        applicant.get_by_role("button", name="获取验证码").click()
        applicant.get_by_label("短信验证码").fill(_sms_code())
        applicant.get_by_role("button", name="登录").first.click()
        applicant.wait_for_url(f"**/apply/{w.impl.implementation_code}/")
        applicant.get_by_label("送达地址").fill("山东省临沂市莒南县人民路1号 赵秀兰 13912345678")
        applicant.get_by_label("上传“申请书”").set_input_files(pdf)
        applicant.get_by_label("上传“身份证明”").set_input_files(dict(pdf, name="身份证.pdf", buffer=PDF_BYTES + b"id"))
        applicant.get_by_role("button", name="保存草稿").click()
        applicant.wait_for_url("**/my/cases/*/")
        applicant.get_by_role("button", name="提交申请").click()
        applicant.wait_for_load_state()
        case = Case.objects.get(applicant=w.applicant)
        assert case.status == "submitted" and case.case_no in applicant.content()

        # 2. The clerk asks for a supplement: one notice listing everything.
        clerk = _staff_context(browser, live_server, w.clerk_client).new_page()
        clerk.goto(f"{live_server.url}/workbench/queue/")
        clerk.get_by_role("link", name=case.case_no).click()
        form = clerk.locator("form.action-request_supplement")
        form.get_by_label(w.materials[0].name, exact=True).check()
        form.get_by_label(f"{w.materials[0].name}存在的问题").fill("申请书缺少签名")
        form.get_by_label("补正说明").fill("请签名后重新上传")
        form.get_by_role("button", name="要求补齐补正").click()
        clerk.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "supplement"

        # 3. The applicant sees the notice, re-uploads and resubmits.
        applicant.goto(f"{live_server.url}/my/cases/{case.pk}/")
        assert "申请书缺少签名" in applicant.content()
        applicant.get_by_label(re.compile("重新上传“申请书”")).set_input_files(dict(pdf, buffer=PDF_BYTES + b"signed"))
        applicant.get_by_role("button", name="重新提交").click()
        applicant.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "submitted"

        # 4. The clerk accepts; the approver passes both review steps and approves.
        clerk.reload()
        clerk.locator("form.action-accept").get_by_role("button", name="受理").click()
        clerk.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "accepted"
        approver = _staff_context(browser, live_server, w.approver_client).new_page()
        approver.goto(f"{live_server.url}/workbench/cases/{case.pk}/")
        for step in ("审核", "审批"):
            review = approver.locator("form.action-review")
            assert step in review.inner_text()
            review.get_by_label("审查意见").fill(f"{step}通过")
            review.get_by_role("button", name="通过").click()
            approver.wait_for_load_state()
        approver.locator("form.action-approve").get_by_role("button", name="准予许可").click()
        approver.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "approved"
        approver.screenshot(path=SCREENSHOTS / "workbench-case.png", full_page=True)

        # 5. Conclude, then record mail delivery with courier and tracking number.
        clerk.reload()
        clerk.locator("form.action-conclude").get_by_role("button", name="办结").click()
        clerk.wait_for_load_state()
        deliver = clerk.locator("form.action-deliver")
        deliver.get_by_label("送达方式").select_option("mail")
        deliver.get_by_label("快递公司（邮寄送达必填）").fill("中国邮政EMS")
        deliver.get_by_label("快递单号（邮寄送达必填）").fill("EA123456789CN")
        deliver.get_by_role("button", name="登记送达").click()
        clerk.wait_for_load_state()
        case.refresh_from_db()
        assert case.status == "delivered" and case.delivery.tracking_no == "EA123456789CN"

        # 6. Anyone with the number and the last six characters sees the progress, no personal data.
        public = browser.new_context().new_page()
        public.goto(f"{live_server.url}/track/?case_no={case.case_no}")
        public.get_by_label("证件号码或手机号后六位").fill(w.applicant.id_number[-6:])
        public.get_by_role("button", name="查询").click()
        public.wait_for_load_state()
        text = public.content()
        for step in ("收件", "补齐补正", "补正提交", "受理", "审核", "审批", "准予许可", "办结", "送达"):
            assert step in text, step
        assert w.applicant.id_number not in text and "赵秀兰" not in text and w.applicant.phone not in text
        assert no_horizontal_scroll(public)
        public.screenshot(path=SCREENSHOTS / "track-timeline.png", full_page=True)
        browser.close()
