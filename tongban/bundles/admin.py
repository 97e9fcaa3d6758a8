"""一件事 in the admin: bundles and their versions go through `bundles.versioning` (authorised,
audited, recomputed); a draft's merged form, materials, order of work and merge conflicts are shown
read-only, and conflicts are reported as a warning right after the draft is saved. Bundle cases and
their events are read-only (they change through the workbench and the case services)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from tongban.catalog.formdef import TYPES
from tongban.catalog.models import Material
from tongban.core import authz
from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin, VersionActionsMixin
from tongban.core.errors import DomainError

from . import versioning
from .models import Bundle, BundleCase, BundleEntry, BundleEvent, BundleVersion, MarketService

NECESSITY = dict(Material.NECESSITY_CHOICES)


def _editable(request, version):
    return version is not None and version.pk is not None and version.status == BundleVersion.DRAFT and authz.can(request.user, version)


class VersionInline(admin.TabularInline):
    """The bundle's versions, newest first, each linking to its own page."""

    model = BundleVersion
    fields = ["link", "status", "change_note", "published_at", "retired_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "版本"

    def get_queryset(self, request):
        return authz.filter_queryset(super().get_queryset(request), request.user).order_by("-version_no")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="版本")
    def link(self, obj):
        return format_html('<a href="{}">v{} {}</a>', reverse("admin:bundles_bundleversion_change", args=[obj.pk]), obj.version_no, obj.name)


