"""Cases in the admin are read-only: every change of a case goes through the workbench or the API,
which call the lifecycle services (an admin form would bypass the transition table)."""

from django.contrib import admin

from tongban.core.admin_base import ReadOnlyAdmin

from .models import Case


class CaseEventInline(admin.TabularInline):
    from .models import CaseEvent

    model = CaseEvent
    fields = ["seq", "at", "label", "actor_name", "role", "department_name", "status_from", "status_to", "opinion"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ["case_no", "item_name", "applicant_name", "masked_code", "status", "department", "submitted_at", "due_date"]
    list_select_related = ["item_version", "department"]
    list_filter = ["status", "channel"]
    search_fields = ["case_no", "applicant_name"]
    fields = ["case_no", "status", "channel", "item_version", "implementation", "department", "region", "applicant_name", "masked_code",
              "masked_phone", "agent_name", "submitted_at", "accepted_at", "due_date", "statutory_due_date", "decided_at", "concluded_at", "delivered_at",
              "decision_reason", "form_data"]
    readonly_fields = fields
    inlines = [CaseEventInline]
    show_full_result_count = False

    @admin.display(description="事项")
    def item_name(self, obj):
        return obj.item_version.name

    @admin.display(description="证件号码")
    def masked_code(self, obj):
        return obj.masked_code

    @admin.display(description="联系电话")
    def masked_phone(self, obj):
        return obj.masked_phone
