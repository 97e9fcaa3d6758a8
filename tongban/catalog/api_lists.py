"""通办清单: import (preview, then all-or-nothing), export, national list matching.

Public reads (lists, entries, exports of published data) go through the one authorisation filter;
writes need a staff session (password + TOTP). Every failure is a Chinese 4xx (see tongban.api)."""

import datetime
from typing import Literal
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q
from django.http import HttpResponse
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import field_validator

from tongban.core.api_common import MAX_LIMIT, Page, get_visible, page
from tongban.core.authz import READ, filter_queryset, grants
from tongban.core.errors import DomainError
from tongban.core.idempotency import idempotent
from tongban.directory.api_auth import staff_auth
from tongban.directory.models import Region
from tongban.directory.services import require_region

from . import exporting, importing, lists, matching
from .choices import SCOPE_LABELS
from .models import ImportBatch, ListEntry, TongbanList
from .scopes import EDIT

router = Router(tags=["通办清单与导入"])

ScopeCode = Literal["cross_province", "province_wide", "city_wide", "regional"]
ModeCode = Literal["online", "proxy", "joint"]


# --- schemas ---------------------------------------------------------------------------------------


class ListOut(Schema):
    id: int = Field(description="清单ID")
    name: str = Field(description="清单名称")
    scope: str = Field(description="通办范围代码：cross_province 跨省通办，province_wide 全省通办，city_wide 全市通办，regional 区域通办")
    scope_label: str = Field(description="通办范围")
    region_code: str = Field(description="发布区划代码")
    region_name: str = Field(description="发布区划名称")
    partner_region_codes: list[str] = Field(description="合作区划代码（区域通办）")
    document_no: str = Field(description="文号")
    issued_on: datetime.date | None = Field(description="发布日期")
    description: str = Field(description="说明")
    entry_count: int = Field(description="条目数")


class ListPage(Page):
    items: list[ListOut]


class ListIn(Schema):
    name: str = Field(..., min_length=1, max_length=200, description="清单名称")
    scope: ScopeCode = Field(..., description="通办范围代码")
    region_code: str = Field(..., min_length=2, max_length=12, description="发布区划代码，如371327")
    partner_region_codes: list[str] = Field([], description="合作区划代码（区域通办，如湾区各市）")
    document_no: str = Field("", max_length=100, description="文号")
    issued_on: datetime.date | None = Field(None, description="发布日期（YYYY-MM-DD）")
    description: str = Field("", max_length=5000, description="说明")


class EntryOut(Schema):
    id: int = Field(description="条目ID")
    seq: int = Field(description="序号")
    item_name: str = Field(description="事项名称")
    item_id: int | None = Field(description="对应事项ID（已关联时）")
    basic_code: str = Field(description="对应事项的基本编码（已关联时）")
    responsible_department_id: int | None = Field(description="责任单位ID")
    responsible_department: str = Field(description="责任单位")
    modes: list[str] = Field(description="办理模式代码：online 全程网办，proxy 异地代收代办，joint 多地联办")
    mode_labels: list[str] = Field(description="办理模式")
    batch: str = Field(description="批次")
    deadline: datetime.date | None = Field(description="完成时限")
    status: str = Field(description="实施状态代码：planned 未开始，in_progress 推进中，implemented 已实现")
    status_label: str = Field(description="实施状态")
    note: str = Field(description="备注")


class EntryPage(Page):
    items: list[EntryOut]


class ProblemOut(Schema):
    row: int = Field(description="表格中的行号（与Excel显示一致）")
    column: str = Field(description="列名")
    message: str = Field(description="问题说明")


class BatchOut(Schema):
    id: int = Field(description="批次ID")
    kind: str = Field(description="类型：tongban_list 通办清单导入，national_list 国家清单比对")
    status: str = Field(description="状态：previewed 待确认，applied 已导入，discarded 已放弃")
    status_label: str = Field(description="状态")
    file_name: str = Field(description="文件名")
    list_id: int | None = Field(description="目标清单ID")
    region_code: str = Field(description="所属区划代码")
    summary: dict = Field(description="汇总：总行数、将新增/更新条数、问题数、表头位置、忽略的列、跳过的分类行等")
    problems: list[ProblemOut] = Field(description="每一行的问题（有问题时不能导入）")
    rows_total: int = Field(description="解析出的行数（符合筛选条件）")
    rows: list[dict] = Field(description="解析结果（按 offset/limit 分页）")
    created_at: datetime.datetime = Field(description="上传时间")
    applied_at: datetime.datetime | None = Field(description="导入时间")


