"""One authorisation filter per model, used by every read path (pages, API, search, export, admin).

Each app declares its scopes as data in `scopes.py`: which lookup leads to the object's region path
and department, which roles may read and write, and what anyone may read (published data). The same
declaration answers "which rows may this user see" (a queryset filter) and "may this user write
this object" (the same rule evaluated on an instance, also for objects not yet saved).
"""

from dataclasses import dataclass

from django.db import models
from django.db.models import Q

READ, WRITE = "read", "write"


class PermissionDenied(Exception):
    """Raised by services; entry points turn it into 403 with its Chinese message."""

    def __init__(self, message="您没有权限执行此操作"):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Scope:
    region: str  # lookup to the region path, e.g. "region__path"
    department: str | None = None  # lookup to the department id, e.g. "department_id"
    read: frozenset = frozenset()
    write: frozenset = frozenset()
    public: object = None  # callable returning a Q that anyone (also anonymous) may read
    extra_read: object = None  # callable(user) -> Q of rows the user may always read (e.g. own rows)
    # Further (region lookup, department lookup or None) places whose staff may read the row — e.g. the
    # receiving window of a cross-region case besides its competent place.
    also_read: tuple = ()


REGISTRY: dict[type, Scope] = {}


def register(model, **kwargs):
    REGISTRY[model] = Scope(**kwargs)


def scope_for(model):
    try:
        return REGISTRY[model]
    except KeyError:
        raise LookupError(f"{model.__name__} has no authorisation scope declared") from None


def grants(user):
    """(role, region_path, department_id) for the user's active memberships, cached on the user."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ()
    cached = getattr(user, "_tongban_grants", None)
    if cached is None:
        from tongban.directory.models import Membership

        cached = tuple(
            Membership.objects.filter(user=user, is_active=True).values_list("role", "region__path", "department_id")
        )
        if user.is_superuser:  # the deployment's root account acts as a national platform administrator
            cached += (("platform_admin", "000000/", None),)
        user._tongban_grants = cached
    return cached


def roles_of(user):
    return {g[0] for g in grants(user)}


def filter_q(user, model, action=READ):
    """The Q of rows `user` may `action`."""
    scope = scope_for(model)
    roles = scope.read | scope.write if action == READ else scope.write
    q = Q(pk__in=[])
    places = [(scope.region, scope.department)] + (list(scope.also_read) if action == READ else [])
    for role, path, dept in grants(user):
        if role not in roles:
            continue
        for region_lookup, dept_lookup in places:
            part = Q(**{f"{region_lookup}__startswith": path})
            if dept is not None and dept_lookup:
                part &= Q(**{dept_lookup: dept})
            q |= part
    if action == READ:
        if scope.public is not None:
            q |= scope.public()
        if scope.extra_read is not None and getattr(user, "is_authenticated", False):
            q |= scope.extra_read(user)
    return q


def filter_queryset(qs, user, action=READ):
    return qs.filter(filter_q(user, qs.model, action))


def _resolve(obj, lookup):
    value = obj
    for part in lookup.split("__"):
        if value is None:
            return None
        value = getattr(value, part, None)
    return value


def can(user, obj, action=WRITE):
    """The scope rule evaluated on an instance (saved or not)."""
    scope = scope_for(type(obj))
    roles = scope.read | scope.write if action == READ else scope.write
    path = _resolve(obj, scope.region) or ""
    dept = _resolve(obj, scope.department) if scope.department else None
    for role, gpath, gdept in grants(user):
        if role in roles and path.startswith(gpath) and (gdept is None or not scope.department or gdept == dept):
            return True
    if action == READ and obj.pk is not None:
        return filter_queryset(type(obj)._default_manager.filter(pk=obj.pk), user, READ).exists()
    return False


def ensure_can(user, obj, action=WRITE, message=None):
    if not can(user, obj, action):
        raise PermissionDenied(message or "您没有权限操作该区划或部门的数据")


def ensure_can_change(user, obj, message=None):
    """For updates: the stored row must be writable and so must the new state."""
    if obj.pk is not None:
        stored = type(obj)._default_manager.filter(pk=obj.pk)
        if stored.exists() and not filter_queryset(stored, user, WRITE).exists():
            raise PermissionDenied(message or "您没有权限修改该区划或部门的数据")
    ensure_can(user, obj, WRITE, message)


class ScopedQuerySet(models.QuerySet):
    def for_user(self, user, action=READ):
        return filter_queryset(self, user, action)
