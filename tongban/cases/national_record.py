"""One case as the national exchange record (全国一体化政务服务平台 办件信息).

`export_record(case)` returns the five case tables of the national exchange schema — up_pro_accept
(one row), up_pro_process (one row per CaseEvent), up_pro_special_procedure, up_pro_material and
up_pro_result (one row once the case has ended, else None). Every row has exactly the columns the schema
lists in `data/national_exchange_schema_fields.csv` (copied from the shared data, up_pro_* rows only):
values the case does not know are None, varchar values are cut to the column width, datetimes are
"YYYY-MM-DD HH:MM:SS" in Asia/Shanghai time.

This is the official record for the national platform, so the applicant's identity number is exported
in full (never log it).

Code lists. The schema gives the columns and their widths but not the values of several two-character
code columns (申请类型, 业务动作, 特别程序种类, 收取方式, 办结结果, 是否快递递送结果). The values below are
inferred from the step kinds named in STANDARDS.md and kept configurable: a deployment overrides any of
them with `TONGBAN_NATIONAL_CODES = {"event_name": {"受理": "…"}, …}` in settings, and sets the 数据来源 code
with `TONGBAN_NATIONAL_DATA_SOURCE` (default: the province's two-digit code).
"""

import csv
import datetime
import functools
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

SCHEMA_CSV = Path(__file__).resolve().parent / "data" / "national_exchange_schema_fields.csv"
TABLES = ("up_pro_accept", "up_pro_process", "up_pro_special_procedure", "up_pro_material", "up_pro_result")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ROW_GUID_NAMESPACE = uuid.UUID("6f1f3c3e-1d0a-5b8e-9a51-7b2d3c4e5f60")

# --- code lists (inferred; overridable through settings.TONGBAN_NATIONAL_CODES) ------------------

DEFAULT_CODES = {
    # 申请类型 by Case.channel
    "apply_type": {"online": "1", "window": "2"},
    # 业务动作 by step kind (STANDARDS.md: 收件, 受理, 审核, 办结, 补齐补正, 挂起, 其他)
    "event_name": {"收件": "01", "受理": "02", "审核": "03", "办结": "04", "补齐补正": "05", "挂起": "06", "其他": "99"},
    # 特别程序种类 by SpecialProcedure.kind
    "special_type": {"hearing": "01", "expert_review": "02", "inspection": "03", "publicity": "04", "other": "99"},
    # 收取方式 by CaseMaterial.how
    "get_type": {"window": "01", "online": "02", "reuse": "03"},
    # 办结结果 by outcome
    "result_type": {"approved": "01", "denied": "02", "refused": "03", "withdrawn": "04", "terminated": "99"},
    # 是否快递递送结果
    "is_delivery_results": {True: "1", False: "0"},
}

# CaseEvent.action (cases.lifecycle) -> step kind. Unknown actions fall back to the new status, then to
# keywords of the label.
ACTION_KINDS = {
    "submit": "收件",
    "accept": "受理", "refuse_intake": "受理", "decide_at_once": "受理",
    "review": "审核", "approve": "审核", "deny": "审核",
    "conclude": "办结", "withdraw": "办结", "terminate": "办结",
    "request_supplement": "补齐补正", "resubmit": "补齐补正", "fulfil_deferred": "补齐补正",
    "start_special": "挂起", "end_special": "挂起",
    "deliver": "其他", "pay": "其他",
}
# System alerts are not steps of the handling: they stay out of up_pro_process.
NOT_STEPS = frozenset({"flag_overdue", "flag_deferred_overdue"})
STATUS_KINDS = {
    "submitted": "收件", "accepted": "受理", "refused": "受理", "under_review": "审核", "approved": "审核", "denied": "审核",
    "concluded": "办结", "withdrawn": "办结", "terminated": "办结", "delivered": "其他", "supplement": "补齐补正", "special": "挂起",
}
LABEL_KINDS = (  # keyword in CaseEvent.label -> step kind, first match wins
    ("补", "补齐补正"), ("挂起", "挂起"), ("暂停", "挂起"), ("特别程序", "挂起"), ("收件", "收件"), ("受理", "受理"),
    ("办结", "办结"), ("撤回", "办结"), ("审", "审核"), ("许可", "审核"),
)
ACCEPT_ACTIONS = ("accept", "refuse_intake", "decide_at_once")
END_ACTIONS = ("conclude", "refuse_intake", "withdraw", "terminate")
OUTCOME_LABELS = {"approved": "准予许可（办结）", "denied": "不予许可", "refused": "不予受理", "withdrawn": "申请人撤回", "terminated": "终止办理（一件事未办成）"}
ENDED_STATUSES = ("concluded", "delivered", "refused", "withdrawn", "terminated")


