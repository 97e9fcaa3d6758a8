"""Admin of 咨询投诉建议: read-only (changes go through the workbench and the services); phones masked.
Hotline clients are created with `manage.py hotline_client_create` (the key is shown once)."""

from django.contrib import admin

from tongban.core.admin_base import ReadOnlyAdmin
from tongban.core.masking import mask_phone

from .models import HotlineClient, Inquiry


@admin.register(Inquiry)
class InquiryAdmin(ReadOnlyAdmin):
    list_display = ["inquiry_no", "kind", "source", "title", "department", "status", "due_date", "phone"]
    list_filter = ["kind", "source", "status"]
    search_fields = ["inquiry_no", "title", "hotline_ticket_no"]
    list_select_related = ["department"]
    exclude = ["inquirer_phone"]
    readonly_fields = ["phone"]

    @admin.display(description="联系电话")
    def phone(self, obj):
        return mask_phone(obj.inquirer_phone)


@admin.register(HotlineClient)
class HotlineClientAdmin(ReadOnlyAdmin):
    list_display = ["name", "region", "key_prefix", "is_active", "created_at"]
    list_select_related = ["region"]
