"""Carrying out one lifecycle action on a case: one transaction, the case row locked, the action
checked against the transition table and the actor's scope, the step's own rows written, one
hash-chained event appended, the applicant told. A concurrent change makes the loser's action
invalid for the new state, which is answered with 409 and the state the case is now in."""

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.http import Http404
from django.utils import timezone

from tongban.core import authz
from tongban.core.errors import Conflict, DomainError
from tongban.core.workdays import add_working_days
from tongban.directory.models import Membership

from . import clock, events, joint, lifecycle, notify, paperwork, proxy, workflow
from .events import Actor
from .models import (
    AT_WINDOW,
    Case,
    CaseMaterial,
    CasePart,
    DeferredMaterial,
    Delivery,
    DeliveryMethod,
    Mode,
    ProcessDefinition,
    SpecialProcedure,
    Supplement,
)
from .models import Status as S

# Sent inside the step's transaction after its event is appended (case, action, event, opinion): a
# bundle recomputes its derived status here, so a child's step and its parent change together.
step_taken = Signal()

# Steps of a bundle child taken only by the lead department's comprehensive window, and only through
# the bundle (its intake, release of a later stage, unified delivery, failure as a whole).
BUNDLE_FRONT = frozenset({"accept", "refuse_intake", "decide_at_once", "deliver", "terminate"})

MESSAGES = {
    "submit": ("申请已收件", "您的申请已提交，办件编号{case_no}，请等待受理。"),
    "accept": ("申请已受理", "办件{case_no}已受理，承诺于{due}前办结。"),
    "refuse_intake": ("申请不予受理", "办件{case_no}不予受理：{opinion}"),
    "request_supplement": ("请补齐补正材料", "办件{case_no}需要补齐补正，请登录查看一次性告知的全部内容后重新提交。"),
    "resubmit": ("补正材料已提交", "办件{case_no}的补正材料已提交。"),
    "decide_at_once": ("申请已办结（即办）", "办件{case_no}已当场办理完毕。"),
    "review": ("办件审查中", "办件{case_no}已完成“{step}”环节。"),
    "start_special": ("办件进入特别程序", "办件{case_no}进入特别程序（{kind}），期间暂停计时。"),
    "end_special": ("特别程序结束", "办件{case_no}的特别程序已结束，恢复计时。"),
    "approve": ("准予许可", "办件{case_no}已准予许可。"),
    "deny": ("不予许可", "办件{case_no}不予许可：{opinion}"),
    "conclude": ("办件已办结", "办件{case_no}已办结，请留意送达。"),
    "deliver": ("办理结果已送达", "办件{case_no}的办理结果已送达（{method}）。"),
    "withdraw": ("申请已撤回", "办件{case_no}已按您的要求撤回。"),
    "pay": ("缴费成功", "办件{case_no}已缴费{amount}元。"),
    "fulfil_deferred": ("容缺材料已补交", "办件{case_no}的容缺材料已补交。"),
    "flag_deferred_overdue": ("容缺材料已逾期", "办件{case_no}的容缺材料已超过承诺补交日期，请尽快补交。"),
}


def duties(case, transition):
    """The places whose staff may take `transition` on `case`, in order of preference."""
    if transition.duty == lifecycle.PART:
        return [lifecycle.PART]
    if case.mode == Mode.BUNDLE:  # the lead department's window is the child's receiving place
        if transition.action in BUNDLE_FRONT:
            return [lifecycle.RECEIVING]
        if transition.duty == lifecycle.EITHER or transition.action in ("request_supplement", "raise_problem"):
            return [lifecycle.COMPETENT, lifecycle.RECEIVING]
        return [lifecycle.COMPETENT]
    if not case.receiving_region_path:  # an online case has one place
        return [lifecycle.COMPETENT]
    if transition.duty == lifecycle.DELIVERY:
        return [lifecycle.RECEIVING if case.result_at_window else lifecycle.COMPETENT]
    if transition.duty == lifecycle.EITHER:
        return [lifecycle.COMPETENT, lifecycle.RECEIVING, lifecycle.PART]
    return [transition.duty]


