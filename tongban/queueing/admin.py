"""Admin of 主题叫号: which queues each window serves (saved through the services), and the tickets with
their logs, read-only (phones masked)."""

from django.contrib import admin

from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin
from tongban.core.authz import READ, WRITE, filter_queryset

from . import services
from .models import QueueTicket, TicketLog, WindowQueue


@admin.register(WindowQueue)
class WindowQueueAdmin(ScopedAdmin):
    list_display = ["window", "queue"]
    list_filter = ["queue"]
    search_fields = ["window__name", "window__hall__name"]
    autocomplete_fields = ["window"]
    list_select_related = ["window", "window__hall"]

    def service_save(self, request, obj, form, change):
        services.save_window_queue(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        if not self.has_change_permission(request, None):
            return False
        return obj is None or filter_queryset(WindowQueue.objects.filter(pk=obj.pk), request.user, WRITE).exists()

    def delete_model(self, request, obj):
        self.call_service(services.delete_window_queue, request.user, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class TicketLogInline(admin.TabularInline):
    model = TicketLog
    extra = 0
    fields = ["at", "action", "window", "actor_name", "note"]
    readonly_fields = fields

    def get_queryset(self, request):
        return filter_queryset(super().get_queryset(request), request.user, READ).select_related("window", "window__hall")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QueueTicket)
class QueueTicketAdmin(ReadOnlyAdmin):
    list_display = ["number", "day", "hall", "queue", "bundle", "green", "status", "window", "masked_phone", "called_at", "done_at"]
    list_filter = ["day", "queue", "status", "green"]
    search_fields = ["number", "hall__name"]
    list_select_related = ["hall", "bundle", "window", "window__hall"]
    fields = ["hall", "day", "number", "queue", "bundle", "green", "green_reason", "status", "window", "target_window", "called_by",
              "called_at", "served_at", "done_at", "recall_count", "masked_phone", "bundle_case", "created_at"]
    readonly_fields = fields
    inlines = [TicketLogInline]

    @admin.display(description="手机号")
    def masked_phone(self, obj):
        return obj.masked_phone
