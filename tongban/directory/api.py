"""Directory API: regions, departments, halls and windows; code checks for forms."""

from ninja import Field, Router, Schema, Status

from tongban.core import codes
from tongban.core.api_common import Omittable, Page, get_visible, page
from tongban.core.authz import filter_queryset
from tongban.core.idempotency import idempotent

from . import services
from .api_auth import staff_auth
from .models import Department, Hall, Region, Window

router = Router(tags=["区划与机构"])


class RegionOut(Schema):
    code: str
    name: str
    level: str = Field(description="national/province/prefecture/county/township")
    kind: str
    parent_code: str | None = Field(None, alias="parent.code")
    path: str


class RegionPage(Page):
    items: list[RegionOut]


class DepartmentOut(Schema):
    id: int
    name: str
    short_name: str
    credit_code: str
    region_code: str = Field(alias="region.code")
    region_name: str = Field(alias="region.name")
    phone: str
    is_active: bool


class DepartmentPage(Page):
    items: list[DepartmentOut]


class DepartmentIn(Schema):
    name: str = Field(min_length=2, max_length=120, description="部门名称")
    short_name: str = Field("", max_length=40)
    credit_code: str = Field(description="统一社会信用代码（18位，校验位按GB 32100）")
    region_code: str = Field(description="所在区划代码")
    phone: str = ""


class DepartmentPatch(Schema):
    """只修改提交的字段；提交的字段不得为null（不修改的字段请不要提交）。"""

    name: str = Omittable(min_length=2, max_length=120)
    short_name: str = Omittable(max_length=40)
    phone: str = Omittable()
    is_active: bool = Omittable()


class WindowOut(Schema):
    id: int
    number: str
    name: str
    kind: str
    is_active: bool


class HallOut(Schema):
    id: int
    name: str
    kind: str
    region_code: str = Field(alias="region.code")
    region_name: str = Field(alias="region.name")
    department_id: int | None = None
    address: str
    opening_hours: str
    phone: str
    windows: list[WindowOut] = []

    @staticmethod
    def resolve_windows(obj):
        return [w for w in obj.windows.all() if w.is_active]


class HallPage(Page):
    items: list[HallOut]


class HallIn(Schema):
    name: str = Field(min_length=2, max_length=120)
    kind: str = Field(description="county_hall / sub_hall / township_centre / village_station / city_hall / province_hall")
    region_code: str
    department_id: int | None = None
    address: str = Field(min_length=2, max_length=200)
    opening_hours: str | None = None
    phone: str = ""


class WindowIn(Schema):
    number: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=80)
    kind: str = Field("general", description="general / cross_region（跨域通办专窗）/ help_desk / self_service")


class CheckOut(Schema):
    valid: bool
    message: str
    normalized: str | None = None




@router.get("/regions", response=RegionPage, summary="行政区划列表（按上级、层级或名称）")
def list_regions(request, parent: str | None = None, level: str | None = None, q: str | None = None, limit: int = 50, offset: int = 0):
    qs = filter_queryset(Region.objects.select_related("parent"), request.user)
    if parent:
        qs = qs.filter(parent=services.require_region(parent))
    if level:
        qs = qs.filter(level=level)
    if q:
        qs = qs.filter(name__contains=q.strip())
    return page(qs.order_by("code"), limit, offset)


@router.get("/regions/{code}", response=RegionOut, summary="行政区划详情")
def get_region(request, code: str):
    return get_visible(Region.objects.select_related("parent"), request.user, code=code)


@router.get("/departments", response=DepartmentPage, summary="部门列表")
def list_departments(request, region: str | None = None, q: str | None = None, limit: int = 50, offset: int = 0):
    qs = filter_queryset(Department.objects.select_related("region"), request.user)
    if region:
        qs = qs.filter(region__path__startswith=services.require_region(region).path)
    if q:
        qs = qs.filter(name__contains=q.strip())
    return page(qs.order_by("region__code", "name"), limit, offset)


@router.get("/departments/{int:department_id}", response=DepartmentOut, summary="部门详情")
def get_department(request, department_id: int):
    return get_visible(Department.objects.select_related("region"), request.user, pk=department_id)


@router.post("/departments", response={201: DepartmentOut}, auth=staff_auth, summary="新增部门（平台管理员）")
@idempotent
def create_department(request, payload: DepartmentIn):
    dept = Department(name=payload.name.strip(), short_name=payload.short_name.strip(), credit_code=codes.normalize(payload.credit_code),
                      region=services.require_region(payload.region_code), phone=payload.phone)
    services.save_scoped(request.user, dept)
    return Status(201, DepartmentOut.from_orm(dept))


@router.patch("/departments/{int:department_id}", response=DepartmentOut, auth=staff_auth, summary="修改部门（平台管理员）")
def update_department(request, department_id: int, payload: DepartmentPatch):
    dept = get_visible(Department.objects.select_related("region"), request.user, pk=department_id)
    for name, value in payload.model_dump(exclude_unset=True).items():
        setattr(dept, name, value)
    return services.save_scoped(request.user, dept)


@router.get("/halls", response=HallPage, summary="政务服务大厅（含窗口）")
def list_halls(request, region: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0):
    qs = filter_queryset(Hall.objects.select_related("region").prefetch_related("windows"), request.user)
    if region:
        qs = qs.filter(region__path__startswith=services.require_region(region).path)
    if kind:
        qs = qs.filter(kind=kind)
    return page(qs.order_by("region__code", "name"), limit, offset)


@router.get("/halls/{int:hall_id}", response=HallOut, summary="大厅详情（含窗口）")
def get_hall(request, hall_id: int):
    return get_visible(Hall.objects.select_related("region").prefetch_related("windows"), request.user, pk=hall_id)


@router.post("/halls", response={201: HallOut}, auth=staff_auth, summary="新增大厅（平台管理员）")
@idempotent
def create_hall(request, payload: HallIn):
    hall = Hall(name=payload.name.strip(), kind=payload.kind, region=services.require_region(payload.region_code), address=payload.address.strip(), phone=payload.phone)
    if payload.department_id:
        hall.department = get_visible(Department.objects.all(), request.user, pk=payload.department_id)
    if payload.opening_hours:
        hall.opening_hours = payload.opening_hours
    services.save_scoped(request.user, hall)
    return Status(201, HallOut.from_orm(hall))


@router.post("/halls/{int:hall_id}/windows", response={201: WindowOut}, auth=staff_auth, summary="新增窗口（平台管理员）")
@idempotent
def create_window(request, hall_id: int, payload: WindowIn):
    hall = get_visible(Hall.objects.all(), request.user, pk=hall_id)
    window = Window(hall=hall, number=payload.number.strip(), name=payload.name.strip(), kind=payload.kind)
    services.save_scoped(request.user, window)
    return Status(201, WindowOut.from_orm(window))


@router.get("/checks/id-number", response=CheckOut, summary="校验公民身份号码（含历史区划代码）")
def check_id_number(request, value: str):
    try:
        parsed = codes.validate_id_number(value, address_exists=services.address_code_exists)
    except codes.CodeError as exc:
        return {"valid": False, "message": str(exc)}
    return {"valid": True, "message": "公民身份号码有效", "normalized": parsed.number}


@router.get("/checks/credit-code", response=CheckOut, summary="校验统一社会信用代码")
def check_credit_code(request, value: str):
    try:
        code = codes.validate_uscc(value)
    except codes.CodeError as exc:
        return {"valid": False, "message": str(exc)}
    return {"valid": True, "message": "统一社会信用代码有效", "normalized": code}


