from django.contrib import admin, messages
from django.db.models import Count, Q

from tongban.core.admin_base import admin_site_has_permission

from . import authz
from .models import AuditEntry, CalendarDay, HolidayYear

admin.site.has_permission = admin_site_has_permission


def _platform_admin(request):
    return admin_site_has_permission(request) and bool(authz.roles_of(request.user) & {"platform_admin", "catalog_admin"})


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 3
    fields = ["date", "kind", "name"]


@admin.register(HolidayYear)
class HolidayYearAdmin(admin.ModelAdmin):
    """Catalogue administrators add a year when the State Council publishes it (节假日安排)."""

    list_display = ["year", "source", "holiday_count", "workday_count", "updated_at"]
    inlines = [CalendarDayInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            holidays=Count("days", filter=Q(days__kind=CalendarDay.HOLIDAY)), workdays=Count("days", filter=Q(days__kind=CalendarDay.WORKDAY))
        )

    @admin.display(description="休息日（工作日上的节假日）", ordering="holidays")
    def holiday_count(self, obj):
        return obj.holidays

    @admin.display(description="调休上班日", ordering="workdays")
    def workday_count(self, obj):
        return obj.workdays

    def has_module_permission(self, request):
        return admin_site_has_permission(request)

    def has_view_permission(self, request, obj=None):
        return admin_site_has_permission(request)

    def has_add_permission(self, request):
        return _platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return _platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        from . import audit, workdays

        workdays.invalidate()
        audit.record(request.user, "calendar.edit", form.instance, f"维护{form.instance.year}年节假日安排")
        messages.info(request, "工作日历已更新，期限计算将使用新的节假日安排")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Append-only: nobody adds, changes or deletes entries through the admin."""

    list_display = ["at", "actor_name", "action", "object_type", "object_id", "summary"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_name", "summary"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    show_full_result_count = False

    def get_queryset(self, request):
        from .audit import visible_entries

        return visible_entries(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return admin_site_has_permission(request)

    def has_view_permission(self, request, obj=None):
        return admin_site_has_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
