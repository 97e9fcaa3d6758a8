"""Authorisation scopes of cooperation data, declared as data (see tongban.core.authz).

Agreements are published (anyone reads them); liaisons' phone numbers are for staff: the signing side
manages them, and staff of either side of a valid agreement read them (the 通办通讯录). Problem
reports follow the case they belong to."""

from django.db.models import Q
from django.utils import timezone

from tongban.core.authz import filter_queryset, grants, register
from tongban.directory.models import Region

from .models import Agreement, Liaison, WorkOrder, WorkOrderReply

EDIT = frozenset({"catalog_admin", "platform_admin"})
STAFF = frozenset({"clerk", "approver", "catalog_admin", "supervisor", "platform_admin"})
CASE_READERS = frozenset({"clerk", "approver", "supervisor", "platform_admin"})
CASE_HANDLERS = frozenset({"clerk", "approver", "platform_admin"})
NOTHING = Q(pk__in=[])


def staff_paths(user):
    return {path for role, path, _dept in grants(user) if role in STAFF}


def _liaison_partner_rows(user):
    """Liaisons of the valid agreements that bind the user's regions, and the standing liaisons of the
    partner areas: the same partner rule the partners page uses (receiving._agreement_partners)."""
    from .receiving import _agreement_partners, _valid_agreements, regions_on_paths

    paths = staff_paths(user)
    if not paths:
        return NOTHING
    regions = list(Region.objects.filter(path__in=paths))
    agreements = _valid_agreements(timezone.localdate())
    if not agreements:
        return NOTHING
    ancestors = regions_on_paths(regions + [r for a in agreements for r in (a.party_a, a.party_b)])
    agreement_ids, q = set(), NOTHING
    for region in regions:
        for agreement, _ours, _partner, area in _agreement_partners(agreements, region, ancestors):
            agreement_ids.add(agreement.pk)
            q |= Q(agreement__isnull=True, region__path__startswith=area.path)
    return q | Q(agreement_id__in=sorted(agreement_ids))


def _work_order_extra(user):
    # Staff only: an applicant reads their own cases, not the offices' problem reports about them.
    if not staff_paths(user):
        return NOTHING
    from tongban.cases.models import Case

    # The window that raised a report reads it even before the case is readable there.
    codes = sorted({path.rstrip("/").rsplit("/", 1)[-1] for role, path, _dept in grants(user) if role in CASE_READERS})
    return Q(case__in=filter_queryset(Case.objects.all(), user).values("pk")) | Q(raised_region_code__in=codes)


def _reply_extra(user):
    if not staff_paths(user):
        return NOTHING
    return Q(work_order__in=filter_queryset(WorkOrder.objects.all(), user).values("pk"))


register(Agreement, region="party_a__path", read=STAFF, write=EDIT, public=lambda: Q(pk__isnull=False))
register(Liaison, region="owner_path", read=STAFF, write=EDIT, extra_read=_liaison_partner_rows)
register(
    WorkOrder, region="case__region_path", department="case__department_id", read=CASE_READERS, write=CASE_HANDLERS,
    extra_read=_work_order_extra,
)
register(
    WorkOrderReply, region="work_order__case__region_path", department="work_order__case__department_id",
    read=CASE_READERS, write=CASE_HANDLERS, extra_read=_reply_extra,
)
