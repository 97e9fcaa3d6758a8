"""好差评 in the admin: read-only lists through the authorisation scope (changes go through the
workbench and the services, so every step keeps its history); anonymous raters are never shown."""

from django.contrib import admin

from tongban.core.admin_base import ReadOnlyAdmin

from .models import Evaluation, Rectification, RectificationStep


class NoDelete(ReadOnlyAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Evaluation)
class EvaluationAdmin(NoDelete):
    list_display = ["id", "channel", "kind", "level", "rater", "department", "status", "created_at"]
    list_filter = ["channel", "level", "status"]
    list_select_related = ["applicant", "department"]
    fields = ["channel", "kind", "parent", "level", "tags", "comment", "anonymous", "rater", "case", "department", "window", "item_name", "status", "created_at"]
    readonly_fields = fields

    @admin.display(description="评价人")
    def rater(self, obj):
        return obj.rater_label


@admin.register(Rectification)
class RectificationAdmin(NoDelete):
    list_display = ["id", "status", "department", "real_name", "called_back_at", "outcome", "deadline", "overdue_at"]
    list_filter = ["status", "outcome"]
    list_select_related = ["department"]
    fields = ["evaluation", "status", "department", "real_name", "called_back_at", "callback_reached", "callback_summary", "outcome",
              "outcome_note", "deadline", "deadline_warning", "overdue_at", "result", "completed_at", "created_at"]
    readonly_fields = fields


@admin.register(RectificationStep)
class RectificationStepAdmin(NoDelete):
    list_display = ["rectification", "label", "actor_name", "at"]
    fields = ["rectification", "action", "label", "status_from", "status_to", "actor_name", "note", "at"]
    readonly_fields = fields
