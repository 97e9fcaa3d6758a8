"""The certificate path in Chromium: an item whose version issues a certificate; the applicant applies
online; staff accept, review, approve and conclude on the workbench pages; the certificate appears in
the holder's wallet; the holder presents it choosing the fields; an anonymous verifier (another
browser context) opens the presentation and sees 有效 and the chosen fields only, then verifies the
identifier on /verify/."""

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PDF_BYTES, make_id_number
from tests.test_browser import CHROMIUM_ARGS, SCREENSHOTS, no_horizontal_scroll
from tests.test_certificate_verify import make_type

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
pytestmark = pytest.mark.browser

FIELDS = [{"key": "result_name", "label": "结果名称", "type": "text", "required": False}]


@pytest.fixture
def world(live_server, reference_data, case_world):
    from django.db import connection

    from tongban.applicants.models import Applicant

    w = case_world(steps=[{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}])
    Applicant.objects.filter(pk=w.applicant.pk).update(id_number=make_id_number("371327", "19620708"), phone="13912345670", name="孙桂芳")
    w.applicant.refresh_from_db()
    w.ctype = make_type(w.department, fields=FIELDS, years=5)
    w.version.certificate_type = w.ctype
    w.version.save()
    yield w
    if connection.vendor == "sqlite":  # let the flush after this test remove the append-only history
        from tongban.core.append_only import trigger_sql

        with connection.cursor() as cur:
            cur.execute("INSERT INTO cases_history_purge (id) VALUES (1) ON CONFLICT DO NOTHING")
            # Issuing a certificate is audited, and the audit log has no purge switch: empty it with its
            # delete trigger set aside, then put the trigger back at once (as test_browser_bundle does).
            cur.execute("DROP TRIGGER IF EXISTS core_auditentry_no_delete")
            cur.execute("DELETE FROM core_auditentry")
            for sql in trigger_sql("sqlite", "core_auditentry", "审计日志")[0]:
                cur.execute(sql)


def _sms_code():
    from tongban.applicants.models import OutboundSms

    return re.search(r"验证码是(\d{6})", OutboundSms.objects.order_by("-id").first().text).group(1)


def _staff_page(browser, live_server, client):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context.new_page()


