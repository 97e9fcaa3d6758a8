"""Authorisation scopes of the directory, declared as data (see tongban.core.authz)."""

from django.db.models import Q

from tongban.core.authz import register

from .models import Department, Hall, Membership, Region, RegionHistory, Window

ADMIN = frozenset({"platform_admin"})
STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})


def _active():
    return Q(is_active=True)


register(Region, region="path", read=STAFF, write=ADMIN, public=lambda: Q(pk__isnull=False))
register(Department, region="region__path", department="id", read=STAFF, write=ADMIN, public=_active)
register(Hall, region="region__path", department="department_id", read=STAFF, write=ADMIN, public=_active)
register(Window, region="hall__region__path", department="hall__department_id", read=STAFF, write=ADMIN, public=_active)
register(
    Membership, region="region__path", department="department_id",
    read=frozenset({"platform_admin", "supervisor"}), write=ADMIN,
    extra_read=lambda user: Q(user=user),
)
register(RegionHistory, region="code", public=lambda: Q(pk__isnull=False))  # public reference data, nobody edits it
