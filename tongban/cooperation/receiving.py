"""Where an implementation may be received (收件地) for its competent place (办理地).

The rules, in order: the competent county's own township centres and village stations forward what
only the county may decide (县域内纵向代收代办, seed 000); then the implementation's 通办 scopes
(跨省 / 全省 / 全市 / 区域); then a valid cooperation agreement between the two places, where
一地签约、全市共享 (seed 003) lets a county's signature bind its whole prefecture-level city.
"""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, prefetch_related_objects
from django.utils import timezone

from tongban.catalog.choices import MODE_LABELS
from tongban.catalog.matching import ancestor_paths
from tongban.core.authz import filter_queryset
from tongban.directory.models import ROOT_CODE, Region

from .models import Agreement, Liaison

# 直辖市: their districts and counties sit directly under the "province", which is the city.
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})
LOCAL_LEVELS = frozenset({Region.COUNTY, Region.TOWNSHIP, Region.VILLAGE})
RECEIVING_MODES = ("proxy", "joint")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # Chinese; for a refusal the full reason shown to the clerk
    basis: str  # Chinese; what allows it ("" when refused)


# --- the region tree -------------------------------------------------------------------------


def _codes(path):
    return [c for c in (path or "").split("/") if c]


def regions_on_paths(regions, known=None):
    """{code: Region} for every region on the given regions' paths (ancestors and themselves), in one query."""
    out = dict(known or {})
    wanted = {c for r in regions for c in _codes(r.path)} - set(out)
    if wanted:
        out.update({r.code: r for r in Region.objects.filter(code__in=wanted)})
    return out


def province_of(region, ancestors):
    codes = _codes(region.path)
    return ancestors.get(codes[1], region) if len(codes) > 1 else region


def city_of(region, ancestors):
    """The prefecture-level city a region belongs to (the region itself at prefecture level or above)."""
    if region.level not in LOCAL_LEVELS:
        return region
    codes = _codes(region.path)
    for code in codes:
        r = ancestors.get(code)
        if r is not None and r.level == Region.PREFECTURE:
            return r
    if len(codes) > 1 and codes[1] in MUNICIPALITIES:
        return ancestors.get(codes[1], region)
    # A county-level city directly under its province (阿拉尔市, 济源市) is a city of its own.
    for code in codes:
        r = ancestors.get(code)
        if r is not None and r.level == Region.COUNTY:
            return r
    return region


def area_of(party, agreement, ancestors):
    """The area an agreement binds on one side: with 一地签约、全市共享 a county (or below) stands for its city."""
    if agreement.city_shared and party.level in LOCAL_LEVELS:
        return city_of(party, ancestors)
    return party


def full_name(region, ancestors):
    """Region.full_name from an already-read {code: Region} map (no query per region)."""
    names = [ancestors[c].name for c in _codes(region.path) if c != ROOT_CODE and c in ancestors]
    return " ".join(names) or region.name


def _overlaps(a, b):
    return a.is_within(b) or b.is_within(a)


# --- agreements ------------------------------------------------------------------------------


def _valid_q(on):
    return Q(status=Agreement.ACTIVE, valid_from__lte=on) & (Q(valid_until__isnull=True) | Q(valid_until__gte=on))


def _covers_q(item_id):
    return Q(all_items=True) | Q(Exists(Agreement.items.through.objects.filter(agreement_id=OuterRef("pk"), item_id=item_id)))


def _near_q(prefix, region):
    """SQL pre-filter: a party that can bind `region` lies in its province or is one of its ancestors."""
    codes = _codes(region.path)
    province_path = "".join(f"{c}/" for c in codes[:2])
    return Q(**{f"{prefix}__path__startswith": province_path}) | Q(**{f"{prefix}__path__in": ancestor_paths(region)})


def _links(agreement, here, there, ancestors):
    """Does the agreement link `here` and `there` (in either direction)?"""
    a = area_of(agreement.party_a, agreement, ancestors)
    b = area_of(agreement.party_b, agreement, ancestors)
    return (here.is_within(a) and there.is_within(b)) or (here.is_within(b) and there.is_within(a))


