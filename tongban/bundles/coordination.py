"""前台综合受理、后台分类审批、窗口统一出件: how a bundle case moves.

The parent's status is derived from its children (`derive_status`) in the same transaction as every
child's step (`child_stepped`, called through `cases.handling.step_taken`). The lead department's
window takes the bundle-level steps (`intake`, `deliver`) on all children at once; departments review
their own child. The order of work is the bundle version's BPMN: one task per entry, and a later
stage's children are accepted only when the tasks before them are complete.

Locks: children first (in id order), then the parent — the same order as a department's step on one
child (its row, then the parent in `child_stepped`), so the two paths never wait on each other.
"""

import contextlib
import contextvars
import datetime
import hashlib
from types import SimpleNamespace

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tongban.cases import clock, handling, notify, workflow
from tongban.cases.lifecycle import BEFORE_DECISION, IN_REVIEW
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial, IdentityMethod, ProcessDefinition
from tongban.cases.models import Status as S
from tongban.core import authz
from tongban.core.api_common import get_visible
from tongban.core.errors import Conflict, DomainError
from tongban.core.workdays import add_working_days

from . import events, merging
from .events import Actor
from .models import BundleCase, BundleDocument, BundleStatus, BundleVersion, JointAppointment

B = BundleStatus
# Set while a bundle service takes steps on its children: their step_taken calls must not re-derive
# the parent one child at a time (the service derives it once at the end).
_coordinating = contextvars.ContextVar("bundle_coordinating", default=False)

CHILD_DONE = (S.CONCLUDED, S.DELIVERED, S.TERMINATED)


@contextlib.contextmanager
def coordinating():
    token = _coordinating.set(True)
    try:
        yield
    finally:
        _coordinating.reset(token)


# --- derived status ------------------------------------------------------------------------------

def _denied(child):
    return bool(getattr(child, "denied", child.status == S.DENIED))


def derive_status(bundle_case, children):
    """(status, outcome) of a bundle case from its children's statuses and which were denied
    (`child.denied`; a child denied = it has a `deny` event). Pure: no queries, nothing saved."""
    statuses = [c.status for c in children]
    policy = bundle_case.refusal_policy
    if not statuses or all(s == S.DRAFT for s in statuses):
        return B.DRAFT, ""
    if all(s == S.WITHDRAWN for s in statuses):
        return B.WITHDRAWN, ""
    if any(s == S.REFUSED for s in statuses):
        return B.REFUSED, ""
    denied = [c for c in children if _denied(c)]
    if policy == BundleVersion.ALL_OR_NOTHING and denied:
        return B.FAILED, BundleCase.FAILED
    if any(s == S.SUPPLEMENT for s in statuses):
        return B.SUPPLEMENT, ""
    if any(s == S.SUBMITTED for s in statuses) and all(s in (S.SUBMITTED, S.WITHDRAWN) for s in statuses):
        return B.SUBMITTED, ""
    if all(s == S.DELIVERED or (s == S.TERMINATED) for s in statuses) and any(s == S.DELIVERED for s in statuses):
        return B.DELIVERED, _outcome(children, denied)
    if all(s in CHILD_DONE for s in statuses):
        return B.READY, _outcome(children, denied)
    return B.IN_PROGRESS, ""


def _outcome(children, denied):
    done = [c for c in children if c.status in (S.CONCLUDED, S.DELIVERED)]
    if not denied and all(c.status != S.TERMINATED for c in children):
        return BundleCase.FULL
    return BundleCase.PARTIAL if len(denied) < len(done) else BundleCase.FAILED


def annotate_denied(children):
    """Set `child.denied` on each child (one query) for `derive_status`."""
    ids = set(CaseEvent.objects.filter(case__in=[c.pk for c in children], action="deny").values_list("case_id", flat=True))
    for c in children:
        c.denied = c.pk in ids
    return children


# --- locking and refreshing ---------------------------------------------------------------------

def lock_children(parent):
    """The children of `parent`, row-locked in id order (before the parent: see the module doc)."""
    return list(Case.objects.select_for_update(of=("self",)).select_related("item_version__item", "department", "region", "bundle_entry", "implementation__item")
                .filter(bundle_case_id=parent.pk).order_by("pk"))


def lock_parent(pk):
    parent = (BundleCase.objects.select_for_update(of=("self",)).select_related("bundle_version__bundle", "applicant", "lead_department", "lead_region")
              .filter(pk=pk).first())
    if parent is None:
        from django.http import Http404

        raise Http404
    return parent


def _children(parent):
    return annotate_denied(list(Case.objects.select_related("item_version__item", "department", "region", "bundle_entry")
                                .filter(bundle_case_id=parent.pk).order_by("bundle_entry__seq", "pk")))


def refresh(parent, actor, action="derive", label="状态更新", opinion="", data=None, always=False):
    """Derive and store the parent's status from its children; append a BundleEvent when the status
    changed (or `always`, for a bundle-level step). Returns (old status, new status)."""
    children = _children(parent)
    old = parent.status
    status, outcome = derive_status(parent, children)
    now = timezone.now()
    parent.status = status
    if status in (B.READY, B.DELIVERED, B.FAILED) or outcome:
        parent.outcome = outcome
    if status == B.READY and parent.ready_at is None:
        parent.ready_at = now
    if status == B.DELIVERED and parent.delivered_at is None:
        parent.delivered_at = now
    parent.save()
    if old != status or always:
        events.append(parent, action, label, actor, old, status, opinion, data)
    if old != status and status == B.READY:
        users = notify.staff_for(parent.lead_region_path, parent.lead_department_id, roles=("clerk",))
        notify.staff(users, children[0] if children else None, "一件事待统一出件",
                     f"一件事办件{parent.case_no}（{parent.bundle_version.name}）各事项均已办结，请统一出件。")
    return old, status


