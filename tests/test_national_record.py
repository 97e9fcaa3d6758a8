"""The national exchange record of a case: exactly the schema's columns, required columns filled from
what the case knows, varchar widths kept, Asia/Shanghai datetimes, the full ID number."""

import datetime
import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.conftest import make_department, make_implementation, make_item
from tongban.applicants.models import Applicant
from tongban.cases import national_record
from tongban.cases.models import Case, CaseEvent, CaseMaterial, ClockPause, Delivery, SpecialProcedure, Status
from tongban.core.codes import id_check_char
from tongban.core.models import StoredBlob

UTC = datetime.UTC
TABLES = ("up_pro_accept", "up_pro_process", "up_pro_special_procedure", "up_pro_material", "up_pro_result")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ID_NUMBER = "37132719900101123" + id_check_char("37132719900101123")
NOW = datetime.datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC)  # 09:02:03 in Shanghai


def at(day, hour):
    """A UTC instant on a November 2026 day."""
    return datetime.datetime(2026, 11, day, hour, 0, 0, tzinfo=UTC)


def _event(case, seq, action, label, status_from="", status_to="", opinion="", actor_name="王受理", at_=None):
    return CaseEvent.objects.create(
        case=case, seq=seq, action=action, label=label, actor_name=actor_name, role="clerk", at=at_ or at(20, seq),
        status_from=status_from, status_to=status_to, opinion=opinion, prev_hash=f"{seq - 1:064x}", hash=f"{seq:064x}",
    )


def build_case(status=Status.DELIVERED, long_text=False, agent=True):
    department = make_department("371327", "莒南县行政审批服务局")
    item = make_item("食品经营许可证核发", "370117002011", region_code="370000", materials=("食品经营许可申请书", "营业执照"))
    implementation = make_implementation(item, department)
    implementation.business_code = "370117002011001"
    implementation.save(update_fields=["business_code"])
    version = item.versions.get()
    user = get_user_model().objects.create_user(username=f"applicant_{ID_NUMBER}")
    applicant = Applicant.objects.create(
        user=user, kind=Applicant.NATURAL, applicant_type="1", name="张三", id_number=ID_NUMBER,
        agent_name="李四" if agent else "", agent_id_number=("11010519491231002X" if agent else ""), phone="13800138000",
    )
    name = "张" * 200 if long_text else "张三"
    case = Case.objects.create(
        case_no="3713272026112000001", status=status, channel="online", applicant=applicant, implementation=implementation,
        item_version=version, region=department.region, region_path=department.region.path, department=department,
        applicant_name=name, applicant_type="1", applicant_code_type="公民身份号码", applicant_code=ID_NUMBER,
        agent_name="李四" if agent else "", contact_phone="13800138000", case_kind="2", delivery_method="mail",
        delivery_address="山东省临沂市莒南县人民路1号", promised_days=10, statutory_days=20, due_date=datetime.date(2026, 12, 4),
        decision_reason="符合条件" * (600 if long_text else 1), result_name="食品经营许可证", certificate_no="JY13713270012345",
        submitted_at=at(20, 1), accepted_at=at(20, 2),
    )
    opinion = "同意。" * (1000 if long_text else 1)
    _event(case, 1, "submit", "收件", "draft", "submitted", actor_name="张三")
    _event(case, 2, "accept", "受理", "submitted", "accepted")
    _event(case, 3, "review", "审核", "accepted", "under_review", opinion=opinion, actor_name="赵审核")
    _event(case, 4, "start_special", "特别程序", "under_review", "special", opinion="需要现场勘验", actor_name="钱审批")
    _event(case, 5, "end_special", "特别程序结束", "special", "under_review", opinion="勘验合格", actor_name="钱审批")
    _event(case, 6, "flag_overdue", "超期预警", actor_name="系统")
    pause = ClockPause.objects.create(case=case, reason="现场勘验", started_on=datetime.date(2026, 11, 20), ended_on=datetime.date(2026, 11, 23), working_days=1)
    SpecialProcedure.objects.create(
        case=case, kind="inspection", reason="需要现场勘验" * (500 if long_text else 1), started_at=at(20, 4), ended_at=at(20, 5),
        result="勘验合格", pause=pause,
    )
    if status in (Status.CONCLUDED, Status.DELIVERED):
        _event(case, 7, "approve", "准予许可", "under_review", "approved", actor_name="钱审批")
        _event(case, 8, "conclude", "办结", "approved", "concluded", actor_name="钱审批")
        case.decided_at, case.concluded_at = at(20, 7), at(20, 8)
        case.save(update_fields=["decided_at", "concluded_at"])
    if status == Status.DELIVERED:
        _event(case, 9, "deliver", "送达", "concluded", "delivered")
        Delivery.objects.create(case=case, method="mail", courier="中国邮政EMS", tracking_no="EMS123456789CN", address=case.delivery_address, delivered_at=at(21, 1))
    blob = StoredBlob.objects.create(sha256="ab" * 32, size=1024, content_type="application/pdf")
    materials = list(version.materials.order_by("seq"))
    CaseMaterial.objects.create(case=case, material=materials[0], name=materials[0].name, blob=blob, file_name="申请书.pdf", round=1, how="online")
    CaseMaterial.objects.create(case=case, material=materials[0], name=materials[0].name, blob=blob, file_name="申请书-补正.pdf", round=2, how="online")
    CaseMaterial.objects.create(case=case, material=materials[1], name=materials[1].name, blob=blob, file_name="执照正本.jpg", round=1, how="window")
    CaseMaterial.objects.create(case=case, material=materials[1], name=materials[1].name, blob=blob, file_name="执照副本.jpg", round=1, how="window")
    return case