class RowsQuery(Schema):
    offset: int = Field(0, ge=0, description="解析结果的起始位置")
    limit: int = Field(100, ge=0, le=1000, description="返回的解析结果行数（最多1000）")
    status: Literal["matched", "unmatched", "ambiguous", "created", "invalid"] | None = Field(None, description="国家清单比对结果筛选")


class NationalRowIn(Schema):
    row: int | None = Field(None, ge=1, description="行号（不填按顺序编号）")
    item_name: str = Field("", max_length=500, description="事项名称")
    basic_code: str = Field("", max_length=40, description="基本编码")
    department: str = Field("", max_length=200, description="主管部门")


class NationalRowsIn(Schema):
    region_code: str | None = Field(None, max_length=12, description="比对的本地区划代码（默认：您管辖的区划）")
    name: str = Field("国家清单", max_length=200, description="清单名称（记录用）")
    rows: list[NationalRowIn] = Field(..., min_length=1, max_length=50000, description="国家清单各行")

    @field_validator("rows")
    @classmethod
    def _distinct_row_numbers(cls, rows):
        numbers = [r.row for r in rows if r.row]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1}) if len(numbers) != len(set(numbers)) else []
        if duplicates:
            raise ValueError(f"行号重复：{'、'.join(map(str, duplicates[:10]))}（每行的行号应唯一，省略则按顺序编号）")
        return rows


class CreateItemsIn(Schema):
    rows: list[int] = Field(..., min_length=1, description="要新建事项的行号（比对结果中的未匹配行）")
    region_code: str | None = Field(None, max_length=12, description="新事项所属目录区划代码（默认：比对时的区划）")
    item_type: str = Field(
        "20", min_length=2, max_length=2, description="事项类型代码，如01行政许可、07行政确认、20公共服务；生成编码时使用"
    )


class CreatedItemOut(Schema):
    id: int = Field(description="事项ID")
    basic_code: str = Field(description="基本编码")
    name: str = Field(description="事项名称")


class CreatedItemsOut(Schema):
    created: list[CreatedItemOut]
    summary: dict = Field(description="比对结果汇总")


class ListsQuery(Schema):
    scope: ScopeCode | None = Field(None, description="通办范围代码")
    region_code: str | None = Field(None, max_length=12, description="发布区划代码（含下级区划）")
    q: str | None = Field(None, max_length=100, description="清单名称包含的文字")
    offset: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class EntriesQuery(Schema):
    status: Literal["planned", "in_progress", "implemented"] | None = Field(None, description="实施状态代码")
    mode: ModeCode | None = Field(None, description="办理模式代码")
    q: str | None = Field(None, max_length=100, description="事项名称包含的文字")
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


# --- helpers ---------------------------------------------------------------------------------------


def _viewer(request):
    """Public endpoints: a verified staff session counts, anything less reads as the public."""
    user = request.user
    if user.is_authenticated and getattr(user, "is_verified", lambda: False)():
        return user
    return AnonymousUser()




def _home_region(user):
    """The region a catalogue administrator looks after, when none is given."""
    for role, path, _dept in grants(user):
        if role in EDIT:
            return Region.objects.filter(path=path).first()
    raise DomainError("请指定区划代码（region_code）", status=422)


def _read_upload(upload):
    if upload is None:
        raise DomainError("请选择要上传的Excel文件", status=422)
    limit = settings.TONGBAN_MAX_UPLOAD_MB
    if upload.size and upload.size > limit * 1024 * 1024:
        raise DomainError(f"文件“{upload.name}”超过{limit}MB的上限，请拆分后再上传", status=413)
    return upload.read()


def _xlsx(content, name):
    response = HttpResponse(content, content_type=exporting.XLSX_TYPE)
    response["Content-Disposition"] = f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(name)}"
    return response


