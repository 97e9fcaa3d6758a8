from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tongban.core.authz import ScopedQuerySet
from tongban.core.codes import CodeError, validate_phone, validate_uscc


class Region(models.Model):
    """行政区划. County level and above from the civil-affairs list; townships from the statistics list.
    `path` is the chain of codes from the national root, so a subtree is a prefix match."""

    NATIONAL, PROVINCE, PREFECTURE, COUNTY, TOWNSHIP, VILLAGE = "national", "province", "prefecture", "county", "township", "village"
    LEVEL_CHOICES = [(NATIONAL, "全国"), (PROVINCE, "省级"), (PREFECTURE, "地市级"), (COUNTY, "区县级"), (TOWNSHIP, "乡镇（街道）"), (VILLAGE, "村（社区）")]
    ADMINISTRATIVE, FUNCTIONAL = "administrative", "functional_zone"
    KIND_CHOICES = [(ADMINISTRATIVE, "行政区"), (FUNCTIONAL, "功能区")]

    code = models.CharField("区划代码", max_length=12, unique=True)
    name = models.CharField("名称", max_length=60, db_index=True)
    level = models.CharField("层级", max_length=12, choices=LEVEL_CHOICES)
    kind = models.CharField("类别", max_length=16, choices=KIND_CHOICES, default=ADMINISTRATIVE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="上级")
    path = models.CharField("路径", max_length=80, db_index=True, editable=False)
    source = models.CharField("数据来源", max_length=20, default="mca2024")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = verbose_name_plural = "行政区划"

    def __str__(self):
        return self.name

    def full_name(self):
        """'山东省 临沂市 莒南县' — names from the province down."""
        codes = [c for c in self.path.split("/") if c and c != ROOT_CODE]
        names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
        return " ".join(names[c] for c in codes if c in names)

    def is_within(self, other):
        return self.path.startswith(other.path)


ROOT_CODE = "000000"


class RegionHistory(models.Model):
    """A code record 1981–2024 (in use, changed or retired). Old ID cards carry retired codes."""

    code = models.CharField("代码", max_length=6, db_index=True)
    name = models.CharField("名称", max_length=60)
    province = models.CharField("一级行政区", max_length=40, blank=True)
    prefecture = models.CharField("二级行政区", max_length=40, blank=True)
    level = models.CharField("级别", max_length=10)
    status = models.CharField("状态", max_length=10)
    start_year = models.PositiveIntegerField("启用年份", null=True)
    end_year = models.PositiveIntegerField("变更/弃用年份", null=True, blank=True)
    new_code = models.TextField("新代码", blank=True, help_text="可能为多个代码")

    class Meta:
        ordering = ["code", "start_year"]
        verbose_name = verbose_name_plural = "行政区划历史代码"
        constraints = [models.UniqueConstraint(fields=["code", "name", "start_year", "status"], name="region_history_unique")]

    def __str__(self):
        return f"{self.code} {self.name}（{self.start_year}—{self.end_year or ''}）"


def _validate_credit_code(value):
    try:
        validate_uscc(value)
    except CodeError as exc:
        raise ValidationError(str(exc)) from None


def _validate_phone(value):
    if value:
        try:
            validate_phone(value)
        except CodeError as exc:
            raise ValidationError(str(exc)) from None


class Department(models.Model):
    """部门 — a government body with its 统一社会信用代码, seated in a region."""

    name = models.CharField("部门名称", max_length=120)
    short_name = models.CharField("简称", max_length=40, blank=True)
    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True, validators=[_validate_credit_code])
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departments", verbose_name="所在区划")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="上级部门")
    phone = models.CharField("咨询电话", max_length=20, blank=True, validators=[_validate_phone])
    is_active = models.BooleanField("启用", default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["region__code", "name"]
        verbose_name = verbose_name_plural = "部门"
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="department_name_per_region")]

    def __str__(self):
        return self.name


