"""Admin wiring shared by every app: querysets through the model's authorisation scope, permissions
from the same declaration, saves through the app's services (the admin never bypasses a rule)."""

from django.contrib import admin
from django.core.exceptions import BadRequest, ValidationError
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from . import authz
from .errors import DomainError

ADMIN_ROLES = {"catalog_admin", "platform_admin", "supervisor"}


def admin_site_has_permission(request):
    user = request.user
    return bool(
        user.is_active and user.is_authenticated and getattr(user, "is_verified", lambda: False)()
        and authz.roles_of(user) & ADMIN_ROLES
    )


class ScopedFormMixin:
    """Adds the write rule to the form, so the clerk sees why a save is refused instead of a 403.
    Unchanged rows of an inline are not saved, so they are not checked: a department-limited
    administrator can still save a list that shows other departments' rows."""

    request_user = None

    def _post_clean(self):
        super()._post_clean()
        if self.request_user is None or self.errors or (self.instance.pk is not None and not self.has_changed()):
            return
        try:
            if self.instance.pk is None:
                authz.ensure_can(self.request_user, self.instance)
            else:
                authz.ensure_can_change(self.request_user, self.instance)
        except authz.PermissionDenied as exc:
            self.add_error(None, exc.message)


class JurisdictionFilter(admin.SimpleListFilter):
    """Managers first see what they may change; published data of other regions is one click away.
    Both choices are the model's own authorisation filter (write or read), never a rule of their own."""

    title = "管辖范围"
    parameter_name = "jurisdiction"

    def lookups(self, request, model_admin):
        return [("mine", "本辖区（可修改）"), ("all", "全部可见")]

    def choices(self, changelist):
        value = self.value() or "mine"
        for lookup, title in self.lookup_choices:
            yield {"selected": value == lookup, "query_string": changelist.get_query_string({self.parameter_name: lookup}), "display": title}

    def queryset(self, request, queryset):
        if (self.value() or "mine") == "mine" and authz.roles_of(request.user) & authz.scope_for(queryset.model).write:
            return authz.filter_queryset(queryset, request.user, authz.WRITE)
        return queryset


def scoped_form(form_class, user):
    return type(form_class.__name__, (ScopedFormMixin, form_class), {"request_user": user})


class ScopedAdmin(admin.ModelAdmin):
    """Base ModelAdmin: `service_save(request, obj, form, change)` does the actual write."""

    list_per_page = 50
    show_full_result_count = False  # counting large tables per page view is wasted work

    def _scope(self):
        return authz.scope_for(self.model)

    def get_queryset(self, request):
        return authz.filter_queryset(super().get_queryset(request), request.user, authz.READ)

    def get_list_filter(self, request):
        return [JurisdictionFilter, *super().get_list_filter(request)]

    def _writer(self, request):
        return bool(authz.roles_of(request.user) & self._scope().write)

    def has_module_permission(self, request):
        return admin_site_has_permission(request)

    def has_view_permission(self, request, obj=None):
        if not admin_site_has_permission(request):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request):
        return admin_site_has_permission(request) and self._writer(request)

    def has_change_permission(self, request, obj=None):
        if not (admin_site_has_permission(request) and self._writer(request)):
            return False
        if obj is None:
            return True
        return authz.filter_queryset(self.model._default_manager.filter(pk=obj.pk), request.user, authz.WRITE).exists()

    def has_delete_permission(self, request, obj=None):
        return False  # shared reference data is retired, not deleted; history must stay resolvable

    def get_form(self, request, obj=None, change=False, **kwargs):
        return scoped_form(super().get_form(request, obj, change=change, **kwargs), request.user)

    def save_model(self, request, obj, form, change):
        self.call_service(self.service_save, request, obj, form, change)

    def call_service(self, fn, *args):
        """Run a service for the admin: a refused rule is a 403 or 400 page, never a 500."""
        try:
            return fn(*args)
        except authz.PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None
        except (DomainError, ValidationError) as exc:
            # The form already ran the same checks; this is a race (e.g. a concurrent publish): answer 400, not 500.
            raise BadRequest(getattr(exc, "message", None) or "；".join(getattr(exc, "messages", [str(exc)]))) from None

    def service_save(self, request, obj, form, change):
        raise NotImplementedError


class ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VersionActionsMixin:
    """新建草稿 / 发布 / 废止 as admin actions on versions of a versioned catalogue object (items,
    bundles), each through the object's versioning service, so the admin keeps its rules."""

    actions = ["make_draft", "publish_versions", "retire_versions"]
    version_service = None  # module with create_draft(actor, parent, based_on=…), publish(actor, v), retire(actor, v)
    version_parent = ""  # the version's attribute naming what is versioned ("item", "bundle")

    def _run(self, request, queryset, fn, done):
        from django.contrib import messages

        ok = 0
        for version in queryset:
            try:
                fn(request.user, version)
                ok += 1
            except (DomainError, authz.PermissionDenied) as exc:
                messages.error(request, f"{version}：{exc.message}")
        if ok:
            messages.success(request, f"{done} {ok} 个版本")

    @admin.action(description="基于所选版本新建草稿")
    def make_draft(self, request, queryset):
        service, parent = self.version_service, self.version_parent
        self._run(request, queryset, lambda u, v: service.create_draft(u, getattr(v, parent), based_on=v), "已新建草稿")

    @admin.action(description="发布所选草稿（原发布版本自动废止）")
    def publish_versions(self, request, queryset):
        self._run(request, queryset, self.version_service.publish, "已发布")

    @admin.action(description="废止所选已发布版本")
    def retire_versions(self, request, queryset):
        self._run(request, queryset, self.version_service.retire, "已废止")