def _codes(name):
    overrides = (getattr(settings, "TONGBAN_NATIONAL_CODES", None) or {}).get(name) or {}
    return {**DEFAULT_CODES[name], **overrides}


# --- schema --------------------------------------------------------------------------------------


@functools.cache
def _schema():
    tables = {}
    with SCHEMA_CSV.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            tables.setdefault(row["table"], []).append(dict(row))
    return tables


def schema_fields():
    """{table: [{"table", "column", "sql_type", "not_null", "comment_zh"}, …]} as listed in the CSV."""
    return {table: [dict(f) for f in fields] for table, fields in _schema().items()}


_VARCHAR = re.compile(r"varchar\((\d+)\)")


def varchar_length(sql_type):
    m = _VARCHAR.fullmatch(sql_type.strip().lower())
    return int(m.group(1)) if m else None


def _coerce(value, sql_type):
    if value is None or value == "":
        return None
    kind = sql_type.strip().lower()
    if kind.startswith(("bigint", "int")):
        return int(value)
    if kind == "datetime":
        return _dt(value)
    text = str(value)
    length = varchar_length(kind)
    return text[:length] if length else text


def _row(table, values):
    """A row with exactly the table's columns (in CSV order), coerced and cut to width."""
    fields = _schema()[table]
    unknown = set(values) - {f["column"] for f in fields}
    if unknown:  # a programming error: the mapping names a column the schema does not have
        raise KeyError(f"{table} 没有字段：{'、'.join(sorted(unknown))}")
    return {f["column"]: _coerce(values.get(f["column"]), f["sql_type"]) for f in fields}


# --- value helpers -------------------------------------------------------------------------------


def _dt(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, SHANGHAI)
        return value.astimezone(SHANGHAI).strftime(DATETIME_FORMAT)
    if isinstance(value, datetime.date):  # a deadline date: the end of that day
        return datetime.datetime.combine(value, datetime.time(23, 59, 59)).strftime(DATETIME_FORMAT)
    raise TypeError(f"不是日期时间：{value!r}")


def _guid(table, pk):
    """记录唯一标识: stable for the same row, so a re-export updates rather than duplicates."""
    return str(uuid.uuid5(ROW_GUID_NAMESPACE, f"tongban:{table}:{pk}"))


def step_kind(event):
    """The 业务动作 step kind (收件, 受理, 审核, 办结, 补齐补正, 挂起, 其他) of a CaseEvent."""
    action = (event.action or "").strip().lower()
    if action in ACTION_KINDS:
        return ACTION_KINDS[action]
    if event.status_to in STATUS_KINDS:
        return STATUS_KINDS[event.status_to]
    for keyword, kind in LABEL_KINDS:
        if keyword in (event.label or ""):
            return kind
    return "其他"


def _outcome(case, events):
    if case.status in ("refused", "withdrawn", "terminated"):
        return case.status
    if case.status == "denied" or any(e.status_to == "denied" for e in events):
        return "denied"
    return "approved"


def _last(events, predicate):
    found = [e for e in events if predicate(e)]
    return found[-1] if found else None


# --- the export ----------------------------------------------------------------------------------


