"""Admin for 通办 lists, list entries, import batches (upload, preview, confirm), matching and export.

Staff are not superusers: every permission here comes from tongban.core.authz (the same scope
the API uses), querysets go through filter_queryset, and saving goes through the list services."""

from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from tongban.core.admin_base import ReadOnlyAdmin, ScopedAdmin, scoped_form
from tongban.core.authz import (
    READ,
    WRITE,
    PermissionDenied,
    can,
    filter_queryset,
    grants,
    roles_of,
    scope_for,
)
from tongban.core.codes import ITEM_TYPES
from tongban.core.errors import DomainError
from tongban.directory.services import require_region

from . import exporting, importing, lists, matching
from .models import ImportBatch, ListEntry, TongbanList
from .scopes import EDIT

ROWS_PER_PAGE = 200
INLINE_LIMIT = 100


class ListAdminBase(ScopedAdmin):
    """The shared scoped admin, plus deletion by the write rule (lists and entries are not shared
    reference data) and inline entries saved through the list services."""

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class ListEntryInline(admin.TabularInline):
    model = ListEntry
    extra = 0
    fields = lists.ENTRY_FIELDS
    autocomplete_fields = ["item", "responsible_department"]
    verbose_name_plural = f"清单条目（此处显示前{INLINE_LIMIT}条；更多请到“清单条目”中管理）"

    def get_queryset(self, request):
        return filter_queryset(super().get_queryset(request), request.user, READ)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = scoped_form(formset.form, request.user)
        return formset

    def has_view_permission(self, request, obj=None):
        return bool(roles_of(request.user) & (scope_for(ListEntry).read | scope_for(ListEntry).write))

    def has_add_permission(self, request, obj=None):
        return obj is None or can(request.user, obj, WRITE)

    def has_change_permission(self, request, obj=None):
        return obj is None or can(request.user, obj, WRITE)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and can(request.user, obj, WRITE)


class RegionCodeField(forms.CharField):
    """A division code typed by the administrator, cleaned to its Region."""

    def __init__(self, **kwargs):
        super().__init__(max_length=12, **kwargs)

    def clean(self, value):
        try:
            return require_region(super().clean(value))
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


class UploadForm(forms.Form):
    file = forms.FileField(label="Excel文件（.xls或.xlsx）", error_messages={"required": "请选择要上传的Excel文件"})


class NationalUploadForm(UploadForm):
    region_code = RegionCodeField(label="比对的本地区划代码", help_text="将国家清单与该区划可用的事项目录（国家、本省及下级）比对")


class CreateItemsForm(forms.Form):
    rows = forms.TypedMultipleChoiceField(label="行号", coerce=int, error_messages={"required": "请至少选择一行未匹配的事项"})
    item_type = forms.ChoiceField(label="事项类型（生成编码时使用）", choices=list(ITEM_TYPES.items()), initial="20")
    region_code = RegionCodeField(label="新事项所属目录区划代码")


