from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path

from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin
from tongban.core.authz import WRITE, PermissionDenied, filter_queryset
from tongban.core.errors import DomainError

from . import services
from .models import Department, Hall, Membership, Region, RegionHistory, Window
from .staff import create_staff, reset_totp, totp_qr_svg


@admin.register(Region)
class RegionAdmin(ReadOnlyAdmin):
    """Divisions come from the official lists (load_divisions); they are looked up, not edited."""

    list_display = ["code", "name", "level", "kind", "source"]
    list_filter = ["level", "kind", "source"]
    search_fields = ["code", "name"]


@admin.register(RegionHistory)
class RegionHistoryAdmin(ReadOnlyAdmin):
    """1981–2024 codes, kept so that old ID numbers validate."""

    list_display = ["code", "name", "province", "level", "status", "start_year", "end_year", "new_code"]
    search_fields = ["code", "name"]
    list_filter = ["status", "level"]


class DirectoryAdmin(ScopedAdmin):
    def service_save(self, request, obj, form, change):
        services.save_scoped(request.user, obj)


@admin.register(Department)
class DepartmentAdmin(DirectoryAdmin):
    list_display = ["name", "credit_code", "region", "is_active"]
    search_fields = ["name", "credit_code", "region__name"]
    list_filter = ["is_active"]
    autocomplete_fields = ["region", "parent"]


class WindowInline(admin.TabularInline):
    model = Window
    extra = 1

    def has_add_permission(self, request, obj=None):
        return obj is None or HallAdmin(Hall, admin.site).has_change_permission(request, obj)

    has_change_permission = has_add_permission

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Hall)
class HallAdmin(DirectoryAdmin):
    list_display = ["name", "kind", "region", "department", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "address", "region__name"]
    autocomplete_fields = ["region", "department"]
    inlines = [WindowInline]

    def save_formset(self, request, form, formset, change):
        # Windows go through the same service as the window admin (authorised, validated, audited).
        for window in formset.save(commit=False):
            window.hall = form.instance
            self.call_service(services.save_scoped, request.user, window)


@admin.register(Window)
class WindowAdmin(DirectoryAdmin):
    list_display = ["hall", "number", "name", "kind", "is_active"]
    list_filter = ["kind"]
    search_fields = ["name", "hall__name"]
    autocomplete_fields = ["hall"]


class NewStaffForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=150, help_text="字母、数字和 @.+-_")
    full_name = forms.CharField(label="姓名", max_length=150)
    role = forms.ChoiceField(label="角色", choices=Membership.ROLE_CHOICES)
    region_code = forms.CharField(label="管辖区划代码", max_length=12, help_text="如 371327（莒南县）；须在您的管辖区划之内")
    department = forms.ModelChoiceField(label="所属部门", queryset=Department.objects.none(), required=False)
    window = forms.ModelChoiceField(label="窗口", queryset=Window.objects.none(), required=False, help_text="窗口受理人员可指定所在窗口")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = filter_queryset(Department.objects.select_related("region"), user, WRITE).order_by("region__code", "name")
        self.fields["window"].queryset = filter_queryset(Window.objects.select_related("hall"), user, WRITE).order_by("hall__name", "number")


@admin.register(Membership)
class MembershipAdmin(DirectoryAdmin):
    list_display = ["user", "role", "region", "department", "window", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__username", "user__first_name", "region__name"]
    autocomplete_fields = ["region", "department", "window"]
    raw_id_fields = ["user"]
    actions = ["reset_totp"]

    def get_urls(self):
        return [path("new-staff/", self.admin_site.admin_view(self.new_staff_view), name="directory_membership_new_staff"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_create_staff": self.has_add_permission(request)}
        return super().changelist_view(request, extra_context)

    def new_staff_view(self, request):
        if not self.has_add_permission(request):
            raise DjangoPermissionDenied("只有平台管理员可以新建工作人员")
        form = NewStaffForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                user, device, password = create_staff(request.user, username=d["username"].strip(), full_name=d["full_name"].strip(), role=d["role"],
                                                      region_code=d["region_code"].strip(), department=d["department"], window=d["window"])
            except (DomainError, PermissionDenied) as exc:
                form.add_error(None, exc.message)
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                return self._credentials(request, "新建工作人员", user, device, password)
        context = {**self.admin_site.each_context(request), "title": "新建工作人员", "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/directory/staff_form.html", context, status=400 if form.errors else 200)

    def _credentials(self, request, title, user, device, password=None):
        context = {**self.admin_site.each_context(request), "title": title, "staff_user": user, "password": password,
                   "qr_svg": totp_qr_svg(device), "config_url": device.config_url, "opts": self.model._meta}
        response = TemplateResponse(request, "admin/directory/staff_credentials.html", context)
        response["Cache-Control"] = "no-store"  # a password and a TOTP secret must not stay in any cache
        return response

    @admin.action(description="重置所选人员的动态口令（丢失手机时）")
    def reset_totp(self, request, queryset):
        users = {m.user for m in queryset.select_related("user")}
        if len(users) != 1:
            self.message_user(request, "请一次只为一名人员重置动态口令", level="error")
            return None
        user = users.pop()
        try:
            device = reset_totp(request.user, user)
        except PermissionDenied as exc:
            self.message_user(request, exc.message, level="error")
            return None
        return self._credentials(request, "重置动态口令", user, device)
