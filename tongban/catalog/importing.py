"""通办 lists: import from Excel (preview listing every row problem in Chinese, then an all-or-nothing apply)."""

import datetime
import hashlib
import unicodedata
from collections import defaultdict

from django.db import connections, transaction
from django.utils import timezone

from tongban.core import audit
from tongban.core.authz import WRITE, PermissionDenied, can, ensure_can, filter_queryset
from tongban.core.codes import CodeError, validate_basic_code, validate_implementation_code
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.directory.models import Department

from . import spreadsheets
from .lists import ENTRY_FIELDS
from .matching import ItemIndex, normalize_name
from .models import ImportBatch, Item, ListEntry, TongbanList

_MODES_FIELD = ListEntry._meta.get_field("modes")
_UPDATE_FIELDS = [ListEntry._meta.get_field(name) for name in ENTRY_FIELDS]
_SEPARATORS = str.maketrans({c: "、" for c in "，,；;／/"})
CHUNK = 2000


def _dept_key(text):
    return "".join(unicodedata.normalize("NFKC", text or "").split())


class DepartmentIndex:
    """Departments of a region subtree, resolved by credit code, exact name, short name, and the
    local habit of writing 县公安局 for 莒南县公安局. One query."""

    def __init__(self, region):
        self.region = region
        self.by_code, self.by_name, self.by_short, self.info, self._memo = {}, defaultdict(list), defaultdict(list), {}, {}
        rows = Department.objects.filter(region__path__startswith=region.path).values_list(
            "id", "name", "short_name", "credit_code", "is_active"
        )
        for pk, name, short, code, active in rows:
            self.info[pk] = (name, active)
            self.by_code[code] = pk
            self.by_name[_dept_key(name)].append(pk)
            if short:
                self.by_short[_dept_key(short)].append(pk)

    def _candidates(self, name):
        key = _dept_key(name)
        for table, k in ((self.by_name, key), (self.by_short, key)):
            if table.get(k):
                return table[k]
        local = self.region.name
        if key and key[0] in "省市县区旗州" and local.endswith(key[0]) and len(key) > 1:
            return self.by_name.get(_dept_key(local + key[1:]), [])
        return []

    def resolve(self, text, credit_code=""):
        """(department id or None, error message or None); the first of several names is the lead."""
        key = (text, credit_code)
        if key not in self._memo:
            self._memo[key] = self._resolve(text, credit_code)
        return self._memo[key]

    def _resolve(self, text, credit_code):
        if credit_code and credit_code in self.by_code:
            pk = self.by_code[credit_code]
            return (pk, None) if self.info[pk][1] else (None, f"责任单位“{self.info[pk][0]}”已停用")
        names = [p.strip() for p in (text or "").translate(_SEPARATORS).split("、") if p.strip()]
        if not names:
            return None, (f"未找到统一社会信用代码为{credit_code}的部门" if credit_code else None)
        first = None
        for i, name in enumerate(names):
            ids = self._candidates(name)
            if not ids:
                return None, f"未找到责任单位“{name}”（在{self.region.name}及下级区划的部门中）"
            if len(ids) > 1:
                where = "、".join(Department.objects.filter(pk__in=ids[:5]).values_list("region__name", flat=True))
                return None, f"责任单位“{name}”对应多个部门（{where}），请填写全称"
            if not self.info[ids[0]][1]:
                return None, f"责任单位“{name}”已停用"
            if i == 0:
                first = ids[0]
        return first, None


def _entry_permission(actor, tongban_list):
    """Cached per department: may the actor write an entry of this list with this responsible department?"""
    cache = {}

    def check(dept_id):
        if dept_id not in cache:
            cache[dept_id] = can(actor, ListEntry(tongban_list=tongban_list, responsible_department_id=dept_id), WRITE)
        return cache[dept_id]

    return check


