"""Catalogue API: items, versions (guides) with materials, implementations and applicant search."""

import datetime
from decimal import Decimal
from typing import Literal

from django.db import models
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict, create_model

from tongban.core.api_common import Omittable, Page, get_visible, page
from tongban.core.authz import filter_queryset
from tongban.core.errors import DomainError
from tongban.core.idempotency import idempotent
from tongban.directory.api_auth import staff_auth
from tongban.directory.models import Department, Hall
from tongban.directory.services import require_region

from . import search as search_module
from . import services
from .choices import MODE_LABELS, SCOPE_LABELS
from .models import Implementation, Item, ItemVersion, Material
from .versioning import GUIDE_FIELDS

router = Router(tags=["事项目录"])


class ItemOut(Schema):
    basic_code: str
    name: str
    item_type: str
    region_code: str = Field(alias="region.code")
    competent_authority: str
    category: str
    name_initials: str


class ItemPage(Page):
    items: list[ItemOut]


class ItemIn(Schema):
    basic_code: str = Field(description="12位基本编码")
    name: str = Field(min_length=2, max_length=200)
    item_type: str = Field(description="事项类型代码，如01行政许可、20公共服务")
    region_code: str = Field("000000", description="目录所属区划（000000为国家目录）")
    competent_authority: str = ""
    category: str = ""


class MaterialOut(Schema):
    id: int
    seq: int
    name: str
    material_type: str
    form: str
    necessity: str
    necessity_note: str
    source: str
    source_note: str
    paper_copies: int
    spec: str
    acceptance_standard: str
    original_check: bool
    fill_instructions: str
    basis: str
    blank_form_url: str | None = None
    sample_url: str | None = None

    @staticmethod
    def resolve_blank_form_url(obj):
        return f"/guide/materials/{obj.id}/blank/" if obj.blank_form else None

    @staticmethod
    def resolve_sample_url(obj):
        return f"/guide/materials/{obj.id}/sample/" if obj.sample else None


class MaterialIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    seq: int | None = None
    material_type: str = "original"
    form: str = "both"
    necessity: str = "required"
    necessity_note: str = ""
    source: str = "applicant"
    source_note: str = ""
    paper_copies: int = Field(1, ge=0, le=99)
    spec: str = "A4"
    acceptance_standard: str = ""
    original_check: bool = False
    fill_instructions: str = ""
    basis: str = ""


class VersionSummary(Schema):
    id: int
    version_no: int
    status: str
    name: str
    published_at: datetime.datetime | None
    change_note: str


class VersionOut(VersionSummary):
    item_code: str = Field(alias="item.basic_code")
    guide: dict
    materials: list[MaterialOut]

    @staticmethod
    def resolve_guide(obj):
        guide = {f: getattr(obj, f) for f in GUIDE_FIELDS if f != "result_sample"}
        guide["result_sample"] = obj.result_sample.url if obj.result_sample else None
        return guide

    @staticmethod
    def resolve_materials(obj):
        return list(obj.materials.all())


def _guide_field(model_field):
    """The API type of one 办事指南 field, from the model: text with its length limit, a choice code,
    a yes/no, or a number of working days (0–3650, as for implementations)."""
    kwargs = {"description": str(model_field.verbose_name) + (f"（{model_field.help_text}）" if model_field.help_text else "")}
    if model_field.choices:
        return Literal[tuple(value for value, _label in model_field.choices)], Omittable(**kwargs)
    if isinstance(model_field, models.BooleanField):
        return bool, Omittable(**kwargs)
    if isinstance(model_field, models.IntegerField):
        return int, Omittable(ge=0, le=3650, **kwargs)
    if model_field.max_length:
        kwargs["max_length"] = model_field.max_length
    return str, Omittable(**kwargs)


class _StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# Every field of GUIDE_FIELDS except the result sample, a file that is uploaded in the admin.
GuideFields = create_model(
    "GuideFields",
    __base__=_StrictSchema,
    __doc__="办事指南字段；只需提交要修改的字段，不得为null。",
    **{name: _guide_field(ItemVersion._meta.get_field(name)) for name in GUIDE_FIELDS if name != "result_sample"},
)


class GuideIn(Schema):
    """办事指南：只需提交要修改的字段；其余字段沿用所基于的版本（新建草稿时为已发布版本）。"""

    change_note: str = Field("", max_length=300)
    guide: GuideFields = Field(default_factory=GuideFields, description="办事指南字段，如 conditions、application_methods、statutory_limit_days …")

    def guide_values(self):
        return self.guide.model_dump(exclude_unset=True)


