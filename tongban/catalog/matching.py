"""Matching a national 通办 list against the local catalogue: by 基本编码 first, then by normalised
name. Results are stored as an ImportBatch of kind national_list; an administrator may then create
the missing items from unmatched rows (all-or-nothing)."""

import hashlib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from tongban.core import audit
from tongban.core.authz import READ, ensure_can, filter_queryset
from tongban.core.codes import ITEM_TYPES, CodeError, validate_basic_code
from tongban.core.errors import Conflict, DomainError

from . import spreadsheets
from .models import ImportBatch, Item

MATCHED, UNMATCHED, AMBIGUOUS, CREATED, INVALID = "matched", "unmatched", "ambiguous", "created", "invalid"
STATUS_LABELS = {MATCHED: "已匹配", UNMATCHED: "未匹配", AMBIGUOUS: "有歧义", CREATED: "已新建事项", INVALID: "无法比对"}
MATCHED_BY_LABELS = {"code": "按基本编码", "name": "按事项名称"}


def _build_table():
    """Brackets of any shape become ( ); other punctuation, spaces, symbols and control characters go."""
    table = {}
    for cp in range(0x10000):
        cat = unicodedata.category(chr(cp))
        if cat == "Ps":
            table[cp] = "("
        elif cat == "Pe":
            table[cp] = ")"
        elif cat[0] in "PZS" or cat in ("Cc", "Cf"):
            table[cp] = None
    return table


_TABLE = None


def normalize_name(text):
    """'户口迁移（省内） ' == '户口迁移(省内)' == '户口迁移【省内】'; full-width becomes half-width."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _build_table()
    return unicodedata.normalize("NFKC", text or "").lower().translate(_TABLE)


def ancestor_paths(region):
    parts = [p for p in region.path.split("/") if p]
    return ["".join(f"{p}/" for p in parts[: i + 1]) for i in range(len(parts))]


@dataclass
class Match:
    status: str
    matched_by: str = ""
    item_id: int | None = None
    candidates: list = field(default_factory=list)


class ItemIndex:
    """The items an import or a match may link to: the catalogues of the region, its ancestors
    (national, provincial) and its subtree, as far as the user may read them. One query."""

    def __init__(self, rows):
        self.items, self.by_code, self.by_name = {}, {}, defaultdict(list)
        for pk, code, name in rows:
            self.items[pk] = (code, name)
            self.by_code[code] = pk
            self.by_name[normalize_name(name)].append(pk)

    @classmethod
    def for_region(cls, region, user):
        qs = Item.objects.filter(Q(region__path__in=ancestor_paths(region)) | Q(region__path__startswith=region.path))
        return cls(filter_queryset(qs, user, READ).order_by("basic_code").values_list("id", "basic_code", "name"))

    def match(self, code, name):
        if code and code in self.by_code:
            return Match(MATCHED, "code", self.by_code[code])
        ids = self.by_name.get(normalize_name(name), []) if name else []
        if len(ids) == 1:
            return Match(MATCHED, "name", ids[0])
        if ids:
            return Match(AMBIGUOUS, "name", None, list(ids))
        return Match(UNMATCHED)

    def describe(self, pk):
        code, name = self.items[pk]
        return {"id": pk, "basic_code": code, "name": name}


def _department_text(table, cells):
    for key in spreadsheets.DEPARTMENT_KEYS:
        text = spreadsheets.cell_text(table.value(cells, key))
        if text:
            return text
    return ""


def rows_from_table(table):
    """National rows as plain dicts: row number, name, code (if any), department text."""
    out = []
    for n, cells in table.rows:
        code = spreadsheets.parse_code(table.value(cells, "basic_code"))
        impl = spreadsheets.parse_code(table.value(cells, "implementation_code"), 31)
        if not code and len(impl) == 31:
            code = impl[19:]
        out.append(
            {
                "row": n,
                "item_name": spreadsheets.clean_name(table.value(cells, "item_name")),
                "basic_code": code,
                "department": _department_text(table, cells),
            }
        )
    return out


def match_national_list(actor, region, *, file_name="", data=None, rows=None):
    """Match a national list (spreadsheet bytes or rows of {"row", "item_name", "basic_code"}) against
    the catalogue visible from `region`; returns the stored ImportBatch."""
    ensure_can(actor, ImportBatch(kind=ImportBatch.NATIONAL_LIST, region=region), message="您没有权限在该区划进行国家清单比对")
    summary_extra = {}
    if data is not None:
        table = spreadsheets.read_table(data, file_name)
        rows = rows_from_table(table)
        summary_extra = {
            "sheet": table.sheet_name,
            "header_rows": list(table.header_rows),
            "ignored_columns": table.ignored_columns,
            "skipped_rows": table.skipped,
        }
        digest = hashlib.sha256(data).hexdigest()
    elif rows is not None:
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()
    else:
        raise DomainError("请上传国家清单文件")
    if not rows:
        raise DomainError("国家清单中没有数据行")
    index = ItemIndex.for_region(region, actor)
    results, problems, seen = [], [], {}
    for i, raw in enumerate(rows, 1):
        n = raw.get("row") or i
        name = spreadsheets.clean_name(raw.get("item_name"))[:200]
        code = spreadsheets.parse_code(raw.get("basic_code"))
        code_ok = False
        if code:
            try:
                code_ok = bool(validate_basic_code(code))
            except CodeError as exc:
                problems.append({"row": n, "column": "基本编码", "message": f"基本编码格式不正确：{exc}（已按事项名称比对）"})
        out = {
            "row": n,
            "item_name": name,
            "basic_code": code,
            "code_valid": code_ok,
            "department": (raw.get("department") or "")[:200],
            "status": INVALID,
            "matched_by": "",
            "item": None,
            "candidates": [],
            "created_item_id": None,
        }
        if not name and not code_ok:
            problems.append({"row": n, "column": "事项名称", "message": "事项名称为空"})
            results.append(out)
            continue
        key = normalize_name(name) or code
        if key in seen:
            problems.append({"row": n, "column": "事项名称", "message": f"与第{seen[key]}行重复（事项名称“{name}”）"})
        else:
            seen[key] = n
        m = index.match(code if code_ok else "", name)
        out["status"], out["matched_by"] = m.status, m.matched_by
        if m.item_id is not None:
            out["item"] = index.describe(m.item_id)
            out["code_differs"] = bool(code_ok and code != out["item"]["basic_code"])
        out["candidates"] = [index.describe(pk) for pk in m.candidates]
        results.append(out)
    batch = ImportBatch.objects.create(
        kind=ImportBatch.NATIONAL_LIST,
        file_name=(file_name or "国家清单")[:255],
        file_sha256=digest,
        region=region,
        rows=results,
        problems=problems,
        summary={**_counts(results), **summary_extra},
        created_by=_user(actor),
    )
    audit.record(actor, "national_list.match", batch, f"国家清单比对 {batch.file_name}：{_counts_text(batch.summary)}")
    return batch


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _counts(rows):
    counts = {s: 0 for s in STATUS_LABELS}
    for r in rows:
        counts[r["status"]] += 1
    return {"total": len(rows), **counts}


def _counts_text(summary):
    return "，".join(f"{label}{summary.get(s, 0)}条" for s, label in STATUS_LABELS.items())


def province_prefix(region):
    """First two digits of a generated 基本编码: the catalogue's province code, '00' for national."""
    return region.code[:2] if region.parent_id else "00"