def system_actor(parent):
    """The bundle acting by itself (release of a later stage, termination): named by the lead department."""
    return Actor(name=f"{parent.lead_department.name}（一件事协同）", role="system", department_name=parent.lead_department.name,
                 department_code=parent.lead_department.credit_code, region_code=parent.lead_region.code)


# --- the order of work (BPMN) ------------------------------------------------------------------

def _start_process(parent):
    xml = parent.bundle_version.bpmn_xml
    if not xml:
        return
    digest = hashlib.sha256(xml.encode()).hexdigest()
    definition = ProcessDefinition.objects.filter(sha256=digest).first()
    if definition is None:
        definition = ProcessDefinition.objects.create(sha256=digest, process_id=workflow.parse_definition(xml), bpmn_xml=xml)
    parent.process = definition
    parent.process_state = workflow.start(xml, {})


def ready_keys(parent):
    """Entry keys whose task in the bundle's order of work is ready now."""
    if parent.process_id is None or not parent.process_state:
        return set()
    return {s.name for s in workflow.ready_steps(parent.process.bpmn_xml, parent.process_state)}


def _complete_task(parent, entry_key, result):
    if parent.process_id is None or not parent.process_state:
        return False
    xml = parent.process.bpmn_xml
    step = next((s for s in workflow.ready_steps(xml, parent.process_state) if s.name == entry_key), None)
    if step is None:
        return False
    parent.process_state, _finished = workflow.complete_step(xml, parent.process_state, step.id, {"result": result})
    return True


def _release(parent, children, actor, user=None):
    """Accept (via the bundle) every submitted child whose task is ready: the first stage at the
    comprehensive intake (by the clerk), a later one when the stage before it is complete (by the
    system in the lead department's name). Returns the released children."""
    keys = ready_keys(parent)
    released, produced = [], None
    for child in children:
        if child.status == S.SUBMITTED and child.bundle_entry_id and f"e{child.bundle_entry_id}" in keys:
            produced = _produced_results(parent) if produced is None else produced
            missing = _take_produced(parent, child, produced)
            if missing:  # what this item needs was not issued (its item was denied): it cannot be handled
                handling.perform(child.pk, "terminate", actor=actor, via_bundle=True,
                                 opinion=f"本事项所需的{missing}未能在一件事中取得（相关事项不予许可），终止办理")
                continue
            if user is not None:
                handling.perform(child.pk, "accept", user, via_bundle=True)
            else:
                handling.perform(child.pk, "accept", actor=actor, via_bundle=True)
            released.append(child)
    return released


def _produced_results(parent):
    """{entry key: (case, its latest 办结通知书 or None)} of the items whose result another item needs,
    read once per release (the producer may be the child concluding right now)."""
    keys = {g["produced_by"] for g in parent.bundle_version.material_groups if g.get("produced_by")}
    if not keys:
        return {}
    cases = list(Case.objects.filter(bundle_case_id=parent.pk, bundle_entry_id__in=[int(k[1:]) for k in keys]))
    latest = {d.case_id: d for d in CaseDocument.objects.filter(case__in=cases, kind="conclusion").order_by("id")}
    return {f"e{c.bundle_entry_id}": (c, latest.get(c.pk)) for c in cases}


def _take_produced(parent, child, produced):
    """免提交: a material this child needs that an earlier stage of the bundle issued (出生医学证明 for
    出生登记, 营业执照 for 食品经营许可) is attached from that item's result (its 办结通知书), marked as
    reused, unless the applicant gave it anyway. Returns the name of a needed material whose item
    did not issue it ("" when nothing is missing)."""
    from tongban.cases.paperwork import pdf_blob

    groups = [g for g in parent.bundle_version.material_groups if g.get("produced_by")]
    if not groups:
        return ""
    needed = {merging.normalise(m.name): m for m in child.item_version.materials.all()}
    have = set(child.materials.values_list("material_id", flat=True))
    for group in groups:
        material = needed.get(merging.normalise(group["name"]))
        if material is None or material.pk in have:
            continue
        producer, document = produced.get(group["produced_by"], (None, None))
        if document is None:
            if material.necessity == "required":
                return f"“{group['name']}”"
            continue
        CaseMaterial.objects.create(case=child, material=material, name=material.name, blob=pdf_blob(document), how="reuse",
                                    file_name=f"{material.name}（{producer.case_no}办结取得）.pdf")
    return ""


# --- called in every child's step ------------------------------------------------------------

