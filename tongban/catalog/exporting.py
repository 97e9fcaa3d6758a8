"""Exporting 通办 lists and the catalogue (实施清单) as .xlsx (openpyxl write-only: constant memory).
Rows are read through the one authorisation filter; a list export re-imports cleanly."""

import datetime
import io

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange

from tongban.core.authz import READ, filter_queryset
from tongban.core.codes import ITEM_TYPES, LEVELS
from tongban.core.errors import DomainError, NotFound

from .models import Implementation, ListEntry, TongbanList

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_STATUS = dict(ListEntry.STATUS_CHOICES)
_MODES = ListEntry._meta.get_field("modes")
_IMPL_MODES = Implementation._meta.get_field("modes")
_IMPL_SCOPES = Implementation._meta.get_field("scopes")
_BOLD = Font(bold=True)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_SHEET_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _cell(ws, value, header=False, number_format=None):
    """A cell whose text is never taken as a formula (a name starting with '=' stays text)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    if header:
        cell.font, cell.alignment = _BOLD, _CENTER
    if number_format:
        cell.number_format = number_format
    return cell


def _sheet(wb, title, widths):
    ws = wb.create_sheet(title=(title.translate(_SHEET_BAD) or "Sheet")[:31])
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    return ws


def _save(wb):
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# 序号 | 事项名称 | 基本编码 | 责任分工: 责任单位, 统一社会信用代码 | 办理模式 | 批次 | 完成时限 | 实施状态 | 备注
LIST_HEADER = ["序号", "事项名称", "基本编码", "责任分工", "", "办理模式", "批次", "完成时限", "实施状态", "备注"]
LIST_SUBHEADER = ["", "", "", "责任单位", "统一社会信用代码", "", "", "", "", ""]
LIST_WIDTHS = [8, 48, 16, 30, 22, 28, 12, 14, 10, 30]


def export_list(actor, tongban_list):
    """The list with its entries as .xlsx bytes: title row, two-row header with 责任分工 merged."""
    if not filter_queryset(TongbanList.objects.filter(pk=tongban_list.pk), actor, READ).exists():
        raise NotFound("未找到该清单，或您无权查看")
    wb = Workbook(write_only=True)
    ws = _sheet(wb, tongban_list.name, LIST_WIDTHS)
    width = len(LIST_HEADER)
    ws.append([_cell(ws, tongban_list.name, header=True)] + [None] * (width - 1))
    ws.append([_cell(ws, v, header=True) for v in LIST_HEADER])
    ws.append([_cell(ws, v, header=True) for v in LIST_SUBHEADER])
    ws.merged_cells.add(CellRange(min_col=1, min_row=1, max_col=width, max_row=1))
    ws.merged_cells.add(CellRange(min_col=4, min_row=2, max_col=5, max_row=2))
    for col in (1, 2, 3, 6, 7, 8, 9, 10):
        ws.merged_cells.add(CellRange(min_col=col, min_row=2, max_col=col, max_row=3))
    entries = filter_queryset(ListEntry.objects.filter(tongban_list=tongban_list), actor, READ).order_by("seq", "id")
    fields = (
        "seq",
        "item_name",
        "item__basic_code",
        "responsible_department__name",
        "responsible_department_name",
        "responsible_department__credit_code",
        "modes",
        "batch",
        "deadline",
        "status",
        "note",
    )
    for seq, name, code, dept, dept_text, credit, modes, batch, deadline, status, note in entries.values_list(*fields).iterator(
        chunk_size=2000
    ):
        ws.append(
            [
                seq,
                _cell(ws, name),
                code or "",
                _cell(ws, dept_text or dept or ""),
                credit or "",
                "、".join(_MODES.labels(modes or 0)),
                _cell(ws, batch),
                _cell(ws, deadline, number_format="yyyy-mm-dd") if deadline else "",
                _STATUS.get(status, status),
                _cell(ws, note),
            ]
        )
    return _save(wb)


CATALOG_HEADER = [
    "序号",
    "事项名称",
    "基本编码",
    "事项类型",
    "实施编码",
    "实施主体",
    "统一社会信用代码",
    "实施区划",
    "区划代码",
    "行使层级",
    "通办模式",
    "通办范围",
    "法定办结时限（工作日）",
    "承诺办结时限（工作日）",
    "到办事现场次数",
    "收费金额（元）",
    "在用",
]
CATALOG_WIDTHS = [8, 40, 16, 12, 36, 28, 22, 14, 10, 10, 28, 28, 12, 12, 10, 12, 6]


def catalog_queryset(actor, region=None, include_unpublished=False):
    """Implementations the actor may read; by default only published, active ones (what applicants see)."""
    qs = Implementation.objects.all()
    if not include_unpublished:
        qs = qs.filter(is_active=True, item__versions__status="published")
    if region is not None:
        qs = qs.filter(region__path__startswith=region.path)
    return filter_queryset(qs, actor, READ)


EXPORT_MAX_ROWS = 50_000  # ≈10 s of spreadsheet writing; a national export is a job for the data exchange, not a download


def export_catalog(actor, region=None, include_unpublished=False):
    """The implementation catalogue visible to the actor as .xlsx bytes."""
    if catalog_queryset(actor, region, include_unpublished).order_by()[: EXPORT_MAX_ROWS + 1].count() > EXPORT_MAX_ROWS:
        raise DomainError(f"导出范围超过{EXPORT_MAX_ROWS:,}条实施清单，请选择省、市或县区划缩小范围后再导出", status=422)
    wb = Workbook(write_only=True)
    ws = _sheet(wb, "事项实施清单", CATALOG_WIDTHS)
    where = region.name if region is not None and region.parent_id else "全国"
    title = f"{where}政务服务事项实施清单（导出时间：{timezone.localtime():%Y-%m-%d %H:%M}）"
    ws.append([_cell(ws, title, header=True)] + [None] * (len(CATALOG_HEADER) - 1))
    ws.merged_cells.add(CellRange(min_col=1, min_row=1, max_col=len(CATALOG_HEADER), max_row=1))
    ws.append([_cell(ws, v, header=True) for v in CATALOG_HEADER])
    fields = (
        "item__name",
        "item__basic_code",
        "item__item_type",
        "implementation_code",
        "department__name",
        "department__credit_code",
        "region__name",
        "region__code",
        "level",
        "modes",
        "scopes",
        "statutory_limit_days",
        "promised_limit_days",
        "visits_needed",
        "fee_amount",
        "is_active",
    )
    qs = catalog_queryset(actor, region, include_unpublished).order_by("item__basic_code", "region__code", "id")
    for n, row in enumerate(qs.values_list(*fields).iterator(chunk_size=2000), 1):
        name, code, kind, impl, dept, credit, rname, rcode, level, modes, scopes, stat, prom, visits, fee, active = row
        ws.append(
            [
                n,
                _cell(ws, name),
                code,
                ITEM_TYPES.get(kind, kind),
                impl,
                _cell(ws, dept),
                credit,
                rname,
                rcode,
                LEVELS.get(level, level),
                "、".join(_IMPL_MODES.labels(modes or 0)),
                "、".join(_IMPL_SCOPES.labels(scopes or 0)),
                stat,
                prom,
                visits,
                float(fee),
                "是" if active else "否",
            ]
        )
    return _save(wb)


def download_name(base):
    stamp = datetime.date.today().strftime("%Y%m%d")
    return f"{base}-{stamp}.xlsx"


__all__ = ["export_list", "export_catalog", "catalog_queryset", "download_name", "XLSX_TYPE"]
