"""Applying for a bundle (一件事): one form, one set of materials, one submission.

`apply` creates the parent BundleCase and one child `Case` per included item in ONE transaction: the
merged form is validated once, uploads are read and checked before anything is written and stored
once however many departments need them, and a failure on any child leaves nothing behind. Each
child receives its own item's fields (`merging.split_form`) and the materials its item lists.
"""

import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.applicants.services import identity_values as _applicant_values
from tongban.cases import events as case_events
from tongban.cases import handling, paperwork
from tongban.cases.intake import clean_fields, new_case
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial, Supplement
from tongban.cases.models import Status as S
from tongban.cases.numbering import next_case_no
from tongban.catalog.models import ItemVersion, Material
from tongban.core import authz
from tongban.core.errors import Conflict, DomainError
from tongban.core.files import read_upload, store_many

from . import events, merging
from .events import Actor
from .models import Bundle, BundleCase, BundleStatus, BundleVersion

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Prior applications read to prefill the form (一次提交、多次复用): enough for reuse, bounded for speed.
PREFILL_CASES = 30


# --- reading ----------------------------------------------------------------------------------

def published(code):
    """(Bundle, its published BundleVersion); DomainError 404 when there is none."""
    code = str(code or "").strip()[:40]
    bundle = Bundle.objects.select_related("region").filter(code=code).first() if code and "\x00" not in code else None
    version = None
    if bundle is not None:
        version = (BundleVersion.objects.select_related("lead_department__region", "bundle__region")
                   .filter(bundle=bundle, status=BundleVersion.PUBLISHED).first())
    if version is None:
        raise DomainError(f"未找到编码为“{code}”的一件事，或该一件事尚未发布", status=404)
    return bundle, version


def _meanings(fields):
    """{field key: canonical meaning} of a form definition (fields without one are left out)."""
    out = {}
    for f in fields or []:
        meaning = merging.meaning_of(f)
        if meaning and f.get("type") != "file":
            out[f["key"]] = meaning
    return out


def prefill(applicant, version):
    """{merged key: value} for the application form of `version`: identity from the applicant record,
    other fields from this applicant's most recent earlier bundle cases and cases, mapped by the
    fields' canonical meaning (and an item's own fields from earlier cases of the same item). Only
    this applicant's own records are read."""
    by_meaning, by_item_field = {}, {}
    earlier_bundles = (BundleCase.objects.filter(applicant=applicant).exclude(status=BundleStatus.DRAFT)
                       .select_related("bundle_version").order_by("-id")[:PREFILL_CASES])
    earlier_cases = (Case.objects.filter(applicant=applicant).exclude(status=S.DRAFT)
                     .select_related("item_version__application_form").order_by("-id")[:PREFILL_CASES])
    # Newest first; setdefault keeps the most recent value of each meaning.
    for bc in earlier_bundles:
        for key, meaning in _meanings(bc.bundle_version.form_fields).items():
            if bc.form_data.get(key) not in (None, ""):
                by_meaning.setdefault(meaning, bc.form_data[key])
    for case in earlier_cases:
        form = getattr(case.item_version, "application_form", None)
        fields = form.fields if form is not None else []
        meanings = _meanings(fields)
        for f in fields:
            value = case.form_data.get(f["key"])
            if value in (None, "") or f.get("type") == "file":
                continue
            if f["key"] in meanings:
                by_meaning.setdefault(meanings[f["key"]], value)
            by_item_field.setdefault((case.item_version.item_id, f["key"]), value)
    by_meaning.update(_applicant_values(applicant))
    out = {}
    entry_items = {e.key: e.implementation.item_id for e in version.entries.select_related("implementation")}
    for f in version.form_fields:
        if f.get("type") == "file":
            continue
        meaning = f.get("meaning") or ""
        if meaning and meaning in by_meaning:
            out[f["key"]] = by_meaning[meaning]
            continue
        for entry_key, mapping in version.field_map.items():
            item_key = next((k for k, v in mapping.items() if v == f["key"]), None)
            value = by_item_field.get((entry_items.get(entry_key), item_key)) if item_key else None
            if value not in (None, ""):
                out[f["key"]] = value
                break
    return out


# --- applying ---------------------------------------------------------------------------------