def child_stepped(case, action, event, opinion):
    """A child took a step (inside its transaction): lock the parent; when the child concludes, its
    task in the order of work completes and children of the tasks now ready are accepted; under the
    all-or-nothing policy a denial terminates the other open children and fails the bundle; the
    parent's derived status is stored (with an event when it changes)."""
    if _coordinating.get():
        return
    with coordinating():
        parent = lock_parent(case.bundle_case_id)
        actor = system_actor(parent)
        data = {"case_no": case.case_no, "item": case.item_version.name, "action": action}
        if action == "deny" and parent.refusal_policy == BundleVersion.ALL_OR_NOTHING and parent.status != B.FAILED:
            _fail(parent, case, opinion, actor)
            refresh(parent, actor, "fail", "一件事未办成", opinion, data)
            return
        if case.status == S.CONCLUDED and case.bundle_entry_id and _complete_task(parent, f"e{case.bundle_entry_id}", "denied" if action == "deny" else "done"):
            parent.save(update_fields=["process_state", "updated_at"])
            released = _release(parent, [c for c in _children(parent) if c.pk != case.pk], actor)
            if released:
                events.append(parent, "release", "下一阶段受理", actor, parent.status, parent.status, data={
                    "after": case.item_version.name, "released": [c.item_version.name for c in released], "case_nos": [c.case_no for c in released]})
        refresh(parent, actor, "derive", f"{case.item_version.name}：{event.label}", data=data)


def _fail(parent, denied_case, reason, actor):
    """一件事整体未办成: terminate every other open child, issue the failure notice, tell the applicant once."""
    children = _children(parent)
    terminated = []
    for child in children:
        if child.pk != denied_case.pk and child.status in BEFORE_DECISION + (S.APPROVED,):
            handling.perform(child.pk, "terminate", actor=actor, opinion=f"《{denied_case.item_version.name}》不予许可，一件事整体未办成", via_bundle=True)
            terminated.append(child.item_version.name)
    items = [{"item": c.item_version.name, "department": c.department.name, "case_no": c.case_no,
              "result": "不予许可" if c.pk == denied_case.pk else ("终止办理" if c.item_version.name in terminated else c.get_status_display()),
              "reason": reason if c.pk == denied_case.pk else ""} for c in children]
    content = _document_base(parent) | {"items": items, "reason": reason, "denied_item": denied_case.item_version.name,
                                        "denied_department": denied_case.department.name, "terminated": terminated}
    BundleDocument.objects.create(bundle_case=parent, kind="failure", content=_json(content))
    events.notify_applicant(parent, "一件事未办成", f"一件事办件{parent.case_no}（{parent.bundle_version.name}）中《{denied_case.item_version.name}》不予许可："
                            f"{reason}。按本一件事的规定整体未办成，其余事项已终止办理。", case=denied_case)


def _json(value):
    import json

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _day(value):
    if value is None:
        return ""
    d = timezone.localdate(value) if isinstance(value, datetime.datetime) else value
    return f"{d.year}年{d.month}月{d.day}日"


def _document_base(parent):
    from tongban.core.masking import mask_id_number, mask_phone

    return {
        "case_no": parent.case_no or "", "bundle_name": parent.bundle_version.name, "applicant_name": parent.applicant_name,
        "applicant_code_masked": mask_id_number(parent.applicant_code), "contact_phone_masked": mask_phone(parent.contact_phone),
        "lead_department": parent.lead_department.name, "region_name": parent.lead_region.name,
        "submitted_at": _day(parent.submitted_at), "accepted_at": _day(parent.accepted_at), "issued_at": _day(timezone.now()),
        "query_url": f"{settings.TONGBAN_PUBLIC_URL}/track/?case_no={parent.case_no or ''}",
    }


# --- who acts for the lead department ------------------------------------------------------------

def _writable_parent(user, bundle_case_id, roles, what):
    """The bundle case locked for a lead-window step, with the Actor: 404 when `user` may not read it,
    403 when they may read but not act for the lead department in one of `roles`."""
    from .applying import lead_actor

    parent = visible_bundle_case(user, bundle_case_id)
    writable = authz.filter_queryset(BundleCase.objects.filter(pk=parent.pk), user, authz.WRITE).exists()
    actor = lead_actor(user, parent, roles=roles) if writable else None
    if actor is None:
        raise authz.PermissionDenied(f"只有牵头部门（{parent.lead_department.name}）的{'、'.join(ROLE_LABELS[r] for r in roles)}可以{what}")
    children = lock_children(parent)
    return lock_parent(parent.pk), children, actor


ROLE_LABELS = {"clerk": "窗口人员", "approver": "审批人员"}


def _str(value, limit, what, required=False):
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{what}应为文字", status=422)
    value = value.strip()
    if "\x00" in value:
        raise DomainError(f"{what}含有不允许的字符（如空字符）", status=422)
    if len(value) > limit:
        raise DomainError(f"{what}不能超过{limit}个字符", status=422)
    if required and not value:
        raise DomainError(f"请填写{what}", status=422)
    return value


# --- 前台综合受理 -------------------------------------------------------------------------------

