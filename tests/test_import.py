"""通办 list import: real-world shaped .xlsx and .xls files (title rows, merged two-row headers, Chinese
column names), a preview that lists every row problem, and an all-or-nothing apply."""

import datetime
import io

import openpyxl
import pytest
import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import make_department, make_item
from tongban.catalog import importing, spreadsheets
from tongban.catalog.models import ImportBatch, Item, ListEntry, TongbanList
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError
from tongban.core.models import AuditEntry
from tongban.directory.models import Region

JUNAN, LANSHAN = "371327", "371302"
TITLE = "莒南县跨省通办事项清单"
TOP = ["序号", "事项名称", "基本编码", "责任分工", "", "办理模式", "批次", "完成时限", "备注"]
SUB = ["", "", "", "主管部门", "责任单位", "", "", "", ""]
GROUP = (4, 5)  # 责任分工 spans 主管部门 and 责任单位


def build_xlsx(rows, title=TITLE, top=TOP, sub=SUB, group=GROUP, sheet="跨省通办"):
    """A list as offices publish it: title row, two-row header with merged cells, then the rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(top))
    ws.append(top)
    ws.append(sub)
    for col, (head, below) in enumerate(zip(top, sub, strict=True), 1):
        if head and not below:
            ws.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    if group:
        ws.merge_cells(start_row=2, start_column=group[0], end_row=2, end_column=group[1])
    for row in rows:
        if isinstance(row, str):  # a section title merged across the row
            ws.append([row])
            ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=len(top))
        else:
            ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_xls(rows, title=TITLE, top=TOP, sub=SUB, group=GROUP):
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("跨省通办")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    ws.write_merge(0, 0, 0, len(top) - 1, title)
    for col, (head, below) in enumerate(zip(top, sub, strict=True)):
        if head and not below:
            ws.write_merge(1, 2, col, col, head)
        elif below:
            ws.write(2, col, below)
    if group:
        ws.write_merge(1, 1, group[0] - 1, group[1] - 1, top[group[0] - 1])
    for r, row in enumerate(rows, 3):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, datetime.date):
                ws.write(r, c, value, date_style)
            else:
                ws.write(r, c, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


GOOD_ROWS = [
    [1, "户口迁移", "370701234000", "公安局", "莒南县公安局", "全程网办、异地代收代办", "第一批", datetime.date(2021, 6, 30), ""],
    [2, "居民身份证换领", "", "公安局", "县公安局", "异地代收代办", "第一批", "2021年6月底前", ""],
    [3, "婚姻登记（内地居民）", "", "民政局", "莒南县民政局", "多地联办", "第二批", "2021-12-31", "需双方到场"],
    [4, "个体工商户设立登记", "", "市场监管局", "县市场监管局", "全程网办", "第二批", "2021年底前", ""],
]


@pytest.fixture
def county(db):
    police = make_department(JUNAN, "莒南县公安局")
    civil = make_department(JUNAN, "莒南县民政局")
    market = make_department(JUNAN, "莒南县市场监督管理局")
    market.short_name = "县市场监管局"
    market.save()
    hukou = make_item("户口迁移", "370701234000", "370000")
    marriage = make_item("婚姻登记(内地居民)", "370701235000", "370000")
    lst = TongbanList.objects.create(name=TITLE, scope="cross_province", region=Region.objects.get(code=JUNAN))
    return {"police": police, "civil": civil, "market": market, "hukou": hukou, "marriage": marriage, "list": lst}


@pytest.fixture
def admin_junan(staff_factory):
    return staff_factory("catalog_admin", JUNAN)


def _upload(client, lst, data, name="莒南县跨省通办事项清单.xlsx"):
    return client.post(f"/api/v1/lists/{lst.pk}/imports", {"file": SimpleUploadedFile(name, data)})


def _problems(batch):
    return {(p["row"], p["message"]) for p in batch.problems}


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime.date(2021, 6, 30), datetime.date(2021, 6, 30)),
        (datetime.datetime(2021, 6, 30, 0, 0), datetime.date(2021, 6, 30)),
        ("2021年6月底前", datetime.date(2021, 6, 30)),
        ("2021年2月底", datetime.date(2021, 2, 28)),
        ("2021-12-31", datetime.date(2021, 12, 31)),
        ("2021/6/30", datetime.date(2021, 6, 30)),
        ("2021.06.30", datetime.date(2021, 6, 30)),
        ("2021年12月31日前", datetime.date(2021, 12, 31)),
        ("2021年底前", datetime.date(2021, 12, 31)),
        ("2021年上半年", datetime.date(2021, 6, 30)),
        ("2022年第三季度", datetime.date(2022, 9, 30)),
        ("２０２１年６月底前", datetime.date(2021, 6, 30)),
        (44377.0, datetime.date(2021, 6, 30)),
        (2021, datetime.date(2021, 12, 31)),
        ("", None),
    ],
)
def test_parse_deadline(value, expected):
    assert spreadsheets.parse_deadline(value) == (expected, None)


@pytest.mark.parametrize("value", ["尽快", "6月底前", "2021-02-30", "长期", 12.5])
def test_parse_deadline_rejects(value):
    date, error = spreadsheets.parse_deadline(value)
    assert date is None and "完成时限" in error


def test_parse_modes():
    assert spreadsheets.parse_modes("全程网办、异地代收代办") == (["online", "proxy"], [])
    assert spreadsheets.parse_modes("全程网办，多地联办") == (["online", "joint"], [])
    assert spreadsheets.parse_modes("代收代办/联办") == (["proxy", "joint"], [])
    assert spreadsheets.parse_modes("全程网办、上门办理") == (["online"], ["上门办理"])
    assert spreadsheets.parse_modes("") == ([], [])


def test_parse_code_restores_leading_zeros():
    assert spreadsheets.parse_code(2000100000.0) == "002000100000"
    assert spreadsheets.parse_code(" 370701234000 ") == "370701234000"


def test_header_synonyms_and_merged_header():
    top = ["序号", "事项", "事项编码", "责任分工", "", "通办模式", "完成时间", "推进情况", "联系人"]
    sub = ["", "", "", "牵头部门", "责任部门", "", "", "", ""]
    data = build_xlsx(
        [[1, "户口迁移", "370701234000", "县公安局", "莒南县公安局", "全程网办", "2021年底", "已实现", "张三"]], top=top, sub=sub
    )
    table = spreadsheets.read_table(data, "x.xlsx")
    assert table.header_rows == (2, 3)
    assert {k: table.columns[k] for k in ("seq", "item_name", "basic_code", "lead", "responsible", "modes", "deadline", "status")} == {
        "seq": 0,
        "item_name": 1,
        "basic_code": 2,
        "lead": 3,
        "responsible": 4,
        "modes": 5,
        "deadline": 6,
        "status": 7,
    }
    assert table.ignored_columns == ["联系人"]
    assert [n for n, _cells in table.rows] == [4]


# --- preview and apply ---------------------------------------------------------------------------


@pytest.mark.parametrize("builder, name", [(build_xlsx, "清单.xlsx"), (build_xls, "清单.xls")])
def test_good_file_imports(county, admin_junan, builder, name):
    user, _client = admin_junan
    lst = county["list"]
    batch = importing.preview(user, name, builder(GOOD_ROWS), lst)
    assert batch.problems == []
    assert batch.summary["header_rows"] == [2, 3]
    assert [r["row"] for r in batch.rows] == [4, 5, 6, 7]
    assert ListEntry.objects.count() == 0  # preview changes nothing
    importing.apply(user, batch)
    entries = {e.item_name: e for e in ListEntry.objects.filter(tongban_list=lst)}
    assert set(entries) == {"户口迁移", "居民身份证换领", "婚姻登记（内地居民）", "个体工商户设立登记"}
    hukou = entries["户口迁移"]
    assert hukou.item == county["hukou"]  # by code
    assert hukou.responsible_department == county["police"]
    assert hukou.modes == ListEntry._meta.get_field("modes").to_mask(["online", "proxy"])
    assert hukou.deadline == datetime.date(2021, 6, 30) and hukou.batch == "第一批" and hukou.seq == 1
    assert entries["居民身份证换领"].responsible_department == county["police"]  # 县公安局 → 莒南县公安局
    assert entries["居民身份证换领"].responsible_department_name == "县公安局"
    assert entries["居民身份证换领"].deadline == datetime.date(2021, 6, 30)
    assert entries["婚姻登记（内地居民）"].item == county["marriage"]  # by normalised name
    assert entries["婚姻登记（内地居民）"].note == "需双方到场"
    assert entries["个体工商户设立登记"].responsible_department == county["market"]  # by short name
    assert entries["个体工商户设立登记"].deadline == datetime.date(2021, 12, 31)
    assert ListEntry.objects.filter(modes__has="joint").count() == 1
    assert AuditEntry.objects.filter(action="tongban_list.import", object_id=str(lst.pk)).count() == 1


def test_reimport_updates_instead_of_duplicating(county, admin_junan):
    user, _client = admin_junan
    lst = county["list"]
    importing.apply(user, importing.preview(user, "a.xlsx", build_xlsx(GOOD_ROWS), lst))
    changed = [list(r) for r in GOOD_ROWS]
    changed[0][6] = "第三批"
    changed[2][1] = "婚姻登记(内地居民) "  # same item, other brackets
    changed.append([5, "新生儿落户", "", "公安局", "莒南县公安局", "全程网办", "第三批", "", ""])
    batch = importing.preview(user, "b.xlsx", build_xlsx(changed), lst)
    assert batch.summary["create"] == 1 and batch.summary["update"] == 4
    importing.apply(user, batch)
    assert ListEntry.objects.filter(tongban_list=lst).count() == 5
    assert ListEntry.objects.get(tongban_list=lst, item_name="户口迁移").batch == "第三批"


def test_section_rows_and_notes_are_skipped_not_lost(county, admin_junan):
    user, _client = admin_junan
    rows = ["一、公安类", GOOD_ROWS[0], GOOD_ROWS[1], "二、民政类", GOOD_ROWS[2], ["注：完成时限以省政府通知为准"]]
    batch = importing.preview(user, "x.xlsx", build_xlsx(rows), county["list"])
    assert batch.problems == []
    assert [r["row"] for r in batch.rows] == [5, 6, 8]
    assert [s["text"] for s in batch.summary["skipped_rows"]] == ["一、公安类", "二、民政类", "注：完成时限以省政府通知为准"]


BAD_ROWS = [
    [1, "户口迁移", "370701234000", "公安局", "莒南县交通运输局", "全程网办", "第一批", "2021年6月底前", ""],  # row 4
    [2, "", "", "公安局", "莒南县公安局", "全程网办", "第一批", "", ""],  # row 5
    [3, "户口迁移", "", "公安局", "莒南县公安局", "全程网办", "第一批", "", ""],  # row 6
    [4, "婚姻登记", "12345", "民政局", "莒南县民政局", "多地联办", "第二批", "", ""],  # row 7
    [5, "居住证签注", "", "公安局", "莒南县公安局", "上门办理", "第二批", "", ""],  # row 8
    [6, "社保卡申领", "", "人社局", "莒南县公安局", "全程网办", "第二批", "尽快", ""],  # row 9
    ["六", "出生医学证明", "", "卫健局", "莒南县公安局", "全程网办", "第二批", "2021-02-30", ""],  # row 10
]


@pytest.mark.parametrize("builder", [build_xlsx, build_xls])
def test_bad_file_lists_every_problem_and_apply_changes_nothing(county, admin_junan, builder):
    user, _client = admin_junan
    lst = county["list"]
    batch = importing.preview(user, "bad.xlsx", builder(BAD_ROWS), lst)
    problems = _problems(batch)
    assert (4, "未找到责任单位“莒南县交通运输局”（在莒南县及下级区划的部门中）") in problems
    assert (5, "事项名称为空") in problems
    assert (6, "与第4行重复（事项名称“户口迁移”）") in problems
    assert any(row == 7 and msg.startswith("基本编码格式不正确：") for row, msg in problems)
    assert (8, "办理模式“上门办理”无法识别（可填写：全程网办、异地代收代办、多地联办）") in problems
    assert (9, "完成时限“尽快”无法识别（可填写日期，如2021-12-31或2021年6月底前）") in problems
    assert (10, "序号“六”应为正整数") in problems
    assert (10, "完成时限“2021-02-30”不是有效的日期") in problems
    assert {p["column"] for p in batch.problems if p["row"] == 4} == {"责任单位"}
    before = (ListEntry.objects.count(), Item.objects.count(), AuditEntry.objects.count())
    with pytest.raises(Conflict) as exc:
        importing.apply(user, batch)
    assert "问题" in exc.value.message and exc.value.status == 409
    assert (ListEntry.objects.count(), Item.objects.count(), AuditEntry.objects.count()) == before
    batch.refresh_from_db()
    assert batch.status == ImportBatch.PREVIEWED


def test_api_bad_file_preview_then_apply_refused(county, admin_junan):
    _user, client = admin_junan
    lst = county["list"]
    response = _upload(client, lst, build_xlsx(BAD_ROWS))
    assert response.status_code == 201
    body = response.json()
    assert body["summary"]["problems"] == len(body["problems"]) >= 8
    assert {p["row"] for p in body["problems"]} == {4, 5, 6, 7, 8, 9, 10}
    response = client.post(f"/api/v1/lists/batches/{body['id']}/apply")
    assert response.status_code == 409
    assert "请修改表格后重新上传" in response.json()["detail"]
    assert len(response.json()["errors"]) == len(body["problems"])
    assert ListEntry.objects.count() == 0


@pytest.mark.parametrize(
    "data, name, status, fragment",
    [
        (b"MZ\x90\x00" + b"\x00" * 200, "清单.xlsx", 415, "不是有效的Excel表格"),
        (b"", "清单.xlsx", 400, "为空"),
        ("序号,事项名称\n1,户口迁移\n".encode(), "清单.xls", 415, "不是有效的Excel表格"),
        (b"PK\x03\x04" + b"\x00" * 300, "清单.xlsx", 400, "已损坏"),
    ],
)
def test_api_rejects_non_spreadsheets(county, admin_junan, data, name, status, fragment):
    _user, client = admin_junan
    response = _upload(client, county["list"], data, name)
    assert response.status_code == status
    assert fragment in response.json()["detail"]
    assert ImportBatch.objects.count() == 0


def test_api_rejects_truncated_and_headerless_files(county, admin_junan):
    _user, client = admin_junan
    good = build_xlsx(GOOD_ROWS)
    response = _upload(client, county["list"], good[: len(good) // 2])
    assert response.status_code == 400 and "已损坏" in response.json()["detail"]
    wb = openpyxl.Workbook()
    wb.active.append(["姓名", "电话"])
    out = io.BytesIO()
    wb.save(out)
    response = _upload(client, county["list"], out.getvalue())
    assert response.status_code == 400 and "未找到表头" in response.json()["detail"]
    response = client.post(f"/api/v1/lists/{county['list'].pk}/imports", {})
    assert response.status_code == 422


def test_api_size_limit(county, admin_junan, settings):
    settings.TONGBAN_MAX_UPLOAD_MB = 0
    _user, client = admin_junan
    response = _upload(client, county["list"], build_xlsx(GOOD_ROWS))
    assert response.status_code == 413 and "上限" in response.json()["detail"]


def test_api_double_apply_imports_once(county, admin_junan):
    _user, client = admin_junan
    lst = county["list"]
    batch_id = _upload(client, lst, build_xlsx(GOOD_ROWS)).json()["id"]
    first = client.post(f"/api/v1/lists/batches/{batch_id}/apply")
    assert first.status_code == 200 and first.json()["status"] == "applied"
    assert first.json()["summary"]["created"] == 4
    second = client.post(f"/api/v1/lists/batches/{batch_id}/apply")
    assert second.status_code == 409 and "不会重复导入" in second.json()["detail"]
    assert ListEntry.objects.filter(tongban_list=lst).count() == 4
    assert AuditEntry.objects.filter(action="tongban_list.import").count() == 1
    detail = client.get(f"/api/v1/lists/batches/{batch_id}?limit=2")
    assert detail.status_code == 200 and detail.json()["rows_total"] == 4 and len(detail.json()["rows"]) == 2


def test_other_county_admin_cannot_import(county, admin_junan, staff_factory):
    user, client = admin_junan
    other, other_client = staff_factory("catalog_admin", LANSHAN)
    lst = county["list"]
    with pytest.raises(PermissionDenied):
        importing.preview(other, "x.xlsx", build_xlsx(GOOD_ROWS), lst)
    response = _upload(other_client, lst, build_xlsx(GOOD_ROWS))
    assert response.status_code == 403 and "没有权限" in response.json()["detail"]
    # A batch previewed by the county's own admin is invisible to the other county's admin.
    batch = importing.preview(user, "x.xlsx", build_xlsx(GOOD_ROWS), lst)
    assert other_client.get(f"/api/v1/lists/batches/{batch.pk}").status_code == 404
    assert other_client.post(f"/api/v1/lists/batches/{batch.pk}/apply").status_code == 404
    with pytest.raises(PermissionDenied):
        importing.apply(other, batch)
    assert ListEntry.objects.count() == 0
    # A clerk of the same county may read but not import.
    _clerk, clerk_client = staff_factory("clerk", JUNAN)
    assert _upload(clerk_client, lst, build_xlsx(GOOD_ROWS)).status_code == 403
    # Anonymous: 401.
    from django.test import Client

    assert _upload(Client(), lst, build_xlsx(GOOD_ROWS)).status_code == 401


def test_department_limited_admin_sees_rows_of_other_departments_as_problems(county, staff_factory):
    user, _client = staff_factory("catalog_admin", JUNAN, department=county["police"])
    batch = importing.preview(user, "x.xlsx", build_xlsx(GOOD_ROWS), county["list"])
    assert {p["row"] for p in batch.problems} == {6, 7}
    assert all("您无权维护责任单位" in p["message"] for p in batch.problems)


def test_ambiguous_department_short_name(county, admin_junan):
    user, _client = admin_junan
    other = make_department("371327", "莒南县市场监督管理局分局")
    other.short_name = "县市场监管局"
    other.save()
    batch = importing.preview(user, "x.xlsx", build_xlsx([GOOD_ROWS[3]]), county["list"])
    assert batch.problems[0]["message"].startswith("责任单位“县市场监管局”对应多个部门")


def test_department_outside_region_is_unknown(county, admin_junan):
    user, _client = admin_junan
    make_department(LANSHAN, "兰山区公安分局")
    rows = [[1, "户口迁移", "", "", "兰山区公安分局", "全程网办", "", "", ""]]
    batch = importing.preview(user, "x.xlsx", build_xlsx(rows), county["list"])
    assert batch.problems[0]["message"].startswith("未找到责任单位“兰山区公安分局”")


def test_preview_never_500s_on_odd_cells(county, admin_junan):
    _user, client = admin_junan
    rows = [
        [1.0, "  户口\n迁移 ", 370701234000, "", "莒南县公安局", None, 3, 44377, True],
        [2, '=HYPERLINK("http://x")', "", "", "莒南县公安局", "全程网办＋多地联办", "", "", "x" * 600],
        [3, "长" * 201, "", "", "", "", "b" * 41, "", ""],
    ]
    response = _upload(client, county["list"], build_xlsx(rows))
    assert response.status_code == 201
    body = response.json()
    assert body["rows"][0]["item_name"] == "户口迁移" and body["rows"][0]["basic_code"] == "370701234000"
    assert body["rows"][0]["deadline"] == "2021-06-30" and body["rows"][0]["batch"] == "3"
    assert body["rows"][1]["modes"] == ["online", "joint"]
    messages = {(p["row"], p["message"]) for p in body["problems"]}
    assert (5, "备注过长（600字，最多500字）") in messages
    assert (6, "事项名称过长（201字，最多200字）") in messages
    assert (6, "批次过长（最多40字）") in messages


# --- admin -----------------------------------------------------------------------------------------


def _admin_client(factory, region=JUNAN, role="catalog_admin"):
    user, client = factory(role, region)
    user.is_staff = True
    user.save()
    return user, client


def test_admin_upload_preview_confirm(county, staff_factory):
    _user, client = _admin_client(staff_factory)
    lst = county["list"]
    url = reverse("admin:catalog_tongbanlist_import", args=[lst.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"file": SimpleUploadedFile("bad.xlsx", build_xlsx(BAD_ROWS))})
    assert response.status_code == 302
    preview_url = response["Location"]
    page = client.get(preview_url).content.decode()
    for fragment in (
        "未找到责任单位“莒南县交通运输局”",
        "事项名称为空",
        "与第4行重复",
        "基本编码格式不正确",
        "办理模式“上门办理”无法识别",
        "完成时限“尽快”无法识别",
    ):
        assert fragment in page
    assert "确认导入" not in page
    response = client.post(preview_url)
    assert response.status_code == 409 and ListEntry.objects.count() == 0
    # A good file: preview, then confirm twice; it imports once.
    response = client.post(url, {"file": SimpleUploadedFile("good.xls", build_xls(GOOD_ROWS))})
    preview_url = response["Location"]
    assert "确认导入4行" in client.get(preview_url).content.decode()
    response = client.post(preview_url)
    assert response.status_code == 302 and response["Location"] == reverse("admin:catalog_tongbanlist_change", args=[lst.pk])
    assert client.post(preview_url).status_code == 409
    assert ListEntry.objects.filter(tongban_list=lst).count() == 4
    change = client.get(reverse("admin:catalog_tongbanlist_change", args=[lst.pk])).content.decode()
    assert "户口迁移" in change and "导入Excel" in change


def test_admin_rejects_non_spreadsheet_with_message(county, staff_factory):
    _user, client = _admin_client(staff_factory)
    url = reverse("admin:catalog_tongbanlist_import", args=[county["list"].pk])
    response = client.post(url, {"file": SimpleUploadedFile("清单.xlsx", b"MZ" + b"\x00" * 100)})
    assert response.status_code == 415
    assert "不是有效的Excel表格" in response.content.decode()
    assert client.post(url, {}).status_code == 400


def test_admin_other_county_cannot_import(county, staff_factory):
    owner, _ = _admin_client(staff_factory)
    _user, client = _admin_client(staff_factory, LANSHAN)
    lst = county["list"]
    url = reverse("admin:catalog_tongbanlist_import", args=[lst.pk])
    response = client.post(url, {"file": SimpleUploadedFile("good.xlsx", build_xlsx(GOOD_ROWS))})
    assert response.status_code == 403 and "没有权限" in response.content.decode()
    batch = importing.preview(owner, "good.xlsx", build_xlsx(GOOD_ROWS), lst)
    assert client.post(reverse("admin:catalog_tongbanlist_preview", args=[batch.pk])).status_code == 404
    assert client.get(reverse("admin:catalog_importbatch_change", args=[batch.pk])).status_code in (302, 404)
    assert ListEntry.objects.count() == 0
    # The list is public, so it shows, but it cannot be changed.
    response = client.post(
        reverse("admin:catalog_tongbanlist_change", args=[lst.pk]), {"name": "改名", "scope": "cross_province", "region": lst.region_id}
    )
    assert response.status_code == 403
    lst.refresh_from_db()
    assert lst.name == TITLE


def test_admin_create_list_outside_region_is_a_form_error(county, staff_factory):
    _user, client = _admin_client(staff_factory, LANSHAN)
    data = {
        "name": "莒南县清单",
        "scope": "cross_province",
        "region": Region.objects.get(code=JUNAN).pk,
        "entries-TOTAL_FORMS": "0",
        "entries-INITIAL_FORMS": "0",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    response = client.post(reverse("admin:catalog_tongbanlist_add"), data)
    assert response.status_code == 200
    assert "您没有权限操作该区划或部门的数据" in response.content.decode()
    assert not TongbanList.objects.filter(name="莒南县清单").exists()
    data["region"] = Region.objects.get(code=LANSHAN).pk
    data["name"] = "兰山区全市通办清单"
    response = client.post(reverse("admin:catalog_tongbanlist_add"), data)
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="tongban_list.create").exists()


def test_api_create_list(staff_factory, db):
    _user, client = staff_factory("catalog_admin", JUNAN)
    payload = {"name": "湾区通办清单", "scope": "regional", "region_code": JUNAN, "partner_region_codes": [LANSHAN]}
    response = client.post("/api/v1/lists/", payload, content_type="application/json")
    assert response.status_code == 201 and response.json()["partner_region_codes"] == [LANSHAN]
    payload["region_code"] = LANSHAN
    response = client.post("/api/v1/lists/", payload, content_type="application/json")
    assert response.status_code == 403
    payload["region_code"] = "999999"
    response = client.post("/api/v1/lists/", payload, content_type="application/json")
    assert response.status_code == 422 and "不存在" in response.json()["detail"]
    payload["scope"] = "galaxy"
    assert client.post("/api/v1/lists/", payload, content_type="application/json").status_code == 422


def test_public_list_and_entries(county, admin_junan):
    from django.test import Client

    user, _client = admin_junan
    lst = county["list"]
    importing.apply(user, importing.preview(user, "a.xlsx", build_xlsx(GOOD_ROWS), lst))
    public = Client()
    lists = public.get("/api/v1/lists/?scope=cross_province").json()
    assert lists["total"] == 1 and lists["items"][0]["entry_count"] == 4
    entries = public.get(f"/api/v1/lists/{lst.pk}/entries?mode=joint").json()
    assert entries["total"] == 1 and entries["items"][0]["mode_labels"] == ["多地联办"]
    assert entries["items"][0]["responsible_department"] == "莒南县民政局"
    assert public.get("/api/v1/lists/999999").status_code == 404
    assert public.get("/api/v1/lists/999999/entries").status_code == 404
    assert public.get("/api/v1/lists/abc").status_code == 404


def test_apply_refuses_when_department_was_deactivated(county, admin_junan):
    user, _client = admin_junan
    batch = importing.preview(user, "a.xlsx", build_xlsx(GOOD_ROWS), county["list"])
    county["civil"].is_active = False
    county["civil"].save()
    with pytest.raises(Conflict):
        importing.apply(user, batch)
    assert ListEntry.objects.count() == 0


def test_domain_error_for_empty_sheet(county, admin_junan):
    user, _client = admin_junan
    with pytest.raises(DomainError) as exc:
        importing.preview(user, "empty.xlsx", build_xlsx([]), county["list"])
    assert "没有数据行" in exc.value.message


def test_admin_entry_edit_and_list_delete_go_through_services(county, staff_factory):
    user, client = _admin_client(staff_factory)
    lst = county["list"]
    importing.apply(user, importing.preview(user, "a.xlsx", build_xlsx(GOOD_ROWS), lst))
    entry = ListEntry.objects.get(tongban_list=lst, item_name="户口迁移")
    url = reverse("admin:catalog_listentry_change", args=[entry.pk])
    data = {
        "tongban_list": lst.pk, "seq": 1, "item_name": "户口迁移", "responsible_department": county["police"].pk,
        "responsible_department_name": "莒南县公安局", "modes": ["online"], "batch": "第九批", "deadline": "2022-06-30",
        "status": "implemented", "note": "",
    }  # fmt: skip
    _other, other_client = _admin_client(staff_factory, LANSHAN)
    assert other_client.post(url, data).status_code == 403
    assert client.post(url, data).status_code == 302
    entry.refresh_from_db()
    assert entry.batch == "第九批" and entry.status == "implemented" and entry.modes == 1
    assert AuditEntry.objects.filter(action="list_entry.update", object_id=str(entry.pk)).exists()
    delete_url = reverse("admin:catalog_tongbanlist_delete", args=[lst.pk])
    assert other_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not TongbanList.objects.filter(pk=lst.pk).exists() and ListEntry.objects.count() == 0
    assert AuditEntry.objects.filter(action="tongban_list.delete").exists()


def test_api_create_list_is_idempotent(db, staff_factory):
    _user, client = staff_factory("catalog_admin", JUNAN)
    payload = {"name": "莒南县全市通办清单", "scope": "city_wide", "region_code": JUNAN}
    first = client.post("/api/v1/lists/", payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post("/api/v1/lists/", payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    assert TongbanList.objects.filter(name="莒南县全市通办清单").count() == 1