def _list_out(lst):
    return {
        "id": lst.pk,
        "name": lst.name,
        "scope": lst.scope,
        "scope_label": SCOPE_LABELS.get(lst.scope, lst.scope),
        "region_code": lst.region.code,
        "region_name": lst.region.name,
        "partner_region_codes": [r.code for r in lst.partner_regions.all()],
        "document_no": lst.document_no,
        "issued_on": lst.issued_on,
        "description": lst.description,
        "entry_count": lst.entry_count if hasattr(lst, "entry_count") else lst.entries.count(),
    }


def _entry_out(e):
    return {
        "id": e.pk,
        "seq": e.seq,
        "item_name": e.item_name,
        "item_id": e.item_id,
        "basic_code": e.item.basic_code if e.item_id else "",
        "responsible_department_id": e.responsible_department_id,
        "responsible_department": e.responsible_department.name if e.responsible_department_id else e.responsible_department_name,
        "modes": e.get_modes_names(),
        "mode_labels": e.get_modes_labels(),
        "batch": e.batch,
        "deadline": e.deadline,
        "status": e.status,
        "status_label": e.get_status_display(),
        "note": e.note,
    }


def _batch_out(batch, offset=0, limit=100, status=None):
    rows = batch.rows if status is None else [r for r in batch.rows if r.get("status") == status]
    return {
        "id": batch.pk,
        "kind": batch.kind,
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "file_name": batch.file_name,
        "list_id": batch.tongban_list_id,
        "region_code": batch.region.code,
        "summary": batch.summary,
        "problems": batch.problems,
        "rows_total": len(rows),
        "rows": rows[offset : offset + limit],
        "created_at": batch.created_at,
        "applied_at": batch.applied_at,
    }


def _visible_list(user, list_id):
    return get_visible(TongbanList.objects.select_related("region"), user, pk=list_id)


def _visible_batch(user, batch_id, kind=None):
    qs = ImportBatch.objects.select_related("region")
    return get_visible(qs.filter(kind=kind) if kind else qs, user, pk=batch_id)


# --- catalogue export and national matching (static paths before /{list_id}) ----------------------


@router.get(
    "/catalog/export",
    summary="导出事项实施清单（.xlsx）",
    description="已发布、在用的实施清单；工作人员可加 include_unpublished=true 导出本辖区未发布的实施清单。",
)
def export_catalog(request, region_code: str | None = None, include_unpublished: bool = False):
    region = require_region(region_code) if region_code else None
    content = exporting.export_catalog(_viewer(request), region, include_unpublished)
    return _xlsx(content, exporting.download_name(f"{region.name if region else '全国'}事项实施清单"))


@router.post("/national-matches", auth=staff_auth, response={201: BatchOut}, summary="上传国家清单并与本地事项目录比对")
def national_match_upload(request, file: File[UploadedFile], region_code: Form[str | None] = None):
    region = require_region(region_code) if region_code else _home_region(request.auth)
    batch = matching.match_national_list(request.auth, region, file_name=file.name, data=_read_upload(file))
    return Status(201, _batch_out(batch))


@router.post("/national-matches/rows", auth=staff_auth, response={201: BatchOut}, summary="按行提交国家清单并比对")
@idempotent
def national_match_rows(request, payload: NationalRowsIn):
    region = require_region(payload.region_code) if payload.region_code else _home_region(request.auth)
    rows = [
        {"row": r.row or i, "item_name": r.item_name, "basic_code": r.basic_code, "department": r.department}
        for i, r in enumerate(payload.rows, 1)
    ]
    batch = matching.match_national_list(request.auth, region, file_name=payload.name, rows=rows)
    return Status(201, _batch_out(batch))


@router.get("/national-matches/{int:batch_id}", auth=staff_auth, response=BatchOut, summary="查看国家清单比对结果")
def national_match_detail(request, batch_id: int, query: Query[RowsQuery]):
    batch = _visible_batch(request.auth, batch_id, ImportBatch.NATIONAL_LIST)
    return _batch_out(batch, query.offset, query.limit, query.status)


