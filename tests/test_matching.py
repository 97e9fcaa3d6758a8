"""National list matching: by 基本编码, then by normalised name; matched / unmatched / ambiguous; and
creating the missing items from unmatched rows, all or nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import make_item
from tests.test_import import build_xls, build_xlsx
from tongban.catalog import matching
from tongban.catalog.models import ImportBatch, Item
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError
from tongban.core.models import AuditEntry
from tongban.directory.models import Region

SHANDONG, JUNAN, LANSHAN = "370000", "371327", "371302"
TITLE = "国务院办公厅关于加快推进政务服务“跨省通办”的指导意见（附件）"
TOP = ["序号", "事项名称", "基本编码", "主管部门", "办理模式"]
SUB = ["", "", "", "", ""]
ROWS = [
    [1, "户口迁移（跨省）", "000701234000", "公安部", "全程网办"],  # row 4: by code
    [2, "婚姻登记（内地居民）", "", "民政部", "多地联办"],  # row 5: by normalised name
    [3, "社会保障卡申领", "", "人力资源社会保障部", "全程网办"],  # row 6: ambiguous
    [4, "出生医学证明补发", "", "国家卫生健康委", "异地代收代办"],  # row 7: unmatched
    [5, "异地就医备案", "12345", "国家医保局", "全程网办"],  # row 8: unmatched, bad code
    [6, "失业保险金申领", "370700999000", "人力资源社会保障部", "全程网办"],  # row 9: unmatched, valid free code
    [7, "", "", "", ""],  # row 10: a number only, nothing to match on
    [8, "", "", "交通运输部", ""],  # row 11: nothing to match on
]


def national_file(builder=build_xlsx):
    return builder(ROWS, title=TITLE, top=TOP, sub=SUB, group=None)


@pytest.fixture
def catalogue(db):
    return {
        "hukou": make_item("户口迁移", "000701234000"),
        "marriage": make_item("婚姻登记 (内地居民)", "370701235000", SHANDONG),
        "card_a": make_item("社会保障卡申领", "372000001000", SHANDONG),
        "card_b": make_item("社会保障卡 申领", "372000002000", SHANDONG),
        "other_province": make_item("出生医学证明补发", "412000001000", "410000"),
        "last_generated": make_item("旧事项", "372000041000", SHANDONG),
    }


@pytest.fixture
def province_admin(staff_factory):
    return staff_factory("catalog_admin", SHANDONG)


def test_normalize_name():
    same = ["户口迁移（省内）", "户口迁移(省内)", "户口迁移【省内】", " 户口 迁移 〔省内〕", "户口迁移（省内）。"]
    assert {matching.normalize_name(s) for s in same} == {"户口迁移(省内)"}
    assert matching.normalize_name("ＩＣＰ备案“许可”") == "icp备案许可"
    assert matching.normalize_name("《营业执照》变更") == "(营业执照)变更"


@pytest.mark.parametrize("builder", [build_xlsx, build_xls])
def test_match_by_code_then_name(catalogue, province_admin, builder):
    user, _client = province_admin
    batch = matching.match_national_list(user, Region.objects.get(code=SHANDONG), file_name="国家清单.xlsx", data=national_file(builder))
    rows = {r["row"]: r for r in batch.rows}
    assert rows[4]["status"] == "matched" and rows[4]["matched_by"] == "code" and rows[4]["item"]["id"] == catalogue["hukou"].pk
    assert rows[5]["status"] == "matched" and rows[5]["matched_by"] == "name" and rows[5]["item"]["id"] == catalogue["marriage"].pk
    assert rows[6]["status"] == "ambiguous"
    assert {c["id"] for c in rows[6]["candidates"]} == {catalogue["card_a"].pk, catalogue["card_b"].pk}
    # Henan's item is not in Shandong's catalogue.
    assert rows[7]["status"] == "unmatched"
    assert rows[8]["status"] == "unmatched" and not rows[8]["code_valid"]
    assert rows[9]["status"] == "unmatched" and rows[9]["code_valid"]
    assert rows[10]["status"] == rows[11]["status"] == "invalid"
    assert batch.summary["matched"] == 2 and batch.summary["unmatched"] == 3 and batch.summary["ambiguous"] == 1
    assert batch.summary["invalid"] == 2
    messages = {(p["row"], p["message"].split("：")[0]) for p in batch.problems}
    assert (8, "基本编码格式不正确") in messages and (11, "事项名称为空") in messages


def test_match_rows_and_duplicates(catalogue, province_admin):
    user, _client = province_admin
    rows = [{"item_name": "户口迁移"}, {"item_name": "户口 迁移"}, {"item_name": "无此事项", "basic_code": ""}]
    batch = matching.match_national_list(user, Region.objects.get(code=SHANDONG), rows=rows)
    assert [r["status"] for r in batch.rows] == ["matched", "matched", "unmatched"]
    assert batch.problems == [{"row": 2, "column": "事项名称", "message": "与第1行重复（事项名称“户口迁移”）"}]


def test_create_missing_items(catalogue, province_admin):
    user, _client = province_admin
    shandong = Region.objects.get(code=SHANDONG)
    batch = matching.match_national_list(user, shandong, file_name="国家清单.xlsx", data=national_file())
    created = matching.create_missing_items(user, batch, [7, 8, 9], shandong, "20")
    codes = {i.name: i.basic_code for i in created}
    assert codes == {"出生医学证明补发": "372000042000", "异地就医备案": "372000043000", "失业保险金申领": "370700999000"}
    item = Item.objects.get(basic_code="370700999000")
    assert item.item_type == "07" and item.region == shandong and item.competent_authority == "人力资源社会保障部"
    batch.refresh_from_db()
    rows = {r["row"]: r for r in batch.rows}
    assert rows[7]["status"] == "created" and rows[7]["code_generated"] and not rows[9]["code_generated"]
    assert batch.summary["created"] == 3 and batch.summary["unmatched"] == 0
    assert AuditEntry.objects.filter(action="item.create").count() == 3
    # Matching again now finds them.
    again = matching.match_national_list(user, shandong, file_name="国家清单.xlsx", data=national_file())
    assert again.summary["matched"] == 5


def test_create_missing_items_all_or_nothing(catalogue, province_admin, staff_factory):
    user, _client = province_admin
    shandong = Region.objects.get(code=SHANDONG)
    batch = matching.match_national_list(user, shandong, file_name="国家清单.xlsx", data=national_file())
    before = Item.objects.count()
    with pytest.raises(Conflict) as exc:
        matching.create_missing_items(user, batch, [7, 4, 6, 99], shandong, "20")
    assert "第4行已匹配" in exc.value.message and "第6行有歧义" in exc.value.message and "第99行不在比对结果中" in exc.value.message
    assert Item.objects.count() == before
    with pytest.raises(DomainError):
        matching.create_missing_items(user, batch, [7], shandong, "55")
    with pytest.raises(DomainError):
        matching.create_missing_items(user, batch, [], shandong, "20")
    # A county admin may not create provincial items: nothing is created.
    county_user, _ = staff_factory("catalog_admin", JUNAN)
    with pytest.raises(PermissionDenied):
        matching.create_missing_items(county_user, batch, [7, 8], shandong, "20")
    # Into a region the actor may write but after one item fails: everything rolls back.
    with pytest.raises(PermissionDenied):
        matching.create_missing_items(user, batch, [7, 8], Region.objects.get(code="410000"), "20")
    assert Item.objects.count() == before
    matching.create_missing_items(user, batch, [7], shandong, "20")
    with pytest.raises(Conflict) as exc:
        matching.create_missing_items(user, batch, [7], shandong, "20")
    assert "不会重复新建" in exc.value.message
    assert Item.objects.count() == before + 1


def test_generated_code_for_national_catalogue(db, staff_factory):
    user, _client = staff_factory("platform_admin", "000000")
    root = Region.objects.get(code="000000")
    batch = matching.match_national_list(user, root, rows=[{"item_name": "全新事项"}])
    (item,) = matching.create_missing_items(user, batch, [1], root, "01")
    assert item.basic_code == "000100001000"


def test_api_matching(catalogue, province_admin, staff_factory):
    _user, client = province_admin
    response = client.post(
        "/api/v1/lists/national-matches", {"file": SimpleUploadedFile("国家清单.xlsx", national_file()), "region_code": SHANDONG}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "national_list" and body["summary"]["ambiguous"] == 1
    batch_id = body["id"]
    unmatched = client.get(f"/api/v1/lists/national-matches/{batch_id}?status=unmatched").json()
    assert [r["row"] for r in unmatched["rows"]] == [7, 8, 9]
    response = client.post(
        f"/api/v1/lists/national-matches/{batch_id}/items", {"rows": [7], "item_type": "20"}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["created"][0]["basic_code"] == "372000042000"
    response = client.post(
        f"/api/v1/lists/national-matches/{batch_id}/items", {"rows": [4], "item_type": "20"}, content_type="application/json"
    )
    assert response.status_code == 409 and "第4行已匹配" in response.json()["detail"]
    response = client.post(
        f"/api/v1/lists/national-matches/{batch_id}/items", {"rows": [8], "item_type": "ab"}, content_type="application/json"
    )
    assert response.status_code == 400 and "事项类型" in response.json()["detail"]
    response = client.post(f"/api/v1/lists/national-matches/{batch_id}/items", {"rows": []}, content_type="application/json")
    assert response.status_code == 422
    response = client.post("/api/v1/lists/national-matches", {"file": SimpleUploadedFile("a.xlsx", b"not excel"), "region_code": SHANDONG})
    assert response.status_code == 415 and "不是有效的Excel表格" in response.json()["detail"]
    response = client.post(
        "/api/v1/lists/national-matches", {"file": SimpleUploadedFile("a.xlsx", national_file()), "region_code": "990000"}
    )
    assert response.status_code == 422 and "不存在" in response.json()["detail"]
    response = client.post("/api/v1/lists/national-matches/rows", {"rows": [{"item_name": "户口迁移"}]}, content_type="application/json")
    assert response.status_code == 201 and response.json()["region_code"] == SHANDONG and response.json()["summary"]["matched"] == 1
    # Another county's administrator sees nothing and creates nothing.
    _other, other_client = staff_factory("catalog_admin", LANSHAN)
    assert other_client.get(f"/api/v1/lists/national-matches/{batch_id}").status_code == 404
    response = other_client.post(f"/api/v1/lists/national-matches/{batch_id}/items", {"rows": [8]}, content_type="application/json")
    assert response.status_code == 404
    response = other_client.post(
        "/api/v1/lists/national-matches", {"file": SimpleUploadedFile("a.xlsx", national_file()), "region_code": SHANDONG}
    )
    assert response.status_code == 403
    _clerk, clerk_client = staff_factory("clerk", SHANDONG)
    response = clerk_client.post("/api/v1/lists/national-matches/rows", {"rows": [{"item_name": "x"}]}, content_type="application/json")
    assert response.status_code == 422  # a clerk has no catalogue region of their own
    response = clerk_client.post(
        "/api/v1/lists/national-matches/rows", {"rows": [{"item_name": "x"}], "region_code": SHANDONG}, content_type="application/json"
    )
    assert response.status_code == 403


def test_admin_matching_pages(catalogue, staff_factory):
    user, client = staff_factory("catalog_admin", SHANDONG)
    user.is_staff = True
    user.save()
    url = reverse("admin:catalog_tongbanlist_national")
    page = client.get(url)
    assert page.status_code == 200 and f'value="{SHANDONG}"' in page.content.decode()
    response = client.post(url, {"file": SimpleUploadedFile("国家清单.xls", national_file(build_xls)), "region_code": SHANDONG})
    assert response.status_code == 302
    result_url = response["Location"]
    page = client.get(result_url).content.decode()
    assert "未匹配（3）" in page and "有歧义（1）" in page and "已匹配（2" in page
    assert "社会保障卡申领（372000001000）" in page and "按基本编码" in page
    response = client.post(result_url, {"item_type": "20", "region_code": SHANDONG})
    assert response.status_code == 400 and "请至少选择一行未匹配的事项" in response.content.decode()
    response = client.post(result_url, {"rows": ["7", "9"], "item_type": "20", "region_code": SHANDONG})
    assert response.status_code == 302
    assert Item.objects.filter(basic_code__in=["372000042000", "370700999000"]).count() == 2
    page = client.get(result_url).content.decode()
    assert "已新建事项（2）" in page
    # Other county: the result page is not found, the upload refused.
    other, other_client = staff_factory("catalog_admin", LANSHAN)
    other.is_staff = True
    other.save()
    assert other_client.get(result_url).status_code == 404
    response = other_client.post(url, {"file": SimpleUploadedFile("国家清单.xlsx", national_file()), "region_code": SHANDONG})
    assert response.status_code == 403
    assert ImportBatch.objects.filter(kind="national_list").count() == 1