def _rows(record):
    for table in TABLES:
        value = record[table]
        for row in value if isinstance(value, list) else ([value] if value else []):
            yield table, row


def test_schema_fields_are_the_case_tables():
    fields = national_record.schema_fields()
    assert set(fields) == set(TABLES)
    assert {f["column"] for f in fields["up_pro_accept"]} >= {"project_no", "task_code", "applyer_page_code", "cd_batch"}
    assert len(fields["up_pro_accept"]) == 35 and len(fields["up_pro_process"]) == 14
    for table_fields in fields.values():
        assert all(set(f) == {"table", "column", "sql_type", "not_null", "comment_zh"} for f in table_fields)


def test_columns_match_schema_exactly(db):
    record = national_record.export_record(build_case(), now=NOW)
    fields = national_record.schema_fields()
    assert set(record) == set(TABLES)
    assert record["up_pro_result"] is not None and len(record["up_pro_process"]) == 8  # the overdue flag is not a step
    for table, row in _rows(record):
        assert list(row) == [f["column"] for f in fields[table]], table


def test_required_columns_filled_and_types(db):
    record = national_record.export_record(build_case(), now=NOW)
    fields = national_record.schema_fields()
    for table, row in _rows(record):
        for f in fields[table]:
            value = row[f["column"]]
            if f["not_null"] == "Y":
                assert value not in (None, ""), f"{table}.{f['column']}（{f['comment_zh']}）为空"
            if value is None:
                continue
            if f["sql_type"] == "datetime":
                assert DATETIME.match(value), (table, f["column"], value)
            elif f["sql_type"].startswith(("bigint", "int")):
                assert isinstance(value, int)
            else:
                assert isinstance(value, str)