def intake(bundle_case_id, user, decision, opinion="", identity_method=None, originals_checked=None, supplement_items=None):
    """The lead window's comprehensive intake of a submitted bundle case. `decision`: "accept"
    (identity checked, originals of the uploaded materials that need it ticked by group key; 首办核验
    recorded once and recognised by every department; the order of work starts and the first stage's
    children are accepted), "supplement" (`supplement_items` [{"group": "g1" | "name": …, "problem",
    "entry": optional entry key}]: one notice; each child concerned gets its own request) or "refuse"
    (opinion required; every child refused). One transaction; 409 unless the bundle is submitted."""
    if decision not in ("accept", "supplement", "refuse"):
        raise DomainError("综合受理结论应为 accept（受理）、supplement（补齐补正）或 refuse（不予受理）", status=422)
    opinion = _str(opinion, 2000, "意见", required=decision == "refuse")
    with transaction.atomic():
        parent, children, actor = _writable_parent(user, bundle_case_id, ("clerk",), "综合受理")
        if parent.status != B.SUBMITTED:
            raise Conflict(f"一件事当前状态为“{B(parent.status).label}”，不能综合受理（可能已被他人处理，请刷新后查看）")
        if decision == "accept":
            _intake_accept(parent, children, user, actor, opinion, identity_method, originals_checked)
        elif decision == "supplement":
            _intake_supplement(parent, children, user, actor, opinion, supplement_items)
        else:
            with coordinating():
                for child in children:
                    if child.status == S.SUBMITTED:
                        handling.perform(child.pk, "refuse_intake", user, opinion=opinion, via_bundle=True)
            refresh(parent, actor, "refuse_intake", "不予受理", opinion, always=True)
            events.notify_applicant(parent, "一件事申请不予受理", f"一件事办件{parent.case_no}（{parent.bundle_version.name}）不予受理：{opinion}",
                                    case=children[0] if children else None)
    return parent


def _group_material_ids(parent):
    """{group key: {material ids}} over the children's item versions (groups are matched by name)."""
    by_name = {merging.normalise(g["name"]): g["key"] for g in parent.bundle_version.material_groups}
    out = {}
    for child in parent.children.select_related("item_version"):
        for m in child.item_version.materials.all():
            key = by_name.get(merging.normalise(m.name))
            if key:
                out.setdefault(key, set()).add(m.pk)
    return out


def _intake_accept(parent, children, user, actor, opinion, identity_method, originals_checked):
    if identity_method not in IdentityMethod.values:
        raise DomainError(f"请选择身份核验方式：{'、'.join(IdentityMethod.labels)}", status=422)
    originals_checked = originals_checked or []
    if not isinstance(originals_checked, list) or not all(isinstance(k, str) for k in originals_checked):
        raise DomainError("已核验原件应为材料编号列表（如 [\"g1\"]）", status=422)
    groups = {g["key"]: g for g in parent.bundle_version.material_groups}
    unknown = [k for k in originals_checked if k not in groups]
    if unknown:
        raise DomainError(f"已核验原件中有不属于本一件事的材料：{'、'.join(unknown[:10])}", status=422)
    ids = _group_material_ids(parent)
    provided = set(_provided_material_ids(children))
    need = [g for g in groups.values() if g.get("original_check") and ids.get(g["key"], set()) & provided]
    missing = [g["name"] for g in need if g["key"] not in originals_checked]
    if missing:
        raise DomainError(f"请核验以下材料的原件后再受理：{'、'.join(missing)}", status=422)
    now = timezone.now()
    at = now.isoformat(timespec="seconds")
    lead = parent.lead_department.name
    label = IdentityMethod(identity_method).label
    verifications = [{"what": "申请人身份", "how": label, "department": lead, "by": actor.name, "at": at}]
    verifications += [{"what": groups[k]["name"], "how": "核验原件", "department": lead, "by": actor.name, "at": at}
                      for k in dict.fromkeys(originals_checked)]
    parent.verifications = verifications
    recognition = {"department": lead, "by": actor.name, "at": at}
    checked_ids = set().union(*(ids.get(k, set()) for k in originals_checked)) if originals_checked else set()
    for child in children:
        own = {m.pk for m in child.item_version.materials.all()}
        child.intake_check = {
            "identity_method": identity_method, "identity_label": label, "originals_checked": sorted(own & checked_ids),
            "formal_review": [], "checked_by": actor.name, "checked_at": f"{timezone.localtime(now):%Y-%m-%d %H:%M}",
            "mutual_recognition": recognition,
        }
    Case.objects.bulk_update(children, ["intake_check"])
    parent.accepted_at = now
    parent.due_date = add_working_days(timezone.localdate(now), parent.promised_days).value
    _start_process(parent)
    parent.save()
    with coordinating():
        released = _release(parent, children, actor, user=user)
    refresh(parent, actor, "accept", "综合受理", opinion, {"verifications": verifications, "accepted": [c.item_version.name for c in released],
                                                       "due_date": str(parent.due_date)}, always=True)
    waiting = [c.item_version.name for c in children if c not in released]
    text = f"一件事办件{parent.case_no}（{parent.bundle_version.name}）已由{lead}综合受理，承诺于{parent.due_date:%Y年%m月%d日}前全部办结。"
    if waiting:
        text += f"{'、'.join(waiting)}将在前一阶段办结后依次办理。"
    events.notify_applicant(parent, "一件事已受理", text, case=children[0] if children else None)


def _provided_material_ids(children):
    from tongban.cases.models import CaseMaterial

    return CaseMaterial.objects.filter(case__in=[c.pk for c in children]).values_list("material_id", flat=True)


