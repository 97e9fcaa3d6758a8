"""Admin for agreements (with their liaisons), liaisons and problem reports. Querysets and permissions
come from the cooperation scopes; saving goes through cooperation.services."""

from django import forms
from django.contrib import admin, messages

from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin, scoped_form
from tongban.core.authz import READ, WRITE, PermissionDenied, can, filter_queryset, roles_of, scope_for

from . import services
from .models import Agreement, Liaison, WorkOrder, WorkOrderReply


class AgreementForm(forms.ModelForm):
    class Meta:
        model = Agreement
        fields = [
            "name", "document_no", "party_a", "party_b", "signed_on", "valid_from", "valid_until",
            "all_items", "items", "city_shared", "status", "note",
        ]

    def clean(self):
        data = super().clean()
        if not data.get("all_items") and not data.get("items"):
            self.add_error("items", "请选择适用事项，或勾选“全部事项”")
        return data


class LiaisonInline(admin.TabularInline):
    model = Liaison
    extra = 0
    fields = ["region", "name", "department_name", "title", "phone", "note"]
    autocomplete_fields = ["region"]

    def get_queryset(self, request):
        return filter_queryset(super().get_queryset(request), request.user, READ)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = scoped_form(formset.form, request.user)
        return formset

    def has_view_permission(self, request, obj=None):
        scope = scope_for(Liaison)
        return bool(roles_of(request.user) & (scope.read | scope.write))

    def has_add_permission(self, request, obj=None):
        return bool(roles_of(request.user) & scope_for(Liaison).write) and (obj is None or can(request.user, obj, WRITE))

    def has_change_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and can(request.user, obj, WRITE)


@admin.register(Agreement)
class AgreementAdmin(ScopedAdmin):
    form = AgreementForm
    list_display = ["name", "party_a", "party_b", "document_no", "valid_from", "valid_until", "city_shared", "status"]
    list_filter = ["status", "city_shared", "all_items"]
    search_fields = ["name", "document_no", "party_a__name", "party_b__name"]
    autocomplete_fields = ["party_a", "party_b", "items"]  # thousands of items and regions: a search, not a list
    list_select_related = ["party_a", "party_b"]
    inlines = [LiaisonInline]
    actions = ["terminate"]

    def service_save(self, request, obj, form, change):
        services.save_agreement(request.user, obj, items=form.cleaned_data.get("items"))

    def save_formset(self, request, form, formset, change):
        if formset.model is not Liaison:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for liaison in formset.deleted_objects:
            self.call_service(services.delete_liaison, request.user, liaison)
        for liaison in instances:
            liaison.agreement = form.instance
            self.call_service(services.save_liaison, request.user, liaison)

    @admin.action(description="终止所选协议")
    def terminate(self, request, queryset):
        done = 0
        for agreement in queryset:
            try:
                services.terminate_agreement(request.user, agreement)
                done += 1
            except PermissionDenied as exc:
                messages.error(request, f"{agreement}：{exc.message}")
        if done:
            messages.success(request, f"已终止 {done} 份协议")


@admin.register(Liaison)
class LiaisonAdmin(ScopedAdmin):
    list_display = ["name", "department_name", "title", "phone", "region", "agreement"]
    search_fields = ["name", "department_name", "region__name"]
    autocomplete_fields = ["agreement", "region"]
    list_select_related = ["region", "agreement"]

    def service_save(self, request, obj, form, change):
        services.save_liaison(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def delete_model(self, request, obj):
        self.call_service(services.delete_liaison, request.user, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.call_service(services.delete_liaison, request.user, obj)


class WorkOrderReplyInline(admin.TabularInline):
    model = WorkOrderReply
    extra = 0
    fields = readonly_fields = ["created_at", "side", "region_code", "author_name", "body"]
    can_delete = False

    def get_queryset(self, request):
        return filter_queryset(super().get_queryset(request), request.user, READ)

    def has_view_permission(self, request, obj=None):
        return True  # the parent admin already decided; rows come through the reply scope

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkOrder)
class WorkOrderAdmin(ReadOnlyAdmin):
    list_display = ["title", "case", "raised_side", "raised_by_name", "raised_region_code", "status", "created_at"]
    list_filter = ["status", "raised_side"]
    search_fields = ["title", "raised_by_name", "case__case_no"]
    list_select_related = ["case"]
    readonly_fields = [
        "uid", "case", "raised_side", "raised_by_name", "raised_region_code", "raised_department_name",
        "title", "body", "status", "created_at", "closed_at", "closed_by_name",
    ]
    inlines = [WorkOrderReplyInline]