def clean_merged_form(version, data, files=None, partial=False):
    """The merged form's values validated like `cases.intake.clean_form` (partial: a draft)."""
    if not isinstance(data, dict):
        raise DomainError("申请表应为对象（字段标识 → 值）", status=422)
    fields = merging.validation_fields(version)
    unknown = sorted(set(data) - {f["key"] for f in fields})
    if unknown:
        raise DomainError(f"申请表中没有这些字段：{'、'.join(unknown[:10])}", status=422)
    return clean_fields(fields, data, files, partial)


def _check_token(token):
    if token is None or token == "":
        return None
    if not isinstance(token, str) or len(token) > 64 or _CONTROL.search(token):
        raise DomainError("提交令牌应为不超过64个字符的文字（不含控制字符）", status=422)
    return token


def by_token(applicant, token):
    """The bundle case already submitted with `token` by this applicant (None when there is none);
    a token another applicant used is a conflict, never their case."""
    if not token:
        return None
    found = BundleCase.objects.filter(submit_token=token).first()
    if found is not None and found.applicant_id != applicant.pk:
        raise Conflict("该提交令牌已被使用，请刷新页面后重新提交")
    return found


def _submitter(user, applicant, parent):
    """Who submits: the applicant themselves, or a clerk of the lead department's place (窗口申请)."""
    if applicant.user_id == getattr(user, "pk", None):
        return Actor(user=user, name=applicant.name, role="applicant")
    actor = lead_actor(user, parent, roles=("clerk",))
    if actor is None:
        raise authz.PermissionDenied("只有申请人本人或牵头部门的窗口人员可以提交该一件事申请")
    return actor


def lead_actor(user, parent, roles=("clerk",)):
    """The record's Actor of `user` acting for the lead department's place of `parent` in one of
    `roles`, or None when no active membership covers it."""
    from tongban.directory.models import Membership

    if not getattr(user, "is_authenticated", False):
        return None
    memberships = Membership.objects.filter(user_id=user.pk, is_active=True, role__in=roles).select_related("region", "window__hall")
    for m in memberships:
        if parent.lead_region_path.startswith(m.region.path) and m.department_id in (None, parent.lead_department_id):
            window = f"{m.window.hall.name} {m.window.number}号窗口" if m.window_id else ""
            return Actor(user=user, name=user.get_full_name() or user.username, role=m.role, department_name=parent.lead_department.name,
                         department_code=parent.lead_department.credit_code, region_code=m.region.code, window_name=window)
    return None


def _groups(version):
    return {g["key"]: g for g in version.material_groups}


def _checked_uploads(version, materials):
    """[(group, upload, bytes, content type)] after reading and checking every upload (nothing stored)."""
    if materials is None:
        return []
    if not isinstance(materials, dict):
        raise DomainError("申请材料应按材料组提交（material_g1、material_g2 …）", status=422)
    groups, checked = _groups(version), []
    for key, upload in materials.items():
        group = groups.get(str(key))
        if group is None:
            raise DomainError(f"本一件事没有编号为“{str(key)[:20]}”的材料", status=422)
        data, kind = read_upload(upload)
        checked.append((group, upload, data, kind))
    return checked


def _commitment_groups(version, commitments, uploaded_keys):
    if not commitments:
        return []
    if not isinstance(commitments, list) or not all(isinstance(k, str) for k in commitments):
        raise DomainError("容缺承诺应为材料编号列表（如 [\"g2\"]）", status=422)
    groups, out = _groups(version), []
    for key in dict.fromkeys(commitments):
        group = groups.get(key)
        if group is None:
            raise DomainError(f"本一件事没有编号为“{key[:20]}”的材料", status=422)
        if not group.get("deferrable"):
            raise DomainError(f"“{group['name']}”不属于可容缺的材料，不能以告知承诺代替", status=422)
        if key in uploaded_keys:
            raise DomainError(f"“{group['name']}”已上传，无需再签署告知承诺", status=422)
        out.append(group)
    return out


def commitment_text(name):
    return (f"本人（单位）承诺在受理后{settings.TONGBAN_DEFERRED_DAYS}个工作日内补交“{name}”，并对所作承诺的真实性负责；"
            "逾期未补交的，愿意承担相应后果。")


