"""Authorisation scopes of the catalogue, declared as data (see tongban.core.authz)."""

from django.db.models import Exists, OuterRef, Q

from tongban.core.authz import register

from .models import Implementation, ImportBatch, Item, ItemVersion, ListEntry, Material, TongbanList

EDIT = frozenset({"catalog_admin", "platform_admin"})
STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})


register(Item, region="region__path", read=STAFF, write=EDIT, public=lambda: Q(pk__in=ItemVersion.objects.filter(status="published").values("item_id")))
register(ItemVersion, region="item__region__path", read=STAFF, write=EDIT, public=lambda: Q(status="published"))
register(
    Implementation, region="region__path", department="department_id", read=STAFF, write=EDIT,
    # A correlated EXISTS on the one-published-version index: both planners probe it per candidate row,
    # where `item_id IN (subquery)` made SQLite materialise and scan.
    public=lambda: Q(Exists(ItemVersion.objects.filter(item_id=OuterRef("item_id"), status="published")), is_active=True),
)
register(TongbanList, region="region__path", read=STAFF, write=EDIT, public=lambda: Q(pk__isnull=False))
register(ListEntry, region="tongban_list__region__path", department="responsible_department_id", read=STAFF, write=EDIT, public=lambda: Q(pk__isnull=False))
register(Material, region="version__item__region__path", read=STAFF, write=EDIT, public=lambda: Q(version__status="published"))
register(ImportBatch, region="region__path", read=EDIT, write=EDIT)
