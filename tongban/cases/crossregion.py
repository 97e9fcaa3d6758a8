"""What a cross-region case shows of its places (for the API and the workbench): the receiving window,
the window's checks, paper originals in the post, joint parts and the problems either side raised."""

import uuid

from tongban.core.errors import DomainError

from .models import Duty, Mode


def parse_uid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise DomainError("办件全局编号格式不正确", status=422) from None


def receiving(case):
    if not case.receiving_region_id:
        return None
    return {
        "region_code": case.receiving_region.code, "region_name": case.receiving_region.full_name() or case.receiving_region.name,
        "department": case.receiving_department.name if case.receiving_department_id else "",
        "window": str(case.receiving_window) if case.receiving_window_id else "", "basis": case.receiving_basis,
        "node": case.receiving_node,
    }


def problems(case):
    return [
        {"uid": str(w.uid), "side": w.raised_side, "side_label": Duty(w.raised_side).label if w.raised_side in Duty.values else w.raised_side,
         "title": w.title, "body": w.body, "author": w.raised_by_name, "status": w.status, "status_label": w.get_status_display(),
         "created_at": w.created_at.isoformat(),
         "replies": [{"author": r.author_name, "side": r.side, "side_label": Duty(r.side).label if r.side in Duty.values else r.side,
                      "body": r.body, "created_at": r.created_at.isoformat()} for r in w.replies.order_by("id")]}
        for w in case.work_orders.prefetch_related("replies").order_by("id")
    ]


def detail(case):
    if case.mode == Mode.ONLINE:  # one place: nothing to look up
        return {"uid": str(case.uid), "mode": case.mode, "mode_label": Mode(case.mode).label, "receiving": None, "competent_node": "",
                "intake_check": {}, "paper_transfers": [], "parts": [], "problems": []}
    return {
        "uid": str(case.uid), "mode": case.mode, "mode_label": Mode(case.mode).label, "receiving": receiving(case),
        "competent_node": case.competent_node, "intake_check": case.intake_check,
        "paper_transfers": [{"courier": p.courier, "tracking_no": p.tracking_no, "status": p.status, "status_label": p.get_status_display(),
                             "sent_at": p.sent_at.isoformat(), "received_at": p.received_at.isoformat() if p.received_at else None,
                             "received_by": p.received_by} for p in case.paper_transfers.order_by("id")],
        "parts": [{"seq": p.seq, "step_name": p.step_name, "department": p.department_name, "region_code": p.region_code,
                   "node": p.node_id, "status": p.status, "status_label": p.get_status_display(), "opinion": p.opinion,
                   "concluded_by": p.concluded_by, "concluded_at": p.concluded_at.isoformat() if p.concluded_at else None}
                  for p in case.parts.all()],
        "problems": problems(case),
    }
