"""Reading real-world 通办 list spreadsheets (.xls and .xlsx) and parsing their cell values.

Real lists start with title rows, have two-row headers with merged group cells (责任分工 over
主管部门 / 责任单位), use many names for the same column, and write dates as Excel dates or as text
such as 2021年6月底前. Everything here is pure parsing: no database access.
"""

import calendar
import datetime
import io
import re
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings

from tongban.core.errors import DomainError

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file (BIFF .xls)
HEADER_SCAN_ROWS = 30
MAX_ROWS = 100_000
MAX_INT = 9_999_999  # 序号 and the like; far below any database's integer limit


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # canonical Chinese header, also used by the exports
    synonyms: tuple


# Department columns in order of preference: the unit that carries the work first.
DEPARTMENT_KEYS = ("responsible", "lead", "competent")

LIST_COLUMNS = (
    Column("seq", "序号", ("序号", "顺序号", "序")),
    Column(
        "item_name",
        "事项名称",
        ("事项名称", "事项", "通办事项", "通办事项名称", "政务服务事项名称", "服务事项", "服务事项名称", "业务办理项名称", "事项名称子项"),
    ),
    Column("basic_code", "基本编码", ("基本编码", "事项编码", "事项基本编码", "编码", "事项代码")),
    Column("implementation_code", "实施编码", ("实施编码", "实施清单编码", "事项实施编码")),
    Column("responsible", "责任单位", ("责任单位", "责任部门", "实施部门", "实施主体", "办理部门", "承办单位", "承办部门", "责任分工")),
    Column("lead", "牵头部门", ("牵头部门", "牵头单位")),
    Column("competent", "主管部门", ("主管部门", "主管单位", "行业主管部门")),
    Column(
        "department_code", "统一社会信用代码", ("统一社会信用代码", "责任单位统一社会信用代码", "信用代码", "责任单位代码", "实施主体编码")
    ),
    Column("modes", "办理模式", ("办理模式", "通办模式", "业务模式", "通办方式", "办理方式")),
    Column("batch", "批次", ("批次", "实施批次", "公布批次")),
    Column("deadline", "完成时限", ("完成时限", "完成时间", "实现时限", "时间节点", "完成期限", "实施时间")),
    Column("status", "实施状态", ("实施状态", "推进情况", "完成情况", "落实情况", "进展情况", "状态")),
    Column("note", "备注", ("备注", "说明")),
)

MODE_SYNONYMS = {
    "online": ("全程网办", "全程网上办", "全程网上办理", "网上办理", "网办", "线上办理", "全流程网办", "网上办"),
    "proxy": ("异地代收代办", "代收代办", "异地代收", "异地代办", "收受分离", "异地受理"),
    "joint": ("多地联办", "联办", "多地联合办理", "多地协同办理"),
}
STATUS_SYNONYMS = {
    "planned": ("未开始", "未实现", "待实施", "计划", "计划实施", "未启动"),
    "in_progress": ("推进中", "进行中", "正在推进", "部分实现", "实施中", "建设中"),
    "implemented": ("已实现", "已完成", "已上线", "完成", "实现", "已落实", "已办结"),
}
MODE_HINT = "全程网办、异地代收代办、多地联办"
STATUS_HINT = "未开始、推进中、已实现"


def _norm_text(text):
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))


def _header_key(text):
    """'事项名称（子项）*' → '事项名称子项'; brackets and markers do not change a column's meaning."""
    text = _norm_text(text).strip("*:：")
    return re.sub(r"[()\[\]【】〔〕<>《》]", "", text)


def _header_key_without_note(text):
    """'完成时限(2021年)' → '完成时限': a note in brackets after the name."""
    return re.sub(r"[(（【\[].*$", "", _norm_text(text)).strip("*:：")


_MODE_LOOKUP = {_norm_text(s): key for key, names in MODE_SYNONYMS.items() for s in names}
_STATUS_LOOKUP = {_norm_text(s): key for key, names in STATUS_SYNONYMS.items() for s in names}


# --- reading -----------------------------------------------------------------------------------


def check_upload(data, file_name=""):
    """Size and type checks before any parsing; returns 'xlsx' or 'xls'."""
    name = file_name or "上传的文件"
    limit = settings.TONGBAN_MAX_UPLOAD_MB
    if not data:
        raise DomainError(f"文件“{name}”为空，请选择要上传的Excel表格")
    if len(data) > limit * 1024 * 1024:
        raise DomainError(f"文件“{name}”超过{limit}MB的上限，请拆分后再上传", status=413)
    if data.startswith(XLSX_MAGIC):
        return "xlsx"
    if data.startswith(XLS_MAGIC):
        return "xls"
    raise DomainError(f"文件“{name}”不是有效的Excel表格（仅支持.xls和.xlsx格式），请检查文件是否损坏或被改了扩展名", status=415)


