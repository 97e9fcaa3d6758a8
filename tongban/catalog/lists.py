"""通办 lists and their entries: the save and delete functions every entry point uses."""

from django.db import transaction

from tongban.core import audit
from tongban.core.authz import WRITE, PermissionDenied, ensure_can_change, filter_queryset
from tongban.directory.services import save_scoped

from .models import ListEntry, TongbanList

# What a person edits on an entry (admin inline, import updates); the rest is derived.
ENTRY_FIELDS = [
    "seq",
    "item_name",
    "item",
    "responsible_department",
    "responsible_department_name",
    "modes",
    "batch",
    "deadline",
    "status",
    "note",
]


@transaction.atomic
def save_list(actor, tongban_list, partner_regions=None):
    if tongban_list.pk is not None:
        TongbanList.objects.select_for_update().filter(pk=tongban_list.pk).first()
    save_scoped(actor, tongban_list, "tongban_list.create" if tongban_list.pk is None else "tongban_list.update")
    if partner_regions is not None:
        tongban_list.partner_regions.set(partner_regions)
    return tongban_list


def create_list(actor, *, name, scope, region, partner_regions=(), document_no="", issued_on=None, description=""):
    tongban_list = TongbanList(
        name=(name or "").strip(),
        scope=scope,
        region=region,
        document_no=document_no or "",
        issued_on=issued_on,
        description=description or "",
    )
    return save_list(actor, tongban_list, list(partner_regions))


@transaction.atomic
def delete_list(actor, tongban_list):
    ensure_can_change(actor, tongban_list, "您没有权限删除该清单")
    if tongban_list.entries.exclude(pk__in=filter_queryset(ListEntry.objects.all(), actor, WRITE).values("pk")).exists():
        raise PermissionDenied("清单中有您无权维护的条目，不能删除整个清单")
    audit.record(actor, "tongban_list.delete", tongban_list, f"删除清单“{tongban_list.name}”（{tongban_list.entries.count()}条）")
    tongban_list.delete()


@transaction.atomic
def save_entry(actor, entry):
    if not entry.responsible_department_name and entry.responsible_department_id:
        entry.responsible_department_name = entry.responsible_department.name
    return save_scoped(actor, entry, "list_entry.create" if entry.pk is None else "list_entry.update")


@transaction.atomic
def delete_entry(actor, entry):
    ensure_can_change(actor, entry, "您没有权限删除该清单条目")
    audit.record(actor, "list_entry.delete", entry, f"删除清单条目“{entry.item_name}”")
    entry.delete()
