"""Small helpers shared by the API routers: paging with a capped count, object lookup through the
authorisation filter (a row the caller may not read is indistinguishable from a missing one)."""

from django.http import Http404
from ninja import Field, Schema

from . import authz
from .errors import DomainError

MAX_LIMIT, COUNT_CAP = 200, 10000
MAX_OFFSET = 1_000_000_000  # far past any table; a larger one overflowed PostgreSQL's bigint OFFSET (a 500)


class Page(Schema):
    total: int
    total_capped: bool
    limit: int
    offset: int


def page(qs, limit, offset, cap=COUNT_CAP):
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    if offset > MAX_OFFSET:
        raise DomainError(f"offset 过大：不能超过{MAX_OFFSET}", status=422)
    total = qs.order_by()[: cap + 1].count()
    return {"total": min(total, cap), "total_capped": total > cap, "limit": limit, "offset": offset, "items": list(qs[offset:offset + limit])}


def get_visible(qs, user, **lookup):
    obj = authz.filter_queryset(qs, user, authz.READ).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


def _drop_default(schema):
    schema.pop("default", None)


def Omittable(**kwargs):  # noqa: N802 (used like pydantic's Field)
    """A field of a PATCH body: left out, the stored value stays; sent, it must be a real value (null
    is refused with a Chinese 422, as for any wrong type) — never stored as NULL or silently ignored."""
    return Field(None, json_schema_extra=_drop_default, **kwargs)