def _intake_supplement(parent, children, user, actor, opinion, supplement_items):
    if not isinstance(supplement_items, list) or not supplement_items:
        raise DomainError("请列出需要补齐补正的全部内容（一次性告知）", status=422)
    groups = {g["key"]: g for g in parent.bundle_version.material_groups}
    by_name = {merging.normalise(g["name"]): g["key"] for g in groups.values()}
    entry_keys = {f"e{c.bundle_entry_id}": c for c in children}
    per_child, listed = {}, []
    for n, item in enumerate(supplement_items, 1):
        if not isinstance(item, dict):
            raise DomainError(f"第{n}项补正内容格式不正确", status=422)
        problem = _str(item.get("problem"), 300, f"第{n}项存在的问题", required=True)
        group_key, entry = item.get("group"), item.get("entry")
        if entry is not None and entry not in entry_keys:
            raise DomainError(f"第{n}项：本一件事没有该事项", status=422)
        targets = [entry_keys[entry]] if entry else children
        if group_key is not None:
            group = groups.get(group_key) if isinstance(group_key, str) else None
            if group is None:
                raise DomainError(f"第{n}项：本一件事没有编号为“{str(group_key)[:20]}”的材料", status=422)
            hit = False
            for child in targets:
                for m in child.item_version.materials.all():
                    if by_name.get(merging.normalise(m.name)) == group_key:
                        per_child.setdefault(child.pk, []).append({"material_id": m.pk, "problem": problem})
                        hit = True
            if not hit:
                raise DomainError(f"第{n}项：所选事项不需要“{group['name']}”", status=422)
            listed.append({"group": group_key, "name": group["name"], "problem": problem})
        else:
            name = _str(item.get("name"), 200, f"第{n}项的内容名称", required=True)
            for child in targets:
                per_child.setdefault(child.pk, []).append({"name": name, "problem": problem})
            listed.append({"group": None, "name": name, "problem": problem, "entry": entry})
    with coordinating():
        for child in children:
            if child.pk in per_child:
                handling.perform(child.pk, "request_supplement", user, opinion=opinion, params={"items": per_child[child.pk], "note": opinion},
                                 via_bundle=True)
    refresh(parent, actor, "request_supplement", "补齐补正（一次性告知）", opinion, {"items": listed}, always=True)
    lines = "；".join(f"{i + 1}. {row['name']}：{row['problem']}" for i, row in enumerate(listed))
    events.notify_applicant(parent, "一件事请补齐补正", f"一件事办件{parent.case_no}（{parent.bundle_version.name}）需要补齐补正（一次性告知）：{lines}。"
                            "请登录后一次补齐并重新提交。", case=children[0] if children else None)


# --- 窗口统一出件 -------------------------------------------------------------------------------

def default_explanation(parent, children=None):
    """The explanation of a partial or failed result, drafted from the denial reasons."""
    children = children if children is not None else _children(parent)
    lines = [f"《{c.item_version.name}》经{c.department.name}审查不予许可，理由：{c.decision_reason or '见不予许可通知书'}"
             for c in children if _denied(c)]
    lines += [f"《{c.item_version.name}》已终止办理" for c in children if c.status == S.TERMINATED]
    return "；".join(lines) + ("。其余事项已办结，结果一并送达。" if lines else "")


def deliver(bundle_case_id, user, method, courier="", tracking_no="", recipient="", place="", explanation=""):
    """窗口统一出件: every concluded child delivered with the same particulars, one conclusion notice
    listing every item's result (and the 一业一证 comprehensive permit when the bundle has one and
    everything was granted), one notice to the applicant. A partial result needs an explanation."""
    explanation = _str(explanation, 2000, "结果说明")
    courier, tracking_no = _str(courier, 60, "快递公司"), _str(tracking_no, 40, "快递单号")
    recipient, place = _str(recipient, 60, "签收人"), _str(place, 200, "领取/打印地点")
    with transaction.atomic():
        parent, children, actor = _writable_parent(user, bundle_case_id, ("clerk",), "统一出件")
        if parent.status != B.READY:
            raise Conflict(f"一件事当前状态为“{B(parent.status).label}”，各事项尚未全部办结，不能统一出件")
        if not isinstance(method, str) or method not in parent.bundle_version.get_delivery_methods_names() + [parent.delivery_method]:
            labels = "、".join(_delivery_labels(parent))
            raise DomainError(f"送达方式应为：{labels}", status=422)
        annotate_denied(children)
        if parent.outcome != BundleCase.FULL and not explanation:
            raise DomainError("部分办成时请填写结果说明（已按不予许可理由预填，可修改）", status=422,
                              details=[{"field": "explanation", "message": default_explanation(parent, children)}])
        params = {"method": method, "courier": courier, "tracking_no": tracking_no, "recipient": recipient, "place": place}
        with coordinating():
            for child in children:
                if child.status == S.CONCLUDED:
                    handling.perform(child.pk, "deliver", user, params=params, via_bundle=True)
        children = _children(parent)
        items = [_result_row(c) for c in children]
        parent.explanation = explanation
        content = _document_base(parent) | {"items": items, "outcome": parent.outcome, "outcome_label": dict(BundleCase.OUTCOME_CHOICES).get(parent.outcome, ""),
                                            "explanation": explanation, "delivery_method_label": _method_label(method),
                                            "courier": courier, "tracking_no": tracking_no, "recipient": recipient, "place": place}
        conclusion = BundleDocument.objects.create(bundle_case=parent, kind="conclusion", content=_json(content))
        issued = [conclusion.pk]
        permit_name = parent.bundle_version.combined_permit_name
        if permit_name and parent.outcome == BundleCase.FULL:
            parent.permit_no = f"{parent.lead_region.code[:6]}YYYZ{(parent.case_no or '').replace('-', '')[6:]}"
            permit = BundleDocument.objects.create(bundle_case=parent, kind="permit", content=_json(_document_base(parent) | {
                "permit_name": permit_name, "permit_no": parent.permit_no, "company_name": parent.form_data.get("company_name") or parent.applicant_name,
                "credit_code": parent.form_data.get("credit_code", ""), "business_address": parent.form_data.get("business_address", ""),
                "permits": [{"name": r["result_name"] or r["item"], "certificate_no": r["certificate_no"], "department": r["department"]} for r in items],
            }))
            issued.append(permit.pk)
        parent.save()
        refresh(parent, actor, "deliver", "统一出件", explanation, {"method": _method_label(method), "courier": courier, "tracking_no": tracking_no,
                                                                "documents": issued, "permit_no": parent.permit_no}, always=True)
        text = f"一件事办件{parent.case_no}（{parent.bundle_version.name}）已统一出件（{_method_label(method)}）"
        text += f"，{courier}单号{tracking_no}" if tracking_no else ""
        text += "。全部事项已办成" if parent.outcome == BundleCase.FULL else f"。{explanation}"
        if parent.permit_no:
            text += f"；已核发{permit_name}（编号{parent.permit_no}）"
        events.notify_applicant(parent, "一件事办理结果已送达", text + "。", case=children[0] if children else None)
    return parent