def _open_workbook(data, file_name):
    import python_calamine

    name = file_name or "上传的文件"
    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError:
        raise DomainError(f"文件“{name}”设置了密码，请取消密码后再上传") from None
    except BaseException as exc:  # calamine raises assorted errors (and Rust panics) on damaged files
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise DomainError(f"文件“{name}”已损坏或不是有效的Excel表格，无法读取") from None


def _sheet_cells(sheet, file_name):
    try:
        rows = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges or []
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise DomainError(f"文件“{file_name or '上传的文件'}”的工作表“{sheet.name}”已损坏，无法读取") from None
    if len(rows) > MAX_ROWS:
        raise DomainError(f"工作表“{sheet.name}”超过{MAX_ROWS}行，请拆分后再上传", status=413)
    rows = [list(r) for r in rows]
    # A merged cell's value belongs to every cell it covers: group headers and departments merged over rows.
    for (r1, c1), (r2, c2) in merged:
        if r1 >= len(rows):
            continue
        value = rows[r1][c1] if c1 < len(rows[r1]) else ""
        if value in ("", None):
            continue
        for r in range(r1, min(r2, len(rows) - 1) + 1):
            row = rows[r]
            for c in range(c1, min(c2, len(row) - 1) + 1):
                row[c] = value
    return rows, merged


@dataclass
class Table:
    sheet_name: str
    header_rows: tuple  # (first, last), 1-based as shown in Excel
    columns: dict  # key -> column index
    labels: dict  # key -> header text as written in the sheet
    ignored_columns: list
    rows: list  # [(row number as in the sheet, cells)]
    skipped: list = field(default_factory=list)  # [{"row": n, "text": ...}] section titles and notes

    def value(self, cells, key):
        idx = self.columns.get(key)
        if idx is None or idx >= len(cells):
            return None
        return cells[idx]

    def label(self, key):
        return self.labels.get(key) or next((c.label for c in LIST_COLUMNS if c.key == key), key)


def _lookup_table(columns):
    exact, loose = {}, {}
    for col in columns:
        for s in col.synonyms:
            exact.setdefault(_header_key(s), col.key)
            loose.setdefault(_header_key_without_note(s), col.key)
    return exact, loose


def _match_header(text, exact, loose):
    if not isinstance(text, str) or not text.strip():
        return None
    return exact.get(_header_key(text)) or loose.get(_header_key_without_note(text))


def _find_header(rows, merged, columns, required):
    exact, loose = _lookup_table(columns)
    for h in range(min(HEADER_SCAN_ROWS, len(rows))):
        found = {_match_header(v, exact, loose) for v in rows[h]}
        if not all(key in found for key in required):
            continue
        last = h
        # Continuation rows: covered by a vertical merge starting in the header, or naming known columns.
        for r in range(h + 1, min(h + 3, len(rows))):
            spans = any(h <= r1 <= last and r2 >= r for (r1, _c1), (r2, _c2) in merged)
            names = any(_match_header(v, exact, loose) for v in rows[r])
            if spans or names:
                last = r
            else:
                break
        return h, last, exact, loose
    return None


def read_table(data, file_name="", columns=LIST_COLUMNS, required=("item_name",)):
    """The first sheet that has a recognisable header, as a Table. Raises DomainError (4xx) otherwise."""
    check_upload(data, file_name)
    workbook = _open_workbook(data, file_name)
    try:
        sheets = [m.name for m in workbook.sheets_metadata if str(m.visible).endswith("Visible") and str(m.typ).endswith("WorkSheet")]
        sheets = sheets or list(workbook.sheet_names)
        for name in sheets:
            try:
                sheet = workbook.get_sheet_by_name(name)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                continue
            rows, merged = _sheet_cells(sheet, file_name)
            found = _find_header(rows, merged, columns, required)
            if found is not None:
                return _build_table(name, rows, *found)
    finally:
        workbook.close()
    labels = "、".join(f"“{c.label}”" for c in columns if c.key in required)
    raise DomainError(f"未找到表头：表格前{HEADER_SCAN_ROWS}行中没有{labels}列，请确认文件是通办清单")


def _build_table(sheet_name, rows, first, last, exact, loose):
    width = max((len(r) for r in rows), default=0)
    col_map, labels, ignored = {}, {}, []
    for c in range(width):
        chain = []
        for r in range(first, last + 1):
            v = rows[r][c] if c < len(rows[r]) else ""
            text = cell_text(v)
            if text and (not chain or chain[-1] != text):
                chain.append(text)
        if not chain:
            continue
        # The bottom text is the most specific (主管部门 under 责任分工); fall back to the group header.
        key = next((k for k in (_match_header(t, exact, loose) for t in reversed(chain)) if k), None)
        if key is None or key in col_map:
            ignored.append("/".join(chain))
            continue
        col_map[key] = c
        labels[key] = chain[-1]
    data_rows, skipped = [], []
    name_col = col_map.get("item_name")
    for r in range(last + 1, len(rows)):
        cells = rows[r]
        filled = [(i, v) for i, v in enumerate(cells) if (v.strip() if isinstance(v, str) else v is not None)]
        if not filled:
            continue
        distinct = {cell_text(v) for _i, v in filled}
        # A section title (一、社会保障类) or a note (注：…) fills one cell, or one merged cell across the row.
        if (
            len(distinct) == 1
            and (name_col is None or not cell_text(cells[name_col]) or len(filled) > 2)
            and not cell_text(filled[0][1]).isdigit()
        ):
            skipped.append({"row": r + 1, "text": distinct.pop()[:200]})
            continue
        data_rows.append((r + 1, cells))
    return Table(sheet_name, (first + 1, last + 1), col_map, labels, ignored, data_rows, skipped)