def _place_of(case, duty, m, node, parts):
    """The department (or, for a window without one, the region) membership `m` acts for at `duty`'s
    place of the case, or None. A place run by another node is never acted for here: that node holds
    the authority over its steps."""
    if duty == lifecycle.COMPETENT:
        if case.competent_node and case.competent_node != node:
            return None
        if case.region_path.startswith(m.region.path) and m.department_id in (None, case.department_id):
            return m.department or case.department
    elif duty == lifecycle.RECEIVING:
        if case.receiving_node and case.receiving_node != node:
            return None
        if case.receiving_region_path.startswith(m.region.path) and m.department_id in (None, case.receiving_department_id):
            return m.department or case.receiving_department or m.region
    else:
        for part in parts:
            if part.status == CasePart.ACTIVE and part.node_id in ("", node) and part.region_path.startswith(m.region.path) \
                    and m.department_id in (None, part.department_id):
                return m.department or part.department or m.region
    return None


def resolve_actor(user, case, transition):
    """The record's view of who acts: an applicant on their own case, or staff through a membership
    whose role may take this action and whose region and department cover the place whose duty the
    step is (the competent place; on a cross-region case also the receiving window or a joint part)."""
    if lifecycle.APPLICANT in transition.actors and getattr(case.applicant, "user_id", None) == getattr(user, "pk", None):
        if case.competent_node and transition.duty != lifecycle.EITHER and case.competent_node != events.local_node_id():
            raise authz.PermissionDenied(f"该办件由办理地平台办理，请到办理地平台{transition.label}")
        return Actor(user=user, name=case.applicant_name, role=lifecycle.APPLICANT)
    staff_roles = transition.actors & lifecycle.STAFF
    if not {g[0] for g in authz.grants(user)} & staff_roles:  # grants are cached on the user: no query
        raise authz.PermissionDenied(f"您无权对该办件执行“{transition.label}”")
    memberships = Membership.objects.filter(user_id=getattr(user, "pk", None), is_active=True, role__in=staff_roles).select_related("region", "department", "window__hall")
    cross = case.mode != Mode.ONLINE
    node = events.local_node_id() if cross else ""
    places = duties(case, transition)
    parts = list(case.parts.all()) if lifecycle.PART in places else []
    for duty in places:
        for m in memberships:
            place = _place_of(case, duty, m, node, parts)
            if place is None:
                continue
            window = f"{m.window.hall.name} {m.window.number}号窗口" if m.window_id else ""
            return Actor(user=user, name=user.get_full_name() or user.username, role=m.role, department_name=place.name,
                         department_code=getattr(place, "credit_code", ""), region_code=m.region.code, window_name=window,
                         duty=duty if cross else "")
    raise authz.PermissionDenied(f"您无权对该办件执行“{transition.label}”")


def allowed(case, user, actions=None):
    """[(transition, actor)] of the actions `user` may take on `case` now — what `perform` would accept
    (status and scope; the step's own checks still run when it is performed)."""
    result = []
    for name in actions or lifecycle.TABLE:
        t = lifecycle.TABLE[name]
        if case.status not in t.sources or not t.actors - {lifecycle.SYSTEM} or name == "pay" or not _applies(case, name):
            continue
        try:
            result.append((t, resolve_actor(user, case, t)))
        except authz.PermissionDenied:
            continue
    return result


def _applies(case, action):
    """Whether a cross-region step makes sense for this case at all (offered as an action only then)."""
    if action in ("forward", "raise_problem", "conclude_part") and case.mode == Mode.ONLINE:
        return False
    if case.bundle_case_id and (action in BUNDLE_FRONT or action in ("forward", "submit", "withdraw")):
        return False
    if action == "confirm_paper":
        return case.paper_transfers.filter(status="sent").exists()
    if action == "conclude_part":
        return case.parts.filter(status=CasePart.ACTIVE).exists()
    return True