def test_issue_wallet_present_and_verify(live_server, world, settings):
    from playwright.sync_api import sync_playwright

    from tongban.cases.models import Case
    from tongban.certificates.models import Certificate, Presentation
    from tongban.sharing.models import AccessLog

    settings.TONGBAN_PUBLIC_URL = live_server.url  # the QR codes point at this server
    w = world
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pdf = {"name": "申请书.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES + b"cert"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        assert Path("/usr/bin/chromium").exists()
        holder = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()

        # 1. The applicant signs in with an SMS code and applies online.
        holder.goto(f"{live_server.url}/applicant/login/?next=/apply/{w.impl.implementation_code}/")
        holder.get_by_label("身份号码或统一社会信用代码").fill(w.applicant.id_number)
        holder.get_by_label("手机号").fill(w.applicant.phone)
        holder.get_by_role("button", name="获取验证码").click()
        holder.get_by_label("短信验证码").fill(_sms_code())
        holder.get_by_role("button", name="登录").first.click()
        holder.wait_for_url(f"**/apply/{w.impl.implementation_code}/")
        holder.get_by_label("送达地址").fill("山东省临沂市莒南县人民路2号 孙桂芳 13912345670")
        holder.get_by_label("上传“申请书”").set_input_files(pdf)
        holder.get_by_label("上传“身份证明”").set_input_files(dict(pdf, name="身份证.pdf", buffer=PDF_BYTES + b"id"))
        holder.get_by_role("button", name="保存草稿").click()
        holder.wait_for_url("**/my/cases/*/")
        with holder.expect_navigation():  # wait for the answer to this post, not the page already shown
            holder.get_by_role("button", name="提交申请").click()
        holder.wait_for_load_state()
        case = Case.objects.get(applicant=w.applicant)
        assert case.status == "submitted"

        # 2. Staff accept, review twice, approve and conclude on the workbench pages.
        clerk = _staff_page(browser, live_server, w.clerk_client)
        clerk.goto(f"{live_server.url}/workbench/cases/{case.pk}/")
        with clerk.expect_navigation():
            clerk.locator("form.action-accept").get_by_role("button", name="受理").click()
        clerk.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "accepted"
        approver = _staff_page(browser, live_server, w.approver_client)
        approver.goto(f"{live_server.url}/workbench/cases/{case.pk}/")
        for step in ("审核", "审批"):
            review = approver.locator("form.action-review")
            assert step in review.inner_text()
            review.get_by_label("审查意见").fill(f"{step}通过")
            with approver.expect_navigation():
                review.get_by_role("button", name="通过").click()
            approver.wait_for_load_state()
        with approver.expect_navigation():
            approver.locator("form.action-approve").get_by_role("button", name="准予许可").click()
        approver.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "approved"
        clerk.reload()
        with clerk.expect_navigation():
            clerk.locator("form.action-conclude").get_by_role("button", name="办结").click()
        clerk.wait_for_load_state()
        assert Case.objects.get(pk=case.pk).status == "concluded"
        cert = Certificate.objects.get(case=case)
        assert cert.holder_id == w.applicant.pk and cert.status == "valid"

        # 3. The certificate is in the holder's wallet; the holder presents it showing the number only.
        holder.goto(f"{live_server.url}/my/certificates/")
        assert cert.number in holder.content()
        holder.screenshot(path=SCREENSHOTS / "certificates-wallet.png", full_page=True)
        holder.get_by_role("link", name="长者模式").click()  # the rest of the holder's path in elder mode
        holder.wait_for_url("**/my/certificates/")
        assert "elder" in holder.locator("body").get_attribute("class") and no_horizontal_scroll(holder)
        holder.get_by_role("link", name=w.ctype.name).click()
        holder.wait_for_url(f"**/my/certificates/{cert.pk}/")
        assert cert.identifier in holder.content()
        holder.get_by_role("link", name="亮证").first.click()
        holder.wait_for_url(f"**/my/certificates/{cert.pk}/present/")
        holder.get_by_label("证照编号").check()
        holder.get_by_label("持证主体代码").uncheck()
        holder.screenshot(path=SCREENSHOTS / "certificates-present-choose-elder.png", full_page=True)
        holder.get_by_role("button", name="生成亮证码").click()
        holder.wait_for_url("**/my/certificates/presentations/*/")
        presentation = Presentation.objects.get(certificate=cert)
        assert presentation.fields == ["number"]
        assert holder.locator("#cert-present-qr svg").is_visible()
        assert re.search(r"\d+分\d{2}秒", holder.locator(".cert-countdown").inner_text())  # the countdown script runs
        assert no_horizontal_scroll(holder)
        holder.screenshot(path=SCREENSHOTS / "certificates-present-qr.png", full_page=True)
        url = holder.locator("#cert-present-url").get_attribute("href")
        assert url == f"{live_server.url}/verify/p/{presentation.token}/"

        # 4. The verifier, anonymous, opens the presentation: 有效 and the chosen fields only.
        verifier = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        verifier.goto(url)
        assert verifier.locator("#cert-verdict-mark").inner_text() == "有效"
        shown = verifier.locator(".cert-fields").inner_text()
        assert cert.number in shown and "孙桂芳" in shown and w.department.name in shown
        assert "持证主体代码" not in shown and w.applicant.id_number not in verifier.content()
        verifier.screenshot(path=SCREENSHOTS / "certificates-presentation-verifier.png", full_page=True)

        # 5. The verifier checks the identifier on the public page.
        verifier.goto(f"{live_server.url}/verify/")
        verifier.get_by_label("证照标识").fill(cert.identifier)
        with verifier.expect_navigation():
            verifier.locator("form").filter(has=verifier.get_by_label("证照标识")).get_by_role("button", name="查验").click()
        verifier.wait_for_load_state()
        assert verifier.locator("#cert-verdict-mark").inner_text() == "有效"
        assert "孙*芳" in verifier.locator(".cert-fields").inner_text()
        verifier.screenshot(path=SCREENSHOTS / "certificates-verify.png", full_page=True)
        browser.close()

    actions = list(AccessLog.objects.filter(identifier=cert.identifier).values_list("action", flat=True))
    assert "present" in actions and "verify" in actions