def agreement_basis(agreement):
    parts = []
    if agreement.document_no:
        parts.append(f"文号{agreement.document_no}")
    if agreement.city_shared:
        parts.append("一地签约、全市共享")
    return f"合作协议《{agreement.name}》" + (f"（{'，'.join(parts)}）" if parts else "")


def _why_not(agreement, on):
    if agreement.status != Agreement.ACTIVE:
        return f"合作协议《{agreement.name}》已终止"
    if agreement.valid_from > on:
        return f"合作协议《{agreement.name}》自{agreement.valid_from:%Y年%m月%d日}起生效"
    if agreement.valid_until is not None and agreement.valid_until < on:
        return f"合作协议《{agreement.name}》已于{agreement.valid_until:%Y年%m月%d日}到期"
    return f"合作协议《{agreement.name}》不含该事项"


# --- the decision ----------------------------------------------------------------------------


def _refused(reason):
    return Decision(False, reason, "")


def _vertical_basis(here):
    return "县域内纵向代收代办" if here.level in LOCAL_LEVELS else f"辖区内纵向代收代办（{here.name}）"


def _partners(implementation):
    # Uses a prefetch when the caller made one (the guide page), else one query.
    return sorted(implementation.partner_regions.all(), key=lambda r: r.code)


def receiving_decision(implementation, receiving_region, on=None) -> Decision:
    """May `receiving_region` take applications for `implementation` (异地代收代办 / 多地联办) on `on`?"""
    on = on or timezone.localdate()
    here, there = implementation.region, receiving_region
    if not implementation.is_active:
        return _refused(f"该事项在{here.name}的实施清单已停用，不能受理")
    modes = set(implementation.get_modes_names())
    if not modes & set(RECEIVING_MODES):
        return _refused(f"该事项在{here.name}不支持异地代收代办或多地联办，请通过全程网办或到办理地窗口办理")
    if there.is_within(here):
        return Decision(True, f"收件地“{there.name}”位于办理地“{here.name}”辖区内，可代收后流转至办理地", _vertical_basis(here))

    ancestors = regions_on_paths([here, there])
    scopes = implementation.get_scopes_names()
    described = []
    if "cross_province" in scopes:
        return Decision(True, "该事项为跨省通办事项，全国范围内均可受理", "跨省通办（全国范围）")
    if "province_wide" in scopes:
        province = province_of(here, ancestors)
        if there.is_within(province):
            return Decision(True, f"该事项为全省通办事项，收件地位于{province.name}", f"全省通办（{province.name}）")
        described.append(f"全省通办：{province.name}")
    if "city_wide" in scopes:
        city = city_of(here, ancestors)
        if there.is_within(city):
            return Decision(True, f"该事项为全市通办事项，收件地位于{city.name}", f"全市通办（{city.name}）")
        described.append(f"全市通办：{city.name}")
    if "regional" in scopes:
        partners = _partners(implementation)
        names = "、".join([here.name, *(p.name for p in partners)])
        if any(there.is_within(p) for p in partners):
            return Decision(True, f"该事项为区域通办事项，收件地位于合作区划内（{names}）", f"区域通办（{names}）")
        described.append(f"区域通办：{names}")

    candidates = list(
        Agreement.objects.filter(
            (_near_q("party_a", here) & _near_q("party_b", there)) | (_near_q("party_a", there) & _near_q("party_b", here))
        )
        .annotate(covers=_covers_q(implementation.item_id))
        .select_related("party_a", "party_b")
        .order_by("status", "-valid_from", "id")  # "active" sorts before "terminated"
    )
    ancestors = regions_on_paths([r for a in candidates for r in (a.party_a, a.party_b)], ancestors)
    linking = [a for a in candidates if _links(a, here, there, ancestors)]
    for a in linking:
        if a.covers and a.is_valid_on(on):
            return Decision(True, f"收件地“{there.name}”与办理地“{here.name}”签有有效的通办合作协议", agreement_basis(a))

    kind = "跨省通办" if province_of(here, ancestors).pk != province_of(there, ancestors).pk else "通办"
    if described:
        reason = f"收件地“{there.name}”不在该事项的通办范围（{'；'.join(described)}）内，且两地没有有效的{kind}合作协议"
    else:
        reason = f"该事项在{here.name}未列入通办范围，且收件地“{there.name}”与办理地“{here.name}”没有有效的{kind}合作协议"
    if linking:
        reason += "（" + "；".join(_why_not(a, on) for a in linking[:3]) + "）"
    return _refused(reason)


