"""Regressions found by fuzzing the JSON API with schemathesis (anonymous and as a verified staff
session, on SQLite and PostgreSQL). Each case was a 500, a wrong 2xx or an English answer; each must
now be a 4xx with a clear Simplified-Chinese message, and nothing stored may change."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_department, make_implementation, make_item
from tongban.catalog.models import ImportBatch, Item, ItemVersion
from tongban.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


def chinese_error(response, status):
    """The answer is `status`, JSON, with a detail in Chinese; returns the detail."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    detail = response.json()["detail"]
    assert CJK.search(detail), detail
    return detail


def csrf_client(user, token="a" * 32):
    """A verified staff session whose client enforces CSRF as a browser or script would meet it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    client.cookies["csrftoken"] = token
    return client


@pytest.fixture
def impl(db):
    item = make_item("户口迁移", "002000100000")
    return make_implementation(item, make_department("371327", "莒南县公安局"))


def _snapshot(impl):
    impl.refresh_from_db()
    return (impl.modes, impl.scopes, impl.delivery_methods, impl.department_id, impl.region_id, impl.fee_note,
            impl.statutory_limit_days, impl.presence_required)


# --- PATCH /catalog/implementations/{code}: null fields and unknown departments ----------------------


@pytest.mark.parametrize(
    "body, words",
    [
        ({"modes": None}, "modes 应为列表"),  # was a 500: TypeError iterating None
        ({"scopes": None}, "scopes 应为列表"),
        ({"delivery_methods": None}, "delivery_methods 应为列表"),
        ({"statutory_limit_days": None}, "statutory_limit_days 应为整数"),
        ({"fee_note": None}, "fee_note 应为文字"),
        ({"presence_required": None}, "presence_required 应为是或否"),
        ({"department_id": None}, "department_id 应为整数"),  # was silently ignored (200)
        ({"region_code": None}, "region_code 应为文字"),
    ],
)
def test_patch_implementation_refuses_null(staff_factory, impl, body, words):
    _u, c = staff_factory("catalog_admin", "371327")
    before = _snapshot(impl)
    r = c.patch(f"/api/v1/catalog/implementations/{impl.implementation_code}", body, content_type="application/json")
    assert words in chinese_error(r, 422)
    assert _snapshot(impl) == before


def test_patch_implementation_unknown_department_is_refused(staff_factory, impl):
    """An unknown department_id used to be ignored and the PATCH answered 200."""
    _u, c = staff_factory("catalog_admin", "371327")
    before = _snapshot(impl)
    r = c.patch(f"/api/v1/catalog/implementations/{impl.implementation_code}", {"department_id": 987654321, "fee_note": "新说明"},
                content_type="application/json")
    assert "实施主体部门" in chinese_error(r, 422)
    assert _snapshot(impl) == before


def test_patch_implementation_still_changes_what_is_sent(staff_factory, impl):
    _u, c = staff_factory("catalog_admin", "371327")
    r = c.patch(f"/api/v1/catalog/implementations/{impl.implementation_code}", {"modes": ["online", "proxy"]}, content_type="application/json")
    assert r.status_code == 200 and r.json()["modes"] == ["online", "proxy"]
    assert r.json()["scopes"] == ["cross_province"]  # untouched


def test_patch_department_refuses_null(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    dept = make_department("371327", "莒南县教育局")
    r = c.patch(f"/api/v1/directory/departments/{dept.pk}", {"name": None, "is_active": None}, content_type="application/json")
    assert "name 应为文字" in chinese_error(r, 422)
    dept.refresh_from_db()
    assert dept.name == "莒南县教育局" and dept.is_active


# --- request bodies that are not a JSON object, or not JSON ------------------------------------------


@pytest.mark.parametrize("raw", ["[null, null]", "[1]", '"abc"', "5", "null", "true"])
def test_body_must_be_a_json_object(staff_factory, raw):
    """django-ninja read these as an object with no fields: the PATCH answered 200 (and audited a save)."""
    _u, c = staff_factory("platform_admin", "000000")
    dept = make_department("371327", "莒南县卫健局")
    r = c.patch(f"/api/v1/directory/departments/{dept.pk}", raw, content_type="application/json")
    assert "JSON对象" in chinese_error(r, 400)
    r = c.post("/api/v1/catalog/items", raw, content_type="application/json")
    assert "JSON对象" in chinese_error(r, 400)


@pytest.mark.parametrize("raw, words", [("{bad", "无法解析"), ('{"phone": NaN}', "NaN"), ('{"phone": Infinity}', "Infinity")])
def test_body_must_be_standard_json(staff_factory, raw, words):
    _u, c = staff_factory("platform_admin", "000000")
    dept = make_department("371327", "莒南县民政局")
    r = c.patch(f"/api/v1/directory/departments/{dept.pk}", raw, content_type="application/json")
    assert words in chinese_error(r, 400)  # was "Cannot parse request body (…)"


# --- multipart without a boundary; CSRF; authentication order -----------------------------------------


def test_multipart_without_boundary_is_400(staff_factory):
    """Every staff write answered 500 (MultiPartParserError in the CSRF check) for this content type."""
    user, _c = staff_factory("platform_admin", "000000")
    c = csrf_client(user)
    item = make_item("测试事项", "000100100000")
    version = item.versions.get()
    r = c.post(f"/api/v1/catalog/versions/{version.pk}/retire", b'{"x": 1}', content_type="multipart/form-data", HTTP_X_CSRFTOKEN="a" * 32)
    assert "boundary" in chinese_error(r, 400)
    version.refresh_from_db()
    assert version.status == ItemVersion.PUBLISHED
    r = c.post("/api/v1/lists/national-matches", b'{"x": 1}', content_type="multipart/form-data", HTTP_X_CSRFTOKEN="a" * 32)
    chinese_error(r, 400)
    assert not ImportBatch.objects.exists()


def test_csrf_failure_is_chinese_and_anonymous_is_401(staff_factory):
    user, _c = staff_factory("platform_admin", "000000")
    body = {"basic_code": "000100100000", "name": "测试事项", "item_type": "01"}
    r = csrf_client(user).post("/api/v1/catalog/items", body, content_type="application/json")  # no X-CSRFToken
    assert "CSRF" in chinese_error(r, 403)  # was "CSRF check Failed"
    r = Client(enforce_csrf_checks=True).post("/api/v1/catalog/items", body, content_type="application/json")
    assert "登录" in chinese_error(r, 401)  # an anonymous write is told to sign in, not about CSRF
    r = csrf_client(user).post("/api/v1/catalog/items", body, content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32)
    assert r.status_code == 201
    assert Item.objects.filter(name="测试事项").count() == 1


# --- paths and methods outside the operations -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/catalog/versions/abc", "/api/v1/catalog/versions/-625/publish", "/api/v1/nothing-here"])
def test_unknown_api_path_is_a_json_404(client, path):
    assert "接口地址不存在" in chinese_error(client.get(path), 404)  # was Django's HTML page


def test_unsupported_method_is_a_json_405(client):
    r = client.put("/api/v1/catalog/items")
    assert "PUT" in chinese_error(r, 405)  # was text/html "Method not allowed"
    assert set(r["Allow"].split(", ")) == {"GET", "POST"}


# --- 办事指南 fields (POST /items/{code}/versions, PATCH /versions/{id}) ----------------------------------


@pytest.mark.parametrize(
    "guide, words",
    [
        ({"result_sample": 123}, "result_sample 不是可识别的字段"),  # was a 500 (FileField given an int)
        ({"result_sample": "../../etc/passwd"}, "result_sample 不是可识别的字段"),  # was stored as the file's path
        ({"statutory_limit_days": "abc"}, "statutory_limit_days 应为整数"),  # was a 500 (clean() compared int with str)
        ({"statutory_limit_days": 1.5}, "应为整数"),  # was truncated to 1
        ({"statutory_limit_days": 3000000000}, "过大"),  # was accepted on SQLite
        ({"conditions": {"a": 1}}, "conditions 应为文字"),  # was stored as the text "{'a': 1}"
        ({"case_kind": "9"}, "case_kind 不是允许的取值"),
        ({"name": None}, "name 应为文字"),
        ({"no_such_field": "x"}, "no_such_field 不是可识别的字段"),
    ],
)
def test_guide_fields_are_typed(staff_factory, guide, words):
    _u, c = staff_factory("catalog_admin", "000000")
    item = make_item("测试事项", "000100100000")
    r = c.post(f"/api/v1/catalog/items/{item.basic_code}/versions", {"guide": guide}, content_type="application/json")
    assert words in chinese_error(r, 422)
    draft = make_item("草稿事项", "000100200000", publish=False).versions.get()
    r = c.patch(f"/api/v1/catalog/versions/{draft.pk}", {"guide": guide}, content_type="application/json")
    assert words in chinese_error(r, 422)
    assert ItemVersion.objects.filter(item=item).count() == 1
    draft.refresh_from_db()
    assert draft.statutory_limit_days == 20 and draft.conditions == "申请人符合法定条件" and not draft.result_sample


def test_guide_edit_still_works(staff_factory):
    _u, c = staff_factory("catalog_admin", "000000")
    item = make_item("测试事项", "000100100000")
    r = c.post(f"/api/v1/catalog/items/{item.basic_code}/versions",
               {"change_note": "改条件", "guide": {"conditions": "新条件", "case_kind": "1", "statutory_limit_days": 30}},
               content_type="application/json")
    assert r.status_code == 201, r.content
    guide = r.json()["guide"]
    assert guide["conditions"] == "新条件" and guide["case_kind"] == "1" and guide["statutory_limit_days"] == 30
    assert guide["legal_basis"] == "《中华人民共和国行政许可法》"  # copied from the published version


def test_version_model_clean_survives_a_bad_number():
    """Model.clean runs after a failed clean_fields; it used to raise TypeError (a 500 in any entry point)."""
    from django.core.exceptions import ValidationError

    version = make_item("测试事项", "000100100000").versions.get()
    version.statutory_limit_days = "abc"
    with pytest.raises(ValidationError) as exc:
        version.full_clean()
    assert "statutory_limit_days" in exc.value.message_dict


# --- NUL characters and lone surrogates (a 500 on PostgreSQL; surrogates on SQLite too) -----------------


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/catalog/search", {"q": "户\x00"}),
        ("/api/v1/catalog/items", {"q": "\x00"}),
        ("/api/v1/directory/regions", {"parent": "37\x00"}),
        ("/api/v1/lists/", {"q": "\x00"}),
        ("/api/v1/catalog/items/%00", {}),
        ("/api/v1/directory/regions/37%0000", {}),
        ("/api/v1/catalog/implementations/%00", {}),
    ],
)
def test_nul_in_url_is_400(client, path, params):
    assert "空字符" in chinese_error(client.get(path, params), 400)


@pytest.mark.parametrize("name", ["测试\x00事项", "测试\ud800事项"])
def test_nul_or_lone_surrogate_in_body_is_422(staff_factory, name):
    _u, c = staff_factory("platform_admin", "000000")
    body = json.dumps({"basic_code": "000100100000", "name": name, "item_type": "01"})  # \u0000 / \ud800 escapes
    r = c.post("/api/v1/catalog/items", body, content_type="application/json")
    assert "name 含有空字符" in chinese_error(r, 422)
    r = c.post("/api/v1/lists/national-matches/rows", json.dumps({"rows": [{"item_name": "甲"}, {"item_name": name}]}),
               content_type="application/json")
    assert "rows[1].item_name" in chinese_error(r, 422)
    assert not Item.objects.filter(basic_code="000100100000").exists()
    assert not ImportBatch.objects.exists()


def test_nul_in_form_field_is_422(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    upload = SimpleUploadedFile("国家清单.xlsx", b"PK\x03\x04not really a workbook")
    r = c.post("/api/v1/lists/national-matches", {"file": upload, "region_code": "3713\x0027"})
    assert "region_code" in chinese_error(r, 422)
    assert not ImportBatch.objects.exists()


def test_idempotency_key_with_control_characters_is_422(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    body = {"basic_code": "000100100000", "name": "幂等测试事项", "item_type": "01"}
    r = c.post("/api/v1/catalog/items", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k\x001")
    assert "Idempotency-Key" in chinese_error(r, 422)
    assert not Item.objects.exists() and not IdempotencyRecord.objects.exists()


# --- paging; request size; filters that were ignored ----------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/catalog/items", "/api/v1/catalog/implementations", "/api/v1/directory/regions", "/api/v1/directory/departments",
             "/api/v1/directory/halls", "/api/v1/lists/"],
)
def test_huge_offset_is_422(client, path):
    """An offset past 2**63 overflowed PostgreSQL's bigint OFFSET: a 500."""
    assert "offset 过大" in chinese_error(client.get(path, {"offset": "79703394621988175872"}), 422)
    r = client.get(path, {"offset": 1_000_000_000})  # far past the data, still an (empty) page
    assert r.status_code == 200 and r.json()["items"] == []


def test_huge_offset_of_list_entries_is_422(client):
    from tongban.catalog.models import TongbanList
    from tongban.directory.models import Region

    lst = TongbanList.objects.create(name="测试清单", scope="cross_province", region=Region.objects.get(code="371327"))
    r = client.get(f"/api/v1/lists/{lst.pk}/entries", {"offset": "9223372036854775808"})
    assert "offset 过大" in chinese_error(r, 422)


def test_too_large_body_is_413(staff_factory, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    _u, c = staff_factory("platform_admin", "000000")
    rows = [{"item_name": f"事项{i}"} for i in range(200)]
    r = c.post("/api/v1/lists/national-matches/rows", {"rows": rows}, content_type="application/json")
    assert "过大" in chinese_error(r, 413)
    assert not ImportBatch.objects.exists()


def test_search_with_unknown_department_is_422(client, impl):
    """An unknown department used to be dropped from the filter: every department's results came back."""
    assert client.get("/api/v1/catalog/search", {"q": "户口"}).json()["total"] == 1
    assert "部门" in chinese_error(client.get("/api/v1/catalog/search", {"q": "户口", "department": 987654321}), 422)
    assert client.get("/api/v1/catalog/search", {"q": "户口", "department": impl.department_id}).json()["total"] == 1

