"""通办合作地区 (public: the published agreements) and the staff 通办通讯录 (partners and liaisons)."""

from django.db.models import Prefetch
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from tongban.catalog.models import Item
from tongban.core.authz import filter_queryset
from tongban.directory.models import Region
from tongban.workbench.views import nav_context, staff_required

from .models import Agreement
from .receiving import full_name, partner_regions_for, regional_partners_of, regions_on_paths
from .scopes import staff_paths

MAX_AGREEMENTS = 500


@require_GET
def agreements(request):
    today = timezone.localdate()
    qs = (
        filter_queryset(Agreement.objects.filter(status=Agreement.ACTIVE), request.user)
        .exclude(valid_until__lt=today)
        .select_related("party_a", "party_b")
        # Items through their own read filter: a draft item's name is not public yet.
        .prefetch_related(Prefetch("items", queryset=filter_queryset(Item.objects.all(), request.user)))
        .order_by("party_a__code", "-signed_on", "id")
    )
    rows = list(qs[:MAX_AGREEMENTS])
    ancestors = regions_on_paths([r for a in rows for r in (a.party_a, a.party_b)])
    for a in rows:
        a.party_a_name, a.party_b_name = full_name(a.party_a, ancestors), full_name(a.party_b, ancestors)
        a.not_yet = a.valid_from > today
        a.item_names = [] if a.all_items else sorted(i.name for i in a.items.all())
    return render(request, "cooperation/agreements.html", {"agreements": rows, "truncated": len(rows) == MAX_AGREEMENTS})


@require_GET
@staff_required
def partners(request):
    user = request.user
    regions = list(Region.objects.filter(path__in=staff_paths(user)).order_by("path"))
    ancestors = regions_on_paths(regions)
    partners_by_region = partner_regions_for(regions, user=user)
    blocks = [
        {
            "region": region,
            "region_name": full_name(region, ancestors),
            "partners": partners_by_region[region.pk],
            "regional": regional_partners_of(region),
        }
        for region in regions
    ]
    return render(request, "cooperation/partners.html", {**nav_context(request), "blocks": blocks, "nav": "partners"})