def _market_requests(version, ids):
    if not ids:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise DomainError("增值服务应为服务编号列表", status=422)
    services = {s.pk: s for s in version.market_services.filter(pk__in=ids)}
    if len(services) != len(set(ids)):
        raise DomainError("所选增值服务不在本一件事提供的服务中", status=422)
    return [{"service_id": s.pk, "name": s.name, "provider": s.provider, "status": "requested", "note": ""}
            for s in sorted(services.values(), key=lambda s: s.seq)]


def _delivery(version, method, address):
    allowed = version.get_delivery_methods_names() or ["mail"]
    method = method or allowed[0]
    if method not in allowed:
        from tongban.cases.models import DeliveryMethod

        labels = "、".join(DeliveryMethod(m).label for m in allowed if m in DeliveryMethod.values)
        raise DomainError(f"该一件事可选的送达方式为：{labels}", status=422)
    address = (address or "").strip() if isinstance(address, str) else ""
    if len(address) > 300 or "\x00" in address:
        raise DomainError("送达地址不能超过300个字符", status=422)
    return method, address


def _entries(version):
    """[(entry, implementation, published item version)] of the bundle version, in order."""
    entries = list(version.entries.select_related("implementation__item", "implementation__region", "implementation__department").order_by("seq"))
    item_ids = [e.implementation.item_id for e in entries]
    published_versions = {v.item_id: v for v in ItemVersion.objects.filter(item_id__in=item_ids, status=ItemVersion.PUBLISHED)
                          .select_related("application_form", "item")}
    materials = {}
    for m in Material.objects.filter(version__in=published_versions.values()).order_by("seq"):
        materials.setdefault(m.version_id, []).append(m)
    out = []
    for e in entries:
        impl = e.implementation
        iv = published_versions.get(impl.item_id)
        if iv is None or not impl.is_active:
            raise DomainError(f"《{impl.item.name}》暂不能办理（办事指南未发布或实施清单已停用），该一件事暂不能申请", status=422)
        iv.bundle_materials = materials.get(iv.pk, [])
        out.append((e, impl, iv))
    return out


def apply(applicant, user, code, form, files=None, materials=None, delivery_method=None, delivery_address="",
          commitments=None, market_services=None, submit_now=False, token=None, channel="online"):
    """Apply for the bundle `code` (its published version) as `applicant`; `user` is the applicant's
    account or a clerk of the lead department's window (channel "window"). `materials`: {group key:
    upload}; `commitments`: [deferrable group key] signed under 告知承诺; `market_services`:
    [MarketService id]. With `submit_now` the application is checked complete, numbered and submitted
    (each child gets its receipt and event); otherwise a draft is kept. One transaction; the same
    `token` again returns the bundle case it created."""
    token = _check_token(token)
    existing = by_token(applicant, token)
    if existing is not None:
        return existing
    if channel not in ("online", "window"):
        raise DomainError("申请渠道应为 online（网上申请）或 window（窗口申请）", status=422)
    try:
        with transaction.atomic():
            return _apply(applicant, user, code, form, files, materials, delivery_method, delivery_address, commitments,
                          market_services, submit_now, token, channel)
    except IntegrityError:
        # The same token submitted concurrently: the other request committed first.
        existing = by_token(applicant, token)
        if existing is None:
            raise
        return existing


