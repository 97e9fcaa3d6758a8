from django.contrib import admin, messages
from django.db.models import OuterRef, Q, Subquery
from django.utils.html import format_html

from tongban.core import authz
from tongban.core.admin_base import ScopedAdmin, VersionActionsMixin
from tongban.core.errors import DomainError
from tongban.directory.models import Department

from . import (
    admin_lists,  # noqa: F401  (通办清单、导入、比对)
    services,
)
from .models import ApplicationForm, Implementation, Item, ItemVersion, JointPartner, Material, ReviewProcess


@admin.register(Item)
class ItemAdmin(ScopedAdmin):
    list_display = ["basic_code", "name", "item_type", "region", "competent_authority", "published"]
    list_filter = ["item_type", "category"]
    search_fields = ["basic_code", "name", "name_initials"]
    autocomplete_fields = ["region"]

    def get_queryset(self, request):
        # One subquery for the column below instead of one query per row.
        published = ItemVersion.objects.filter(item_id=OuterRef("pk"), status=ItemVersion.PUBLISHED).values("version_no")[:1]
        return super().get_queryset(request).annotate(published_no=Subquery(published))

    @admin.display(description="已发布版本")
    def published(self, obj):
        return f"v{obj.published_no}" if obj.published_no else "—"

    def get_readonly_fields(self, request, obj=None):
        return ["basic_code"] if obj else []  # the code identifies the item everywhere; never reused

    def service_save(self, request, obj, form, change):
        if change:
            services.save_item(request.user, obj)
        else:
            obj.pk = services.create_item(
                request.user, basic_code=obj.basic_code, name=obj.name, item_type=obj.item_type, region=obj.region,
                competent_authority=obj.competent_authority, category=obj.category,
            ).pk


class MaterialInline(admin.StackedInline):
    model = Material
    extra = 0
    fields = [
        ("seq", "name"), ("material_type", "form", "necessity"), "necessity_note", ("source", "source_note"),
        ("paper_copies", "spec", "original_check"), ("blank_form", "sample"), "acceptance_standard", "fill_instructions", "basis",
    ]

    def _editable(self, request, obj):
        return obj is not None and obj.status == ItemVersion.DRAFT and authz.can(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_view_permission(self, request, obj=None):
        return True


class _DraftOnlyInline(admin.StackedInline):
    extra = 0
    max_num = 1
    can_delete = False

    def _editable(self, request, obj):
        return obj is not None and obj.status == ItemVersion.DRAFT and authz.can(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)


class ApplicationFormInline(_DraftOnlyInline):
    model = ApplicationForm
    fields = ["fields"]
    verbose_name = verbose_name_plural = "网上申请表单"


class ReviewProcessInline(_DraftOnlyInline):
    model = ReviewProcess
    fields = ["source", "steps", "bpmn_xml"]
    verbose_name = verbose_name_plural = "审查流程（BPMN）"


@admin.register(ItemVersion)
class ItemVersionAdmin(VersionActionsMixin, ScopedAdmin):
    """Drafts are edited; published and retired versions are read-only (use 新建草稿 to change them)."""

    list_display = ["name", "item_code", "version_no", "status", "published_at"]
    list_select_related = ["item"]
    list_filter = ["status"]
    search_fields = ["name", "item__basic_code"]
    autocomplete_fields = ["item"]
    inlines = [MaterialInline, ApplicationFormInline, ReviewProcessInline]
    version_service, version_parent = services, "item"
    readonly_fields = ["status_badge"]
    exclude = ["version_no"]

    @admin.display(description="基本编码", ordering="item__basic_code")
    def item_code(self, obj):
        return obj.item.basic_code

    @admin.display(description="状态")
    def status_badge(self, obj):
        return format_html("<strong>{}</strong>", obj.get_status_display()) if obj.pk else "草稿（新建）"

    def get_readonly_fields(self, request, obj=None):
        return ["status_badge", "item"] if obj else ["status_badge"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != ItemVersion.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def get_urls(self):
        from django.urls import path

        return [path("<int:pk>/new-draft/", self.admin_site.admin_view(self.new_draft_view), name="catalog_itemversion_new_draft"), *super().get_urls()]

    def new_draft_view(self, request, pk):
        from django.http import HttpResponseNotAllowed
        from django.shortcuts import redirect

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.get_object(request, str(pk))
        if version is None:
            return redirect("admin:catalog_itemversion_changelist")
        try:
            draft = services.edit(request.user, version)
        except (DomainError, authz.PermissionDenied) as exc:
            messages.error(request, exc.message)
            return redirect("admin:catalog_itemversion_change", pk)
        messages.success(request, f"已新建草稿 v{draft.version_no}，修改后请发布")
        return redirect("admin:catalog_itemversion_change", draft.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_draft"] = obj is not None and authz.can(request.user, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def service_save(self, request, obj, form, change):
        from .versioning import GUIDE_FIELDS

        guide = {f: getattr(obj, f) for f in GUIDE_FIELDS}
        if change:
            services.update_draft(request.user, obj, **guide)
        else:
            draft = services.create_draft(request.user, obj.item, change_note=obj.change_note, **guide)
            obj.pk, obj.version_no, obj.status = draft.pk, draft.version_no, draft.status
            obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        # Inline rows go through the versioning service (draft-only, authorised, audited).
        instances = formset.save(commit=False)
        for material in formset.deleted_objects:
            services.delete_material(request.user, material)
        for obj in instances:
            obj.version = form.instance
            if isinstance(obj, Material):
                services.save_material(request.user, obj)
            else:  # the application form or the review process
                services.save_definition(request.user, obj)



class JointPartnerInline(admin.TabularInline):
    """多地联办: the review step (by its name in the BPMN) a department of another place handles."""

    model = JointPartner
    extra = 0
    autocomplete_fields = ["department"]  # a partner is usually outside the administrator's own region

    def _editable(self, request, obj):
        return obj is not None and authz.can(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_view_permission(self, request, obj=None):
        return True


@admin.register(Implementation)
class ImplementationAdmin(ScopedAdmin):
    list_display = ["implementation_code", "item", "department", "region", "level", "promised_limit_days", "is_active"]
    list_filter = ["level", "is_active"]
    search_fields = ["implementation_code", "item__name", "department__name"]
    autocomplete_fields = ["item", "department", "region", "partner_regions", "halls"]
    list_select_related = ["item", "department", "region"]
    ordering = ["-id"]  # the primary key index serves a page of a million rows; a joined sort does not
    inlines = [JointPartnerInline]

    def save_formset(self, request, form, formset, change):
        # Joint partners go through the catalogue service (authorised as a change of the implementation, audited).
        instances = formset.save(commit=False)
        for partner in formset.deleted_objects:
            services.delete_joint_partner(request.user, partner)
        for partner in instances:
            partner.implementation = form.instance
            services.save_joint_partner(request.user, partner)

    def get_search_results(self, request, queryset, search_term):
        # Names are matched on the small item and department tables first, then the id indexes do the rest:
        # a substring scan over a million joined rows would take seconds.
        term = search_term.strip()
        if not term:
            return queryset, False
        items = Item.objects.filter(Q(name__contains=term) | Q(basic_code=term.upper()))
        departments = Department.objects.filter(Q(name__contains=term) | Q(credit_code=term.upper()))
        code = Q(implementation_code__startswith=term.upper()) if term.isascii() else Q(pk__in=[])
        return queryset.filter(code | Q(item__in=items) | Q(department__in=departments)), False

    def service_save(self, request, obj, form, change):
        services.save_implementation(request.user, obj)
