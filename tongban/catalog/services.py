"""Facade of the catalogue: every entry point (admin, API, pages, imports) goes through here."""

from django.db import transaction

from tongban.core import audit
from tongban.core.authz import ensure_can, ensure_can_change
from tongban.core.errors import validate

from .lists import create_list, delete_entry, delete_list, save_entry, save_list
from .models import Implementation, Item
from .versioning import create_draft, delete_material, edit, publish, retire, save_definition, save_material, update_draft

__all__ = [
    "create_item", "save_item", "save_implementation", "create_draft", "update_draft", "edit", "publish", "retire",
    "save_material", "save_definition", "delete_material", "create_list", "save_list", "delete_list", "save_entry", "delete_entry",
]


@transaction.atomic
def create_item(actor, *, basic_code, name, item_type, region, competent_authority="", category=""):
    item = Item(basic_code=(basic_code or "").strip().upper(), name=name.strip(), item_type=item_type, region=region,
                competent_authority=competent_authority, category=category)
    ensure_can(actor, item)
    validate(item)
    item.save()
    audit.record(actor, "item.create", item, f"新建事项 {item.name}（{item.basic_code}）")
    return item


@transaction.atomic
def save_item(actor, item):
    ensure_can_change(actor, item)
    validate(item)
    item.save()
    audit.record(actor, "item.update", item, f"修改事项 {item.name}")
    return item


@transaction.atomic
def save_implementation(actor, impl, partner_regions=None, halls=None):
    """Create or change an implementation: the stored and the new state must both be in the actor's
    region (and department); the 实施编码 must agree with department, level and item."""
    if impl.implementation_code:
        impl.implementation_code = impl.implementation_code.strip().upper()
    if impl.pk is None:
        ensure_can(actor, impl)
    else:
        Implementation.objects.select_for_update().filter(pk=impl.pk).first()
        ensure_can_change(actor, impl)
    validate(impl)
    created = impl.pk is None
    impl.save()
    if partner_regions is not None:
        impl.partner_regions.set(partner_regions)
    if halls is not None:
        impl.halls.set(halls)
    audit.record(actor, "implementation.create" if created else "implementation.update", impl, f"{impl.implementation_code}")
    return impl


@transaction.atomic
def save_joint_partner(actor, partner):
    """多地联办: which department of another place handles a review step of the implementation. Changing it
    is changing the implementation (its region and department decide who may)."""
    impl = Implementation.objects.select_for_update().get(pk=partner.implementation_id)
    ensure_can_change(actor, impl)
    partner.step_name = (partner.step_name or "").strip()
    validate(partner)
    created = partner.pk is None
    partner.save()
    audit.record(actor, "joint_partner.create" if created else "joint_partner.update", impl,
                 f"{impl.implementation_code} 联办环节“{partner.step_name}”：{partner.department}")
    return partner


@transaction.atomic
def delete_joint_partner(actor, partner):
    impl = Implementation.objects.select_for_update().get(pk=partner.implementation_id)
    ensure_can_change(actor, impl)
    audit.record(actor, "joint_partner.delete", impl, f"{impl.implementation_code} 删除联办环节“{partner.step_name}”")
    partner.delete()
