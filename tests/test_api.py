"""The JSON API: public reads, bad input answered in Chinese with 4xx, idempotent creation."""

import pytest

from tests.conftest import make_department, make_implementation, make_item
from tongban.catalog.models import Item
from tongban.directory.models import Department


@pytest.mark.django_db
def test_public_reads(client):
    item = make_item("户口迁移", "002000100000")
    make_implementation(item, make_department("371327", "莒南县公安局"))
    assert client.get("/api/v1/directory/regions/371327").json()["name"] == "莒南县"
    r = client.get("/api/v1/directory/regions", {"parent": "371300"}).json()
    assert "莒南县" in [x["name"] for x in r["items"]]
    assert client.get("/api/v1/directory/regions", {"parent": "371327", "limit": 200}).json()["total"] > 10  # townships
    r = client.get("/api/v1/catalog/implementations", {"region": "370000"}).json()
    assert r["total"] == 1 and r["items"][0]["modes"] == ["online"]
    r = client.get("/api/v1/catalog/search", {"q": "户"}).json()
    assert r["results"][0]["item_name"] == "户口迁移"
    assert client.get("/api/v1/catalog/items/002000100000/versions").json()[0]["status"] == "published"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, params, status, words",
    [
        ("/api/v1/directory/regions/999999", {}, 404, "未找到"),
        ("/api/v1/directory/departments", {"region": "12"}, 422, "区划代码"),
        ("/api/v1/catalog/search", {"scope": "galaxy"}, 422, "通办范围"),
        ("/api/v1/catalog/search", {"mode": "x"}, 422, "办理模式"),
        ("/api/v1/catalog/search", {"limit": "abc"}, 422, "整数"),
        ("/api/v1/catalog/implementations/NOPE", {}, 404, "未找到"),
        ("/api/v1/directory/checks/id-number", {"value": "11010519491231002X"}, 200, "有效"),
        ("/api/v1/directory/checks/credit-code", {"value": "11370800MB28559185"}, 200, "校验位"),
    ],
)
def test_bad_input_is_a_clear_chinese_4xx(client, url, params, status, words):
    r = client.get(url, params)
    assert r.status_code == status
    assert words in r.content.decode()


@pytest.mark.django_db
def test_staff_writes_validate_codes(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    r = c.post("/api/v1/directory/departments", {"name": "莒南县测试局", "credit_code": "11370800MB28559185", "region_code": "371327"},
               content_type="application/json")
    assert r.status_code == 422 and "校验位" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items", {"basic_code": "12", "name": "测试事项", "item_type": "01"}, content_type="application/json")
    assert r.status_code == 422 and "12位" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items", {"basic_code": "000100100000", "name": "测试事项"}, content_type="application/json")
    assert r.status_code == 422 and "item_type" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items", "{not json", content_type="application/json")
    assert r.status_code in (400, 422)
    assert not Item.objects.filter(name="测试事项").exists()
    assert not Department.objects.filter(name="莒南县测试局").exists()


@pytest.mark.django_db
def test_idempotency_key_creates_once(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    body = {"basic_code": "000100100000", "name": "幂等测试事项", "item_type": "01"}
    first = c.post("/api/v1/catalog/items", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = c.post("/api/v1/catalog/items", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Item.objects.filter(name="幂等测试事项").count() == 1
    other = c.post("/api/v1/catalog/items", {**body, "name": "别的"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    # without a key, the duplicate code is refused clearly
    dup = c.post("/api/v1/catalog/items", body, content_type="application/json")
    assert dup.status_code in (409, 422) and "基本编码" in dup.json()["detail"]


@pytest.mark.django_db
def test_implementation_code_must_agree(staff_factory):
    _u, c = staff_factory("catalog_admin", "371327")
    make_item("户口迁移", "002000100000")
    dept = make_department("371327", "莒南县公安局")
    payload = {"item_code": "002000100000", "department_id": dept.pk, "region_code": "371327", "level": "4",
               "statutory_limit_days": 10, "promised_limit_days": 20}
    r = c.post("/api/v1/catalog/implementations", payload, content_type="application/json")
    assert r.status_code == 422 and "承诺办结时限（工作日）：承诺办结时限不能长于法定" in r.json()["detail"]
    assert "promised_limit_days" not in r.json()["detail"]  # people read field names in Chinese
    payload.update(promised_limit_days=5, implementation_code=f"{dept.credit_code}3002000100000")
    r = c.post("/api/v1/catalog/implementations", payload, content_type="application/json")
    assert r.status_code == 422 and "行使层级" in r.json()["detail"]
    payload.update(implementation_code=None, modes=["teleport"])
    r = c.post("/api/v1/catalog/implementations", payload, content_type="application/json")
    assert r.status_code == 422 and "teleport" in r.json()["detail"]
    payload.update(modes=["online", "proxy"], scopes=["cross_province"])
    r = c.post("/api/v1/catalog/implementations", payload, content_type="application/json")
    assert r.status_code == 201 and r.json()["modes"] == ["online", "proxy"]


@pytest.mark.django_db
def test_item_catalogue_is_national_or_provincial(staff_factory):
    _u, c = staff_factory("platform_admin", "000000")
    r = c.post("/api/v1/catalog/items", {"basic_code": "370100100000", "name": "县级目录事项", "item_type": "01", "region_code": "371327"},
               content_type="application/json")
    assert r.status_code == 422 and "国家或省级" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items", {"basic_code": "440100100000", "name": "山东目录事项", "item_type": "01", "region_code": "370000"},
               content_type="application/json")
    assert r.status_code == 422 and "前两位应为目录所属区划代码“37”" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items", {"basic_code": "370100100000", "name": "山东目录事项", "item_type": "01", "region_code": "370000"},
               content_type="application/json")
    assert r.status_code == 201


@pytest.mark.django_db
def test_guide_service_objects_are_applicant_type_codes(staff_factory):
    _u, c = staff_factory("catalog_admin", "000000")
    make_item("户口迁移", "002000100000")
    r = c.post("/api/v1/catalog/items/002000100000/versions", {"guide": {"service_objects": "1,7"}}, content_type="application/json")
    assert r.status_code == 422 and "申请人类型代码" in r.json()["detail"]
    r = c.post("/api/v1/catalog/items/002000100000/versions", {"guide": {"service_objects": "1,2"}}, content_type="application/json")
    assert r.status_code == 201


@pytest.mark.django_db
def test_post_without_trailing_slash_is_redirected_keeping_the_body(staff_factory):
    _u, c = staff_factory("catalog_admin", "370000")
    r = c.post("/api/v1/lists", {"name": "x", "scope": "province_wide", "region_code": "370000"}, content_type="application/json")
    assert r.status_code == 308 and r["Location"] == "/api/v1/lists/"
    assert c.post("/api/v1/nothing-here", {}, content_type="application/json").status_code == 404


@pytest.mark.django_db
def test_national_rows_must_have_distinct_row_numbers(staff_factory):
    _u, c = staff_factory("catalog_admin", "370000")
    rows = [{"row": 3, "item_name": "甲"}, {"row": 3, "item_name": "乙"}]
    r = c.post("/api/v1/lists/national-matches/rows", {"region_code": "370000", "rows": rows}, content_type="application/json")
    assert r.status_code == 422 and "行号重复：3" in r.json()["detail"]