@transaction.atomic
def create_missing_items(actor, batch, row_numbers, region=None, item_type="20"):
    """Create local items for unmatched rows of a national list batch; all or nothing.
    The row's 基本编码 is kept when valid and free; otherwise one is generated as
    province code + item type + next free 5-digit main number + 000."""
    if item_type not in ITEM_TYPES:
        raise DomainError(f"事项类型“{item_type}”不正确，应为：" + "、".join(f"{k} {v}" for k, v in ITEM_TYPES.items()))
    try:
        numbers = sorted({int(n) for n in row_numbers or []})
    except (TypeError, ValueError):
        raise DomainError("行号应为整数") from None
    if not numbers:
        raise DomainError("请至少选择一行未匹配的事项")
    batch = ImportBatch.objects.select_for_update().select_related("region").filter(pk=batch.pk).first()
    if batch is None or batch.kind != ImportBatch.NATIONAL_LIST:
        raise DomainError("该批次不是国家清单比对结果", status=404)
    ensure_can(actor, batch, message="您没有权限处理该比对结果")
    region = region or batch.region
    by_row = {r["row"]: r for r in batch.rows}
    errors = []
    for n in numbers:
        row = by_row.get(n)
        if row is None:
            errors.append(f"第{n}行不在比对结果中")
        elif row["status"] == CREATED:
            errors.append(f"第{n}行已新建事项（{row.get('created_code', '')}），不会重复新建")
        elif row["status"] != UNMATCHED:
            errors.append(f"第{n}行{STATUS_LABELS[row['status']]}，只能为未匹配的行新建事项")
        elif not row["item_name"]:
            errors.append(f"第{n}行事项名称为空，无法新建")
    if errors:
        raise Conflict("未新建任何事项：" + "；".join(errors), details=errors)
    wanted = [by_row[n] for n in numbers]
    taken = set(
        Item.objects.filter(basic_code__in=[r["basic_code"] for r in wanted if r["code_valid"]]).values_list("basic_code", flat=True)
    )
    next_main = {}

    def generate(kind):
        prefix = province_prefix(region) + kind
        if prefix not in next_main:
            top = Item.objects.filter(basic_code__startswith=prefix).aggregate(m=Max("basic_code"))["m"]
            next_main[prefix] = int(top[4:9]) + 1 if top and top[4:9].isdigit() else 1
        n = next_main[prefix]
        while f"{prefix}{n:05d}000" in taken:
            n += 1
        if n > 99999:
            raise DomainError(f"编码前缀{prefix}下的主项编码已用尽，无法自动生成基本编码")
        next_main[prefix] = n + 1
        return f"{prefix}{n:05d}000"

    from .services import create_item

    created = []
    for row in wanted:
        if row["code_valid"] and row["basic_code"] not in taken:
            code, generated = row["basic_code"], False
        else:
            code, generated = generate(item_type), True
        taken.add(code)
        item = create_item(
            actor,
            basic_code=code,
            name=row["item_name"],
            item_type=code[2:4],
            region=region,
            competent_authority=row.get("department", "")[:120],
        )
        row.update(status=CREATED, created_item_id=item.pk, created_code=code, code_generated=generated)
        created.append(item)
    batch.summary = {**batch.summary, **_counts(batch.rows), "last_created_at": timezone.now().isoformat()}
    batch.save(update_fields=["rows", "summary"])
    audit.record(
        actor,
        "national_list.create_items",
        batch,
        f"根据国家清单新建事项{len(created)}项",
        data={"items": [i.pk for i in created], "rows": numbers},
    )
    return created
