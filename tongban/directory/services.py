"""Facade of the directory app: divisions, address codes, staff and their scopes."""

from functools import lru_cache

from django.db import transaction

from tongban.core import audit
from tongban.core.authz import ensure_can, ensure_can_change
from tongban.core.errors import DomainError, validate

from .loading import load_divisions, load_history
from .models import ROOT_CODE, Region, RegionHistory

__all__ = ["load_divisions", "load_history", "address_code_exists", "root_region", "region_by_code", "require_region", "save_scoped"]


def address_code_exists(code):
    """An ID number's address code: any current county-or-above code, or any code used since 1981."""
    return code in _address_codes()


@lru_cache(maxsize=1)
def _address_codes():
    codes = set(Region.objects.filter(level__in=[Region.PROVINCE, Region.PREFECTURE, Region.COUNTY]).values_list("code", flat=True))
    codes.update(RegionHistory.objects.values_list("code", flat=True))
    return frozenset(codes)


def reset_caches():
    _address_codes.cache_clear()


def root_region():
    return Region.objects.get(code=ROOT_CODE)


def region_by_code(code):
    return Region.objects.filter(code=(code or "").strip()).first()


def require_region(code, what="区划代码"):
    """The region of a code typed by a person; a clear 422 when there is none."""
    region = region_by_code(code)
    if region is None:
        raise DomainError(f"{what}“{code}”不存在", status=422)
    return region


@transaction.atomic
def save_scoped(actor, obj, action_name=None):
    """The one way any entry point saves a directory or catalogue object: authorisation on the stored
    and the new state, model validation, audit entry — in one transaction."""
    if obj.pk is None:
        ensure_can(actor, obj)
    else:
        ensure_can_change(actor, obj)
    validate(obj)
    created = obj.pk is None
    obj.save()
    audit.record(actor, action_name or (f"{obj._meta.model_name}.create" if created else f"{obj._meta.model_name}.update"), obj, str(obj))
    return obj
