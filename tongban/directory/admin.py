from django.contrib import admin

from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin

from . import services
from .models import Department, Hall, Membership, Region, RegionHistory, Window


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


@admin.register(Window)
class WindowAdmin(DirectoryAdmin):
    list_display = ["hall", "number", "name", "kind", "is_active"]
    list_filter = ["kind"]
    search_fields = ["name", "hall__name"]
    autocomplete_fields = ["hall"]


@admin.register(Membership)
class MembershipAdmin(DirectoryAdmin):
    list_display = ["user", "role", "region", "department", "window", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__username", "user__first_name", "region__name"]
    autocomplete_fields = ["region", "department", "window"]
    raw_id_fields = ["user"]