def perform(case_id, action, user=None, opinion="", params=None, actor=None, via_bundle=False):
    """Run one action. `actor` is given only by the system (tasks, payment callbacks); `via_bundle`
    only by the bundle service, for the steps a bundle takes on all its children at once."""
    t = lifecycle.get(action)
    params = params or {}
    opinion = (opinion or "").strip()
    if "\x00" in opinion or _has_nul(params):
        raise DomainError("意见或参数中含有不允许的字符（如空字符）", status=422)
    with transaction.atomic():
        if actor is None and not authz.filter_queryset(Case.objects.filter(pk=case_id), user).exists():
            raise Http404
        case = Case.objects.select_for_update().select_related("applicant", "department", "region", "implementation__item", "item_version").filter(pk=case_id).first()
        if case is None:
            raise Http404
        if actor is None:
            actor = resolve_actor(user, case, t)
        elif lifecycle.SYSTEM not in t.actors:
            raise DomainError("该动作不能由系统执行")
        if action == "submit" and case.status != S.DRAFT and params.get("token") and params["token"] == case.submit_token:
            return case  # the same submission again (double click, retried request): one case
        if case.bundle_case_id and action in BUNDLE_FRONT and not via_bundle:
            raise Conflict("该办件属于“一件事”，受理和出件由牵头部门在一件事办件中统一办理")
        if case.bundle_case_id and action in ("submit", "withdraw") and not via_bundle:
            raise Conflict("该办件属于“一件事”，请在一件事办件中整体提交或撤回")
        if case.status not in t.sources:
            raise Conflict(f"办件当前状态为“{lifecycle.status_label(case.status)}”，不能{t.label}（可能已被他人处理，请刷新后查看）")
        if t.opinion_required and not opinion:
            raise DomainError(f"请填写{t.opinion_required}", status=422)
        status_from = case.status
        handler = HANDLERS.get(action)
        try:
            data = (handler(case, actor, opinion, params) if handler else None) or {}
        except workflow.WorkflowError as exc:  # e.g. a gateway condition naming a field left empty
            raise DomainError(f"审查流程无法继续：{exc}", status=422) from None
        target = data.pop("_target", None) or t.target or case.status
        case.status = target
        case.save()
        after = data.pop("_after", None)
        event = events.append(case, action, data.pop("_label", None) or t.label, actor, status_from, target, opinion, data, duty=actor.duty)
        if case.mode in (Mode.PROXY, Mode.JOINT):
            from . import replication

            replication.publish(case, event)
            replication.tell_places(case, event)
        if after is not None:
            after()
        step_taken.send(sender=Case, case=case, action=action, event=event, opinion=opinion)
        # A bundle's applicant hears from the bundle (one notice per bundle step, one result).
        if action in MESSAGES and case.case_no and not case.bundle_case_id:
            title, body = MESSAGES[action]
            due = f"{case.due_date:%Y年%m月%d日}" if case.due_date else ""
            notify.applicant(case, title, body.format(case_no=case.case_no, opinion=opinion, due=due, **{k: data.get(k, "") for k in ("step", "kind", "method", "amount")}))
    return case


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _int_param(params, name, what):
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(f"{what}应为整数编号", status=422)
    return value


# --- handlers: the step's own rows; return event data ("_target" overrides the table's target) ----

def _submit(case, actor, opinion, params):
    from .intake import check_complete

    check_complete(case)
    from .numbering import next_case_no

    case.submitted_at = timezone.now()
    case.submit_token = params.get("token") or None
    materials = paperwork.material_rows(case)
    # The counter row stays locked until commit: take the number as late as the notice allows.
    case.case_no = next_case_no(case.region.code)
    paperwork.issue(case, "receipt", materials=materials)
    return {"materials": [m["name"] for m in materials], "commitments": [c["name"] for c in case.commitments]}


