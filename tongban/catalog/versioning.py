"""Item versions: draft → published → retired. One published version per item; editing a published
version means a new draft copied from it; history is never rewritten."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tongban.core import audit
from tongban.core.authz import ensure_can_change
from tongban.core.errors import Conflict, DomainError, validate

from .models import ApplicationForm, Item, ItemVersion, Material, ReviewProcess

GUIDE_FIELDS = [
    f.name for f in ItemVersion._meta.get_fields()
    if getattr(f, "concrete", False) and not f.auto_created
    and f.name not in {"id", "item", "version_no", "status", "based_on", "change_note", "created_by", "created_at", "published_at", "retired_at"}
]
MATERIAL_FIELDS = [f.name for f in Material._meta.get_fields() if getattr(f, "concrete", False) and f.name not in {"id", "version"}]


def _next_no(item):
    return (item.versions.aggregate(m=Max("version_no"))["m"] or 0) + 1


@transaction.atomic
def create_draft(actor, item, based_on=None, change_note="", **guide):
    """A new draft: a copy of `based_on` (default: the published version) with `guide` applied."""
    item = Item.objects.select_for_update().get(pk=item.pk)
    source = based_on or item.versions.filter(status=ItemVersion.PUBLISHED).first()
    if source is not None and source.item_id != item.pk:
        raise DomainError("基于的版本不属于该事项")
    draft = ItemVersion(item=item, version_no=_next_no(item), based_on=source, created_by=actor if getattr(actor, "is_authenticated", False) else None, change_note=change_note)
    if source is not None:
        for name in GUIDE_FIELDS:
            setattr(draft, name, getattr(source, name))
    for name, value in guide.items():
        if name not in GUIDE_FIELDS:
            raise DomainError(f"未知的办事指南字段：{name}")
        setattr(draft, name, value)
    if not draft.name:
        draft.name = item.name
    ensure_can_change(actor, draft)
    validate(draft, exclude=["item"])
    draft.save()
    if source is not None:
        Material.objects.bulk_create([Material(version=draft, **{f: getattr(m, f) for f in MATERIAL_FIELDS}) for m in source.materials.all()])
        # The application form and review process are versioned with the guide: the draft starts from copies.
        form = ApplicationForm.objects.filter(version=source).first()
        if form is not None:
            ApplicationForm.objects.create(version=draft, fields=form.fields)
        process = ReviewProcess.objects.filter(version=source).first()
        if process is not None:
            ReviewProcess.objects.create(version=draft, source=process.source, steps=process.steps, bpmn_xml=process.bpmn_xml)
    audit.record(actor, "item_version.draft", draft, f"{item.name} 新建草稿 v{draft.version_no}")
    return draft


def _locked_version(version):
    return ItemVersion.objects.select_for_update().select_related("item").get(pk=version.pk)


@transaction.atomic
def update_draft(actor, version, **guide):
    version = _locked_version(version)
    if version.status != ItemVersion.DRAFT:
        raise Conflict("已发布或已废止的版本不能直接修改，请新建草稿")
    for name, value in guide.items():
        if name not in GUIDE_FIELDS:
            raise DomainError(f"未知的办事指南字段：{name}")
        setattr(version, name, value)
    ensure_can_change(actor, version)
    validate(version)
    version.save()
    audit.record(actor, "item_version.update", version, f"{version.name} 修改草稿 v{version.version_no}")
    return version


@transaction.atomic
def edit(actor, version, change_note="", **guide):
    """Edit a guide: a draft changes in place; a published version is never rewritten — the edit becomes
    a new draft based on it (history kept, the published text stays online until the draft is published).
    Returns the version that holds the edit."""
    version = _locked_version(version)
    if version.status == ItemVersion.DRAFT:
        if change_note:
            version.change_note = change_note
        return update_draft(actor, version, **guide)
    if version.status == ItemVersion.PUBLISHED:
        pending = version.item.versions.filter(status=ItemVersion.DRAFT, based_on=version).order_by("-version_no").first()
        if pending is not None:  # one open draft per published version: keep editing it
            if change_note:
                pending.change_note = change_note
            return update_draft(actor, pending, **guide)
        return create_draft(actor, version.item, based_on=version, change_note=change_note, **guide)
    raise Conflict("已废止的版本不能修改；请基于已发布版本新建草稿")


@transaction.atomic
def publish(actor, version):
    """Publish a draft; the previously published version is retired in the same transaction."""
    Item.objects.select_for_update().get(pk=version.item_id)
    version = _locked_version(version)
    if version.status != ItemVersion.DRAFT:
        raise Conflict("只有草稿可以发布")
    ensure_can_change(actor, version)
    validate(version)
    if not version.materials.exists():
        raise DomainError("发布前请至少录入一项申请材料（无需材料的事项请录入“无需提交材料”说明项）")
    now = timezone.now()
    ItemVersion.objects.filter(item_id=version.item_id, status=ItemVersion.PUBLISHED).update(status=ItemVersion.RETIRED, retired_at=now)
    version.status, version.published_at = ItemVersion.PUBLISHED, now
    version.save(update_fields=["status", "published_at"])
    item = version.item
    if item.name != version.name:
        item.name = version.name
        item.save()
    audit.record(actor, "item_version.publish", version, f"{version.name} 发布 v{version.version_no}")
    return version


@transaction.atomic
def retire(actor, version):
    version = _locked_version(version)
    if version.status != ItemVersion.PUBLISHED:
        raise Conflict("只有已发布的版本可以废止")
    ensure_can_change(actor, version)
    version.status, version.retired_at = ItemVersion.RETIRED, timezone.now()
    version.save(update_fields=["status", "retired_at"])
    audit.record(actor, "item_version.retire", version, f"{version.name} 废止 v{version.version_no}")
    return version


@transaction.atomic
def save_material(actor, material):
    version = _locked_version(material.version)
    if version.status != ItemVersion.DRAFT:
        raise Conflict("只能修改草稿版本的申请材料，请先新建草稿")
    ensure_can_change(actor, version)
    if material.seq is None:
        material.seq = (version.materials.aggregate(m=Max("seq"))["m"] or 0) + 1
    validate(material)
    material.save()
    audit.record(actor, "material.save", material, f"{version.name} v{version.version_no} 材料：{material.name}")
    return material


@transaction.atomic
def save_definition(actor, definition):
    """The application form or review process of a draft version (draft-only, authorised, validated
    — which generates the BPMN from the steps — and audited)."""
    version = _locked_version(definition.version)
    if version.status != ItemVersion.DRAFT:
        raise Conflict("只能修改草稿版本的申请表单和审查流程，请先新建草稿")
    ensure_can_change(actor, version)
    validate(definition)
    definition.save()
    audit.record(actor, f"{definition._meta.model_name}.save", definition, f"{version.name} v{version.version_no} {definition._meta.verbose_name}")
    return definition


@transaction.atomic
def delete_material(actor, material):
    version = _locked_version(material.version)
    if version.status != ItemVersion.DRAFT:
        raise Conflict("只能修改草稿版本的申请材料，请先新建草稿")
    ensure_can_change(actor, version)
    audit.record(actor, "material.delete", material, f"{version.name} v{version.version_no} 删除材料：{material.name}")
    material.delete()