# --- cell values -------------------------------------------------------------------------------


_HAN = re.compile(r"[\u4e00-\u9fff]")


def _is_number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


def cell_text(v):
    """Cell value as clean text: integral floats without '.0', dates as YYYY-MM-DD."""
    if isinstance(v, str):
        return " ".join(v.split())
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else str(v)
    if isinstance(v, datetime.datetime):
        return v.date().isoformat() if v.time() == datetime.time() else v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    return " ".join(str(v).split())


def clean_name(v):
    """Names keep their characters but lose line breaks and doubled spaces (frequent in merged cells);
    spaces between Chinese characters are typing accidents, between Latin words they are kept."""
    text = cell_text(v)
    return "".join(text.split()) if _HAN.search(text) else text


def parse_int(v):
    """(value, error) for a positive integer such as 序号."""
    text = cell_text(v)
    if not text:
        return None, None
    text = unicodedata.normalize("NFKC", text).rstrip(".、")
    if text.isdecimal() and 0 < int(text) <= MAX_INT:
        return int(text), None
    return None, f"“{text}”应为正整数"


def parse_code(v, length=12):
    """Code text; Excel stores a numeric code without its leading zeros, so pad it back."""
    if _is_number(v):
        if isinstance(v, float) and not v.is_integer():
            return cell_text(v)
        text = str(int(v))
        return text.zfill(length) if len(text) < length else text
    return unicodedata.normalize("NFKC", cell_text(v)).replace(" ", "").upper()


_SPLIT = re.compile(r"[、，,；;/\s+＋|和及]+")


def parse_modes(v):
    """(["online", ...], [unrecognised parts]) from '全程网办、异地代收代办'."""
    text = unicodedata.normalize("NFKC", cell_text(v))
    names, unknown = [], []
    for part in _SPLIT.split(text):
        part = part.strip("()（）")
        if not part:
            continue
        key = _MODE_LOOKUP.get(_norm_text(part))
        if key is None:
            unknown.append(part)
        elif key not in names:
            names.append(key)
    return names, unknown


def parse_status(v):
    """(key or None, error). Empty means 未开始."""
    text = cell_text(v)
    if not text:
        return None, None
    key = _STATUS_LOOKUP.get(_norm_text(text))
    return (key, None) if key else (None, f"实施状态“{text}”无法识别（可填写：{STATUS_HINT}）")


def _month_end(year, month):
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_SUFFIX = re.compile(r"(之前|以前|前|止)$")
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def parse_deadline(v):
    """(date or None, error). Excel dates, 2021-12-31, 2021/6/30, 2021年6月底前, 2021年底, 2021年上半年, 2021年第三季度."""
    if isinstance(v, datetime.datetime):
        return v.date(), None
    if isinstance(v, datetime.date):
        return v, None
    text = cell_text(v)
    if not text:
        return None, None
    error = f"完成时限“{text}”无法识别（可填写日期，如2021-12-31或2021年6月底前）"
    if _is_number(v):
        n = float(v)
        if 1990 <= n <= 2100 and float(n).is_integer():
            return datetime.date(int(n), 12, 31), None
        if 20000 <= n <= 80000:  # an Excel serial date in a cell formatted as a number
            return _EXCEL_EPOCH + datetime.timedelta(days=int(n)), None
        if n.is_integer() and len(str(int(n))) == 8:
            text = str(int(n))
        else:
            return None, error
    s = _SUFFIX.sub("", unicodedata.normalize("NFKC", text).replace(" ", ""))
    try:
        if m := re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", s) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s):
            return datetime.date(int(m[1]), int(m[2]), int(m[3])), None
        if m := re.fullmatch(r"(\d{4})[-/.年](\d{1,2})月?(?:份)?(?:底|末|内)?", s):
            return _month_end(int(m[1]), int(m[2])), None
        if m := re.fullmatch(r"(\d{4})年?(?:年底|年末|年内|底|末|内|全年)?", s):
            return datetime.date(int(m[1]), 12, 31), None
        if m := re.fullmatch(r"(\d{4})年?(上|下)半年(?:底|末|内)?", s):
            return (datetime.date(int(m[1]), 6, 30) if m[2] == "上" else datetime.date(int(m[1]), 12, 31)), None
        if m := re.fullmatch(r"(\d{4})年?第?([一二三四1-4])季度(?:底|末|内)?", s):
            return _month_end(int(m[1]), _CN_NUM[m[2]] * 3), None
    except ValueError:
        return None, f"完成时限“{text}”不是有效的日期"
    return None, error