def _accept(case, actor, opinion, params):
    from .intake import missing_required

    missing = missing_required(case)
    if missing:
        raise DomainError(f"尚缺必要材料：{'、'.join(missing)}。请先要求补齐补正，或由申请人签署告知承诺后容缺受理", status=422)
    case.accepted_at = timezone.now()
    clock.start(case)
    deferred = []
    if case.commitments:
        due = add_working_days(timezone.localdate(), settings.TONGBAN_DEFERRED_DAYS).value
        for c in case.commitments:
            DeferredMaterial.objects.create(case=case, material_id=c["material_id"], commitment_text=c["text"], signed_by=c["signed_by"],
                                            signed_at=c["signed_at"], due_date=due)
            deferred.append(c["name"])
    _start_process(case)
    paperwork.issue(case, "acceptance")
    data = {"due_date": str(case.due_date), "deferred": deferred, "calendar_warning": case.calendar_warning}
    if case.mode == Mode.JOINT:
        joint.create_parts(case)
        data["_after"] = lambda: joint.after_step(case)
    return data


def _start_process(case):
    review = getattr(case.item_version, "review_process", None)
    if review is None or not review.bpmn_xml:
        return
    xml = review.bpmn_xml
    digest = hashlib.sha256(xml.encode()).hexdigest()
    definition = ProcessDefinition.objects.filter(sha256=digest).first()
    if definition is None:
        definition = ProcessDefinition.objects.create(sha256=digest, process_id=workflow.parse_definition(xml), bpmn_xml=xml)
    case.process = definition
    case.process_state = workflow.start(xml, dict(case.form_data))


def _refuse_intake(case, actor, opinion, params):
    case.decision_reason = opinion
    case.decided_at = timezone.now()
    paperwork.issue(case, "refusal")


def _request_supplement(case, actor, opinion, params):
    items = params.get("items") or []
    if not isinstance(items, list) or not items:
        raise DomainError("请列出需要补齐补正的全部内容（一次性告知）", status=422)
    clean, known = [], {m.pk: m.name for m in case.item_version.materials.all()}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise DomainError(f"第{n}项补正内容格式不正确", status=422)
        mid, problem = item.get("material_id"), str(item.get("problem") or "").strip()
        if mid is not None and (isinstance(mid, bool) or not isinstance(mid, int)):
            raise DomainError(f"第{n}项：材料编号应为整数", status=422)
        name = known.get(mid) if mid is not None else str(item.get("name") or "").strip()
        if mid is not None and name is None:
            raise DomainError(f"第{n}项：该事项没有这项材料", status=422)
        if not name or not problem or len(problem) > 300 or "\x00" in problem + name:
            raise DomainError(f"第{n}项：请写明材料名称和存在的问题（不超过300字）", status=422)
        clean.append({"material_id": mid, "name": name[:200], "problem": problem})
    note = str(params.get("note") or opinion or "")[:1000]
    Supplement.objects.create(case=case, items=clean, note=note)
    if case.accepted_at:
        clock.pause(case, "补齐补正")
    paperwork.issue(case, "supplement", supplement_items=clean, supplement_note=note)
    return {"items": clean}


def _resubmit(case, actor, opinion, params):
    supplement = case.supplements.filter(status=Supplement.OPEN).last()
    if supplement is not None:
        fresh = set(CaseMaterial.objects.filter(case=case, created_at__gte=supplement.requested_at).values_list("material_id", flat=True))
        missing = [i["name"] for i in supplement.items if i.get("material_id") and i["material_id"] not in fresh]
        if missing:
            raise DomainError(f"请先重新上传补正材料：{'、'.join(missing)}", status=422)
        supplement.status, supplement.answered_at = Supplement.ANSWERED, timezone.now()
        supplement.save(update_fields=["status", "answered_at"])
    pause = clock.open_pause(case)
    if pause is not None:
        clock.resume(case, pause)
    return {"_target": S.UNDER_REVIEW if case.accepted_at else S.SUBMITTED}


def _decide_at_once(case, actor, opinion, params):
    if case.case_kind != "1":
        raise DomainError("该事项为承诺件，不能即办；请先受理再审查", status=409)
    _accept(case, actor, opinion, params)
    case.decided_at = timezone.now()
    return {"_label": "即办（受理并准予）"}


