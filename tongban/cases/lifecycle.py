"""The national case lifecycle as one explicit transition table.

Every change of `Case.status` goes through `handling.perform`, which looks the action up here: from
which states it may run, the state it leads to, who may take it, and whether an opinion is required.
Actions with `target=None` record an event without changing the state (a review step, a payment).
"""

from dataclasses import dataclass

from .models import Status as S

APPLICANT, CLERK, APPROVER, SYSTEM = "applicant", "clerk", "approver", "system"
STAFF = frozenset({CLERK, APPROVER})


@dataclass(frozen=True)
class Transition:
    action: str
    label: str  # 环节 / 业务动作 name in the record
    sources: frozenset
    target: str | None
    actors: frozenset
    opinion_required: str = ""  # the Chinese name of the required opinion, e.g. "不予受理理由"
    # Whose duty the step is on a cross-region case: the competent place (办理地), the receiving window
    # (收件地), a joint part's department (联办地), "either" place, or "delivery" (the receiving window
    # when the result goes back there for pickup or printing, otherwise the competent place).
    duty: str = "competent"


def _t(action, label, sources, target, actors, opinion_required="", duty="competent"):
    return Transition(action, label, frozenset(sources), target, frozenset(actors), opinion_required, duty)


BEFORE_DECISION = (S.SUBMITTED, S.SUPPLEMENT, S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL)
IN_REVIEW = (S.ACCEPTED, S.UNDER_REVIEW)
AFTER_SUBMISSION = tuple(s for s in S.values if s != S.DRAFT)
RECEIVING, COMPETENT, PART, EITHER, DELIVERY = "receiving", "competent", "part", "either", "delivery"

TABLE = {t.action: t for t in [
    _t("submit", "收件", [S.DRAFT], S.SUBMITTED, [APPLICANT, CLERK]),
    _t("withdraw", "撤回申请", BEFORE_DECISION, S.WITHDRAWN, [APPLICANT]),
    # SYSTEM: a later stage of a bundle is accepted when the stage before it has been concluded.
    _t("accept", "受理", [S.SUBMITTED], S.ACCEPTED, [CLERK, SYSTEM]),
    _t("refuse_intake", "不予受理", [S.SUBMITTED], S.REFUSED, [CLERK], "不予受理理由"),
    _t("request_supplement", "补齐补正", [S.SUBMITTED, S.UNDER_REVIEW, S.ACCEPTED], S.SUPPLEMENT, STAFF),
    # Back to where the case was: before acceptance → 收件; after → 审查 (handling picks the target).
    _t("resubmit", "补正提交", [S.SUPPLEMENT], None, [APPLICANT, CLERK], duty=EITHER),
    _t("decide_at_once", "即办", [S.SUBMITTED], S.APPROVED, [CLERK]),
    _t("review", "审查", IN_REVIEW, S.UNDER_REVIEW, STAFF, "审查意见"),
    _t("start_special", "特别程序", IN_REVIEW, S.SPECIAL, [APPROVER], "启动理由"),
    _t("end_special", "特别程序结束", [S.SPECIAL], S.UNDER_REVIEW, [APPROVER], "特别程序结果"),
    _t("approve", "准予许可", IN_REVIEW, S.APPROVED, [APPROVER]),
    _t("deny", "不予许可", IN_REVIEW, S.DENIED, [APPROVER], "不予许可理由"),
    _t("conclude", "办结", [S.APPROVED, S.DENIED], S.CONCLUDED, STAFF),
    _t("deliver", "送达", [S.CONCLUDED], S.DELIVERED, STAFF, duty=DELIVERY),
    _t("pay", "缴费", [S.SUBMITTED, S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED], None, [APPLICANT, SYSTEM]),
    _t("fulfil_deferred", "补交容缺材料", [S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED, S.DENIED, S.CONCLUDED], None, [APPLICANT, CLERK], duty=EITHER),
    # Cross-region handling (收受分离, 多地联办).
    _t("forward", "代收转递", [S.DRAFT], S.SUBMITTED, [CLERK], duty=RECEIVING),
    _t("receive_handoff", "办理地接收", [S.SUBMITTED], None, [SYSTEM]),
    _t("confirm_paper", "签收纸质材料", AFTER_SUBMISSION, None, STAFF),
    _t("assign_parts", "分派联办事项", [S.ACCEPTED, S.UNDER_REVIEW], None, [SYSTEM]),
    _t("conclude_part", "联办部门办结", [S.ACCEPTED, S.UNDER_REVIEW], None, STAFF, "联办意见", duty=PART),
    _t("raise_problem", "问题反馈", AFTER_SUBMISSION, None, STAFF, "问题描述", duty=EITHER),
    # 一件事 that failed as a whole (refusal policy "all or nothing"): its other items stop.
    _t("terminate", "终止办理（一件事未办成）", BEFORE_DECISION + (S.APPROVED,), S.TERMINATED, [SYSTEM], duty=RECEIVING),
    # 联合勘验/评审/验收 of a bundle, scheduled by the lead department and answered by each department:
    # recorded on every participating child without changing its state.
    _t("joint_appointment", "联合勘验评审验收", IN_REVIEW + (S.SPECIAL,), None, [SYSTEM], duty=RECEIVING),
    _t("flag_overdue", "超期预警", BEFORE_DECISION + (S.APPROVED, S.DENIED), None, [SYSTEM]),
    _t("flag_deferred_overdue", "容缺材料逾期", [S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED, S.DENIED, S.CONCLUDED, S.DELIVERED], None, [SYSTEM]),
]}

# What the staff workbench offers as buttons, in this order.
STAFF_ACTIONS = ["forward", "accept", "decide_at_once", "request_supplement", "refuse_intake", "confirm_paper", "review",
                 "conclude_part", "start_special", "end_special", "approve", "deny", "conclude", "deliver", "raise_problem"]


def get(action):
    try:
        return TABLE[action]
    except KeyError:
        from tongban.core.errors import DomainError

        raise DomainError(f"未知的办理动作“{action}”", status=404) from None


def status_label(status):
    return S(status).label if status in S.values else status