class ImplementationOut(Schema):
    implementation_code: str
    item_code: str = Field(alias="item.basic_code")
    item_name: str = Field(alias="item.name")
    department_id: int
    department_name: str = Field(alias="department.name")
    region_code: str = Field(alias="region.code")
    region_name: str = Field(alias="region.name")
    level: str
    statutory_limit_days: int
    promised_limit_days: int
    fee_amount: Decimal
    fee_note: str
    visits_needed: int
    presence_required: bool
    modes: list[str]
    scopes: list[str]
    delivery_methods: list[str]
    partner_regions: list[str]
    hall_ids: list[int]
    is_active: bool

    @staticmethod
    def resolve_modes(obj):
        return obj.get_modes_names()

    @staticmethod
    def resolve_scopes(obj):
        return obj.get_scopes_names()

    @staticmethod
    def resolve_delivery_methods(obj):
        return obj.get_delivery_methods_names()

    @staticmethod
    def resolve_partner_regions(obj):
        return [r.code for r in obj.partner_regions.all()]

    @staticmethod
    def resolve_hall_ids(obj):
        return [h.pk for h in obj.halls.all()]


class ImplementationPage(Page):
    items: list[ImplementationOut]


class ImplementationIn(Schema):
    item_code: str
    department_id: int
    region_code: str
    level: str = Field(description="行使层级 1国家 2省 3市 4县 5乡镇 6村")
    implementation_code: str | None = Field(None, description="31位实施编码；省略时由信用代码+层级+基本编码生成")
    business_code: str = ""
    statutory_limit_days: int = Field(ge=0, le=3650)
    promised_limit_days: int = Field(ge=0, le=3650)
    fee_amount: Decimal = Field(Decimal("0"), ge=0, max_digits=12, decimal_places=2)
    fee_note: str = ""
    delivery_methods: list[str] = ["mail", "online"]
    visits_needed: int = Field(0, ge=0, le=20)
    presence_required: bool = False
    presence_basis: str = ""
    modes: list[str] = ["online"]
    scopes: list[str] = []
    partner_region_codes: list[str] = []
    hall_ids: list[int] = []
    is_active: bool = True


class ImplementationPatch(Schema):
    """只修改提交的字段；提交的字段不得为null（不修改的字段请不要提交）。"""

    statutory_limit_days: int = Omittable(ge=0, le=3650)
    promised_limit_days: int = Omittable(ge=0, le=3650)
    fee_amount: Decimal = Omittable(ge=0, max_digits=12, decimal_places=2)
    fee_note: str = Omittable()
    delivery_methods: list[str] = Omittable()
    visits_needed: int = Omittable(ge=0, le=20)
    presence_required: bool = Omittable()
    presence_basis: str = Omittable()
    modes: list[str] = Omittable()
    scopes: list[str] = Omittable()
    partner_region_codes: list[str] = Omittable()
    hall_ids: list[int] = Omittable()
    is_active: bool = Omittable()
    region_code: str = Omittable()
    department_id: int = Omittable()


class SearchHit(Schema):
    implementation_code: str
    item_code: str
    item_name: str
    department_name: str
    region_code: str
    region_name: str
    modes: list[str]
    mode_labels: list[str]
    scopes: list[str]
    scope_labels: list[str]
    promised_limit_days: int


class SearchOut(Schema):
    query: str
    total: int
    total_capped: bool
    results: list[SearchHit]




def _department(department_id):
    department = Department.objects.filter(pk=department_id).first()
    if department is None:
        raise DomainError(f"实施主体部门（ID {department_id}）不存在", status=422)
    return department


def _flag_names(field_name, names):
    field = Implementation._meta.get_field(field_name)
    for n in names:
        field.bit(n)  # raises a Chinese ValidationError for unknown names
    return list(names)


@router.get("/items", response=ItemPage, summary="事项列表（公众可见已发布事项；工作人员另见本辖区草稿）")
def list_items(request, q: str | None = None, item_type: str | None = None, limit: int = 50, offset: int = 0):
    qs = filter_queryset(Item.objects.select_related("region"), request.user)
    if q:
        qs = qs.filter(name__contains=q.strip())
    if item_type:
        qs = qs.filter(item_type=item_type)
    return page(qs.order_by("basic_code"), limit, offset)