def _apply(applicant, user, code, form, files, materials, delivery_method, delivery_address, commitments, market_services,
           submit_now, token, channel):
    _bundle, version = published(code)
    if version.merge_problems:
        raise DomainError("该一件事的申请表或材料存在未解决的冲突，暂不能申请，请联系牵头部门", status=422)
    method, address = _delivery(version, delivery_method, delivery_address)
    checked = _checked_uploads(version, materials)  # read and checked before anything is written
    uploaded = {g["key"] for g, *_ in checked}
    committed = _commitment_groups(version, commitments, uploaded)
    requests = _market_requests(version, market_services)
    entries = _entries(version)
    clean = clean_merged_form(version, form if form is not None else {}, files, partial=not submit_now)
    lead = version.lead_department
    now = timezone.now()
    parent = BundleCase(
        channel=channel, bundle_version=version, applicant=applicant, applicant_name=applicant.name[:200],
        applicant_code=applicant.code, contact_phone=applicant.phone, lead_region=lead.region, lead_region_path=lead.region.path,
        lead_department=lead, form_data=clean, delivery_method=method, delivery_address=address,
        refusal_policy=version.refusal_policy, promised_days=version.promised_limit_days, market_requests=requests,
        commitments=[{"group": g["key"], "name": g["name"], "signed_by": applicant.name, "signed_at": now.isoformat(timespec="seconds"),
                      "text": commitment_text(g["name"])} for g in committed],
    )
    actor = _submitter(user, applicant, parent)
    if submit_now:
        _check_complete(entries, version, uploaded, {g["key"] for g in committed})
        _number_parent(parent, now, token)
    parent.save()

    groups_by_name = {merging.normalise(g["name"]): g for g in version.material_groups}
    committed_keys = {g["key"] for g in committed}
    children = []
    for entry, impl, iv in entries:
        child_method = method if method in (impl.get_delivery_methods_names() or ["mail"]) else None
        try:
            child = new_case(applicant, impl, iv, merging.split_form(version, entry.key, clean), child_method, address)
        except DomainError as exc:
            raise DomainError(f"《{iv.name}》：{exc.message}", details=exc.details, status=exc.status) from None
        child.mode, child.channel, child.bundle_case, child.bundle_entry = "bundle", channel, parent, entry
        child.receiving_region, child.receiving_region_path, child.receiving_department = lead.region, lead.region.path, lead
        child.commitments = [
            {"material_id": m.pk, "name": m.name, "signed_by": applicant.name, "signed_at": now.isoformat(timespec="seconds"),
             "text": commitment_text(m.name)}
            for m in iv.bundle_materials if groups_by_name.get(merging.normalise(m.name), {}).get("key") in committed_keys
        ]
        children.append(child)

    if submit_now:
        _number_children(children, now)
    created = Case.objects.bulk_create(children)
    for child, obj in zip(children, created):
        child.pk = obj.pk

    blobs = store_many([(data, kind) for _g, _u, data, kind in checked])  # each distinct file stored once
    by_group = {g["key"]: (u, blob) for (g, u, _d, _k), blob in zip(checked, blobs)}
    how = "window" if channel == "window" else "online"
    rows, per_child = [], {}
    for child, (_entry, _impl, iv) in zip(children, entries):
        for m in iv.bundle_materials:
            group = groups_by_name.get(merging.normalise(m.name))
            if group is None or group["key"] not in by_group:
                continue
            upload, blob = by_group[group["key"]]
            row = CaseMaterial(case=child, material=m, name=m.name, blob=blob, file_name=str(getattr(upload, "name", "") or m.name)[:255], how=how)
            rows.append(row)
            per_child.setdefault(child.pk, []).append(row)
    CaseMaterial.objects.bulk_create(rows)

    if submit_now:
        _submitted(parent, children, per_child, actor)
    return parent


def _check_complete(entries, version, uploaded, committed):
    """Every required material of every item uploaded (through its group) or deferred under commitment."""
    groups_by_name = {merging.normalise(g["name"]): g for g in version.material_groups}
    missing = {}
    for entry, _impl, iv in entries:
        for m in iv.bundle_materials:
            if m.necessity != "required":
                continue
            group = groups_by_name.get(merging.normalise(m.name))
            if group is not None and group.get("produced_by") and group["produced_by"] != entry.key:
                continue  # issued by an earlier item of this bundle and taken from it (免提交)
            if group is None or (group["key"] not in uploaded and group["key"] not in committed):
                label = f"{group['key']} {group['name']}" if group else m.name
                missing.setdefault(label, []).append(iv.name)
    if missing:
        text = "；".join(f"{name}（{'、'.join(items)}需要）" for name, items in missing.items())
        raise DomainError(f"请上传必要材料：{text}（可容缺的材料也可签署告知承诺后补交）", status=422,
                          details=[{"field": name, "message": "请上传"} for name in missing])


def _number_parent(parent, now, token):
    """The parent's number from the same counter as the children's (one per region and day): the
    numbers of a bundle and its items never collide."""
    parent.case_no = next_case_no(parent.lead_region.code)
    parent.submit_token = token
    parent.submitted_at = now
    parent.status = BundleStatus.SUBMITTED


def _number_children(children, now):
    for child in children:
        child.status, child.submitted_at, child.case_no = S.SUBMITTED, now, next_case_no(child.region.code)