def test_values_mapped_from_the_case(db):
    case = build_case()
    record = national_record.export_record(case, now=NOW)
    accept = record["up_pro_accept"]
    assert accept["project_no"] == case.case_no
    assert accept["applyer_page_code"] == ID_NUMBER  # the official record carries the full number
    assert accept["task_code"] == case.implementation.implementation_code and accept["task_handle_item"] == "370117002011001"
    assert accept["catalog_code"] == "370117002011" and accept["task_version"] == 1 and accept["task_name"] == "食品经营许可证核发"
    assert accept["org_code"] == case.department.credit_code and accept["org_name"] == "莒南县行政审批服务局"
    assert accept["apply_date"] == "2026-11-20 09:00:00" and accept["accept_date"] == "2026-11-20 10:00:00"  # Asia/Shanghai
    assert accept["promise_date"] == "2026-12-04 23:59:59"
    assert accept["handle_user_name"] == "王受理" and accept["contact_name"] == "李四" and accept["contact_code"] == "11010519491231002X"
    assert accept["project_type"] == "2" and accept["applyer_type"] == "1"
    assert accept["cd_operation"] == "I" and accept["cd_time"] == "2026-11-25 09:02:03" and accept["cd_batch"] == "TB20261125090203"
    assert accept["data_source"] == "37"

    process = record["up_pro_process"]
    assert [p["process_name"] for p in process][:3] == ["收件", "受理", "审核"]
    codes = national_record.DEFAULT_CODES["event_name"]
    assert [p["event_name"] for p in process] == [codes[k] for k in ("收件", "受理", "审核", "挂起", "挂起", "审核", "办结", "其他")]
    assert process[2]["handle_explain"] == "同意。" and process[2]["handle_user_name"] == "赵审核"
    assert process[1]["event_start_time"] == process[0]["event_end_time"]  # a step runs from the previous event
    assert all(p["cd_batch"] == accept["cd_batch"] for p in process)

    (special,) = record["up_pro_special_procedure"]
    assert special["special_name"] == "现场勘验" and special["special_reason"] == "需要现场勘验" and special["result"] == "勘验合格"
    assert special["special_time"] == "2026-11-20 12:00:00" and special["end_time"] == "2026-11-20 13:00:00"
    assert special["handle_user"] == "钱审批" and "暂停计时1个工作日" in special["remark"]

    materials = record["up_pro_material"]
    assert [(m["material_name"], m["get_name"], m["material_attach_name"]) for m in materials] == [
        ("食品经营许可申请书", "1", "申请书-补正.pdf"), ("营业执照", "2", "执照正本.jpg；执照副本.jpg")]
    assert materials[0]["remark"] and materials[0]["get_type"] != materials[1]["get_type"]

    result = record["up_pro_result"]
    assert result["result_date"] == "2026-11-20 16:00:00" and result["result_type"] == national_record.DEFAULT_CODES["result_type"]["approved"]
    assert result["result_cetr_name"] == "食品经营许可证" and result["result_cetr_no"] == "JY13713270012345"
    assert result["is_delivery_results"] == "1" and "EMS123456789CN" in result["remark"] and result["handle_user_name"] == "钱审批"

    # Row identifiers are stable across exports; the batch follows the export time.
    again = national_record.export_record(case, now=NOW + datetime.timedelta(hours=1))
    assert again["up_pro_accept"]["row_guid"] == accept["row_guid"] and again["up_pro_accept"]["cd_batch"] == "TB20261125100203"


def test_varchar_lengths_never_exceeded(db):
    record = national_record.export_record(build_case(long_text=True), now=NOW)
    fields = national_record.schema_fields()
    cut = 0
    for table, row in _rows(record):
        for f in fields[table]:
            length = national_record.varchar_length(f["sql_type"])
            if length and row[f["column"]] is not None:
                assert len(row[f["column"]]) <= length, (table, f["column"])
                cut += len(row[f["column"]]) == length
    assert record["up_pro_accept"]["applyer_name"] == "张" * 100
    assert len(record["up_pro_process"][2]["handle_explain"]) == 2000
    assert len(record["up_pro_special_procedure"][0]["special_reason"]) == 2000
    assert cut >= 4


def test_open_case_has_no_result(db):
    record = national_record.export_record(build_case(status=Status.UNDER_REVIEW, agent=False), now=NOW)
    assert record["up_pro_result"] is None
    assert record["up_pro_accept"]["contact_name"] == "张三" and record["up_pro_accept"]["contact_code"] == ID_NUMBER


def test_codes_are_configurable(db, settings):
    settings.TONGBAN_NATIONAL_CODES = {"event_name": {"收件": "SJ"}}
    settings.TONGBAN_NATIONAL_DATA_SOURCE = "p37"
    record = national_record.export_record(build_case(), now=NOW)
    assert record["up_pro_process"][0]["event_name"] == "SJ" and record["up_pro_process"][1]["event_name"] == "02"
    assert record["up_pro_accept"]["data_source"] == "p37"


def test_management_command(db):
    case = build_case()
    out = StringIO()
    call_command("export_case_record", case.case_no, stdout=out)
    data = json.loads(out.getvalue())
    assert data["up_pro_accept"]["project_no"] == case.case_no and len(data["up_pro_material"]) == 2
    with pytest.raises(CommandError, match="办件编号“0000”不存在"):
        call_command("export_case_record", "0000")
