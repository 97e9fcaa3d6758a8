"""Exports: a 通办 list as .xlsx that re-imports cleanly, and the catalogue limited to what the user may read."""

import datetime
import io

import pytest
import python_calamine
from django.test import Client
from django.urls import reverse

from tests.conftest import make_department, make_implementation, make_item
from tests.test_import import GOOD_ROWS, JUNAN, LANSHAN, build_xlsx, county  # noqa: F401  (fixture)
from tongban.catalog import exporting, importing, matching
from tongban.catalog.models import ListEntry, TongbanList
from tongban.directory.models import Region

ENTRY_FIELDS = ("seq", "item_name", "item_id", "responsible_department_id", "modes", "batch", "deadline", "status", "note")


def read(content):
    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    return sheet.to_python(skip_empty_area=False), sheet.merged_cell_ranges


@pytest.fixture
def imported(county, staff_factory):  # noqa: F811
    user, client = staff_factory("catalog_admin", JUNAN)
    importing.apply(user, importing.preview(user, "a.xlsx", build_xlsx(GOOD_ROWS), county["list"]))
    # A name typed by hand that Excel would otherwise take for a formula.
    ListEntry.objects.create(
        tongban_list=county["list"],
        seq=5,
        item_name='=HYPERLINK("http://example.com")',
        note="名称以等号开头",
        responsible_department=county["police"],
        responsible_department_name="莒南县公安局",
    )
    ListEntry.objects.filter(item_name="户口迁移").update(status=ListEntry.IMPLEMENTED)
    return {**county, "user": user, "client": client}


def _entries(lst):
    return sorted(ListEntry.objects.filter(tongban_list=lst).values_list(*ENTRY_FIELDS))


def test_list_export_layout(imported):
    response = Client().get(f"/api/v1/lists/{imported['list'].pk}/export")
    assert response.status_code == 200
    assert response["Content-Type"] == exporting.XLSX_TYPE
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    rows, merged = read(response.content)
    assert rows[0][0] == "莒南县跨省通办事项清单"
    assert rows[1][:4] == ["序号", "事项名称", "基本编码", "责任分工"] and rows[2][3:5] == ["责任单位", "统一社会信用代码"]
    assert ((1, 3), (1, 4)) in merged and ((0, 0), (0, 9)) in merged
    first = rows[3]
    assert first[1] == "户口迁移" and first[2] == "370701234000" and first[5] == "全程网办、异地代收代办"
    assert first[7] == datetime.date(2021, 6, 30) and first[8] == "已实现"
    assert any(r[1] == '=HYPERLINK("http://example.com")' for r in rows)  # text, not a formula


def test_list_export_round_trips(imported):
    user, client = imported["user"], imported["client"]
    source = imported["list"]
    content = client.get(f"/api/v1/lists/{source.pk}/export").content
    copy = TongbanList.objects.create(name="副本", scope="cross_province", region=Region.objects.get(code=JUNAN))
    batch = importing.preview(user, "export.xlsx", content, copy)
    assert batch.problems == [] and batch.summary["ignored_columns"] == []
    importing.apply(user, batch)
    assert _entries(copy) == _entries(source)
    # Importing the export back into the same list changes nothing and duplicates nothing.
    again = importing.preview(user, "export.xlsx", content, source)
    assert again.summary["update"] == 5 and again.summary["create"] == 0
    before = _entries(source)
    importing.apply(user, again)
    assert _entries(source) == before


def test_admin_list_export(imported, staff_factory):
    user, client = staff_factory("catalog_admin", LANSHAN)
    user.is_staff = True
    user.save()
    response = client.get(reverse("admin:catalog_tongbanlist_export", args=[imported["list"].pk]))
    assert response.status_code == 200 and response["Content-Type"] == exporting.XLSX_TYPE  # lists are public
    assert client.get(reverse("admin:catalog_tongbanlist_export", args=[999999])).status_code == 404
    assert Client().get("/api/v1/lists/999999/export").status_code == 404


