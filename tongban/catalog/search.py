"""Applicant search over published implementations. (Naive placeholder: correct results, no indexes.)"""

from dataclasses import dataclass

from django.db.models import Q

from tongban.core.authz import filter_queryset
from tongban.core.i18n import to_simplified

from .models import Implementation

COUNT_CAP = 1000


@dataclass
class SearchResult:
    results: list  # Implementation objects with item, department, region loaded
    total: int  # capped at COUNT_CAP
    total_capped: bool


def search_implementations(q="", *, user=None, region=None, department=None, scope=None, mode=None, limit=20, offset=0):
    """Published implementations whose item name contains `q` (any length, Traditional accepted) or whose
    pinyin initials / full pinyin start with or contain `q`; ranked exact > prefix > substring."""
    q = to_simplified((q or "").strip())
    qs = filter_queryset(Implementation.objects.all(), user, "read") if user is not None else Implementation.objects.all()
    qs = qs.filter(is_active=True, item__versions__status="published")
    if q:
        ql = q.lower()
        qs = qs.filter(Q(item__name__contains=q) | Q(item__name_initials__contains=ql) | Q(item__name_pinyin__contains=ql))
    if region is not None:
        qs = qs.filter(region__path__startswith=region.path)
    if department is not None:
        qs = qs.filter(department=department)
    if scope:
        qs = qs.filter(scopes__has=scope)
    if mode:
        qs = qs.filter(modes__has=mode)
    rows = list(qs.select_related("item", "department", "region").order_by("item__name", "region__code", "id"))
    def rank(impl):
        name = impl.item.name
        if name == q or impl.item.name_initials == q.lower():
            return 0
        if name.startswith(q) or impl.item.name_initials.startswith(q.lower()):
            return 1
        return 2
    rows.sort(key=lambda i: (rank(i), i.item.name, i.region.code, i.id))
    total = min(len(rows), COUNT_CAP)
    return SearchResult(rows[offset:offset + limit], total, len(rows) >= COUNT_CAP)