@router.get("/items/{basic_code}", response=ItemOut, summary="事项详情")
def get_item(request, basic_code: str):
    return get_visible(Item.objects.select_related("region"), request.user, basic_code=basic_code.upper())


@router.post("/items", response={201: ItemOut}, auth=staff_auth, summary="新增事项（目录管理员）")
@idempotent
def create_item(request, payload: ItemIn):
    item = services.create_item(request.user, basic_code=payload.basic_code, name=payload.name, item_type=payload.item_type,
                                region=require_region(payload.region_code), competent_authority=payload.competent_authority, category=payload.category)
    return Status(201, ItemOut.from_orm(item))


@router.get("/items/{basic_code}/versions", response=list[VersionSummary], summary="事项的版本历史")
def list_versions(request, basic_code: str):
    item = get_visible(Item.objects.all(), request.user, basic_code=basic_code.upper())
    return list(filter_queryset(item.versions.all(), request.user).order_by("-version_no"))


@router.post("/items/{basic_code}/versions", response={201: VersionOut}, auth=staff_auth, summary="新建草稿（复制已发布版本后修改）")
@idempotent
def create_version(request, basic_code: str, payload: GuideIn):
    item = get_visible(Item.objects.all(), request.user, basic_code=basic_code.upper())
    draft = services.create_draft(request.user, item, change_note=payload.change_note, **payload.guide_values())
    return Status(201, VersionOut.from_orm(draft))


@router.get("/versions/{int:version_id}", response=VersionOut, summary="版本（办事指南）详情，含申请材料")
def get_version(request, version_id: int):
    return get_visible(ItemVersion.objects.select_related("item"), request.user, pk=version_id)


@router.patch("/versions/{int:version_id}", response=VersionOut, auth=staff_auth,
              summary="修改办事指南：草稿直接修改；修改已发布版本时生成新草稿（返回该草稿）")
def update_version(request, version_id: int, payload: GuideIn):
    version = get_visible(ItemVersion.objects.all(), request.user, pk=version_id)
    return services.edit(request.user, version, change_note=payload.change_note, **payload.guide_values())


@router.post("/versions/{int:version_id}/publish", response=VersionOut, auth=staff_auth, summary="发布草稿（原发布版本自动废止）")
def publish_version(request, version_id: int):
    return services.publish(request.user, get_visible(ItemVersion.objects.all(), request.user, pk=version_id))


@router.post("/versions/{int:version_id}/retire", response=VersionOut, auth=staff_auth, summary="废止已发布版本")
def retire_version(request, version_id: int):
    return services.retire(request.user, get_visible(ItemVersion.objects.all(), request.user, pk=version_id))


@router.post("/versions/{int:version_id}/materials", response={201: MaterialOut}, auth=staff_auth, summary="为草稿新增申请材料")
@idempotent
def add_material(request, version_id: int, payload: MaterialIn):
    version = get_visible(ItemVersion.objects.all(), request.user, pk=version_id)
    material = services.save_material(request.user, Material(version=version, **payload.model_dump()))
    return Status(201, MaterialOut.from_orm(material))


@router.delete("/materials/{int:material_id}", response={204: None}, auth=staff_auth, summary="删除草稿中的申请材料")
def delete_material(request, material_id: int):
    material = get_visible(Material.objects.select_related("version"), request.user, pk=material_id)
    services.delete_material(request.user, material)
    return Status(204, None)


def _impl_qs():
    return Implementation.objects.select_related("item", "department", "region").prefetch_related("partner_regions", "halls")


@router.get("/implementations", response=ImplementationPage, summary="实施清单")
def list_implementations(request, item: str | None = None, region: str | None = None, department: int | None = None,
                         limit: int = 50, offset: int = 0):
    qs = filter_queryset(_impl_qs(), request.user)
    if item:
        qs = qs.filter(item__basic_code=item.upper())
    if region:
        qs = qs.filter(region__path__startswith=require_region(region).path)
    if department:
        qs = qs.filter(department_id=department)
    return page(qs.order_by("id"), limit, offset)


@router.get("/implementations/{implementation_code}", response=ImplementationOut, summary="实施清单详情")
def get_implementation(request, implementation_code: str):
    return get_visible(_impl_qs(), request.user, implementation_code=implementation_code.upper())


def _apply_relations(request, impl, partner_codes, hall_ids):
    partners = [require_region(c) for c in partner_codes] if partner_codes is not None else None
    halls = None
    if hall_ids is not None:
        halls = list(filter_queryset(Hall.objects.filter(pk__in=hall_ids), request.user))
        if len(halls) != len(set(hall_ids)):
            raise DomainError("办理地点中有不存在的大厅", status=422)
    return partners, halls


@router.post("/implementations", response={201: ImplementationOut}, auth=staff_auth, summary="新增实施清单（目录管理员，限本辖区）")
@idempotent
def create_implementation(request, payload: ImplementationIn):
    item = get_visible(Item.objects.all(), request.user, basic_code=payload.item_code.upper())
    department = _department(payload.department_id)
    code = payload.implementation_code or f"{department.credit_code}{payload.level}{item.basic_code}"
    impl = Implementation(
        item=item, department=department, region=require_region(payload.region_code), level=payload.level, implementation_code=code,
        business_code=payload.business_code, statutory_limit_days=payload.statutory_limit_days, promised_limit_days=payload.promised_limit_days,
        fee_amount=payload.fee_amount, fee_note=payload.fee_note, delivery_methods=_flag_names("delivery_methods", payload.delivery_methods),
        visits_needed=payload.visits_needed, presence_required=payload.presence_required, presence_basis=payload.presence_basis,
        modes=_flag_names("modes", payload.modes), scopes=_flag_names("scopes", payload.scopes), is_active=payload.is_active,
    )
    partners, halls = _apply_relations(request, impl, payload.partner_region_codes, payload.hall_ids)
    services.save_implementation(request.user, impl, partner_regions=partners, halls=halls)
    return Status(201, ImplementationOut.from_orm(_impl_qs().get(pk=impl.pk)))


@router.patch("/implementations/{implementation_code}", response=ImplementationOut, auth=staff_auth, summary="修改实施清单（目录管理员，限本辖区）")
def update_implementation(request, implementation_code: str, payload: ImplementationPatch):
    impl = get_visible(_impl_qs(), request.user, implementation_code=implementation_code.upper())
    data = payload.model_dump(exclude_unset=True)
    partner_codes, hall_ids = data.pop("partner_region_codes", None), data.pop("hall_ids", None)
    if "region_code" in data:
        impl.region = require_region(data.pop("region_code"))
    if "department_id" in data:
        impl.department = _department(data.pop("department_id"))
    for name in ("modes", "scopes", "delivery_methods"):
        if name in data:
            data[name] = _flag_names(name, data[name])
    for name, value in data.items():
        setattr(impl, name, value)
    partners, halls = _apply_relations(request, impl, partner_codes, hall_ids)
    services.save_implementation(request.user, impl, partner_regions=partners, halls=halls)
    return _impl_qs().get(pk=impl.pk)


@router.get("/search", response=SearchOut, summary="办事搜索（中文任意长度子串、拼音首字母；按地区、部门、通办范围、模式筛选）")
def search(request, q: str = "", region: str | None = None, department: int | None = None, scope: str | None = None,
           mode: str | None = None, limit: int = 20, offset: int = 0):
    if scope and scope not in SCOPE_LABELS:
        raise DomainError(f"通办范围“{scope}”无效，可选：{'、'.join(SCOPE_LABELS)}", status=422)
    if mode and mode not in MODE_LABELS:
        raise DomainError(f"办理模式“{mode}”无效，可选：{'、'.join(MODE_LABELS)}", status=422)
    if len(q) > 50:
        raise DomainError("搜索词不能超过50个字", status=422)
    dept = Department.objects.filter(pk=department).first() if department is not None else None
    if department is not None and dept is None:  # an unknown department used to be ignored: every department's results
        raise DomainError(f"部门（ID {department}）不存在", status=422)
    result = search_module.search_implementations(
        q, region=require_region(region) if region else None, department=dept, scope=scope, mode=mode,
        limit=max(1, min(limit, 100)), offset=max(0, offset),
    )
    return {
        "query": q, "total": result.total, "total_capped": result.total_capped,
        "results": [
            {
                "implementation_code": i.implementation_code, "item_code": i.item.basic_code, "item_name": i.item.name,
                "department_name": i.department.name, "region_code": i.region.code, "region_name": i.region.name,
                "modes": i.get_modes_names(), "mode_labels": i.get_modes_labels(),
                "scopes": i.get_scopes_names(), "scope_labels": i.get_scopes_labels(),
                "promised_limit_days": i.promised_limit_days,
            }
            for i in result.results
        ],
    }