def export_record(case, now=None):
    """The national exchange record of `case` (see the module docstring); `now` is the sync time."""
    from .models import Delivery

    now = timezone.localtime(now or timezone.now(), SHANGHAI)
    sync = {"cd_batch": "TB" + now.strftime("%Y%m%d%H%M%S"), "cd_operation": "I", "cd_time": now}
    sync["data_source"] = getattr(settings, "TONGBAN_NATIONAL_DATA_SOURCE", None) or case.region.code[:2]
    project_no = case.case_no
    events = list(case.events.order_by("seq"))
    version = case.item_version
    implementation = case.implementation
    applicant = case.applicant
    department = case.department

    # --- 受理信息 ---
    accept_event = _last(events, lambda e: e.action in ACCEPT_ACTIONS or e.status_to in ("accepted", "refused"))
    # 不予受理 is also a decision of the 受理 step: its date stands as 受理时间.
    accept_date = case.accepted_at or (case.decided_at if case.status == "refused" else None) or (accept_event.at if accept_event else None)
    accept_docs = case.documents.filter(kind__in=("acceptance", "refusal")).exists()
    natural = case.applicant_type == "1"
    if case.agent_name:
        contact_name, contact_code = case.agent_name, applicant.agent_id_number or None
    elif natural:
        contact_name, contact_code = case.applicant_name, case.applicant_code
    else:
        contact_name = contact_code = None
    accept = _row("up_pro_accept", {
        **sync,
        "id": case.pk,
        "row_guid": _guid("up_pro_accept", case.pk),
        "project_no": project_no,
        "accept_date": accept_date,
        "accept_doc_no": project_no if accept_docs else None,
        "address": case.delivery_address or None,
        "apply_date": case.submitted_at,
        "apply_type": _codes("apply_type").get(case.channel),
        "applyer_name": case.applicant_name,
        "applyer_page_code": case.applicant_code,
        "applyer_page_type": case.applicant_code_type,
        "applyer_type": case.applicant_type,
        "catalog_code": version.item.basic_code,
        "contact_code": contact_code,
        "contact_mobile": case.contact_phone,
        "contact_name": contact_name,
        "contact_type": None,
        "handle_user_name": accept_event.actor_name if accept_event else None,
        "legal": None,
        "local_catalog_code": None,
        "local_task_code": None,
        "org_code": department.credit_code,
        "org_name": department.name,
        "project_name": f"{case.applicant_name}申请{version.name}",
        "project_type": case.case_kind,
        "promise_date": case.due_date,
        "task_code": implementation.implementation_code,
        "task_handle_item": implementation.business_code or None,
        "task_name": version.name,
        "task_version": version.version_no,
        "zip_code": None,
    })

    # --- 过程信息: one row per event; a step runs from the previous event to this one ---
    event_codes = _codes("event_name")
    process = []
    previous_at = None
    for event in events:
        if event.action in NOT_STEPS:
            continue
        kind = step_kind(event)
        transition = ""
        if event.status_from or event.status_to:
            transition = f"状态：{_status_label(event.status_from)}→{_status_label(event.status_to)}"
        remark = "；".join(p for p in (transition, event.department_name, event.window_name) if p)
        process.append(_row("up_pro_process", {
            **sync,
            "id": event.pk,
            "row_guid": _guid("up_pro_process", event.pk),
            "project_no": project_no,
            "event_name": event_codes.get(kind, event_codes.get("其他")),
            "event_start_time": previous_at or event.at,
            "event_end_time": event.at,
            "handle_explain": event.opinion or event.label,
            "handle_user_name": event.actor_name,
            "process_name": event.label,
            "remark": remark or None,
        }))
        previous_at = event.at

    # --- 特别程序 ---
    special_codes = _codes("special_type")
    special = []
    # Each start_special event created one procedure and each end_special closed the open one, in order.
    starts = [e for e in events if e.action == "start_special"]
    ends = [e for e in events if e.action == "end_special"]
    for n, sp in enumerate(case.special_procedures.select_related("pause").order_by("id")):
        started = starts[n] if n < len(starts) else None
        ended = ends[n] if sp.ended_at and n < len(ends) else None
        pause = sp.pause
        pause_note = f"暂停计时{pause.working_days}个工作日（{pause.started_on:%Y-%m-%d}起{f'至{pause.ended_on:%Y-%m-%d}' if pause.ended_on else ''}）"
        special.append(_row("up_pro_special_procedure", {
            **sync,
            "id": sp.pk,
            "row_guid": _guid("up_pro_special_procedure", sp.pk),
            "project_no": project_no,
            "applyer_user_name": case.applicant_name,
            "special_type": special_codes.get(sp.kind, special_codes.get("other")),
            "special_name": sp.get_kind_display(),
            "special_reason": sp.reason,
            "special_time": sp.started_at,
            "end_time": sp.ended_at,
            "result": sp.result or None,
            "special_explain": None,
            "handle_user": (ended or started).actor_name if (ended or started) else None,
            "remark": pause_note,
        }))

    # --- 材料: per material, the files of its newest round (a resubmission supersedes the earlier one,
    # as on the receipt); 收取数量 = how many files ---
    get_codes = _codes("get_type")
    groups = {}
    for m in case.materials.select_related("material").order_by("id"):
        key = m.material_id or f"name:{m.name}"
        current = groups.get(key)
        if current is None or m.round > current[0].round:
            groups[key] = [m]
        elif m.round == current[0].round:
            current.append(m)
    materials = []
    for rows in sorted(groups.values(), key=lambda rs: (rs[0].material.seq if rs[0].material else 10**6, rs[0].pk)):
        first, round_no, how = rows[0], rows[0].round, rows[0].how
        materials.append(_row("up_pro_material", {
            **sync,
            "id": first.pk,
            "row_guid": _guid("up_pro_material", first.pk),
            "project_no": project_no,
            "material_name": first.name,
            "material_attach_name": "；".join(r.file_name for r in rows),
            "get_name": str(len(rows)),
            "get_type": get_codes.get(how),
            "remark": f"第{round_no}轮（补正）提交" if round_no > 1 else None,
        }))

    # --- 结果: once the case has ended ---
    result = None
    if case.concluded_at or case.status in ENDED_STATUSES:
        end_event = _last(events, lambda e: e.action in END_ACTIONS or e.status_to in ("concluded", "refused", "withdrawn", "terminated"))
        result_date = case.concluded_at or case.decided_at or (end_event.at if end_event else None)
        outcome = _outcome(case, events)
        try:
            delivery = case.delivery
        except Delivery.DoesNotExist:
            delivery = None
        method = delivery.method if delivery else case.delivery_method
        explain = OUTCOME_LABELS[outcome] + (f"：{case.decision_reason}" if case.decision_reason else "")
        delivery_note = None
        if delivery:
            parts = [delivery.get_method_display(), delivery.courier and f"快递公司：{delivery.courier}",
                     delivery.tracking_no and f"快递单号：{delivery.tracking_no}", delivery.place and f"地点：{delivery.place}",
                     delivery.recipient and f"签收人：{delivery.recipient}", f"送达时间：{_dt(delivery.delivered_at)}"]
            delivery_note = "；".join(p for p in parts if p)
        result = _row("up_pro_result", {
            **sync,
            "id": case.pk,
            "row_guid": _guid("up_pro_result", case.pk),
            "project_no": project_no,
            "result_date": result_date,
            "result_type": _codes("result_type").get(outcome),
            "result_explain": explain,
            "result_cetr_name": case.result_name or None,
            "result_cetr_no": case.certificate_no or None,
            "is_delivery_results": _codes("is_delivery_results").get(method == "mail"),
            "handle_user_name": end_event.actor_name if end_event else None,
            "satisfaction": None,
            "remark": delivery_note,
        })

    return {
        "up_pro_accept": accept,
        "up_pro_process": process,
        "up_pro_special_procedure": special,
        "up_pro_material": materials,
        "up_pro_result": result,
    }


def _status_label(value):
    from .models import Status

    return dict(Status.choices).get(value, value or "—")
