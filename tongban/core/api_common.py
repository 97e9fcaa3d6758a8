"""Small helpers shared by the API routers: paging with a capped count, object lookup through the
authorisation filter (a row the caller may not read is indistinguishable from a missing one)."""

from django.http import Http404
from ninja import Schema

from . import authz

MAX_LIMIT, COUNT_CAP = 200, 10000


class Page(Schema):
    total: int
    total_capped: bool
    limit: int
    offset: int


def page(qs, limit, offset, cap=COUNT_CAP):
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    total = qs.order_by()[: cap + 1].count()
    return {"total": min(total, cap), "total_capped": total > cap, "limit": limit, "offset": offset, "items": list(qs[offset:offset + limit])}


def get_visible(qs, user, **lookup):
    obj = authz.filter_queryset(qs, user, authz.READ).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj
