"""The applicant's path in a real browser (Debian's Chromium through Playwright): search 户口 from the home
page, open the guide, download a template, switch to elder mode and to Traditional Chinese, pick a
region with the htmx picker, and check that a phone viewport never scrolls sideways."""

import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from tests.conftest import make_department, make_implementation, make_item

# Playwright runs an event loop in this thread; Django's ORM refuses to run inside one otherwise.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def applicant_data(reference_data, settings, tmp_path):
    from tongban.directory.models import Hall, Window

    settings.MEDIA_ROOT = tmp_path
    police = make_department("371327", "莒南县公安局")
    hukou = make_item("户口迁移", "002000100000", materials=("户口迁移申请表", "居民身份证", "户口簿"))
    form = hukou.versions.get().materials.get(seq=1)
    form.blank_form.save("form.docx", ContentFile(b"blank-form"), save=False)
    form.sample.save("sample.pdf", ContentFile(b"%PDF-sample"), save=False)
    form.fill_instructions = "请用黑色签字笔填写，字迹清楚"
    form.save()
    version = hukou.versions.get()
    version.acceptance_mode = "收受分离、一窗受理"
    version.process_description = "申请人在就近的跨域通办专窗提交材料，窗口核验后转交迁入地公安机关审批"
    version.consult_method = "拨打 12345 或到办理地窗口咨询"
    version.save()
    impl = make_implementation(hukou, police, modes=("online", "proxy"), scopes=("cross_province", "province_wide"))
    hall = Hall.objects.create(
        name="莒南县政务服务中心",
        kind=Hall.COUNTY_HALL,
        region=police.region,
        address="山东省临沂市莒南县人民路100号",
        phone="0539-7210000",
    )
    Window.objects.create(hall=hall, number="8", name="跨省通办受理", kind=Window.CROSS_REGION)
    Window.objects.create(hall=hall, number="1", name="综合受理", kind=Window.GENERAL)
    impl.halls.add(hall)
    make_implementation(make_item("户口簿补领", "002000200000"), police, modes=("online",))
    social = make_department("370102", "历下区人力资源和社会保障局")
    make_implementation(
        make_item("社会保障卡申领", "372000300000", region_code="370000"), social, modes=("joint",), scopes=("province_wide",)
    )
    return {"impl": impl}


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert Path("/usr/bin/chromium").exists(), "Debian's chromium package is needed for browser tests"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shoot_sections(page, prefix):
    """Screen-sized shots of the guide's top, materials and places: full-page shots of a phone are too tall to review."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS / f"{prefix}-top.png")
    for key in ("materials", "places"):
        page.evaluate(f"document.getElementById('sec-{key}').scrollIntoView()")
        page.screenshot(path=SCREENSHOTS / f"{prefix}-{key}.png")


def test_search_guide_elder_and_traditional(live_server, applicant_data, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "跨域通办专区"
    page.get_by_label("搜索事项").fill("户口")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url("**/search/?q=*")
    titles = page.locator(".result-title").all_inner_texts()
    assert "户口迁移" in titles and "户口簿补领" in titles and "社会保障卡申领" not in titles
    page.screenshot(path=SCREENSHOTS / "search-desktop.png", full_page=True)

    page.get_by_role("link", name="户口迁移").click()
    page.wait_for_url(f"**/guide/{applicant_data['impl'].implementation_code}/")
    assert page.locator("h1").inner_text() == "户口迁移"
    assert page.locator(".window-cross").count() == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="空白表格").click()
    assert download.value.suggested_filename == "户口迁移申请表（空白表格）.docx"
    page.screenshot(path=SCREENSHOTS / "guide-desktop.png", full_page=True)
    shoot_sections(page, "guide-desktop")
    standard_size = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))

    page.get_by_role("link", name="长者模式").click()
    page.wait_for_load_state()
    assert "elder" in page.evaluate("document.body.className")
    elder_size = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    assert elder_size >= 20 and elder_size > standard_size
    assert page.locator("nav.toc").is_hidden()  # fewer elements
    assert page.url.endswith(f"/guide/{applicant_data['impl'].implementation_code}/")
    page.screenshot(path=SCREENSHOTS / "guide-elder-desktop.png", full_page=True)

    page.get_by_role("link", name="繁體").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "戶口遷移"
    assert "辦事指南" in page.content() and "elder" in page.evaluate("document.body.className")
    page.screenshot(path=SCREENSHOTS / "guide-elder-hant-desktop.png", full_page=True)

    # Back to standard: searching in Traditional finds the same item.
    page.get_by_role("link", name="標準模式").click()
    page.get_by_role("link", name="簡體").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "户口迁移"
    context.close()


def test_region_picker_with_htmx(live_server, applicant_data, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/search/")
    assert page.locator(".result").count() == 3
    page.select_option("#region-0", "370000")
    page.wait_for_selector("#region-1")
    page.select_option("#region-1", "371300")
    page.wait_for_selector("#region-2")
    assert page.locator("#department option", has_text="莒南县公安局").count() == 1
    page.select_option("#region-2", "371327")
    # Locator waits, not wait_for_function: the page's CSP (script-src 'self') forbids evaluating strings.
    from playwright.sync_api import expect

    expect(page.locator("#region-2")).to_have_value("371327")
    page.select_option("#department", label="莒南县公安局")
    page.screenshot(path=SCREENSHOTS / "search-region-picker-desktop.png")
    page.get_by_role("button", name="应用筛选").click()
    page.wait_for_url("**/search/?*region=371327*")
    assert set(page.locator(".result-title").all_inner_texts()) == {"户口迁移", "户口簿补领"}
    # Changing the province drops the stale city and county.
    page.select_option("#region-0", "110000")
    expect(page.locator("#region-1")).to_have_value("")
    assert page.locator("#region-2").count() == 0
    page.close()


def test_phone_viewport_has_no_horizontal_scroll(live_server, applicant_data, browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    code = applicant_data["impl"].implementation_code
    pages = [("home", "/"), ("search", "/search/?q=户口"), ("guide", f"/guide/{code}/"), ("lists", "/lists/"), ("login", "/staff/login/")]
    for name, path in pages:
        page.goto(f"{live_server.url}{path}")
        assert no_horizontal_scroll(page), path
        page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
        if name == "guide":
            shoot_sections(page, "guide-phone")
    page.goto(f"{live_server.url}/prefs/elder/on/?next=/guide/{code}/")
    assert "elder" in page.evaluate("document.body.className")
    assert no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOTS / "guide-elder-phone.png", full_page=True)
    shoot_sections(page, "guide-elder-phone")
    # Touch targets in elder mode are large enough to hit.
    heights = page.eval_on_selector_all(
        ".prefs a, .btn, .download", "els => els.filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 44
    page.goto(f"{live_server.url}/")
    assert no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOTS / "home-elder-phone.png", full_page=True)
    context.close()
