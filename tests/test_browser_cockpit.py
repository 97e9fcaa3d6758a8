"""The cockpit in Chromium: a province supervisor opens /cockpit/, the ECharts trend and ranking charts
render from the vendored script (no network), drill-down to a city works; screenshots kept under the
pytest tmp dir."""

import os

import pytest

from tests.test_browser import CHROMIUM_ARGS

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
pytestmark = pytest.mark.browser


def test_cockpit_renders_charts_and_drills_down(live_server, reference_data, staff_factory, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_supervision import World, direct_counts
    from tongban.supervision import summary

    w = World()
    summary.rebuild()
    _user, client = staff_factory("supervisor", "370000")
    failed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        page = context.new_page()
        # Anything fetched from outside the live server would be a CDN: none may be asked for.
        page.on("request", lambda r: None if r.url.startswith(live_server.url) else failed.append(r.url))
        page.on("pageerror", lambda e: failed.append(str(e)))
        page.goto(f"{live_server.url}/cockpit/?from={w.start.isoformat()}&to={w.end.isoformat()}")
        for chart in ("chart-trend", "chart-regions", "chart-departments"):
            page.wait_for_selector(f"#{chart}[data-rendered='1'] canvas")
        assert page.get_by_role("heading", name="政务服务驾驶舱").is_visible()
        want = direct_counts(w, w.filter("370000"))
        assert page.locator("[data-figure='received']").inner_text() == str(want["received"])
        # The charts carry the figures (not just empty axes): the trend's received series sums to the total.
        series = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-trend')).getOption().series[0].data")
        assert sum(series) == want["received"]
        bars = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-regions')).getOption().series[0].data")
        assert bars == [want["received"]]
        page.screenshot(path=str(tmp_path / "cockpit.png"), full_page=True)
        page.get_by_role("link", name="临沂市").first.click()
        page.wait_for_selector("#chart-regions[data-rendered='1'] canvas")
        assert page.get_by_role("link", name="莒南县", exact=True).is_visible()
        assert page.get_by_role("link", name="兰山区", exact=True).is_visible()
        page.screenshot(path=str(tmp_path / "cockpit-city.png"), full_page=True)
        browser.close()
    assert failed == []
    assert (tmp_path / "cockpit.png").stat().st_size > 10_000
