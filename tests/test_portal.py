"""Applicant pages (跨域通办专区): rendering, search and filters, the guide, template downloads, lists,
display preferences, and lenient handling of bad input. Only published data may ever show."""

import datetime
import re
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from tests.conftest import make_department, make_implementation, make_item
from tongban.catalog.models import ItemVersion, ListEntry, Material, TongbanList
from tongban.directory.models import Hall, Region, Window
from tongban.portal.guide import NON_GUIDE_FIELDS, build_sections, covered_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def data(media):
    """Two published items in Shandong (one with a hall, windows and a template file), one draft item."""
    police = make_department("371327", "莒南县公安局")
    police.phone = "0539-7212345"
    police.save()
    hukou = make_item("户口迁移", "002000100000", materials=("户口迁移申请表", "居民身份证"))
    form = hukou.versions.get().materials.get(seq=1)
    form.blank_form.save("blank.docx", ContentFile(b"blank-form-bytes"), save=False)
    form.sample.save("sample.pdf", ContentFile(b"%PDF-sample"), save=False)
    form.acceptance_standard = "填写完整并签字"
    form.original_check = True
    form.save()
    hukou_impl = make_implementation(hukou, police, modes=("online", "proxy"), scopes=("cross_province",))
    hall = Hall.objects.create(
        name="莒南县政务服务中心", kind=Hall.COUNTY_HALL, region=police.region, address="莒南县人民路100号", phone="0539-7210000"
    )
    Window.objects.create(hall=hall, number="8", name="跨省通办受理", kind=Window.CROSS_REGION)
    Window.objects.create(hall=hall, number="1", name="综合受理", kind=Window.GENERAL)
    hukou_impl.halls.add(hall)

    social = make_department("370102", "历下区人力资源和社会保障局")
    card = make_item("社会保障卡申领", "372000200000", region_code="370000")
    card_impl = make_implementation(card, social, modes=("joint",), scopes=("province_wide",))

    draft = make_item("户籍证明草稿", "002000300000", publish=False, materials=("草稿材料",))
    draft.versions.get().materials.get().blank_form.save("draft.docx", ContentFile(b"draft"), save=True)
    draft_impl = make_implementation(draft, police)
    return {
        "police": police,
        "hukou": hukou,
        "hukou_impl": hukou_impl,
        "form": form,
        "social": social,
        "card_impl": card_impl,
        "draft": draft,
        "draft_impl": draft_impl,
        "hall": hall,
    }