@pytest.fixture
def catalogue(db):
    junan_dept = make_department(JUNAN, "莒南县行政审批服务局")
    lanshan_dept = make_department(LANSHAN, "兰山区行政审批服务局")
    published = make_item("户口迁移", "370701234000", "370000")
    draft_junan = make_item("莒南县试点事项", "372000301000", "370000", publish=False)
    draft_lanshan = make_item("兰山区试点事项", "372000302000", "370000", publish=False)
    return {
        "published_junan": make_implementation(published, junan_dept, modes=("online", "proxy")),
        "published_lanshan": make_implementation(published, lanshan_dept),
        "draft_junan": make_implementation(draft_junan, junan_dept),
        "draft_lanshan": make_implementation(draft_lanshan, lanshan_dept),
    }


def _codes(content):
    rows, _merged = read(content)
    assert rows[1][:5] == ["序号", "事项名称", "基本编码", "事项类型", "实施编码"]
    return {r[4] for r in rows[2:]}


def test_catalog_export_respects_scope(catalogue, staff_factory):
    impl = {k: v.implementation_code for k, v in catalogue.items()}
    public = _codes(Client().get("/api/v1/lists/catalog/export?include_unpublished=true").content)
    assert public == {impl["published_junan"], impl["published_lanshan"]}
    _user, junan = staff_factory("catalog_admin", JUNAN)
    codes = _codes(junan.get("/api/v1/lists/catalog/export?include_unpublished=true").content)
    assert codes == {impl["published_junan"], impl["published_lanshan"], impl["draft_junan"]}
    assert impl["draft_lanshan"] not in codes
    codes = _codes(junan.get(f"/api/v1/lists/catalog/export?region_code={JUNAN}").content)
    assert codes == {impl["published_junan"]}
    response = junan.get("/api/v1/lists/catalog/export?region_code=12")
    assert response.status_code == 422 and "不存在" in response.json()["detail"]
    # The admin export button: the other county's administrator gets their own drafts only.
    user, lanshan = staff_factory("catalog_admin", LANSHAN)
    user.is_staff = True
    user.save()
    response = lanshan.get(reverse("admin:catalog_tongbanlist_export_catalog") + "?include_unpublished=1")
    assert response.status_code == 200
    codes = _codes(response.content)
    assert impl["draft_lanshan"] in codes and impl["draft_junan"] not in codes
    assert lanshan.get(reverse("admin:catalog_tongbanlist_export_catalog") + "?region_code=xyz").status_code == 400


def test_catalog_export_row_content(catalogue):
    rows, _merged = read(exporting.export_catalog(None, Region.objects.get(code=JUNAN)))
    assert "莒南县政务服务事项实施清单" in rows[0][0]
    (row,) = rows[2:]
    assert row[1:4] == ["户口迁移", "370701234000", "行政确认"]
    assert row[5] == "莒南县行政审批服务局" and row[7:10] == ["莒南县", "371327", "区县级"]
    assert row[10] == "全程网办、异地代收代办" and row[11] == "跨省通办"


def test_catalog_export_matches_back_as_national_list(catalogue, staff_factory):
    user, _client = staff_factory("catalog_admin", "370000")
    content = exporting.export_catalog(None)
    batch = matching.match_national_list(user, Region.objects.get(code="370000"), file_name="catalog.xlsx", data=content)
    assert batch.summary["matched"] == 2 and all(r["matched_by"] == "code" for r in batch.rows)


@pytest.mark.django_db
def test_catalog_export_refuses_an_oversized_range(client, monkeypatch):
    from tests.conftest import make_department, make_implementation, make_item
    from tongban.catalog import exporting

    item = make_item("户口迁移", "002000100000")
    make_implementation(item, make_department("371327", "莒南县公安局"))
    make_implementation(item, make_department("150602", "东胜区公安局"))
    monkeypatch.setattr(exporting, "EXPORT_MAX_ROWS", 1)
    r = client.get("/api/v1/lists/catalog/export")
    assert r.status_code == 422 and "缩小范围" in r.json()["detail"]
    r = client.get("/api/v1/lists/catalog/export", {"region_code": "371327"})
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