def _result_row(c):
    denied = _denied(c)
    return {"item": c.item_version.name, "department": c.department.name, "case_no": c.case_no,
            "result": "不予许可" if denied else ("终止办理" if c.status == S.TERMINATED else "准予许可"),
            "result_name": "" if denied else (c.result_name or c.item_version.result_name or ""),
            "certificate_no": "" if denied else c.certificate_no, "reason": c.decision_reason if denied else ""}


def _method_label(method):
    from tongban.cases.models import DeliveryMethod

    return DeliveryMethod(method).label if method in DeliveryMethod.values else method


def _delivery_labels(parent):
    return [_method_label(m) for m in parent.bundle_version.get_delivery_methods_names()]


# --- 联合勘验 / 评审 / 验收 ---------------------------------------------------------------------

def _when(value):
    if isinstance(value, datetime.datetime):
        when = value
    elif isinstance(value, str) and len(value) <= 40:
        when = parse_datetime(value.strip())
    else:
        when = None
    if when is None:
        raise DomainError("预约时间格式不正确（如 2026-12-01T09:30）", status=422)
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    if when < timezone.now():
        raise DomainError("预约时间不能早于现在", status=422)
    return when


def schedule_appointment(bundle_case_id, user, kind, scheduled_at, place, case_ids, note=""):
    """联合勘验/评审/验收: lead staff schedule one appointment with ≥2 children of this bundle that are in
    review; the departments' staff get a message; an event on the parent and on each child."""
    kinds = dict(JointAppointment.KINDS)
    if kind not in kinds:
        raise DomainError(f"联合办理类型应为：{'、'.join(kinds.values())}", status=422)
    when = _when(scheduled_at)
    place, note = _str(place, 200, "地点", required=True), _str(note, 300, "说明")
    if not isinstance(case_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in case_ids):
        raise DomainError("参加的事项应为办件编号列表", status=422)
    with transaction.atomic():
        parent, children, actor = _writable_parent(user, bundle_case_id, ("clerk", "approver"), "预约联合勘验、评审或验收")
        by_pk = {c.pk: c for c in children}
        chosen = [by_pk[i] for i in dict.fromkeys(case_ids) if i in by_pk]
        if len(chosen) != len(set(case_ids)):
            raise DomainError("参加的事项应为本一件事的办件", status=422)
        if len({c.department_id for c in chosen}) < 2:
            raise DomainError("联合勘验、评审或验收应至少有两个部门的事项参加", status=422)
        not_ready = [c.item_version.name for c in chosen if c.status not in IN_REVIEW + (S.SPECIAL,)]
        if not_ready:
            raise DomainError(f"以下事项不在审查中，不能参加：{'、'.join(not_ready)}", status=422)
        appointment = JointAppointment.objects.create(bundle_case=parent, kind=kind, scheduled_at=when, place=place, note=note,
                                                      created_by_name=actor.name)
        appointment.cases.set(chosen)
        label = kinds[kind]
        local = timezone.localtime(when)
        info = {"appointment": appointment.pk, "kind": label, "scheduled_at": f"{local:%Y-%m-%d %H:%M}", "place": place,
                "departments": [c.department.name for c in chosen]}
        with coordinating():
            for child in chosen:
                handling.perform(child.pk, "joint_appointment", actor=actor, opinion=note, params={**info, "_label": f"预约{label}"}, via_bundle=True)
        events.append(parent, "joint_appointment", f"预约{label}", actor, parent.status, parent.status, note, info)
        for child in chosen:
            notify.staff(notify.staff_for(child.region_path, child.department_id), child, f"{label}预约",
                         f"一件事办件{parent.case_no}（{parent.bundle_version.name}）已预约{label}：{local:%Y年%m月%d日 %H:%M}，地点{place}。"
                         f"参加部门：{'、'.join(info['departments'])}。")
    return appointment