@admin.register(Bundle)
class BundleAdmin(ScopedAdmin):
    list_display = ["code", "name", "theme", "stage", "region", "batch", "published"]
    list_filter = ["theme", "stage"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["region"]
    list_select_related = ["region"]
    inlines = [VersionInline]

    def get_queryset(self, request):
        published = BundleVersion.objects.filter(bundle_id=OuterRef("pk"), status=BundleVersion.PUBLISHED).values("version_no")[:1]
        return super().get_queryset(request).annotate(published_no=Subquery(published))

    @admin.display(description="已发布版本")
    def published(self, obj):
        return f"v{obj.published_no}" if getattr(obj, "published_no", None) else "—"

    def get_readonly_fields(self, request, obj=None):
        return ["code", "region"] if obj else []

    def service_save(self, request, obj, form, change):
        if change:
            versioning.update_bundle(request.user, obj, name=obj.name, theme=obj.theme, stage=obj.stage, batch=obj.batch)
        else:
            created = versioning.create_bundle(request.user, obj.region, obj.code, obj.name, obj.theme, obj.stage, obj.batch)
            obj.pk, obj.created_at = created.pk, created.created_at
            obj._state.adding = False


class EntryForm(forms.ModelForm):
    class Meta:
        model = BundleEntry
        fields = ["seq", "stage", "implementation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seq"].required = False  # new rows go last; numbering is redone on save
        self.fields["seq"].help_text = "留空则排在最后"
        self.fields["stage"].help_text = "按阶段办理时填写：同一阶段的事项并联办理"


class EntryFormSet(forms.BaseInlineFormSet):
    """The same rules as versioning.set_entries, checked before anything is saved, so the
    administrator sees a form error instead of a refused request."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        version = self.instance
        rows = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("implementation")]
        if not rows:
            if version.pk is None and version.bundle_id and version.bundle.versions.filter(status=BundleVersion.PUBLISHED).exists():
                return  # a new draft starts from the published version's entries (versioning.create_draft)
            raise forms.ValidationError("一件事至少应包含一个事项")
        impls = [r["implementation"] for r in rows]
        if len({i.pk for i in impls}) != len(impls):
            raise forms.ValidationError("同一实施清单只能纳入一次")
        region = getattr(version.bundle, "region", None) if version.bundle_id else None
        for impl in impls:
            if not impl.is_active:
                raise forms.ValidationError(f"《{impl.item.name}》的实施清单已停用，不能纳入一件事")
            if region is not None and not impl.region.is_within(region):
                raise forms.ValidationError(f"《{impl.item.name}》（{impl.region.name}）不在本一件事的发布区划{region.name}内")
        if version.lead_department_id and version.lead_department_id not in {i.department_id for i in impls}:
            raise forms.ValidationError("牵头部门应为本一件事所含事项的实施部门之一")

    def ordered_entries(self):
        rows = [(f.cleaned_data.get("seq"), n, f.cleaned_data) for n, f in enumerate(self.forms)
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("implementation")]
        rows.sort(key=lambda r: (r[0] is None, r[0] or 0, r[1]))
        return [{"implementation": d["implementation"], "stage": d.get("stage") or 1} for _, _, d in rows]


class _DraftInline:
    def has_add_permission(self, request, obj=None):
        return _editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return _editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _editable(request, obj)

    def has_view_permission(self, request, obj=None):
        return True


class EntryInline(_DraftInline, admin.TabularInline):
    model = BundleEntry
    form = EntryForm
    formset = EntryFormSet
    extra = 0
    autocomplete_fields = ["implementation"]
    verbose_name_plural = "包含的事项（实施清单）"

    def get_queryset(self, request):
        return authz.filter_queryset(super().get_queryset(request), request.user).select_related("implementation__item", "implementation__department")


class MarketServiceInline(_DraftInline, admin.TabularInline):
    model = MarketService
    extra = 0
    fields = ["seq", "name", "provider", "description"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["seq"].required = False
        return formset

    def get_queryset(self, request):
        versions = authz.filter_queryset(BundleVersion.objects.all(), request.user)
        return super().get_queryset(request).filter(version__in=versions.values("pk"))


@admin.register(BundleVersion)
class BundleVersionAdmin(VersionActionsMixin, ScopedAdmin):
    """Drafts are edited; published and retired versions are read-only (新建草稿 to change them)."""

    list_display = ["name", "bundle_code", "version_no", "status", "lead_department", "problem_count", "published_at"]
    list_select_related = ["bundle", "lead_department"]
    list_filter = ["status", "order"]
    search_fields = ["name", "bundle__code"]
    autocomplete_fields = ["bundle", "lead_department"]
    inlines = [EntryInline, MarketServiceInline]
    version_service, version_parent = versioning, "bundle"
    exclude = ["cooperating_departments"]
    readonly_fields = ["status_badge", "cooperating", "problems", "merged_form", "merged_materials", "work_order"]
    fieldsets = [
        (None, {"fields": ["bundle", "status_badge", "change_note"]}),
        ("服务说明", {"fields": ["name", "description", "conditions", "promised_limit_days", "delivery_methods"]}),
        ("牵头与协同", {"fields": ["lead_department", "cooperating", "order", "refusal_policy"]}),
        ("一业一证与容缺", {"fields": ["combined_permit_name", "deferrable_materials"]}),
        ("合并结果（保存后自动生成）", {"fields": ["problems", "merged_form", "merged_materials", "work_order"]}),
    ]

    @admin.display(description="一件事编码", ordering="bundle__code")
    def bundle_code(self, obj):
        return obj.bundle.code

    @admin.display(description="合并冲突")
    def problem_count(self, obj):
        return len(obj.merge_problems or []) or "—"

    @admin.display(description="状态")
    def status_badge(self, obj):
        return format_html("<strong>{}</strong>", obj.get_status_display()) if obj.pk else "草稿（新建）"

    @admin.display(description="协同部门")
    def cooperating(self, obj):
        if not obj.pk:
            return "保存后按所含事项的实施部门自动生成"
        return "、".join(d.name for d in obj.cooperating_departments.order_by("name")) or "无（所含事项均由牵头部门办理）"

    @admin.display(description="合并冲突")
    def problems(self, obj):
        if not obj.pk:
            return "—"
        if not obj.merge_problems:
            return format_html('<span style="color:#1a7f37">{}</span>', "无冲突，可以发布")
        items = format_html_join("", "<li>{}</li>", ((p,) for p in obj.merge_problems))
        return format_html('<ul style="color:#b42318;margin:0;padding-left:1.2em">{}</ul><p>存在冲突时不能发布，请修改相关事项的申请表或所含事项。</p>', items)

    def _entry_names(self, obj):
        return {e.key: e.implementation.item.name for e in obj.entries.select_related("implementation__item")}

    @admin.display(description="合并后的申请表（一张表单）")
    def merged_form(self, obj):
        if not obj.pk or not obj.form_fields:
            return "—"
        names = self._entry_names(obj)
        rows = format_html_join(
            "", "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f["label"], f["key"], TYPES.get(f.get("type"), f.get("type")) + ("（" + "/".join(f.get("choices") or []) + "）" if f.get("type") == "choice" else ""),
              "必填" if f.get("required") else "选填", "、".join(names.get(k, k) for k in f.get("entries", []))) for f in obj.form_fields),
        )
        return format_html("<table><thead><tr><th>字段</th><th>标识</th><th>类型</th><th>必填</th><th>接收事项</th></tr></thead><tbody>{}</tbody></table>", rows)

    @admin.display(description="合并后的材料（一套材料）")
    def merged_materials(self, obj):
        if not obj.pk or not obj.material_groups:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((g["name"], NECESSITY.get(g["necessity"], g["necessity"]), "需核验原件" if g.get("original_check") else "—",
              "可容缺（告知承诺）" if g.get("deferrable") else "—",
              "、".join(g.get("items", [])) + (f"（由 {g['produced_by']} 办结取得）" if g.get("produced_by") else "")) for g in obj.material_groups),
        )
        return format_html("<table><thead><tr><th>材料</th><th>必要性</th><th>原件</th><th>容缺</th><th>所需事项</th></tr></thead><tbody>{}</tbody></table>", rows)

    @admin.display(description="办理顺序")
    def work_order(self, obj):
        if not obj.pk:
            return "—"
        from .catalog_views import stages_of

        stages = stages_of(obj, obj.entries.select_related("implementation__item", "implementation__department"))
        rows = format_html_join("", "<li>第{}阶段：{}</li>", ((s["number"], "、".join(e.implementation.item.name for e in s["entries"])) for s in stages))
        diagram = format_html("<details><summary>BPMN 定义</summary><pre style='max-height:20em;overflow:auto'>{}</pre></details>", obj.bpmn_xml) if obj.bpmn_xml else ""
        return format_html("<p>{}</p><ol style='margin:0'>{}</ol>{}", obj.get_order_display(), rows, diagram)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "bundle"] if obj else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != BundleVersion.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def service_save(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in versioning.VERSION_FIELDS}
        if change:
            versioning.update_draft(request.user, obj, **fields)
            obj.refresh_from_db()
        else:
            draft = versioning.create_draft(request.user, obj.bundle, change_note=obj.change_note, **fields)
            obj.pk, obj.version_no, obj.status, obj.created_at = draft.pk, draft.version_no, draft.status, draft.created_at
            obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        # Inline rows go through the versioning service (draft-only, authorised, audited, recomputed).
        version = form.instance
        if formset.model is BundleEntry:
            # The entries are replaced as a whole (set_entries renumbers them); the admin's history
            # message reads these lists.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.has_changed():
                self.call_service(versioning.set_entries, request.user, version, formset.ordered_entries())
            return
        instances = formset.save(commit=False)
        for service in formset.deleted_objects:
            self.call_service(versioning.delete_market_service, request.user, service)
        for service in instances:
            service.version = version
            self.call_service(versioning.save_market_service, request.user, service)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        version = BundleVersion.objects.get(pk=form.instance.pk)
        if version.merge_problems:
            # 冲突在保存时报告给管理员: one warning listing every conflict.
            messages.warning(request, f"一件事“{version.name}”的合并存在{len(version.merge_problems)}处冲突，修正前不能发布：{versioning.problems_text(version.merge_problems)}")

    def get_urls(self):
        return [
            path("<int:pk>/publish/", self.admin_site.admin_view(self.publish_view), name="bundles_bundleversion_publish"),
            path("<int:pk>/new-draft/", self.admin_site.admin_view(self.new_draft_view), name="bundles_bundleversion_new_draft"),
            *super().get_urls(),
        ]

    def _post_only(self, request, pk, fn, done):
        from django.http import HttpResponseNotAllowed

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.get_object(request, str(pk))
        if version is None:
            return redirect("admin:bundles_bundleversion_changelist")
        try:
            result = fn(request.user, version)
        except (DomainError, authz.PermissionDenied) as exc:
            messages.error(request, exc.message)
            return redirect("admin:bundles_bundleversion_change", pk)
        messages.success(request, done(result))
        return redirect("admin:bundles_bundleversion_change", result.pk)

    def publish_view(self, request, pk):
        return self._post_only(request, pk, versioning.publish, lambda v: f"已发布 v{v.version_no}，原发布版本已自动废止")

    def new_draft_view(self, request, pk):
        return self._post_only(request, pk, versioning.edit, lambda v: f"已新建草稿 v{v.version_no}，修改后请发布")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_publish"] = obj is not None and obj.status == BundleVersion.DRAFT and authz.can(request.user, obj)
        context["can_draft"] = obj is not None and obj.status == BundleVersion.PUBLISHED and authz.can(request.user, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)



class BundleEventInline(admin.TabularInline):
    """A bundle case's history, shown on the case (so it is read exactly where the case is)."""

    model = BundleEvent
    fields = ["seq", "at", "label", "actor_name", "role", "department_name", "status_from", "status_to", "opinion"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BundleCase)
class BundleCaseAdmin(ReadOnlyAdmin):
    """Read-only: a bundle case changes through the comprehensive window and the case services."""

    list_display = ["case_no", "bundle_name", "applicant_name", "masked_code", "masked_phone", "status", "lead_department", "submitted_at", "due_date"]
    list_select_related = ["bundle_version", "lead_department"]
    list_filter = ["status", "channel", "outcome"]
    search_fields = ["case_no", "applicant_name"]
    fields = ["case_no", "status", "outcome", "channel", "bundle_version", "lead_department", "lead_region", "applicant_name", "masked_code",
              "masked_phone", "refusal_policy", "promised_days", "due_date", "submitted_at", "accepted_at", "ready_at", "delivered_at",
              "permit_no", "explanation", "verifications", "market_requests", "commitments"]
    readonly_fields = fields
    inlines = [BundleEventInline]

    @admin.display(description="一件事", ordering="bundle_version__name")
    def bundle_name(self, obj):
        return obj.bundle_version.name

    @admin.display(description="证件号码")
    def masked_code(self, obj):
        return obj.masked_code

    @admin.display(description="联系电话")
    def masked_phone(self, obj):
        return obj.masked_phone