# --- where can it be received (guide page) ----------------------------------------------------


def _valid_agreements(on):
    agreements = list(Agreement.objects.filter(_valid_q(on)).select_related("party_a", "party_b").order_by("-signed_on", "id"))
    item_ids = {}
    for agreement_id, item_id in Agreement.items.through.objects.filter(
        agreement_id__in=[a.pk for a in agreements if not a.all_items]
    ).values_list("agreement_id", "item_id"):
        item_ids.setdefault(agreement_id, set()).add(item_id)
    for a in agreements:
        a.item_ids = item_ids.get(a.pk, set())
    return agreements


def _agreement_partners(agreements, region, ancestors, item_id=None, inside=False):
    """(agreement, our party, partner party, partner area) for every agreement touching `region`: signed for
    an area overlapping it (the staff directory), or with `inside` only those binding `region` itself (what
    receiving_decision honours; the guide must not name a place the decision refuses)."""
    binds = (lambda area: region.is_within(area)) if inside else (lambda area: _overlaps(region, area))
    out = []
    for a in agreements:
        if item_id is not None and not (a.all_items or item_id in a.item_ids):
            continue
        area_a, area_b = area_of(a.party_a, a, ancestors), area_of(a.party_b, a, ancestors)
        if binds(area_a):
            out.append((a, a.party_a, a.party_b, area_b))
        if binds(area_b):
            out.append((a, a.party_b, a.party_a, area_a))
    return out


def receivable_summaries(implementations, on=None):
    """{implementation pk: receivable_summary} for several implementations: the valid agreements and the
    regions' ancestors are read once, partner regions through one prefetch."""
    on = on or timezone.localdate()
    implementations = list(implementations)
    prefetch_related_objects(implementations, "partner_regions")
    agreements = _valid_agreements(on) if any(set(i.get_modes_names()) & set(RECEIVING_MODES) for i in implementations) else []
    ancestors = regions_on_paths([i.region for i in implementations] + [r for a in agreements for r in (a.party_a, a.party_b)])
    return {i.pk: _summary(i, agreements, ancestors) for i in implementations}


def receivable_summary(implementation, on=None):
    """Where the implementation can be applied for: [{"mode": "异地代收代办", "where": "…", "basis": "…"}, …]."""
    return receivable_summaries([implementation], on)[implementation.pk]


def _summary(impl, agreements, ancestors):
    here = impl.region
    modes = impl.get_modes_names()
    rows = []
    if "online" in modes:
        rows.append({"mode": MODE_LABELS["online"], "where": "通过网上办事大厅或移动端在线申请，不受地域限制", "basis": "全程网办"})
    receiving = [m for m in RECEIVING_MODES if m in modes]
    if not impl.is_active or not receiving:
        if not rows:
            rows.append({"mode": "窗口办理", "where": f"请到{full_name(here, ancestors)}的办理地点办理", "basis": ""})
        return rows
    label = "、".join(MODE_LABELS[m] for m in receiving)
    scopes = impl.get_scopes_names()
    if "cross_province" in scopes:
        rows.append({"mode": label, "where": "全国任一设有跨省通办专窗的政务服务大厅，窗口核验后转交办理地", "basis": "跨省通办（全国范围）"})
    else:
        if "province_wide" in scopes:
            province = province_of(here, ancestors)
            rows.append({"mode": label, "where": f"{province.name}内任一政务服务大厅、便民服务中心的通办窗口", "basis": f"全省通办（{province.name}）"})
        if "city_wide" in scopes:
            city = city_of(here, ancestors)
            rows.append({"mode": label, "where": f"{full_name(city, ancestors)}内任一政务服务大厅、便民服务中心的通办窗口", "basis": f"全市通办（{city.name}）"})
        if "regional" in scopes:
            names = "、".join([here.name, *(p.name for p in _partners(impl))])
            rows.append({"mode": label, "where": f"区域通办合作地区：{names}", "basis": f"区域通办（{names}）"})
        for a, _ours, partner, area in _agreement_partners(agreements, here, ancestors, impl.item_id, inside=True):
            where = f"合作地区：{full_name(area, ancestors)}"
            if area.pk != partner.pk:
                where += f"全域（由{partner.name}签约，一地签约、全市共享）"
            rows.append({"mode": label, "where": where, "basis": agreement_basis(a)})
    if here.level in LOCAL_LEVELS or not rows:
        rows.append({
            "mode": label,
            "where": f"{full_name(here, ancestors)}的各级政务服务大厅、乡镇（街道）便民服务中心和村（社区）便民服务站",
            "basis": _vertical_basis(here),
        })
    return rows