def _review(case, actor, opinion, params):
    if case.process is None:
        raise DomainError("该事项未设置审查环节，可直接作出决定", status=409)
    xml, state = case.process.bpmn_xml, case.process_state
    parts = joint.part_steps(case)  # a joint part's step is concluded by its own department
    ready = [s for s in workflow.ready_steps(xml, state) if s.role == actor.role and s.name not in parts]
    step_id = params.get("step_id")
    if step_id is not None and not isinstance(step_id, str):
        raise DomainError("审查环节编号应为文字", status=422)
    step = next((s for s in ready if s.id == step_id), None) if step_id else (ready[0] if ready else None)
    if step is None:
        raise Conflict("当前没有您可以办理的审查环节（可能已被他人办理，请刷新后查看）")
    result = params.get("result") or "pass"
    if not isinstance(result, str) or result not in ("pass", "return"):
        raise DomainError("审查结论应为“通过”或“退回”", status=422)
    case.process_state, finished = workflow.complete_step(xml, state, step.id, {"opinion": opinion, "result": result, "step": step.name})
    data = {"step": step.name, "result": result, "finished": finished, "_label": step.name}
    if parts:
        data["_after"] = lambda: joint.after_step(case)
    return data


def review_steps(case):
    """(ready steps, finished) of the case's review process for display; ([], True) without one and
    ([], False) when its stored state cannot be read (deciding then stays blocked)."""
    if case.process_id is None or not case.process_state:
        return [], True
    try:
        xml = case.process.bpmn_xml
        return workflow.ready_steps(xml, case.process_state), workflow.is_finished(xml, case.process_state)
    except workflow.WorkflowError:
        return [], False


def _process_finished(case):
    return case.process is None or workflow.is_finished(case.process.bpmn_xml, case.process_state)


def _start_special(case, actor, opinion, params):
    kind = params.get("kind")
    kinds = dict(SpecialProcedure.KINDS)
    if not isinstance(kind, str) or kind not in kinds:
        raise DomainError(f"特别程序种类应为：{'、'.join(kinds.values())}", status=422)
    pause = clock.pause(case, kinds[kind])
    SpecialProcedure.objects.create(case=case, kind=kind, reason=opinion, started_at=timezone.now(), pause=pause)
    return {"kind": kinds[kind]}


def _end_special(case, actor, opinion, params):
    procedure = case.special_procedures.filter(ended_at__isnull=True).select_related("pause").last()
    procedure.ended_at, procedure.result = timezone.now(), opinion
    procedure.save(update_fields=["ended_at", "result"])
    clock.resume(case, procedure.pause)
    return {"kind": procedure.get_kind_display(), "paused_days": procedure.pause.working_days}


def _approve(case, actor, opinion, params):
    if not _process_finished(case):
        raise Conflict("审查环节尚未全部完成，不能作出决定")
    case.decided_at = timezone.now()
    case.decision_reason = opinion
    case.result_name = str(params.get("result_name") or case.item_version.result_name or "")[:200]
    case.certificate_no = str(params.get("certificate_no") or "")[:100]


def _deny(case, actor, opinion, params):
    if not _process_finished(case):
        raise Conflict("审查环节尚未全部完成，不能作出决定")
    case.decided_at = timezone.now()
    case.decision_reason = opinion
    paperwork.issue(case, "denial")


def _conclude(case, actor, opinion, params):
    if case.status == S.APPROVED and not case.fee_settled():
        raise Conflict(f"该办件应缴费用{case.fee_amount}元尚未缴纳，不能办结")
    owed = list(case.deferred_materials.exclude(status=DeferredMaterial.FULFILLED).values_list("material__name", flat=True))
    if case.status == S.APPROVED and owed:
        raise Conflict(f"容缺材料尚未补交：{'、'.join(owed)}，不能办结")
    case.concluded_at = timezone.now()
    if case.status == S.APPROVED:
        paperwork.issue(case, "conclusion")
    return {"result": lifecycle.status_label(case.status)}