def _submitted(parent, children, per_child, actor):
    """What submitting writes beyond the rows themselves: each child's receipt and first event (the
    same as `handling.perform(…, "submit")` writes, in one statement each), the parent's status and
    event, and one notice to the applicant."""
    node = case_events.local_node_id()
    at = timezone.now().replace(microsecond=0)
    documents, case_rows = [], []
    for child in children:
        materials = [{"name": m.name, "how": "网上上传" if m.how == "online" else "窗口收取", "count": 1} for m in per_child.get(child.pk, [])]
        content = paperwork.context(child, materials=materials, item_name=f"{child.item_version.name}（一件事：{parent.bundle_version.name}）")
        documents.append(CaseDocument(case=child, kind="receipt", content=_json(content)))
        event = CaseEvent(
            case=child, seq=1, action="submit", label=handling.lifecycle.TABLE["submit"].label, actor=actor.user, actor_name=actor.name,
            role=actor.role, department_name=actor.department_name, department_code=actor.department_code, region_code=actor.region_code,
            window_name=actor.window_name, at=at, status_from=S.DRAFT, status_to=S.SUBMITTED, opinion="",
            data=_json({"materials": [m["name"] for m in materials], "commitments": [c["name"] for c in child.commitments],
                        "bundle_case_no": parent.case_no}),
            duty="", origin=f"{node}:1", prev_hash=case_events.GENESIS,
        )
        event.hash = case_events.compute_hash(case_events.GENESIS, event)
        case_rows.append(event)
    CaseDocument.objects.bulk_create(documents)
    CaseEvent.objects.bulk_create(case_rows)
    # The same signal as a submission through handling.perform (the cockpit's summary counts each child);
    # the parent is written here, so the bundle's own receiver stands aside.
    from .coordination import coordinating

    with coordinating():
        for child, event in zip(children, case_rows, strict=True):
            handling.step_taken.send(sender=Case, case=child, action="submit", event=event, opinion="")
    events.append(parent, "submit", "提交申请", actor, BundleStatus.DRAFT, BundleStatus.SUBMITTED, data={
        "items": [c.item_version.name for c in children], "case_nos": [c.case_no for c in children],
        "commitments": [c["name"] for c in parent.commitments], "market_services": [r["name"] for r in parent.market_requests],
    })
    events.notify_applicant(parent, "一件事申请已提交",
                            f"您的“{parent.bundle_version.name}”申请已提交，办件编号{parent.case_no}，共{len(children)}个事项，"
                            f"请等待{parent.lead_department.name}综合受理。", case=children[0] if children else None)


def _json(value):
    import json

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def submit(user, bundle_case_id, token=None):
    """Submit a draft bundle case (created by `apply` without `submit_now`): the same checks and rows
    as submitting at once. The same token again returns the submitted case."""
    token = _check_token(token)
    with transaction.atomic():
        parent = _own(user, bundle_case_id, lock=True)
        if parent.status != BundleStatus.DRAFT:
            if token and token == parent.submit_token:
                return parent
            raise Conflict("该一件事申请已提交")
        version = parent.bundle_version
        clean_merged_form(version, parent.form_data)
        children = list(parent.children.select_for_update(of=("self",)).select_related("item_version__item", "implementation__item", "department", "region")
                        .order_by("bundle_entry__seq"))
        have = {}
        for m in CaseMaterial.objects.filter(case__in=children).select_related("material"):
            have.setdefault(m.case_id, []).append(m)
        missing = []
        for child in children:
            present = {m.material_id for m in have.get(child.pk, [])} | {c["material_id"] for c in child.commitments}
            missing += [f"{m.name}（{child.item_version.name}需要）" for m in child.item_version.materials.all()
                        if m.necessity == "required" and m.pk not in present]
        if missing:
            raise DomainError(f"请上传必要材料：{'、'.join(missing)}", status=422)
        actor = _submitter(user, parent.applicant, parent)
        now = timezone.now()
        _number_parent(parent, now, token)
        parent.save(update_fields=["status", "case_no", "submit_token", "submitted_at", "updated_at"])
        _number_children(children, now)
        Case.objects.bulk_update(children, ["status", "submitted_at", "case_no"])
        _submitted(parent, children, have, actor)
        parent.refresh_from_db()
    return parent