@admin.register(TongbanList)
class TongbanListAdmin(ListAdminBase):
    list_display = ["name", "scope", "region", "document_no", "issued_on", "entry_count"]
    list_filter = ["scope"]
    search_fields = ["name", "document_no"]
    autocomplete_fields = ["region", "partner_regions"]
    inlines = [ListEntryInline]
    change_form_template = "admin/catalog/tongbanlist_change_form.html"
    change_list_template = "admin/catalog/tongbanlist_change_list.html"

    @admin.display(description="条目数", ordering="entry_total")
    def entry_count(self, obj):
        return obj.entry_total

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_total=Count("entries"))

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ListEntryInline) and obj is not None and obj.pk:
            # A list may hold thousands of entries: the inline shows the first ones only.
            first = list(kwargs["queryset"].filter(tongban_list=obj).order_by("seq", "id").values_list("pk", flat=True)[:INLINE_LIMIT])
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=first)
        return kwargs

    def service_save(self, request, obj, form, change):
        lists.save_list(request.user, obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ListEntry:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for entry in formset.deleted_objects:
            self.call_service(lists.delete_entry, request.user, entry)
        for entry in instances:
            self.call_service(lists.save_entry, request.user, entry)
        formset.save_m2m()

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Import batches (read-only in the admin) go with their list; delete_list decides on the entries.
        perms_needed.discard(ImportBatch._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        self.call_service(lists.delete_list, request.user, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.call_service(lists.delete_list, request.user, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<int:list_id>/import/", view(self.import_view), name="catalog_tongbanlist_import"),
            path("import/<int:batch_id>/", view(self.preview_view), name="catalog_tongbanlist_preview"),
            path("<int:list_id>/export/", view(self.export_view), name="catalog_tongbanlist_export"),
            path("export-catalog/", view(self.export_catalog_view), name="catalog_tongbanlist_export_catalog"),
            path("national/", view(self.national_view), name="catalog_tongbanlist_national"),
            path("national/<int:batch_id>/", view(self.national_result_view), name="catalog_tongbanlist_national_result"),
        ]
        return custom + super().get_urls()

    # --- helpers of the custom views ---

    def _render(self, request, template, context, status=200):
        ctx = {**self.admin_site.each_context(request), "opts": self.model._meta, **context}
        return TemplateResponse(request, f"admin/catalog/{template}", ctx, status=status)

    def _error(self, request, message, status=403, title="无法完成操作"):
        return self._render(request, "lists_error.html", {"title": title, "message": message}, status=status)

    def _list(self, request, list_id):
        return get_object_or_404(filter_queryset(TongbanList.objects.select_related("region"), request.user, READ), pk=list_id)

    def _batch(self, request, batch_id, kind):
        return get_object_or_404(
            filter_queryset(ImportBatch.objects.select_related("region", "tongban_list"), request.user, READ), pk=batch_id, kind=kind
        )

    def _upload(self, request, form):
        upload = form.cleaned_data["file"]
        limit = settings.TONGBAN_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            raise DomainError(f"文件“{upload.name}”超过{limit}MB的上限，请拆分后再上传", status=413)
        return upload.name, upload.read()

    def _home_region_code(self, request):
        for role, region_path, _dept in grants(request.user):
            if role in EDIT:
                return region_path.rstrip("/").rsplit("/", 1)[-1]
        return ""

    # --- views ---

    def import_view(self, request, list_id):
        lst = self._list(request, list_id)
        if not can(request.user, lst, WRITE):
            return self._error(request, f"您没有权限向“{lst.name}”导入数据（该清单不在您管辖的区划内）")
        form = UploadForm(request.POST or None, request.FILES or None)
        status = 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    name, data = self._upload(request, form)
                    batch = importing.preview(request.user, name, data, lst)
                except PermissionDenied as exc:
                    return self._error(request, exc.message)
                except DomainError as exc:
                    form.add_error("file", exc.message)
                    status = exc.status
                else:
                    return HttpResponseRedirect(reverse("admin:catalog_tongbanlist_preview", args=[batch.pk]))
        return self._render(
            request, "list_import_upload.html", {"title": f"导入通办清单：{lst.name}", "form": form, "tongban_list": lst}, status
        )

    def preview_view(self, request, batch_id):
        batch = self._batch(request, batch_id, ImportBatch.TONGBAN_LIST)
        status = 200
        if request.method == "POST":
            try:
                batch = importing.apply(request.user, batch)
            except PermissionDenied as exc:
                return self._error(request, exc.message)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                status = exc.status
                batch.refresh_from_db()
            else:
                s = batch.summary
                self.message_user(
                    request,
                    f"已导入“{batch.tongban_list.name}”：新增{s.get('created', 0)}条，更新{s.get('updated', 0)}条",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:catalog_tongbanlist_change", args=[batch.tongban_list_id]))
        try:
            page = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page = 1
        start = (page - 1) * ROWS_PER_PAGE
        rows = batch.rows[start : start + ROWS_PER_PAGE]
        problem_rows = {p["row"] for p in batch.problems}
        context = {
            "title": f"导入预览：{batch.file_name}",
            "batch": batch,
            "rows": rows,
            "problem_rows": problem_rows,
            "page": page,
            "has_next": start + ROWS_PER_PAGE < len(batch.rows),
            "has_prev": page > 1,
            "row_total": len(batch.rows),
            "can_apply": batch.status == ImportBatch.PREVIEWED and not batch.problems and can(request.user, batch.tongban_list, WRITE),
            "mode_labels": dict(ListEntry._meta.get_field("modes").flags),
            "status_labels": dict(ListEntry.STATUS_CHOICES),
        }
        return self._render(request, "list_import_preview.html", context, status)

    def export_view(self, request, list_id):
        lst = self._list(request, list_id)
        return self._xlsx(exporting.export_list(request.user, lst), exporting.download_name(lst.name))

    def export_catalog_view(self, request):
        code = (request.GET.get("region_code") or "").strip()
        try:
            region = require_region(code) if code else None
        except DomainError as exc:
            return self._error(request, exc.message, status=400)
        include = request.GET.get("include_unpublished") in ("1", "true", "on")
        content = exporting.export_catalog(request.user, region, include)
        return self._xlsx(content, exporting.download_name(f"{region.name if region else '全国'}事项实施清单"))

    def _xlsx(self, content, name):
        response = HttpResponse(content, content_type=exporting.XLSX_TYPE)
        response["Content-Disposition"] = f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(name)}"
        return response

    def national_view(self, request):
        if not self._writer(request):
            return self._error(request, "只有事项目录管理员可以进行国家清单比对")
        form = NationalUploadForm(request.POST or None, request.FILES or None, initial={"region_code": self._home_region_code(request)})
        status = 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    name, data = self._upload(request, form)
                    batch = matching.match_national_list(request.user, form.cleaned_data["region_code"], file_name=name, data=data)
                except PermissionDenied as exc:
                    return self._error(request, exc.message)
                except DomainError as exc:
                    form.add_error("file", exc.message)
                    status = exc.status
                else:
                    return HttpResponseRedirect(reverse("admin:catalog_tongbanlist_national_result", args=[batch.pk]))
        return self._render(request, "national_upload.html", {"title": "国家清单比对", "form": form}, status)

    def national_result_view(self, request, batch_id):
        batch = self._batch(request, batch_id, ImportBatch.NATIONAL_LIST)
        unmatched = [r for r in batch.rows if r["status"] == matching.UNMATCHED]
        form = CreateItemsForm(request.POST or None, initial={"region_code": batch.region.code})
        form.fields["rows"].choices = [(r["row"], str(r["row"])) for r in unmatched]
        status = 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                d = form.cleaned_data
                try:
                    created = matching.create_missing_items(request.user, batch, d["rows"], d["region_code"], d["item_type"])
                except PermissionDenied as exc:
                    return self._error(request, exc.message)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                    status = exc.status
                else:
                    codes = "、".join(f"{i.name}（{i.basic_code}）" for i in created[:20])
                    self.message_user(request, f"已新建{len(created)}项事项：{codes}", messages.SUCCESS)
                    return HttpResponseRedirect(request.path)
        groups = {s: [r for r in batch.rows if r["status"] == s] for s in matching.STATUS_LABELS}
        context = {
            "title": f"国家清单比对结果：{batch.file_name}",
            "batch": batch,
            "form": form,
            "groups": groups,
            "matched": groups[matching.MATCHED][:1000],
            "matched_total": len(groups[matching.MATCHED]),
            "status_labels": matching.STATUS_LABELS,
            "matched_by_labels": matching.MATCHED_BY_LABELS,
            "can_create": can(request.user, batch, WRITE),
        }
        return self._render(request, "national_result.html", context, status)


@admin.register(ListEntry)
class ListEntryAdmin(ListAdminBase):
    list_display = ["seq", "item_name", "tongban_list", "responsible_department_display", "mode_display", "batch", "deadline", "status"]
    list_filter = ["status", "tongban_list__scope"]
    search_fields = ["item_name", "responsible_department_name", "tongban_list__name"]
    autocomplete_fields = ["tongban_list", "item", "responsible_department"]
    list_select_related = ["tongban_list", "responsible_department"]

    @admin.display(description="责任单位")
    def responsible_department_display(self, obj):
        return obj.responsible_department.name if obj.responsible_department_id else obj.responsible_department_name

    @admin.display(description="办理模式")
    def mode_display(self, obj):
        return "、".join(obj.get_modes_labels())

    def service_save(self, request, obj, form, change):
        lists.save_entry(request.user, obj)

    def delete_model(self, request, obj):
        self.call_service(lists.delete_entry, request.user, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.call_service(lists.delete_entry, request.user, obj)


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "kind", "status", "tongban_list", "region", "created_by", "created_at", "problem_count", "open_link"]
    list_filter = ["kind", "status"]
    search_fields = ["file_name", "file_sha256"]
    fields = [
        "kind",
        "status",
        "file_name",
        "file_sha256",
        "tongban_list",
        "region",
        "summary",
        "created_by",
        "created_at",
        "applied_at",
        "open_link",
    ]
    readonly_fields = fields
    list_select_related = ["tongban_list", "region", "created_by"]

    @admin.display(description="问题数")
    def problem_count(self, obj):
        return len(obj.problems or [])

    @admin.display(description="详情")
    def open_link(self, obj):
        name = "admin:catalog_tongbanlist_preview" if obj.kind == ImportBatch.TONGBAN_LIST else "admin:catalog_tongbanlist_national_result"
        return format_html('<a href="{}">{}</a>', reverse(name, args=[obj.pk]), "查看预览/比对结果")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("rows")