def _deliver(case, actor, opinion, params):
    method = params.get("method") or case.delivery_method
    if not isinstance(method, str) or method not in DeliveryMethod.values:
        raise DomainError("送达方式不正确", status=422)
    courier, tracking = str(params.get("courier") or "").strip(), str(params.get("tracking_no") or "").strip()
    if method == DeliveryMethod.MAIL and (not courier or not tracking):
        raise DomainError("邮寄送达请填写快递公司和快递单号", status=422)
    if len(courier) > 60 or len(tracking) > 40:
        raise DomainError("快递公司或单号过长", status=422)
    recipient = str(params.get("recipient") or "").strip()
    if case.mode != Mode.ONLINE and method in AT_WINDOW and not recipient:
        raise DomainError("窗口领取或异地打印交付时请登记签收人（领取人）", status=422)
    case.delivered_at = timezone.now()
    Delivery.objects.create(case=case, method=method, courier=courier, tracking_no=tracking, address=case.delivery_address,
                            place=str(params.get("place") or "")[:200], recipient=str(params.get("recipient") or "")[:60], delivered_at=case.delivered_at)
    return {"method": DeliveryMethod(method).label, "courier": courier, "tracking_no": tracking}


def _joint_appointment(case, actor, opinion, params):
    """联合勘验/评审/验收 of a bundle child: what was scheduled or answered, for the child's record."""
    if not case.bundle_case_id:
        raise DomainError("联合勘验、评审、验收仅用于一件事的事项", status=422)
    return {k: params[k] for k in ("appointment", "kind", "scheduled_at", "place", "departments", "_label") if k in params}


def _raise_problem(case, actor, opinion, params):
    """问题反馈: a problem either place raises on the case (or its answer), seen by the other place."""
    import uuid

    from . import problems

    data = {"uid": str(uuid.uuid4())}
    if params.get("reply_to"):
        data["reply_to"] = str(params["reply_to"])[:40]
    else:
        data["title"] = str(params.get("title") or "").strip() or "问题反馈"
    found = problems.record(case, data, opinion, side=actor.duty, author_name=actor.name, region_code=actor.region_code,
                            department_name=actor.department_name)
    if "reply_to" in data:
        return {**data, "reply_to": str(found.work_order.uid), "title": found.work_order.title, "_label": "问题答复"}
    return data


def _pay(case, actor, opinion, params):
    payment = params["payment"]
    return {"amount": f"{Decimal(payment.amount):.2f}", "reference": payment.reference, "provider": payment.provider}


def _fulfil_deferred(case, actor, opinion, params):
    deferred = case.deferred_materials.filter(pk=_int_param(params, "deferred_id", "容缺材料")).exclude(status=DeferredMaterial.FULFILLED).first()
    if deferred is None:
        raise DomainError("没有待补交的该项容缺材料", status=404)
    if not CaseMaterial.objects.filter(case=case, material_id=deferred.material_id, created_at__gte=case.accepted_at).exists():
        raise DomainError(f"请先上传“{deferred.material.name}”", status=422)
    deferred.status, deferred.fulfilled_at = DeferredMaterial.FULFILLED, timezone.now()
    deferred.save(update_fields=["status", "fulfilled_at"])
    return {"material": deferred.material.name}


def _flag_deferred_overdue(case, actor, opinion, params):
    names = []
    for d in case.deferred_materials.filter(status=DeferredMaterial.PENDING, due_date__lt=timezone.localdate()).select_related("material"):
        d.status = DeferredMaterial.OVERDUE
        d.save(update_fields=["status"])
        names.append(d.material.name)
    return {"materials": names}


HANDLERS = {
    "submit": _submit, "accept": _accept, "refuse_intake": _refuse_intake, "request_supplement": _request_supplement,
    "resubmit": _resubmit, "decide_at_once": _decide_at_once, "review": _review, "start_special": _start_special,
    "end_special": _end_special, "approve": _approve, "deny": _deny, "conclude": _conclude, "deliver": _deliver,
    "pay": _pay, "fulfil_deferred": _fulfil_deferred, "flag_deferred_overdue": _flag_deferred_overdue,
    "forward": proxy.forward_step, "confirm_paper": proxy.confirm_paper_step, "conclude_part": joint.conclude_part_step,
    "raise_problem": _raise_problem, "joint_appointment": _joint_appointment,
}