def get(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.content.decode()


def result_names(html):
    return re.findall(r'class="result-title"><a href="[^"]+">([^<]+)</a>', html)


# ---- pages render for anonymous applicants ----------------------------------------------------


def test_home_has_search_tiles_and_lists(client, data):
    TongbanList.objects.create(name="山东省跨省通办事项清单", scope="cross_province", region=Region.objects.get(code="370000"))
    html = get(client, "/")
    assert 'name="q"' in html and 'action="/search/"' in html
    for label in ("跨省通办", "全省通办", "全市通办", "区域通办", "全程网办", "异地代收代办", "多地联办"):
        assert label in html
    for url in ("/scope/cross_province/", "/scope/regional/", "/mode/online/", "/mode/proxy/", "/mode/joint/"):
        assert f'href="{url}"' in html
    assert "山东省跨省通办事项清单" in html
    assert "户口迁移" in html and "户籍证明草稿" not in html  # frequent items: published only
    assert "工作人员登录" in html and 'href="/staff/login/"' in html


@pytest.mark.parametrize("q", ["户", "户口", "户口迁", "户口迁移", "口迁", "移"])
def test_search_chinese_substrings_of_any_length(client, data, q):
    assert result_names(get(client, "/search/", q=q)) == ["户口迁移"]


@pytest.mark.parametrize("q", ["hkqy", "hk", "HKQY", "hukou", "戶口遷移", "  户口  "])
def test_search_pinyin_initials_and_traditional_input(client, data, q):
    assert "户口迁移" in result_names(get(client, "/search/", q=q))


def test_search_result_shows_department_region_modes_and_days(client, data):
    html = get(client, "/search/", q="户口")
    assert "莒南县公安局" in html and "山东省 临沂市 莒南县" in html
    assert "全程网办" in html and "异地代收代办" in html and "10 个工作日" in html
    assert f'href="/guide/{data["hukou_impl"].implementation_code}/"' in html
    assert re.search(r'class="total">1<', html)


def test_unpublished_items_never_appear(client, data):
    code = data["draft_impl"].implementation_code
    for url in ("/", "/search/", "/search/?q=户籍", "/scope/cross_province/", "/mode/online/", "/search/?region=371327"):
        assert "户籍证明草稿" not in get(client, url), url
    assert client.get(f"/guide/{code}/").status_code == 404
    draft_material = Material.objects.get(version__item=data["draft"])
    assert client.get(f"/guide/materials/{draft_material.pk}/blank/").status_code == 404


def test_retired_version_disappears(client, data):
    ItemVersion.objects.filter(item=data["hukou"]).update(status=ItemVersion.RETIRED)
    assert result_names(get(client, "/search/", q="户口")) == []
    assert client.get(f"/guide/{data['hukou_impl'].implementation_code}/").status_code == 404
    assert client.get(f"/guide/materials/{data['form'].pk}/blank/").status_code == 404


def test_inactive_implementation_hidden(client, data):
    data["hukou_impl"].is_active = False
    data["hukou_impl"].save()
    assert result_names(get(client, "/search/", q="户口")) == []
    assert client.get(f"/guide/{data['hukou_impl'].implementation_code}/").status_code == 404


# ---- filters ----------------------------------------------------------------------------------


def test_filter_by_region_subtree(client, data):
    assert sorted(result_names(get(client, "/search/", region="370000"))) == ["户口迁移", "社会保障卡申领"]
    assert result_names(get(client, "/search/", region="371300")) == ["户口迁移"]
    assert result_names(get(client, "/search/", region="370100")) == ["社会保障卡申领"]
    assert result_names(get(client, "/search/", region="110000")) == []


def test_region_picker_chain_and_stale_child(client, data):
    # province → city → county as the selects submit them
    html = get(client, "/search/?region=370000&region=371300&region=371327")
    assert result_names(html) == ["户口迁移"]
    assert re.search(r'<option value="371327" selected>莒南县</option>', html)
    # the province changed but the old city select was still submitted: the city is dropped
    html = get(client, "/search/?region=370000&region=110100&region=")
    assert sorted(result_names(html)) == ["户口迁移", "社会保障卡申领"]
    assert re.search(r'<option value="370000" selected>山东省</option>', html)
    # municipality: province then counties directly
    html = get(client, reverse("portal:region-picker"), region="110000")
    assert "东城区" in html and 'id="region-1"' in html


def test_region_picker_fragment_lists_departments(client, data):
    html = get(client, reverse("portal:region-picker"), region="370000")
    assert "临沂市" in html and "济南市" in html
    assert "莒南县公安局" in html and "历下区人力资源和社会保障局" in html
    assert "<html" not in html  # a fragment for htmx
    html = get(client, reverse("portal:region-picker"), region="371327", department=str(data["police"].pk))
    assert f'<option value="{data["police"].pk}" selected>' in html and "历下区" not in html


def test_filter_by_department_scope_and_mode(client, data):
    assert result_names(get(client, "/search/", region="370000", department=str(data["social"].pk))) == ["社会保障卡申领"]
    assert result_names(get(client, "/search/", department=str(data["police"].pk))) == ["户口迁移"]
    assert result_names(get(client, "/search/", scope="province_wide")) == ["社会保障卡申领"]
    assert result_names(get(client, "/search/", mode="proxy")) == ["户口迁移"]
    assert result_names(get(client, "/search/", mode="joint", q="户口")) == []


def test_scope_and_mode_pages(client, data):
    html = get(client, "/scope/cross_province/")
    assert "<h1>跨省通办</h1>" in html and result_names(html) == ["户口迁移"]
    assert "（已选）" not in html and "清除条件" not in html  # the page's own scope is not an applicant's filter
    html = get(client, "/mode/joint/")
    assert "<h1>多地联办</h1>" in html and result_names(html) == ["社会保障卡申领"]
    assert result_names(get(client, "/scope/province_wide/", q="社保")) == []  # q narrows further
    assert result_names(get(client, "/scope/province_wide/", q="sbk")) == []
    assert result_names(get(client, "/scope/province_wide/", q="shbzk")) == ["社会保障卡申领"]


def test_pagination(client, data):
    item = make_item("居住证申领", "002000400000")
    for code in [
        "371302",
        "371311",
        "371312",
        "371321",
        "371322",
        "371323",
        "371324",
        "371325",
        "371326",
        "371328",
        "371329",
        "370102",
        "370103",
        "370104",
        "370105",
        "370112",
        "370113",
        "370114",
        "370115",
        "370116",
        "370117",
        "370124",
        "370126",
        "370202",
        "370203",
    ]:
        make_implementation(item, make_department(code, f"{code}公安局"))
    html = get(client, "/search/", q="居住证")
    assert len(result_names(html)) == 20 and re.search(r'class="total">25<', html)
    assert 'href="/search/?q=%E5%B1%85%E4%BD%8F%E8%AF%81&amp;page=2"' in html
    assert len(result_names(get(client, "/search/", q="居住证", page="2"))) == 5
    html = get(client, "/search/", q="居住证", page="99")  # beyond the end: the last page
    assert len(result_names(html)) == 5 and 'aria-current="page">2<' in html


def test_capped_total_shows_plus(client, data, monkeypatch):
    from tongban.catalog.search import SearchResult
    from tongban.portal import services

    monkeypatch.setattr(services, "search_implementations", lambda *a, **k: SearchResult([data["hukou_impl"]], 1000, True))
    assert re.search(r'class="total">1000\+<', get(client, "/search/"))


# ---- the guide --------------------------------------------------------------------------------


def test_guide_covers_every_guide_field(data):
    from tongban.portal.services import guide_for

    guide = guide_for(data["hukou_impl"].implementation_code, None)
    all_fields = {f.name for f in ItemVersion._meta.get_fields() if getattr(f, "concrete", False) and not f.many_to_many}
    assert all_fields - NON_GUIDE_FIELDS == covered_fields(build_sections(guide))


def test_guide_page_shows_all_sections_labels_materials_and_places(client, data):
    from tongban.portal.services import guide_for

    code = data["hukou_impl"].implementation_code
    html = get(client, f"/guide/{code}/")
    for title in (
        "基本信息",
        "申请条件",
        "申请材料",
        "办理流程与审核程序",
        "办理时限",
        "收费",
        "办理地点",
        "通办范围与模式",
        "送达方式",
        "审批结果",
        "设定依据",
        "咨询与投诉",
        "特别程序",
    ):
        assert f">{title}</h2>" in html, title
    for section in build_sections(guide_for(code, None)):
        for row in section.rows:
            assert f"<dt>{row.label}</dt>" in html, row.label
    # materials table with every column and both template links
    for col in ("材料名称", "材料形式", "必要性", "来源渠道", "纸质份数", "规格", "受理标准", "原件核验"):
        assert f">{col}</th>" in html
    assert "户口迁移申请表" in html and "居民身份证" in html and "填写完整并签字" in html and "需核验原件" in html
    form = data["form"]
    assert f'href="/guide/materials/{form.pk}/blank/"' in html and f'href="/guide/materials/{form.pk}/sample/"' in html
    # where to apply, with the cross-region window highlighted first
    assert "莒南县政务服务中心" in html and "莒南县人民路100号" in html and "0539-7210000" in html
    assert "周一至周五" in html and 'class="window window-cross"' in html and "跨域通办专窗" in html
    assert html.index("8 号窗口") < html.index("1 号窗口")
    # modes, scopes, limits, delivery, legal basis
    assert "全程网办：" in html and "跨省通办" in html and "10 个工作日" in html and "20 个工作日" in html
    assert "邮寄送达" in html and "《中华人民共和国行政许可法》" in html and "0539-7212345" in html
    assert "受理—审核—审批—办结" in html and "申请人符合法定条件" in html


def test_guide_accepts_lowercase_code_and_unknown_code_is_friendly_404(client, data):
    code = data["hukou_impl"].implementation_code
    assert client.get(f"/guide/{code.lower()}/").status_code == 200
    response = client.get("/guide/NOPE/")
    assert response.status_code == 404
    assert "没有找到" in response.content.decode() and "返回首页" in response.content.decode()


def test_guide_other_places_and_result_sample(client, data):
    other = make_implementation(data["hukou"], make_department("370102", "历下区公安分局"))
    version = data["hukou"].versions.get()
    version.result_name = "户口迁移证明"
    version.result_sample.save("result.pdf", ContentFile(b"%PDF-result"), save=True)
    html = get(client, f"/guide/{data['hukou_impl'].implementation_code}/")
    assert f'href="/guide/{other.implementation_code}/"' in html
    url = f"/guide/{data['hukou_impl'].implementation_code}/result-sample/"
    assert f'href="{url}"' in html
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-result"
    assert quote("户口迁移证明（审批结果样本）.pdf") in response["Content-Disposition"]


# ---- template downloads -----------------------------------------------------------------------


def test_template_download_with_chinese_file_name(client, data):
    form = data["form"]
    response = client.get(f"/guide/materials/{form.pk}/blank/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"blank-form-bytes"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=utf-8''{quote('户口迁移申请表（空白表格）.docx')}" in disposition
    response = client.get(f"/guide/materials/{form.pk}/sample/")
    assert response.status_code == 200 and quote("示例样表") in response["Content-Disposition"]


def test_template_download_missing_file_or_kind_is_404(client, data):
    no_file = Material.objects.get(version__item=data["hukou"], seq=2)
    assert client.get(f"/guide/materials/{no_file.pk}/blank/").status_code == 404
    assert client.get(f"/guide/materials/{data['form'].pk}/other/").status_code == 404
    data["form"].blank_form.storage.delete(data["form"].blank_form.name)
    assert client.get(f"/guide/materials/{data['form'].pk}/blank/").status_code == 404


def test_draft_version_material_404_even_when_item_has_published_version(client, data):
    draft = ItemVersion.objects.create(
        item=data["hukou"],
        version_no=2,
        name="户口迁移",
        conditions="新条件",
        application_methods="网上",
        review_procedure="受理",
        statutory_limit_days=20,
        promised_limit_days=5,
        legal_basis="依据",
    )
    material = Material.objects.create(version=draft, seq=1, name="新申请表")
    material.blank_form.save("new.docx", ContentFile(b"new"), save=True)
    assert client.get(f"/guide/materials/{material.pk}/blank/").status_code == 404
    html = get(client, f"/guide/{data['hukou_impl'].implementation_code}/")
    assert "新申请表" not in html and "新条件" not in html


# ---- 通办 lists -------------------------------------------------------------------------------


def test_lists_and_entries(client, data):
    lst = TongbanList.objects.create(
        name="全国高频政务服务跨省通办事项清单",
        scope="cross_province",
        region=Region.objects.get(code="000000"),
        document_no="国办发〔2020〕35号",
        issued_on=datetime.date(2020, 9, 24),
    )
    ListEntry.objects.create(
        tongban_list=lst,
        seq=1,
        item_name="户口迁移",
        item=data["hukou"],
        responsible_department=data["police"],
        modes=["online", "proxy"],
        batch="第一批",
        deadline=datetime.date(2020, 12, 31),
        status=ListEntry.IMPLEMENTED,
    )
    ListEntry.objects.create(
        tongban_list=lst,
        seq=2,
        item_name="异地就医结算备案",
        responsible_department_name="国家医保局",
        batch="第二批",
        deadline=datetime.date(2021, 6, 30),
    )
    TongbanList.objects.create(name="临沂市全市通办清单", scope="city_wide", region=Region.objects.get(code="371300"))
    html = get(client, "/lists/")
    assert "全国高频政务服务跨省通办事项清单" in html and "临沂市全市通办清单" in html and "共 2 个事项" in html
    html = get(client, "/lists/", scope="city_wide")
    assert "临沂市全市通办清单" in html and "全国高频政务服务跨省通办事项清单" not in html
    assert "全国高频" in get(client, "/lists/", scope="bogus")  # unknown scope: all lists
    html = get(client, f"/lists/{lst.pk}/")
    for text in (
        "国办发〔2020〕35号",
        "莒南县公安局",
        "国家医保局",
        "全程网办、异地代收代办",
        "第一批",
        "2020年12月31日",
        "已实现",
        "未开始",
        "异地就医结算备案",
    ):
        assert text in html, text
    assert "全国高频政务服务跨省通办事项清单" in get(client, "/scope/cross_province/")
    assert client.get("/lists/999999/").status_code == 404


# ---- display preferences ----------------------------------------------------------------------


def test_traditional_cookie_converts_page_text(data):
    client = Client()
    client.cookies["tb_script"] = "hant"
    html = get(client, "/search/", q="户口")
    assert "戶口遷移" in html and "户口迁移" not in html
    assert 'lang="zh-Hant"' in html
    html = get(client, f"/guide/{data['hukou_impl'].implementation_code}/")
    assert "辦事指南" in html and "戶口遷移" in html


def test_elder_mode_class(data):
    client = Client()
    assert not re.search(r'<body class="elder', get(client, "/"))
    client.cookies["tb_elder"] = "1"
    html = get(client, "/")
    assert re.search(r'<body class="elder', html) and "标准模式" in html
    assert '<details class="filters">' in get(client, "/search/")  # filters collapsed in elder mode


def test_filters_open_while_browsing_or_filtering(client, data):
    assert '<details class="filters" open>' in get(client, "/search/")
    assert '<details class="filters">' in get(client, "/search/", q="户口")  # results first after a plain search
    assert '<details class="filters" open>' in get(client, "/search/", q="户口", mode="online")


def test_pref_switches_set_cookies_and_redirect_safely(client, data):
    response = client.get("/prefs/script/hant/", {"next": "/search/?q=户口"})
    assert response.status_code == 302 and response["Location"] == "/search/?q=%E6%88%B7%E5%8F%A3"
    assert response.cookies["tb_script"].value == "hant" and response.cookies["tb_script"]["httponly"]
    response = client.get("/prefs/script/hans/", {"next": "/"})
    assert response.cookies["tb_script"].value == "" and response["Location"] == "/"
    response = client.get("/prefs/elder/on/", {"next": "https://evil.example/"})
    assert response["Location"] == "/" and response.cookies["tb_elder"].value == "1"
    assert client.get("/prefs/elder/off/", {"next": "//evil.example/x"})["Location"] == "/"
    assert client.get("/prefs/elder/off/", {"next": "/\r\nSet-Cookie: x=1"})["Location"].startswith("/")
    assert client.get("/prefs/elder/maybe/").status_code == 404
    assert client.get("/prefs/script/latin/").status_code == 404


def test_header_links_keep_current_page(client, data):
    html = get(client, "/search/", q="户口")
    assert 'href="/prefs/script/hant/?next=/search/%3Fq%3D%25E6%2588%25B7%25E5%258F%25A3"' in html
    assert 'href="/prefs/elder/on/?next=/search/' in html


# ---- bad input never 500 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/search/?page=abc",
        "/search/?page=-3",
        "/search/?page=0",
        "/search/?page=99999999999999999999999",
        "/search/?scope=bogus",
        "/search/?mode=bogus",
        "/search/?scope=%00",
        "/search/?region=abc",
        "/search/?region=999999",
        "/search/?region=37000%00",
        "/search/?department=abc",
        "/search/?department=99999999999999999999999",
        "/search/?department=-1",
        "/search/?q=%00",
        "/search/?q=" + "户" * 500,
        "/search/?q=%27%22%3Cscript%3E",
        "/search/?q=%25_%25",
        "/search/?q=%F0%9F%98%80",
        "/search/regions/?region=bogus",
        "/search/regions/?region=370000&department=x",
        "/lists/?scope=%00",
        "/scope/cross_province/?page=x",
    ],
)
def test_bad_query_params_are_ignored(client, data, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert "<script>" not in response.content.decode()  # query text is escaped


@pytest.mark.parametrize(
    "url",
    [
        "/scope/bogus/",
        "/mode/bogus/",
        "/guide/NOPE/",
        "/guide/" + "9" * 200 + "/",
        "/guide/%00/",
        "/guide/materials/99999999999999999999999/blank/",
        "/guide/materials/0/blank/",
        "/guide/materials/1/nope/",
        "/lists/99999999999999999999999/",
        "/lists/0/",
        "/no-such-page/",
        "/guide/NOPE/result-sample/",
    ],
)
def test_unknown_paths_are_friendly_404(client, data, url):
    response = client.get(url)
    assert response.status_code == 404, url
    assert "没有找到" in response.content.decode()


def test_notice_for_invalid_filters(client, data):
    html = get(client, "/search/", scope="bogus", region="999999")
    assert "通办范围无效" in html and "所选地区无效" in html


def test_post_not_allowed(client, data):
    assert client.post("/search/").status_code == 405


# ---- staff sign-in templates and error pages --------------------------------------------------


def test_staff_login_page(client, settings):
    html = get(client, "/staff/login/")
    for text in ("工作人员登录", "用户名", "密码", "动态口令", 'name="csrfmiddlewaretoken"'):
        assert text in html
    assert "演示账号" not in html
    response = client.post("/staff/login/", {"username": "nobody", "password": "x" * 12, "token": "123456"})
    assert response.status_code == 400 and "用户名或密码错误" in response.content.decode()


def test_staff_login_shows_demo_accounts_in_debug(client, settings):
    from tests.conftest import make_staff

    settings.DEBUG = True
    make_staff("demo_clerk", "clerk", "371327")
    html = get(client, "/staff/login/")
    assert "演示账号" in html and "demo_clerk" in html and re.search(r'class="token">\d{6}<', html)


def test_locked_page(rf):
    from tongban.directory.auth_views import lockout_response

    request = rf.get("/staff/login/")
    response = lockout_response(request)
    assert response.status_code == 429 and "锁定" in response.content.decode() and "30 分钟" in response.content.decode()


def test_error_templates_render():
    from django.template.loader import render_to_string

    assert "系统繁忙" in render_to_string("500.html")
    assert "请求有误" in render_to_string("400.html")


def test_demo_banner_only_in_debug(client, settings, data):
    assert "演示数据" not in get(client, "/")
    settings.DEBUG = True
    assert "演示数据" in get(client, "/")


def test_every_page_is_phone_ready(client, data):
    for url in ("/", "/search/?q=户口", f"/guide/{data['hukou_impl'].implementation_code}/", "/lists/", "/staff/login/"):
        html = get(client, url)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert "http://" not in html and "https://" not in html  # no external resources on an offline machine


def test_inactive_hall_window_and_department_hidden(client, data):
    Window.objects.filter(hall=data["hall"], number="1").update(is_active=False)
    html = get(client, f"/guide/{data['hukou_impl'].implementation_code}/")
    assert "8 号窗口" in html and "1 号窗口" not in html
    Hall.objects.filter(pk=data["hall"].pk).update(is_active=False)
    html = get(client, f"/guide/{data['hukou_impl'].implementation_code}/")
    assert "莒南县政务服务中心" not in html and "暂无线下办理地点信息" in html
    lst = TongbanList.objects.create(name="测试清单", scope="city_wide", region=Region.objects.get(code="371300"))
    ListEntry.objects.create(
        tongban_list=lst, seq=1, item_name="户口迁移", responsible_department=data["social"], responsible_department_name="原文责任单位"
    )
    data["social"].is_active = False
    data["social"].save()
    html = get(client, f"/lists/{lst.pk}/")
    assert "原文责任单位" in html and "历下区人力资源和社会保障局" not in html
