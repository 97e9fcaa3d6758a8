"""Admin of electronic certificates: the catalogue of types (with issuing departments), issuer keys
(read-only; rotation through keys.rotate), certificates (read-only; revocation through
issuing.revoke), their events and prints (read-only). Every queryset goes through the scopes."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from tongban.core import authz
from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin
from tongban.core.errors import DomainError
from tongban.exchange.admin import ReadOnly as ExchangeReadOnly

from . import issuing, keys
from .models import Certificate, CertificateEvent, CertificateType, IssuerKey, PeerTrustList, PrintRecord


@admin.register(CertificateType)
class CertificateTypeAdmin(ScopedAdmin):
    list_display = ["code", "name", "ministry_name", "holder_kind", "trust_level", "template", "validity_years", "is_active"]
    list_filter = ["trust_level", "template", "holder_kind", "is_active"]
    search_fields = ["code", "name", "ministry_name"]
    autocomplete_fields = ["region", "issuing_departments"]
    fields = ["code", "name", "ministry_name", "region", "holder_kind", "fields", "validity_years", "validity_rule", "trust_level", "template",
              "proof_source", "issuing_departments", "stands_for", "is_active"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class TypeForm(form):
            def clean(self):
                data = super().clean()
                probe = CertificateType(code=data.get("code") or "", fields=data.get("fields") or [], stands_for=data.get("stands_for") or [])
                try:
                    issuing.check_type(probe)
                except DomainError as exc:
                    raise forms.ValidationError(exc.message) from None
                return data

        return TypeForm

    def service_save(self, request, obj, form, change):
        issuing.save_type(request.user, obj)


class _RevokeForm(forms.Form):
    kind = forms.ChoiceField(label="方式", choices=[("revoke", "吊销"), ("cancel", "注销")])
    reason = forms.CharField(label="原因", max_length=300)


@admin.register(IssuerKey)
class IssuerKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "department", "algorithm", "status", "created_at", "retired_at", "revoked_at"]
    list_filter = ["status", "algorithm"]
    search_fields = ["key_id", "department__name"]
    list_select_related = ["department"]
    exclude = ["encrypted_private_key"]
    actions = ["rotate_keys"]

    @admin.action(description="轮换所选密钥所属部门的签名密钥（旧密钥仍可验签）")
    def rotate_keys(self, request, queryset):
        done = set()
        for key in queryset.select_related("department"):
            if key.department_id in done:
                continue
            if not authz.can(request.user, key, authz.WRITE):
                messages.error(request, f"{key.department}：您没有权限轮换该部门的密钥")
                continue
            new = keys.rotate(key.department, request.user)
            done.add(key.department_id)
            messages.success(request, f"{key.department}：新密钥 {new.key_id}")


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["number", "type", "version", "holder_name", "masked_code", "issuer_name", "issued_on", "valid_until", "status"]
    list_filter = ["status", "type"]
    search_fields = ["identifier", "number", "holder_name"]
    list_select_related = ["type"]
    exclude = ["holder_code"]
    readonly_fields = ["masked_code"]
    actions = ["revoke_certificates"]

    @admin.display(description="持证主体代码")
    def masked_code(self, obj):
        return obj.masked_holder_code

    @admin.action(description="吊销或注销所选证照（须填写原因）")
    def revoke_certificates(self, request, queryset):
        form = _RevokeForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            cancel = form.cleaned_data["kind"] == "cancel"
            for cert in queryset:
                try:
                    issuing.revoke(cert, request.user, form.cleaned_data["reason"], cancel=cancel)
                    messages.success(request, f"{cert}：已{'注销' if cancel else '吊销'}")
                except DomainError as exc:
                    messages.error(request, f"{cert}：{exc.message}")
                except authz.PermissionDenied as exc:
                    messages.error(request, f"{cert}：{exc.message}")
            return None
        context = {**self.admin_site.each_context(request), "title": "吊销或注销证照", "form": form, "objects": queryset,
                   "action": "revoke_certificates", "opts": self.model._meta}
        return render(request, "certificates/workbench/admin_revoke.html", context)


@admin.register(CertificateEvent)
class CertificateEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "certificate", "action", "actor_name", "reason"]
    list_filter = ["action"]
    search_fields = ["certificate__identifier", "certificate__number"]
    list_select_related = ["certificate", "certificate__type"]


@admin.register(PrintRecord)
class PrintRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "certificate", "place", "printed_by_name", "copies", "reason"]
    search_fields = ["certificate__identifier", "place", "printed_by_name"]
    list_select_related = ["certificate", "certificate__type"]


@admin.register(PeerTrustList)
class PeerTrustListAdmin(ExchangeReadOnly, admin.ModelAdmin):
    """Peers' trusted-issuer lists as last fetched (certificate_trust_sync): platform administrators only."""

    list_display = ["node_id", "node_name", "verified", "version", "fetched_at", "checked_at", "error"]
