"""The proxy flow in Chromium across two real nodes: the clerk at 莒南县's 跨域通办专窗 (node A) receives
an application for 鄂尔多斯 (node B) — identity, originals, formal review, scans — and forwards it; an
approver at B finds it among the incoming hand-offs, accepts, reviews and decides; the result comes
back to A, whose clerk prints the notice and records the hand-over."""

import re

import pytest

from tests.multinode.harness import cluster, wait_until
from tests.test_browser import CHROMIUM_ARGS, SCREENSHOTS, no_horizontal_scroll
from tests.test_multinode_crossregion import PDF, PROXY_CODE, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.multinode]


def _login(browser, node, username):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{node.url}/staff/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("Tongban@2026")
    page.get_by_label("动态口令（6位）").fill(_token(node, username))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/workbench/**")
    return page


def _token(node, username):
    from tests.multinode.harness import StaffSession

    return StaffSession(node, username, "Tongban@2026").totp_token()


def _status(node, uid):
    rows = node.sql("SELECT status FROM cases_case WHERE CAST(uid AS TEXT) IN (%s, %s)", (uid, uid.replace("-", "")))
    return rows[0][0] if rows else None


def test_proxy_flow_across_two_nodes_in_chromium():
    from playwright.sync_api import sync_playwright

    from tests.conftest import make_id_number

    specs = [{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}]
    with cluster(specs) as nodes, sync_playwright() as p:
        a, b = nodes["A"], nodes["B"]
        make_staff(b, "ordos_hr", "clerk", "150602", "鄂尔多斯市东胜区人力资源和社会保障局")
        make_staff(b, "ordos_hr", "approver", "150602", "鄂尔多斯市东胜区人力资源和社会保障局")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        # 1. At A's window: check where it may be received, register the applicant, fill the form.
        clerk = _login(browser, a, "demo_clerk")
        clerk.get_by_role("link", name="异地代收").first.click()
        clerk.get_by_label("办理地的实施编码").fill(PROXY_CODE)
        clerk.get_by_role("button", name="核对能否代收").click()
        assert "可以代收" in clerk.content() and "跨省通办" in clerk.content()
        clerk.get_by_label("姓名或单位名称").fill("赵秀兰")
        clerk.get_by_label("公民身份号码（自然人）").fill(make_id_number("371327", "19560315", 321))
        clerk.get_by_label("手机号码").fill("13912345678")
        clerk.get_by_label("申请事由").fill("回原籍工作，转移养老保险关系")
        clerk.get_by_label("联系地址").fill("山东省临沂市莒南县十字路街道1号")
        clerk.get_by_label("送达方式").select_option("pickup")
        clerk.get_by_role("button", name="建立代收办件").click()
        clerk.wait_for_url("**/workbench/cases/*/")

        # 2. Identity, originals, each formal review point, scans; then forward.
        intake = clerk.locator("#intake")
        intake.get_by_label("人脸核验").check()
        for box in intake.locator("input[name=originals]").all():
            box.check()
        for radio in intake.get_by_label("符合", exact=True).all():
            radio.check()
        intake.get_by_role("button", name="保存收件核验").click()
        clerk.wait_for_load_state()
        options = clerk.locator("#scan-material option").all()
        for n in range(len(options)):
            option = clerk.locator("#scan-material option").nth(n)
            clerk.locator("#scan-material").select_option(option.get_attribute("value"))
            clerk.get_by_label("扫描件（PDF、JPG、PNG、OFD）").set_input_files({"name": f"扫描{n}.pdf", "mimeType": "application/pdf", "buffer": PDF + bytes([n])})
            clerk.get_by_role("button", name="上传扫描件").click()
            clerk.wait_for_load_state()
        forward = clerk.locator("form.action-forward")
        forward.get_by_label("快递公司").fill("中国邮政EMS")
        forward.get_by_label("快递单号").fill("EMS9876543210")
        forward.get_by_role("button", name="转递办理地").click()
        clerk.wait_for_load_state()
        case_no = re.search(r"371327-\d{8}-\d{6}", clerk.locator("h1").inner_text()).group(0)
        uid = a.sql("SELECT CAST(uid AS TEXT) FROM cases_case WHERE case_no = %s", (case_no,))[0][0]
        if len(uid) == 32:
            uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:]}"
        clerk.screenshot(path=SCREENSHOTS / "proxy-forwarded-A.png", full_page=True)

        # 3. At B: the hand-off arrives among the incoming cases; accept, review, decide, conclude.
        wait_until(lambda: _status(b, uid) == "submitted", timeout=90, message="hand-off never reached B", diagnostics=nodes.diagnostics)
        approver = _login(browser, b, "ordos_hr")
        approver.goto(f"{b.url}/workbench/queue/?scope=incoming")
        approver.get_by_role("link", name=case_no).click()
        assert "收件地" in approver.content() and "莒南县" in approver.content()
        approver.locator("form.action-confirm_paper").get_by_role("button", name="签收纸质材料").click()
        approver.wait_for_load_state()
        approver.locator("form.action-accept").get_by_role("button", name="受理").click()
        approver.wait_for_load_state()
        for step in ("审核", "审批"):
            review = approver.locator("form.action-review")
            assert step in review.inner_text()
            review.get_by_label("审查意见").fill(f"{step}通过")
            review.get_by_role("button", name="通过").click()
            approver.wait_for_load_state()
        approver.locator("form.action-approve").get_by_role("button", name="准予许可").click()
        approver.wait_for_load_state()
        approver.locator("form.action-conclude").get_by_role("button", name="办结").click()
        approver.wait_for_load_state()
        assert _status(b, uid) == "concluded"
        assert approver.locator("form.action-deliver").count() == 0  # the result is handed over at A
        approver.screenshot(path=SCREENSHOTS / "proxy-decided-B.png", full_page=True)

        # 4. Back at A: the result arrived; print the notice and record the hand-over.
        wait_until(lambda: _status(a, uid) == "concluded", timeout=90, message="result never came back to A", diagnostics=nodes.diagnostics)
        clerk.reload()
        notice = clerk.get_by_role("link", name="办结通知书")
        with clerk.expect_popup() as popup:
            notice.click()
        assert popup.value.url.endswith("/")  # the PDF opened for printing
        deliver = clerk.locator("form.action-deliver")
        deliver.get_by_label("送达方式").select_option("pickup")
        deliver.get_by_label("领取/打印地点（选填）").fill("莒南县政务服务中心18号窗口")
        deliver.get_by_label("签收人（选填）").fill("赵秀兰")
        deliver.get_by_role("button", name="登记送达").click()
        clerk.wait_for_load_state()
        assert _status(a, uid) == "delivered"
        wait_until(lambda: _status(b, uid) == "delivered", timeout=90, message="hand-over never reached B", diagnostics=nodes.diagnostics)
        timeline = clerk.locator("#timeline").inner_text()
        for step in ("代收转递", "办理地接收", "签收纸质材料", "受理", "审核", "审批", "准予许可", "办结", "送达"):
            assert step in timeline, step
        assert "收件地" in timeline and "办理地" in timeline
        assert no_horizontal_scroll(clerk)
        clerk.screenshot(path=SCREENSHOTS / "proxy-delivered-A.png", full_page=True)
        browser.close()