def _existing(tongban_list):
    exact, norm = {}, {}
    for pk, name in tongban_list.entries.values_list("id", "item_name"):
        exact[name] = pk
        norm.setdefault(normalize_name(name), pk)
    return exact, norm


def _find_existing(exact, norm, name):
    return exact.get(name) or norm.get(normalize_name(name))


def preview(actor, file_name, data, tongban_list):
    """Parse a spreadsheet for `tongban_list` and store the result with every row problem; nothing
    else changes. Returns the ImportBatch (status 待确认)."""
    ensure_can(actor, tongban_list, WRITE, "您没有权限向该清单导入数据")
    table = spreadsheets.read_table(data, file_name)
    if not table.rows:
        raise DomainError(f"文件“{file_name}”的表头之后没有数据行")
    region = tongban_list.region
    depts = DepartmentIndex(region)
    items = ItemIndex.for_region(region, actor)
    may_write = _entry_permission(actor, tongban_list)
    exact, norm = _existing(tongban_list)
    writable = set(filter_queryset(tongban_list.entries.all(), actor, WRITE).values_list("id", flat=True))
    rows, problems, seen = [], [], {}
    dept_key = next((k for k in spreadsheets.DEPARTMENT_KEYS if k in table.columns), "responsible")
    for position, (n, cells) in enumerate(table.rows, 1):

        def problem(key, message, n=n):
            problems.append({"row": n, "column": table.label(key), "message": message})

        value = lambda key, cells=cells: table.value(cells, key)  # noqa: E731
        name = spreadsheets.clean_name(value("item_name"))
        if not name:
            problem("item_name", "事项名称为空")
        elif len(name) > 200:
            problem("item_name", f"事项名称过长（{len(name)}字，最多200字）")
        elif (key := normalize_name(name)) in seen:
            problem("item_name", f"与第{seen[key]}行重复（事项名称“{name}”）")
        else:
            seen[key] = n
        seq, err = spreadsheets.parse_int(value("seq"))
        if err:
            problem("seq", f"序号{err}")
        code = spreadsheets.parse_code(value("basic_code"))
        code_ok = False
        if code:
            try:
                code_ok = bool(validate_basic_code(code))
            except CodeError as exc:
                problem("basic_code", f"基本编码格式不正确：{exc}")
        raw_impl = value("implementation_code")
        if isinstance(raw_impl, float):
            problem("implementation_code", "实施编码被保存为数字，精度已丢失，请将该列设为文本格式后重新填写")
        elif impl := spreadsheets.parse_code(raw_impl, 31):
            try:
                impl = validate_implementation_code(impl)
                if not code:
                    code, code_ok = impl[19:], True
            except CodeError as exc:
                problem("implementation_code", f"实施编码格式不正确：{exc}")
        row_dept_key = next((k for k in spreadsheets.DEPARTMENT_KEYS if spreadsheets.cell_text(value(k))), dept_key)
        dept_text = spreadsheets.cell_text(value(row_dept_key))
        credit = spreadsheets.parse_code(value("department_code"), 18)
        dept_id = None
        if dept_text or credit:
            dept_id, err = depts.resolve(dept_text, credit)
            if err:
                problem(row_dept_key if dept_text else "department_code", err)
            elif len(dept_text) > 200:
                problem(row_dept_key, "责任单位名称过长（最多200字）")
            elif not may_write(dept_id):
                problem(row_dept_key, f"您无权维护责任单位“{dept_text}”的清单条目")
        modes, unknown = spreadsheets.parse_modes(value("modes"))
        for part in unknown:
            problem("modes", f"办理模式“{part}”无法识别（可填写：{spreadsheets.MODE_HINT}）")
        batch_text = spreadsheets.cell_text(value("batch"))
        if len(batch_text) > 40:
            problem("batch", "批次过长（最多40字）")
        deadline, err = spreadsheets.parse_deadline(value("deadline"))
        if err:
            problem("deadline", err)
        status, err = spreadsheets.parse_status(value("status"))
        if err:
            problem("status", err)
        note = spreadsheets.cell_text(value("note"))
        if len(note) > 500:
            problem("note", f"备注过长（{len(note)}字，最多500字）")
        existing = _find_existing(exact, norm, name) if name else None
        if existing is not None and existing not in writable:
            problem("item_name", f"清单中已有“{name}”，但您无权修改该条目")
        match = items.match(code if code_ok else "", name)
        rows.append(
            {
                "row": n,
                "seq": seq or position,
                "item_name": name,
                "basic_code": code,
                "department": dept_text,
                "department_id": dept_id,
                "modes": modes,
                "batch": batch_text,
                "deadline": deadline.isoformat() if deadline else None,
                "status": status or ListEntry.PLANNED,
                "note": note,
                "item_id": match.item_id,
                "item_match": match.matched_by if match.item_id else "",
                "action": "update" if existing is not None else "create",
            }
        )
    summary = {
        "total": len(rows),
        "create": sum(r["action"] == "create" for r in rows),
        "update": sum(r["action"] == "update" for r in rows),
        "linked_items": sum(r["item_id"] is not None for r in rows),
        "problems": len(problems),
        "rows_with_problems": len({p["row"] for p in problems}),
        "sheet": table.sheet_name,
        "header_rows": list(table.header_rows),
        "columns": {table.label(k): k for k in table.columns},
        "ignored_columns": table.ignored_columns,
        "skipped_rows": table.skipped,
    }
    batch = ImportBatch.objects.create(
        kind=ImportBatch.TONGBAN_LIST,
        file_name=(file_name or "清单.xlsx")[:255],
        file_sha256=hashlib.sha256(data).hexdigest(),
        tongban_list=tongban_list,
        region=region,
        rows=rows,
        problems=problems,
        summary=summary,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(actor, "import_batch.preview", batch, f"预览导入“{tongban_list.name}”：{len(rows)}行，{len(problems)}个问题")
    return batch


def _live_ids(model, ids, **filters):
    ids, live = list(ids), set()
    for i in range(0, len(ids), CHUNK):
        live.update(model.objects.filter(pk__in=ids[i : i + CHUNK], **filters).values_list("id", flat=True))
    return live


def _values(entry):
    return tuple(getattr(entry, f.attname) for f in _UPDATE_FIELDS)


def _bulk_update(entries):
    """Update many entries in a few statements. Django's bulk_update builds a CASE expression per row
    and field in Python (about 25 s for 10,000 rows); PostgreSQL gets one UPDATE … FROM unnest(arrays)
    per chunk, SQLite one prepared UPDATE run through executemany (in-process, no round trips)."""
    if not entries:
        return
    connection = connections[ListEntry.objects.db]
    qn = connection.ops.quote_name
    table, pk = qn(ListEntry._meta.db_table), qn(ListEntry._meta.pk.column)
    params = [[f.get_db_prep_save(getattr(e, f.attname), connection) for f in _UPDATE_FIELDS] + [e.pk] for e in entries]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = [f.db_type(connection) for f in _UPDATE_FIELDS] + [ListEntry._meta.pk.db_type(connection)]
            names = [f"c{i}" for i in range(len(_UPDATE_FIELDS))]
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            sets = ", ".join(f"{qn(f.column)} = v.{n}" for f, n in zip(_UPDATE_FIELDS, names, strict=True))
            sql = f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}, id) WHERE {table}.{pk} = v.id"
            for i in range(0, len(params), CHUNK):
                cursor.execute(sql, [list(column) for column in zip(*params[i : i + CHUNK], strict=True)])
        else:
            sets = ", ".join(f"{qn(f.column)} = %s" for f in _UPDATE_FIELDS)
            sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"
            for i in range(0, len(params), CHUNK):
                cursor.executemany(sql, params[i : i + CHUNK])