# --- partners of a region (通办通讯录) ---------------------------------------------------------


def partner_regions_of(region, on=None, user=None):
    """Partner regions of `region` through agreements valid on `on` (expanded by 一地签约、全市共享), each
    with its agreement and liaisons: [{"region", "region_name", "signed_by", "our_party", "shared",
    "agreement", "liaisons", "standing_liaisons"}, …]. Pass `user` to read liaisons through their
    authorisation filter (every staff page does)."""
    return partner_regions_for([region], on, user)[region.pk]


def partner_regions_for(regions, on=None, user=None):
    """{region pk: partner_regions_of(region)} for several regions (a staff member's jurisdictions): the
    agreements, ancestors, liaisons and the user's liaison filter are read once, not per region."""
    on = on or timezone.localdate()
    regions = list(regions)
    agreements = _valid_agreements(on)
    ancestors = regions_on_paths(regions + [r for a in agreements for r in (a.party_a, a.party_b)])
    found = {region.pk: _agreement_partners(agreements, region, ancestors) for region in regions}
    every = [row for rows in found.values() for row in rows]
    if not every:
        return {pk: [] for pk in found}
    liaisons = Liaison.objects.select_related("region").order_by("region__code", "name")
    if user is not None:
        liaisons = filter_queryset(liaisons, user)
    by_agreement = {}
    for liaison in liaisons.filter(agreement_id__in={a.pk for a, *_ in every}):
        by_agreement.setdefault(liaison.agreement_id, []).append(liaison)
    area_q = Q(pk__in=[])
    for path in {area.path for *_, area in every}:
        area_q |= Q(region__path__startswith=path)
    standing = list(liaisons.filter(area_q, agreement__isnull=True))
    out = {}
    for pk, rows in found.items():
        out[pk] = sorted(
            (
                {
                    "region": area,
                    "region_name": full_name(area, ancestors),
                    "signed_by": partner,
                    "our_party": ours,
                    "shared": area.pk != partner.pk,
                    "agreement": a,
                    "basis": agreement_basis(a),
                    "liaisons": by_agreement.get(a.pk, []),
                    "standing_liaisons": [s for s in standing if s.region.is_within(area)],
                }
                for a, ours, partner, area in rows
            ),
            key=lambda row: (row["region"].code, row["agreement"].pk),
        )
    return out


def regional_partners_of(region):
    """Regional (区域通办) partner sets touching `region`: regions named as partners by implementations
    inside it, and places whose implementations name `region` (or an ancestor) as a partner."""
    from tongban.catalog.models import Implementation

    through = Implementation.partner_regions.through
    ours = (
        through.objects.filter(implementation__region__path__startswith=region.path, implementation__is_active=True)
        .values("region_id").annotate(n=Count("implementation_id", distinct=True))
    )
    theirs = (
        through.objects.filter(region__path__in=ancestor_paths(region), implementation__is_active=True)
        .exclude(implementation__region__path__startswith=region.path)
        .values("implementation__region_id").annotate(n=Count("implementation_id", distinct=True))
    )
    counts = {}
    for row in ours:
        counts[row["region_id"]] = counts.get(row["region_id"], 0) + row["n"]
    for row in theirs:
        counts[row["implementation__region_id"]] = counts.get(row["implementation__region_id"], 0) + row["n"]
    regions = list(Region.objects.filter(pk__in=counts))
    ancestors = regions_on_paths(regions)
    return [
        {"region": r, "region_name": full_name(r, ancestors), "implementations": counts[r.pk]}
        for r in sorted(regions, key=lambda r: r.code)
    ]