def record_appointment(appointment_id, user, opinion, case_id=None):
    """A participating department's staff records its opinion on a joint appointment (for the child
    `case_id`, or the first participating child of theirs without one); all recorded → held."""
    opinion = _str(opinion, 1000, "意见", required=True)
    visible = authz.filter_queryset(JointAppointment.objects.filter(pk=appointment_id), user).values_list("bundle_case_id", flat=True).first()
    if visible is None:
        from django.http import Http404

        raise Http404
    with transaction.atomic():
        parent = visible_bundle_case(user, visible)
        lock_children(parent)
        parent = lock_parent(parent.pk)
        appointment = JointAppointment.objects.select_for_update().get(pk=appointment_id)
        if appointment.status != JointAppointment.SCHEDULED:
            raise Conflict("该联合勘验（评审、验收）已完成或已取消")
        done = {r["case_id"] for r in appointment.results}
        mine = []
        for child in appointment.cases.select_related("department", "region", "item_version").order_by("pk"):
            actor = _department_actor(user, child)
            if actor is not None and child.pk not in done and (case_id is None or child.pk == case_id):
                mine.append((child, actor))
        if not mine:
            raise authz.PermissionDenied("只有参加该联合勘验（评审、验收）且尚未填写意见的部门人员可以填写意见")
        child, actor = mine[0]
        now = timezone.now()
        appointment.results = appointment.results + [{"case_id": child.pk, "department": child.department.name, "item": child.item_version.name,
                                                      "opinion": opinion, "by": actor.name, "at": now.isoformat(timespec="seconds")}]
        total = appointment.cases.count()
        if len(appointment.results) >= total:
            appointment.status = JointAppointment.HELD
        appointment.save(update_fields=["results", "status"])
        label = appointment.get_kind_display()
        with coordinating():
            handling.perform(child.pk, "joint_appointment", actor=actor, opinion=opinion, params={"appointment": appointment.pk, "_label": f"{label}意见"},
                             via_bundle=True)
        events.append(parent, "joint_opinion", f"{label}意见", actor, parent.status, parent.status, opinion,
                      {"appointment": appointment.pk, "department": child.department.name, "held": appointment.status == JointAppointment.HELD})
    return appointment


def _department_actor(user, child):
    from tongban.directory.models import Membership

    for m in Membership.objects.filter(user_id=getattr(user, "pk", None), is_active=True, role__in=("clerk", "approver")).select_related("region"):
        if child.region_path.startswith(m.region.path) and m.department_id in (None, child.department_id):
            return Actor(user=user, name=user.get_full_name() or user.username, role=m.role, department_name=child.department.name,
                         department_code=child.department.credit_code, region_code=m.region.code)
    return None


# --- 一类事 ---------------------------------------------------------------------------------------

MARKET_STATUSES = {"requested": "已申请", "forwarded": "已转交服务机构", "done": "已办理"}
_MARKET_NEXT = {"requested": "forwarded", "forwarded": "done"}


def mark_market_request(bundle_case_id, user, service_id, status, note=""):
    """Lead staff move a 一类事 request requested → forwarded → done."""
    note = _str(note, 300, "说明")
    if status not in ("forwarded", "done"):
        raise DomainError("增值服务状态应为 forwarded（已转交服务机构）或 done（已办理）", status=422)
    with transaction.atomic():
        parent, _children_rows, actor = _writable_parent(user, bundle_case_id, ("clerk", "approver"), "办理增值服务")
        requests = [dict(r) for r in parent.market_requests]
        row = next((r for r in requests if r.get("service_id") == service_id), None)
        if row is None:
            raise DomainError("申请人未申请该项增值服务", status=404)
        if _MARKET_NEXT.get(row["status"]) != status:
            raise Conflict(f"该增值服务当前为“{MARKET_STATUSES.get(row['status'], row['status'])}”，不能改为“{MARKET_STATUSES[status]}”")
        row.update(status=status, note=note, by=actor.name, at=timezone.now().isoformat(timespec="seconds"))
        parent.market_requests = requests
        parent.save(update_fields=["market_requests", "updated_at"])
        events.append(parent, "market_service", f"增值服务{MARKET_STATUSES[status]}", actor, parent.status, parent.status, note,
                      {"service": row["name"], "provider": row["provider"], "status": status})
    return parent


# --- reading -----------------------------------------------------------------------------------

def visible_bundle_case(user, bundle_case_id):
    """The bundle case through the authorisation filter (404 when not readable)."""
    if isinstance(bundle_case_id, bool) or not isinstance(bundle_case_id, int):
        from django.http import Http404

        raise Http404
    return get_visible(BundleCase.objects.select_related("bundle_version__bundle", "applicant", "lead_department", "lead_region", "process"),
                       user, pk=bundle_case_id)


def bundle_deadline(parent, today=None):
    """The bundle-level deadline as `cases.clock.deadline` shows a case's (colour, remaining days)."""
    from tongban.bundles.models import BUNDLE_OPEN

    view = SimpleNamespace(due_date=parent.due_date, is_open=parent.status in BUNDLE_OPEN and parent.status != B.READY, status=parent.status,
                           accepted_at=parent.accepted_at, calendar_warning="")
    today = today or timezone.localdate()
    return clock.deadline(view, today=today, paused_since=today)


def _deadline_dict(d):
    return {"remaining": d.remaining, "colour": d.colour, "label": d.label, "warning": d.warning}