def apply(actor, batch):
    """Import a previewed batch into its list, all or nothing. Refused (409) when the preview found
    problems or the batch was already imported, so a retried confirmation imports once."""
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().filter(pk=batch.pk).first()
        if locked is None:
            raise NotFound("导入批次不存在")
        if locked.kind != ImportBatch.TONGBAN_LIST or locked.tongban_list_id is None:
            raise DomainError("该批次是国家清单比对结果，不能导入通办清单")
        tongban_list = TongbanList.objects.select_for_update().select_related("region").get(pk=locked.tongban_list_id)
        ensure_can(actor, tongban_list, WRITE, "您没有权限向该清单导入数据")
        if locked.status == ImportBatch.APPLIED:
            when = timezone.localtime(locked.applied_at).strftime("%Y-%m-%d %H:%M") if locked.applied_at else ""
            raise Conflict(f"该批次已于{when}导入，不会重复导入")
        if locked.status != ImportBatch.PREVIEWED:
            raise Conflict("该批次已放弃，不能导入，请重新上传")
        if locked.problems:
            raise Conflict(f"预览发现{len(locked.problems)}个问题，请修改表格后重新上传；本次未导入任何数据", details=locked.problems[:500])
        rows = locked.rows
        dept_ids = {r["department_id"] for r in rows if r["department_id"]}
        item_ids = {r["item_id"] for r in rows if r["item_id"]}
        if dept_ids - _live_ids(Department, dept_ids, is_active=True) or item_ids - _live_ids(Item, item_ids):
            raise Conflict("预览之后部门或事项已有变动，请重新上传预览；本次未导入任何数据")
        entries = {e.pk: e for e in tongban_list.entries.all()}
        exact = {e.item_name: e.pk for e in entries.values()}
        norm = {}
        for e in entries.values():
            e.tongban_list = tongban_list  # evaluated by the authorisation rule; avoids a query per entry
            norm.setdefault(normalize_name(e.item_name), e.pk)
        writable = set(filter_queryset(tongban_list.entries.all(), actor, WRITE).values_list("id", flat=True))
        may_write = _entry_permission(actor, tongban_list)
        to_create, to_update, unchanged = [], [], 0
        for r in rows:
            pk = _find_existing(exact, norm, r["item_name"])
            entry = entries[pk] if pk is not None else ListEntry(tongban_list=tongban_list)
            if pk is not None and pk not in writable:
                raise PermissionDenied(f"您无权修改清单条目“{entry.item_name}”")
            if not may_write(r["department_id"]):
                raise PermissionDenied(f"您无权维护责任单位“{r['department']}”的清单条目")
            before = _values(entry)
            entry.seq, entry.item_name, entry.item_id = r["seq"], r["item_name"], r["item_id"]
            entry.responsible_department_id, entry.responsible_department_name = r["department_id"], r["department"]
            entry.modes = _MODES_FIELD.to_mask(r["modes"])
            entry.batch, entry.note, entry.status = r["batch"], r["note"], r["status"]
            entry.deadline = datetime.date.fromisoformat(r["deadline"]) if r["deadline"] else None
            if pk is None:
                to_create.append(entry)
            elif _values(entry) != before:
                to_update.append(entry)
            else:
                unchanged += 1
        ListEntry.objects.bulk_create(to_create, batch_size=500)
        _bulk_update(to_update)
        locked.status, locked.applied_at = ImportBatch.APPLIED, timezone.now()
        locked.summary = {**locked.summary, "created": len(to_create), "updated": len(to_update), "unchanged": unchanged}
        locked.save(update_fields=["status", "applied_at", "summary"])
        audit.record(
            actor,
            "tongban_list.import",
            tongban_list,
            f"导入清单“{tongban_list.name}”：新增{len(to_create)}条，更新{len(to_update)}条（文件“{locked.file_name}”）",
            data={"batch": locked.pk, "created": len(to_create), "updated": len(to_update)},
        )
    return locked