def _own(user, bundle_case_id, lock=False):
    """The applicant's own bundle case (404 for anyone else's)."""
    from django.http import Http404

    qs = authz.filter_queryset(BundleCase.objects.filter(pk=bundle_case_id), user).filter(applicant__user_id=getattr(user, "pk", None))
    pk = qs.values_list("pk", flat=True).first()
    if pk is None:
        raise Http404
    qs = BundleCase.objects.filter(pk=pk).select_related("bundle_version", "applicant", "lead_department", "lead_region")
    return (qs.select_for_update(of=("self",)) if lock else qs).get()


def resubmit(user, bundle_case_id, materials):
    """补齐补正 answered once by the applicant: each upload ({group key: upload}) is stored to the
    children whose open supplement asked for a material of that group, then every child waiting for
    a supplement is resubmitted. One transaction; a child still missing something refuses all."""
    from . import coordination

    if materials is not None and not isinstance(materials, dict):
        raise DomainError("补正材料应按材料组提交（material_g1 …）", status=422)
    with transaction.atomic():
        parent = _own(user, bundle_case_id)
        children = coordination.lock_children(parent)
        parent = coordination.lock_parent(parent.pk)
        waiting = [c for c in children if c.status == S.SUPPLEMENT]
        if not waiting:
            raise Conflict("该一件事当前没有需要补齐补正的事项")
        checked = _checked_uploads(parent.bundle_version, materials or {})
        asked = {}
        for child in waiting:
            supplement = child.supplements.filter(status=Supplement.OPEN).last()
            asked[child.pk] = {i.get("material_id") for i in (supplement.items if supplement else []) if i.get("material_id")}
        groups_by_name = {merging.normalise(g["name"]): g for g in parent.bundle_version.material_groups}
        blobs = store_many([(data, kind) for _g, _u, data, kind in checked])
        rows = []
        for (group, upload, _d, _k), blob in zip(checked, blobs):
            targets = 0
            for child in waiting:
                for m in child.item_version.materials.all():
                    if m.pk in asked[child.pk] and groups_by_name.get(merging.normalise(m.name), {}).get("key") == group["key"]:
                        rnd = 1 + child.supplements.count()
                        rows.append(CaseMaterial(case=child, material=m, name=m.name, blob=blob, round=rnd, how="online",
                                                 file_name=str(getattr(upload, "name", "") or m.name)[:255]))
                        targets += 1
            if not targets:
                raise DomainError(f"“{group['name']}”不在需要补齐补正的材料中", status=422)
        CaseMaterial.objects.bulk_create(rows)
        with coordination.coordinating():
            for child in waiting:
                handling.perform(child.pk, "resubmit", user, via_bundle=True)
        actor = Actor(user=user, name=parent.applicant_name, role="applicant")
        coordination.refresh(parent, actor, "resubmit", "补正提交", data={"items": [c.item_version.name for c in waiting]}, always=True)
    return parent


def withdraw(user, bundle_case_id):
    """The applicant withdraws the whole bundle: every open child is withdrawn (status withdrawn);
    refused once any item has been decided (its result stands and is delivered with the others)."""
    from . import coordination

    with transaction.atomic():
        parent = _own(user, bundle_case_id)
        children = coordination.lock_children(parent)
        parent = coordination.lock_parent(parent.pk)
        if parent.status not in (BundleStatus.SUBMITTED, BundleStatus.SUPPLEMENT, BundleStatus.IN_PROGRESS):
            raise Conflict(f"一件事当前状态为“{BundleStatus(parent.status).label}”，不能撤回")
        decided = [c.item_version.name for c in children if c.status not in handling.lifecycle.BEFORE_DECISION + (S.WITHDRAWN,)]
        if decided:
            raise Conflict(f"以下事项已作出决定，一件事不能整体撤回：{'、'.join(decided)}")
        with coordination.coordinating():
            for child in children:
                if child.status in handling.lifecycle.BEFORE_DECISION:
                    handling.perform(child.pk, "withdraw", user, via_bundle=True)
        actor = Actor(user=user, name=parent.applicant_name, role="applicant")
        coordination.refresh(parent, actor, "withdraw", "撤回申请", always=True)
        events.notify_applicant(parent, "一件事申请已撤回", f"一件事办件{parent.case_no}（{parent.bundle_version.name}）已按您的要求撤回。",
                                case=children[0] if children else None)
    return parent
