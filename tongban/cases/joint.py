"""多地联办: the accepting (competent) place runs the item's review process; the steps named after a
joint partner of the implementation are parts, handled by that partner's department at its own place
(in parallel or in order, as the BPMN says). A part's place gets its own copy of the case (materials and
history) when its step becomes ready; concluding the part completes the step at the accepting place,
which then hands out the next parts and, when the process has finished, decides one unified result."""

from django.utils import timezone

from tongban.core.errors import Conflict

from . import events, workflow
from .events import Actor
from .models import CasePart, Mode


def create_parts(case):
    """At acceptance: one part per joint partner of the implementation (waiting for its step)."""
    from tongban.exchange.service import node_for_region

    if case.mode != Mode.JOINT or case.parts.exists():
        return
    partners = case.implementation.joint_partners.select_related("department__region").order_by("id")
    CasePart.objects.bulk_create([
        CasePart(case=case, seq=n, step_name=p.step_name, department=p.department, department_name=p.department.name,
                 department_code=p.department.credit_code, region_code=p.department.region.code, region_path=p.department.region.path,
                 node_id=getattr(node_for_region(p.department.region.path), "node_id", ""))
        for n, p in enumerate(partners, 1)
    ])


def part_steps(case):
    return set(case.parts.values_list("step_name", flat=True)) if case.mode == Mode.JOINT else set()


def _activate_ready(case):
    """Parts whose step is now ready become active; returns them."""
    if case.process is None or not case.process_state:
        return []
    ready = {s.name for s in workflow.ready_steps(case.process.bpmn_xml, case.process_state)}
    newly = list(case.parts.filter(status=CasePart.WAITING, step_name__in=ready))
    for part in newly:
        part.status = CasePart.ACTIVE
        part.save(update_fields=["status"])
    return newly


def after_step(case):
    """After a step at the accepting place: hand out the parts whose turn it is (one recorded event;
    a part at another node receives its copy of the case before the event reaches it)."""
    from . import notify, replication

    newly = _activate_ready(case)
    if not newly:
        return
    here = replication.self_id()
    for node in sorted({p.node_id for p in newly if p.node_id and p.node_id != here} - set(case.exchange_mark.get("nodes", []))):
        replication.send_copy(case, node, replication.JOINT_PART)
    who = Actor(name=f"{case.department.name}（通办平台）", department_name=case.department.name, department_code=case.department.credit_code,
                region_code=case.region.code, duty="competent")
    data = {"parts": [{"seq": p.seq, "step": p.step_name, "department": p.department_name} for p in newly]}
    event = events.append(case, "assign_parts", "分派联办事项", who, case.status, case.status, "", data, duty="competent")
    replication.publish(case, event)
    notify.part_staff(case, "收到多地联办事项", f"办件{case.case_no}有需要本部门办理的联办事项，请及时办理。")


def conclude_part_step(case, actor, opinion, params):
    """The `conclude_part` handler: the acting department's active part is concluded; at the accepting
    place its review step completes at once (elsewhere when the event arrives there)."""
    from . import replication

    part = case.parts.filter(status=CasePart.ACTIVE, department_code=actor.department_code).order_by("seq").first()
    if part is None:
        raise Conflict("没有需要本部门办理的联办事项（可能已办结，请刷新后查看）")
    part.status, part.opinion, part.concluded_by, part.concluded_at = CasePart.CONCLUDED, opinion, actor.name, timezone.now()
    part.save(update_fields=["status", "opinion", "concluded_by", "concluded_at"])
    data = {"part": part.seq, "step": part.step_name, "department": part.department_name}
    if case.competent_node in ("", replication.self_id()):
        _complete_step(case, part, opinion, actor.name)
        data["_after"] = lambda: after_step(case)
    return data


def part_concluded(case, seq, opinion):
    """At the accepting place, a part concluded elsewhere: complete its review step, hand out the next."""
    part = case.parts.filter(seq=seq).first()
    if part is None:
        return
    _complete_step(case, part, opinion, part.concluded_by)
    case.save(update_fields=["process_state", "updated_at"])
    after_step(case)


def _complete_step(case, part, opinion, who):
    ready = [s for s in workflow.ready_steps(case.process.bpmn_xml, case.process_state) if s.name == part.step_name]
    if not ready:
        return  # already completed (the same conclusion seen twice)
    case.process_state, _finished = workflow.complete_step(case.process.bpmn_xml, case.process_state, ready[0].id,
                                                           {"opinion": opinion, "result": "pass", "step": part.step_name, "by": who})