@router.post(
    "/national-matches/{int:batch_id}/items",
    auth=staff_auth,
    response={201: CreatedItemsOut},
    summary="为未匹配的行新建事项（全部成功或全部不建）",
)
@idempotent
def national_create_items(request, batch_id: int, payload: CreateItemsIn):
    batch = _visible_batch(request.auth, batch_id, ImportBatch.NATIONAL_LIST)
    region = require_region(payload.region_code) if payload.region_code else None
    created = matching.create_missing_items(request.auth, batch, payload.rows, region=region, item_type=payload.item_type)
    batch.refresh_from_db()
    return Status(201, {"created": [{"id": i.pk, "basic_code": i.basic_code, "name": i.name} for i in created], "summary": batch.summary})


@router.get("/batches/{int:batch_id}", auth=staff_auth, response=BatchOut, summary="查看导入批次（预览结果）")
def batch_detail(request, batch_id: int, query: Query[RowsQuery]):
    batch = _visible_batch(request.auth, batch_id)
    return _batch_out(batch, query.offset, query.limit, query.status)


@router.post(
    "/batches/{int:batch_id}/apply", auth=staff_auth, response=BatchOut, summary="确认导入（全部成功或全部不导入；重复确认只导入一次）"
)
def batch_apply(request, batch_id: int):
    batch = _visible_batch(request.auth, batch_id, ImportBatch.TONGBAN_LIST)
    batch = importing.apply(request.auth, batch)
    return _batch_out(batch, 0, 0)


# --- lists and entries -----------------------------------------------------------------------------


@router.get("", response=ListPage, summary="通办清单列表")
def list_lists(request, query: Query[ListsQuery]):
    qs = filter_queryset(TongbanList.objects.select_related("region").prefetch_related("partner_regions"), _viewer(request), READ)
    if query.scope:
        qs = qs.filter(scope=query.scope)
    if query.region_code:
        qs = qs.filter(region__path__startswith=require_region(query.region_code).path)
    if query.q:
        qs = qs.filter(name__contains=query.q.strip())
    result = page(qs.annotate(entry_count=Count("entries")).order_by("region__code", "name", "id"), query.limit, query.offset)
    result["items"] = [_list_out(lst) for lst in result["items"]]
    return result


@router.post("", auth=staff_auth, response={201: ListOut}, summary="新建通办清单（事项目录管理员）")
@idempotent
def create_list(request, payload: ListIn):
    region = require_region(payload.region_code, "发布区划代码")
    partners = [require_region(c, "合作区划代码") for c in payload.partner_region_codes]
    lst = lists.create_list(
        request.auth,
        name=payload.name,
        scope=payload.scope,
        region=region,
        partner_regions=partners,
        document_no=payload.document_no,
        issued_on=payload.issued_on,
        description=payload.description,
    )
    return Status(201, _list_out(lst))


@router.get("/{int:list_id}", response=ListOut, summary="通办清单详情")
def list_detail(request, list_id: int):
    return _list_out(_visible_list(_viewer(request), list_id))


@router.get("/{int:list_id}/entries", response=EntryPage, summary="通办清单条目（含责任分工）")
def list_entries(request, list_id: int, query: Query[EntriesQuery]):
    viewer = _viewer(request)
    lst = _visible_list(viewer, list_id)
    qs = filter_queryset(ListEntry.objects.filter(tongban_list=lst), viewer, READ).select_related("item", "responsible_department")
    if query.status:
        qs = qs.filter(status=query.status)
    if query.mode:
        qs = qs.filter(modes__has=query.mode)
    if query.q:
        qs = qs.filter(Q(item_name__contains=query.q.strip()))
    result = page(qs.order_by("seq", "id"), query.limit, query.offset)
    result["items"] = [_entry_out(e) for e in result["items"]]
    return result


@router.get("/{int:list_id}/export", summary="导出通办清单（.xlsx，可原样重新导入）")
def export_list(request, list_id: int):
    viewer = _viewer(request)
    lst = _visible_list(viewer, list_id)
    return _xlsx(exporting.export_list(viewer, lst), exporting.download_name(lst.name))


@router.post(
    "/{int:list_id}/imports", auth=staff_auth, response={201: BatchOut}, summary="上传清单表格（.xls/.xlsx）并预览，列出每一行的问题"
)
def upload_list(request, list_id: int, file: File[UploadedFile]):
    lst = _visible_list(request.auth, list_id)
    batch = importing.preview(request.auth, file.name, _read_upload(file), lst)
    return Status(201, _batch_out(batch))
