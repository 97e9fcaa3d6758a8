"""The action forms of the case page: which lifecycle actions this user may take on this case now,
and how a posted form becomes the (opinion, params) that `cases.services.perform` takes."""

from dataclasses import dataclass, field

from tongban.cases import handling
from tongban.cases.lifecycle import STAFF_ACTIONS
from tongban.cases.models import DeliveryMethod, SpecialProcedure

BUTTONS = {
    "accept": "受理", "decide_at_once": "即办（受理并准予）", "request_supplement": "要求补齐补正", "refuse_intake": "不予受理",
    "review": "通过", "start_special": "启动特别程序", "end_special": "结束特别程序", "approve": "准予许可", "deny": "不予许可",
    "conclude": "办结", "deliver": "登记送达", "forward": "转递办理地", "confirm_paper": "签收纸质材料", "conclude_part": "办结联办事项",
    "raise_problem": "提交问题反馈",
}
DONE = {
    "accept": "已受理", "decide_at_once": "已即办（受理并准予）", "request_supplement": "已发出补齐补正告知", "refuse_intake": "已作出不予受理决定",
    "review": "已完成审查环节", "start_special": "已启动特别程序", "end_special": "已结束特别程序", "approve": "已准予许可",
    "deny": "已作出不予许可决定", "conclude": "已办结", "deliver": "已登记送达", "forward": "已转递办理地",
    "confirm_paper": "已签收纸质材料", "conclude_part": "已办结联办事项", "raise_problem": "已提交问题反馈",
}
DANGER = {"refuse_intake", "deny"}
EXTRA_ROWS = 3  # free rows of a supplement notice for things that are not on the material list


@dataclass
class ActionForm:
    action: str
    label: str  # 环节
    button: str
    opinion_label: str
    opinion_required: bool
    danger: bool = False
    extra: dict = field(default_factory=dict)


def _opinion_label(t):
    if t.opinion_required:
        return t.opinion_required
    if t.action == "request_supplement":
        return "补正说明"
    return f"{t.label}意见"


def available(case, user, ready_steps=(), finished=True):
    """The forms to show: the action runs from the case's status and one of the user's memberships
    may take it on this case (the same rule `perform` applies)."""
    forms, notes = [], []
    for t, actor in handling.allowed(case, user, STAFF_ACTIONS):
        action = t.action
        extra = {}
        if action == "decide_at_once" and case.case_kind != "1":
            continue
        if action == "review":
            steps = [s for s in ready_steps if s.role == actor.role]
            if not steps:
                continue
            extra["steps"] = steps
        if action in ("approve", "deny") and not finished:
            if action == "approve":
                notes.append("审查环节尚未全部完成，完成后才能作出准予或不予许可的决定。")
            continue
        if action == "request_supplement":
            extra["materials"] = list(case.item_version.materials.order_by("seq"))
            extra["rows"] = range(1, EXTRA_ROWS + 1)
        if action == "start_special":
            extra["kinds"] = SpecialProcedure.KINDS
        if action == "approve":
            extra["result_name"] = case.result_name or case.item_version.result_name
        if action == "raise_problem":  # offered on cross-region cases only (handling.allowed)
            extra["open_problems"] = list(case.work_orders.exclude(status="closed").order_by("id"))
        if action == "deliver":
            extra["back_to_window"] = case.result_at_window
            extra["methods"] = DeliveryMethod.choices
            extra["method"] = case.delivery_method
            extra["address"] = case.delivery_address
        forms.append(ActionForm(action, t.label, BUTTONS[action], _opinion_label(t), bool(t.opinion_required), action in DANGER, extra))
    return forms, notes


def _text(post, name, limit=300):
    return str(post.get(name) or "").strip()[:limit]


def params_from(action, post):
    """(opinion, params) from the posted form of `action`."""
    opinion = str(post.get("opinion") or "")[:4000]
    params = {}
    if action == "request_supplement":
        items = []
        checked = set(post.getlist("sup_material"))
        ids = sorted({k.removeprefix("sup_problem_") for k in post if k.startswith("sup_problem_")} | checked, key=lambda v: (len(v), v))
        for mid in ids:
            problem = str(post.get(f"sup_problem_{mid}") or "").strip()
            if mid in checked or problem:
                try:
                    items.append({"material_id": int(mid), "problem": problem})
                except ValueError:
                    continue
        for n in range(1, EXTRA_ROWS + 1):
            name, problem = _text(post, f"sup_other_name_{n}", 200), str(post.get(f"sup_other_problem_{n}") or "").strip()
            if name or problem:
                items.append({"name": name, "problem": problem})
        params = {"items": items, "note": opinion.strip()}
    elif action == "review":
        params = {"step_id": _text(post, "step_id", 64) or None, "result": _text(post, "result", 10) or "pass"}
    elif action == "start_special":
        params = {"kind": _text(post, "kind", 20)}
    elif action == "approve":
        params = {"result_name": _text(post, "result_name", 200), "certificate_no": _text(post, "certificate_no", 100)}
    elif action == "deliver":
        params = {key: _text(post, key, 200) for key in ("method", "courier", "tracking_no", "place", "recipient")}
    elif action == "forward":
        courier, tracking = _text(post, "courier", 60), _text(post, "tracking_no", 40)
        params = {"paper": {"courier": courier, "tracking_no": tracking}} if courier or tracking else {}
    elif action == "raise_problem":
        params = {"title": _text(post, "title", 100), "reply_to": _text(post, "reply_to", 40) or None}
    return opinion, params