class Hall(models.Model):
    """政务服务大厅 at any level the seeds name, down to village stations."""

    COUNTY_HALL, SUB_HALL, TOWNSHIP_CENTRE, VILLAGE_STATION, CITY_HALL, PROVINCE_HALL = (
        "county_hall", "sub_hall", "township_centre", "village_station", "city_hall", "province_hall")
    KIND_CHOICES = [
        (PROVINCE_HALL, "省级政务服务中心"), (CITY_HALL, "市级政务服务中心"), (COUNTY_HALL, "县级政务服务中心"),
        (SUB_HALL, "部门分厅"), (TOWNSHIP_CENTRE, "乡镇（街道）便民服务中心"), (VILLAGE_STATION, "村（社区）便民服务站"),
    ]

    name = models.CharField("名称", max_length=120)
    kind = models.CharField("类型", max_length=20, choices=KIND_CHOICES)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="halls", verbose_name="所在区划")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="halls", verbose_name="主管部门（分厅）")
    address = models.CharField("地址", max_length=200)
    opening_hours = models.CharField("办公时间", max_length=200, default="周一至周五 9:00-12:00，13:30-17:00（法定节假日除外）")
    phone = models.CharField("咨询电话", max_length=20, blank=True, validators=[_validate_phone])
    is_active = models.BooleanField("启用", default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["region__code", "name"]
        verbose_name = verbose_name_plural = "政务服务大厅"

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == self.SUB_HALL and not self.department_id:
            raise ValidationError({"department": "部门分厅必须指定主管部门"})


class Window(models.Model):
    """窗口, including the 跨域通办 专窗 where 异地代收代办 is received."""

    GENERAL, CROSS_REGION, HELP_DESK, SELF_SERVICE = "general", "cross_region", "help_desk", "self_service"
    KIND_CHOICES = [(GENERAL, "综合受理窗口"), (CROSS_REGION, "跨域通办专窗"), (HELP_DESK, "帮办代办窗口"), (SELF_SERVICE, "自助服务区")]

    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, related_name="windows", verbose_name="大厅")
    number = models.CharField("窗口号", max_length=20)
    name = models.CharField("名称", max_length=80)
    kind = models.CharField("类型", max_length=20, choices=KIND_CHOICES, default=GENERAL)
    is_active = models.BooleanField("启用", default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["hall", "number"]
        verbose_name = verbose_name_plural = "窗口"
        constraints = [models.UniqueConstraint(fields=["hall", "number"], name="window_number_per_hall")]

    def __str__(self):
        return f"{self.hall.name} {self.number}号 {self.name}"


class Membership(models.Model):
    """A staff member's role over a region subtree, optionally limited to one department."""

    CLERK, APPROVER, CATALOG_ADMIN, SUPERVISOR, PLATFORM_ADMIN = "clerk", "approver", "catalog_admin", "supervisor", "platform_admin"
    ROLE_CHOICES = [(CLERK, "窗口受理人员"), (APPROVER, "审批人员"), (CATALOG_ADMIN, "事项目录管理员"), (SUPERVISOR, "监督人员"), (PLATFORM_ADMIN, "平台管理员")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name="用户")
    role = models.CharField("角色", max_length=20, choices=ROLE_CHOICES)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="memberships", verbose_name="管辖区划")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships", verbose_name="所属部门")
    window = models.ForeignKey(Window, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships", verbose_name="窗口")
    is_active = models.BooleanField("有效", default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["user__username", "role"]
        verbose_name = verbose_name_plural = "人员角色"
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "region", "department"], name="membership_unique"),
            models.UniqueConstraint(fields=["user", "role", "region"], condition=models.Q(department__isnull=True), name="membership_unique_no_department"),
        ]

    def __str__(self):
        dept = f" · {self.department}" if self.department_id else ""
        return f"{self.user} · {self.get_role_display()} · {self.region}{dept}"

    def clean(self):
        if self.department_id and self.region_id and not self.department.region.is_within(self.region):
            raise ValidationError({"department": "所属部门必须位于管辖区划之内"})
