"""Bundle versions: draft → published → retired, mirroring catalog.versioning. One published version
per bundle; a published version is never rewritten (a change is a new draft copied from it).

Every change is authorised (catalog/platform administrators of the bundle's region), audited, done in
one transaction, and ends with `merging.recompute` stored on the version, so the merged form, merged
materials, order of work and the conflicts always match the entries. The cooperating departments are
kept as the entries' departments other than the lead.
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tongban.catalog.models import Implementation
from tongban.core import audit
from tongban.core.authz import ensure_can, ensure_can_change
from tongban.core.errors import Conflict, DomainError, validate

from . import merging
from .models import STAGES, Bundle, BundleEntry, BundleVersion, MarketService

# What an administrator edits on a version (the rest is computed or bookkeeping).
VERSION_FIELDS = [
    "name", "description", "conditions", "lead_department", "order", "refusal_policy", "promised_limit_days",
    "delivery_methods", "combined_permit_name", "deferrable_materials",
]
COMPUTED_FIELDS = ["form_fields", "field_map", "material_groups", "merge_problems", "bpmn_xml"]
MAX_ENTRIES = 30


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _check_stage(theme, stage):
    allowed = dict(STAGES.get(theme, []))
    if stage not in allowed:
        names = "、".join(label for _, label in STAGES.get(theme, []))
        raise DomainError(f"生命周期阶段与主题不符，应为：{names}" if names else "主题无效")


@transaction.atomic
def create_bundle(actor, region, code, name, theme, stage, batch=""):
    """A new 一件事 of `region` (its versions are created with `create_draft`)."""
    _check_stage(theme, stage)
    bundle = Bundle(code=(code or "").strip(), name=(name or "").strip(), theme=theme, stage=stage, region=region, batch=batch or "")
    ensure_can(actor, bundle, message="您没有权限在该区划发布一件事")
    validate(bundle)
    bundle.save()
    audit.record(actor, "bundle.create", bundle, f"新建一件事：{bundle.name}（{bundle.code}）")
    return bundle


@transaction.atomic
def update_bundle(actor, bundle, **fields):
    """Name, theme, stage or batch of a bundle (the code identifies it everywhere and never changes)."""
    bundle = Bundle.objects.select_for_update().get(pk=bundle.pk)
    for name, value in fields.items():
        if name not in ("name", "theme", "stage", "batch"):
            raise DomainError(f"不能修改一件事的该项信息：{name}")
        setattr(bundle, name, value)
    _check_stage(bundle.theme, bundle.stage)
    ensure_can_change(actor, bundle)
    validate(bundle)
    bundle.save()
    audit.record(actor, "bundle.update", bundle, f"修改一件事：{bundle.name}（{bundle.code}）")
    return bundle


def _apply(version, fields):
    for name, value in fields.items():
        if name not in VERSION_FIELDS:
            raise DomainError(f"未知的一件事字段：{name}")
        setattr(version, name, value)
    if version.deferrable_materials is None:
        version.deferrable_materials = []
    if not isinstance(version.deferrable_materials, list) or not all(isinstance(n, str) and n.strip() for n in version.deferrable_materials):
        raise DomainError("可容缺材料应为材料名称的列表")
    version.deferrable_materials = list(dict.fromkeys(n.strip() for n in version.deferrable_materials))


def _refresh(version):
    """Recompute the merge, store it and keep the cooperating departments (inside the caller's transaction)."""
    problems = merging.recompute(version)
    version.save(update_fields=COMPUTED_FIELDS)
    departments = set(version.entries.values_list("implementation__department_id", flat=True))
    departments.discard(version.lead_department_id)
    version.cooperating_departments.set(sorted(departments))
    return problems


def _locked(version):
    return BundleVersion.objects.select_for_update().select_related("bundle__region").get(pk=version.pk)


def _locked_draft(actor, version):
    version = _locked(version)
    if version.status != BundleVersion.DRAFT:
        raise Conflict("已发布或已废止的一件事版本不能直接修改，请新建草稿")
    ensure_can_change(actor, version)
    return version


@transaction.atomic
def create_draft(actor, bundle, based_on=None, change_note="", **fields):
    """A new draft: a copy of `based_on` (default: the published version) — its guide fields, entries
    and market services — with `fields` applied."""
    bundle = Bundle.objects.select_for_update().select_related("region").get(pk=bundle.pk)
    source = based_on or bundle.versions.filter(status=BundleVersion.PUBLISHED).first()
    if source is not None and source.bundle_id != bundle.pk:
        raise DomainError("基于的版本不属于该一件事")
    number = (bundle.versions.aggregate(m=Max("version_no"))["m"] or 0) + 1
    draft = BundleVersion(bundle=bundle, version_no=number, created_by=_user(actor), change_note=change_note or "")
    if source is not None:
        for name in VERSION_FIELDS:
            value = getattr(source, name)
            setattr(draft, name, list(value) if isinstance(value, list) else value)
    _apply(draft, fields)
    if not draft.name:
        draft.name = bundle.name
    ensure_can(actor, draft, message="您没有权限修改该区划的一件事")
    validate(draft, exclude=["bundle"])
    draft.save()
    if source is not None:
        BundleEntry.objects.bulk_create(
            [BundleEntry(version=draft, seq=e.seq, stage=e.stage, implementation_id=e.implementation_id) for e in source.entries.all()]
        )
        MarketService.objects.bulk_create(
            [MarketService(version=draft, seq=s.seq, name=s.name, provider=s.provider, description=s.description) for s in source.market_services.all()]
        )
    _refresh(draft)
    audit.record(actor, "bundle_version.draft", draft, f"{bundle.name} 新建草稿 v{draft.version_no}")
    return draft


@transaction.atomic
def update_draft(actor, version, **fields):
    version = _locked_draft(actor, version)
    _apply(version, fields)
    ensure_can_change(actor, version)
    validate(version)
    version.save()
    _refresh(version)
    audit.record(actor, "bundle_version.update", version, f"{version.name} 修改草稿 v{version.version_no}")
    return version


@transaction.atomic
def edit(actor, version, change_note="", **fields):
    """Edit a bundle: a draft changes in place; a published version gets a new draft based on it
    (one open draft per published version). Returns the version that holds the edit."""
    version = _locked(version)
    if version.status == BundleVersion.DRAFT:
        return update_draft(actor, version, **fields)
    if version.status == BundleVersion.PUBLISHED:
        pending = version.bundle.versions.filter(status=BundleVersion.DRAFT, version_no__gt=version.version_no).order_by("-version_no").first()
        if pending is not None:
            return update_draft(actor, pending, **fields)
        return create_draft(actor, version.bundle, based_on=version, change_note=change_note, **fields)
    raise Conflict("已废止的一件事版本不能修改；请基于已发布版本新建草稿")


def _stage(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
        raise DomainError("办理阶段应为1到20之间的整数")
    return value


@transaction.atomic
def set_entries(actor, version, entries):
    """Replace the items of a draft. `entries`: [{"implementation": Implementation, "stage": int}] in
    order. Each implementation in use, within the bundle's region and included once; the lead
    department must implement one of them."""
    version = _locked_draft(actor, version)
    if not isinstance(entries, (list, tuple)) or not entries:
        raise DomainError("一件事至少应包含一个事项")
    if len(entries) > MAX_ENTRIES:
        raise DomainError(f"一件事包含的事项不能超过{MAX_ENTRIES}个")
    region = version.bundle.region
    rows, seen = [], set()
    for seq, entry in enumerate(entries, 1):
        impl = entry.get("implementation") if isinstance(entry, dict) else None
        if not isinstance(impl, Implementation) or impl.pk is None:
            raise DomainError(f"第{seq}个事项无效")
        impl = Implementation.objects.select_related("item", "region", "department").get(pk=impl.pk)
        if not impl.is_active:
            raise DomainError(f"《{impl.item.name}》（{impl.implementation_code}）的实施清单已停用，不能纳入一件事")
        if not impl.region.is_within(region):
            raise DomainError(f"《{impl.item.name}》（{impl.region.name}）不在本一件事的发布区划{region.name}内")
        if impl.pk in seen:
            raise DomainError(f"《{impl.item.name}》重复纳入，同一实施清单只能纳入一次")
        seen.add(impl.pk)
        rows.append(BundleEntry(version=version, seq=seq, stage=_stage(entry.get("stage", 1)), implementation=impl))
    if version.lead_department_id not in {r.implementation.department_id for r in rows}:
        raise DomainError(f"牵头部门{version.lead_department.name}应为本一件事所含事项的实施部门之一")
    version.entries.all().delete()
    BundleEntry.objects.bulk_create(rows)
    _refresh(version)
    names = "、".join(r.implementation.item.name for r in rows)
    audit.record(actor, "bundle_version.entries", version, f"{version.name} v{version.version_no} 包含事项：{names}")
    return list(version.entries.select_related("implementation__item", "implementation__department"))


@transaction.atomic
def add_market_service(actor, version, name, provider, description=""):
    """一类事: an optional market service offered with the bundle."""
    version = _locked_draft(actor, version)
    service = MarketService(version=version, name=(name or "").strip(), provider=(provider or "").strip(), description=(description or "").strip())
    return _save_service(actor, version, service)


@transaction.atomic
def save_market_service(actor, service):
    """Create or change a market service row of a draft (the admin inline)."""
    version = _locked_draft(actor, service.version)
    if service.pk is not None and not MarketService.objects.filter(pk=service.pk, version=version).exists():
        raise DomainError("该增值服务不属于这个版本")
    return _save_service(actor, version, service)


def _save_service(actor, version, service):
    service.version = version
    if service.seq is None:
        service.seq = (version.market_services.aggregate(m=Max("seq"))["m"] or 0) + 1
    validate(service)
    service.save()
    audit.record(actor, "bundle_version.market_service", version, f"{version.name} v{version.version_no} 增值服务：{service.name}")
    return service


@transaction.atomic
def delete_market_service(actor, service):
    version = _locked_draft(actor, service.version)
    audit.record(actor, "bundle_version.market_service_delete", version, f"{version.name} v{version.version_no} 删除增值服务：{service.name}")
    MarketService.objects.filter(pk=service.pk, version=version).delete()


def problems_text(problems):
    return "；".join(f"{n}. {p}" for n, p in enumerate(problems, 1))


@transaction.atomic
def publish(actor, version):
    """Publish a draft once its merge has no problems; the previously published version is retired in
    the same transaction. The merge is recomputed first: an item's guide may have changed since."""
    bundle = Bundle.objects.select_for_update().get(pk=version.bundle_id)
    version = _locked(version)
    if version.status != BundleVersion.DRAFT:
        raise Conflict("只有草稿可以发布")
    ensure_can_change(actor, version)
    validate(version)
    problems = merging.recompute(version)
    if problems:
        raise DomainError(f"一件事存在以下问题，请先处理后再发布：{problems_text(problems)}", details={"problems": problems})
    now = timezone.now()
    BundleVersion.objects.filter(bundle=bundle, status=BundleVersion.PUBLISHED).update(status=BundleVersion.RETIRED, retired_at=now)
    version.status, version.published_at = BundleVersion.PUBLISHED, now
    version.save(update_fields=["status", "published_at", *COMPUTED_FIELDS])
    if bundle.name != version.name:
        bundle.name = version.name
        bundle.save(update_fields=["name"])
    audit.record(actor, "bundle_version.publish", version, f"{version.name} 发布 v{version.version_no}")
    return version


@transaction.atomic
def retire(actor, version):
    version = _locked(version)
    if version.status != BundleVersion.PUBLISHED:
        raise Conflict("只有已发布的一件事版本可以废止")
    ensure_can_change(actor, version)
    version.status, version.retired_at = BundleVersion.RETIRED, timezone.now()
    version.save(update_fields=["status", "retired_at"])
    audit.record(actor, "bundle_version.retire", version, f"{version.name} 废止 v{version.version_no}")
    return version