def overview(bundle_case):
    """What the pages show of a bundle case: each child (item, department, stage, status, deadline,
    waiting for an earlier stage), the bundle deadline, appointments, 一类事, 首办核验, documents."""
    parent = bundle_case
    version = parent.bundle_version
    children = _children(parent)
    today = timezone.localdate()
    ready = ready_keys(parent) if parent.process_id else set()
    started = parent.process_id is not None
    entries = {e.pk: e for e in version.entries.all()}
    rows = []
    for c in children:
        entry = entries.get(c.bundle_entry_id)
        d = clock.deadline(c, today=today, paused_since=timezone.localdate(c.updated_at))
        key = f"e{c.bundle_entry_id}"
        rows.append({
            "id": c.pk, "case_no": c.case_no, "entry_key": key, "item_name": c.item_version.name, "department": c.department.name,
            "department_id": c.department_id, "stage": merging.effective_stage(version, entry) if entry else 1,
            "status": c.status, "status_label": c.get_status_display(), "denied": _denied(c), "due_date": c.due_date,
            "deadline": _deadline_dict(d), "waiting": c.status == S.SUBMITTED and started and key not in ready,
            "result_name": c.result_name, "certificate_no": c.certificate_no, "decision_reason": c.decision_reason,
            "mutual_recognition": (c.intake_check or {}).get("mutual_recognition"),
        })
    appointments = []
    for a in parent.appointments.prefetch_related("cases__department").order_by("scheduled_at"):
        appointments.append({"id": a.pk, "kind": a.kind, "kind_label": a.get_kind_display(), "scheduled_at": a.scheduled_at, "place": a.place,
                             "status": a.status, "status_label": a.get_status_display(), "note": a.note, "results": a.results,
                             "case_ids": [c.pk for c in a.cases.all()], "departments": [c.department.name for c in a.cases.all()],
                             "created_by": a.created_by_name})
    documents = [{"id": d.pk, "kind": d.kind, "label": d.get_kind_display(), "created_at": d.created_at,
                  "url": f"/api/v1/bundles/cases/{parent.pk}/documents/{d.pk}"} for d in parent.documents.all()]
    return {
        "bundle_case": parent, "id": parent.pk, "case_no": parent.case_no, "status": parent.status, "status_label": B(parent.status).label,
        "outcome": parent.outcome, "outcome_label": dict(BundleCase.OUTCOME_CHOICES).get(parent.outcome, ""),
        "bundle_code": version.bundle.code, "bundle_name": version.name, "version_no": version.version_no,
        "applicant_name": parent.applicant_name, "applicant_code": parent.masked_code, "contact_phone": parent.masked_phone,
        "lead_department": parent.lead_department.name, "refusal_policy": parent.refusal_policy,
        "refusal_policy_label": dict(BundleVersion.POLICY_CHOICES).get(parent.refusal_policy, ""), "order": version.order,
        "order_label": version.get_order_display(), "channel": parent.channel, "delivery_method": parent.delivery_method,
        "delivery_method_label": _method_label(parent.delivery_method), "delivery_address": parent.delivery_address,
        "submitted_at": parent.submitted_at, "accepted_at": parent.accepted_at, "ready_at": parent.ready_at, "delivered_at": parent.delivered_at,
        "promised_days": parent.promised_days, "due_date": parent.due_date, "deadline": _deadline_dict(bundle_deadline(parent, today)),
        "children": rows, "appointments": appointments, "market_requests": [dict(r, status_label=MARKET_STATUSES.get(r.get("status"), "")) for r in parent.market_requests],
        "verifications": parent.verifications, "commitments": parent.commitments, "documents": documents,
        "explanation": parent.explanation, "explanation_draft": default_explanation(parent, children) if parent.status == B.READY else "",
        "permit_no": parent.permit_no, "material_groups": version.material_groups, "form_data": parent.form_data,
        "form_fields": version.form_fields,
    }


def timeline(bundle_case):
    """One chronological list of the bundle's events and all its children's events, each row naming
    its item and department (the applicant's single timeline)."""
    rows = []
    for e in bundle_case.events.order_by("seq"):
        # Within one second a bundle step is written after the children's steps it took, except the submission.
        rows.append({"at": e.at, "source": "bundle", "order": (0 if e.action == "submit" else 2, e.seq), "case_id": None, "case_no": bundle_case.case_no, "item_name": "一件事",
                     "department": e.department_name or bundle_case.lead_department.name, "action": e.action, "label": e.label,
                     "actor_name": e.actor_name, "role": e.role, "opinion": e.opinion, "status_from": e.status_from, "status_to": e.status_to,
                     "status_label": B(e.status_to).label if e.status_to in B.values else "", "data": e.data})
    for e in CaseEvent.objects.filter(case__bundle_case=bundle_case).select_related("case__item_version", "case__department").order_by("at", "case_id", "seq"):
        rows.append({"at": e.at, "source": "case", "order": (1, e.case_id, e.seq), "case_id": e.case_id, "case_no": e.case.case_no,
                     "item_name": e.case.item_version.name, "department": e.case.department.name, "action": e.action, "label": e.label,
                     "actor_name": e.actor_name, "role": e.role, "opinion": e.opinion, "status_from": e.status_from, "status_to": e.status_to,
                     "status_label": S(e.status_to).label if e.status_to in S.values else "", "data": e.data})
    rows.sort(key=lambda r: (r["at"], r["order"]))
    for r in rows:
        del r["order"]
    return rows
