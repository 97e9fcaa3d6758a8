"""Applicants and sent texts in the admin: read-only, for platform administrators and supervisors.
Lists show masked codes and phones only; SMS codes are not in the admin at all."""

from django.contrib import admin

from tongban.core.admin_base import admin_site_has_permission
from tongban.core.authz import roles_of

from .models import Applicant, OutboundSms

VIEW_ROLES = {"platform_admin", "supervisor"}


def visible_to_admin(qs, user):
    """The one read filter of applicant data in the admin (applicants have no region): platform
    administrators and supervisors see all rows, everyone else none."""
    return qs if roles_of(user) & VIEW_ROLES else qs.none()


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def get_queryset(self, request):
        return visible_to_admin(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return admin_site_has_permission(request) and bool(roles_of(request.user) & VIEW_ROLES)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Applicant)
class ApplicantAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "applicant_type", "masked_code_col", "agent_name", "masked_phone_col", "created_at"]
    list_filter = ["kind", "applicant_type"]
    search_fields = ["name", "agent_name"]
    fields = ["kind", "applicant_type", "name", "id_number", "credit_code", "agent_name", "agent_id_number", "phone", "user", "created_at"]
    readonly_fields = fields

    @admin.display(description="证件号码（脱敏）")
    def masked_code_col(self, obj):
        return obj.masked_code

    @admin.display(description="手机号码（脱敏）")
    def masked_phone_col(self, obj):
        return obj.masked_phone


@admin.register(OutboundSms)
class OutboundSmsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "masked_phone_col", "sender", "text"]
    list_filter = ["sender"]
    fields = ["created_at", "phone", "sender", "text"]
    readonly_fields = fields

    @admin.display(description="手机号码（脱敏）")
    def masked_phone_col(self, obj):
        from tongban.core.masking import mask_phone

        return mask_phone(obj.phone)
