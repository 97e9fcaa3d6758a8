"""Keeping every place of a cross-region case in step: the receiving window, the competent place and
the departments of joint parts may run on different platform nodes, each with its own copy of the case.

A step is taken on the node whose place has the duty for it (cases.handling checks that); `publish`
then tells the other nodes, in the same transaction, through the exchange's outbox (a local hand-off
goes through the same `exchange.send`). A message carries the event as it was recorded where it
happened (its `origin`, "node:seq") and what changed; receivers append the event to their own chain
once (by origin) and merge what changed:

* the case's own fields come from a state change or from the competent node (which holds the review
  process), never from a part's or a window's side note, so a late message cannot roll them back;
* materials and notices are added once by origin; supplements, paper transfers and parts only move
  forward in their status order.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from tongban.core.models import StoredBlob
from tongban.exchange import service as exchange

from . import events
from .events import Actor
from .models import Case, CaseDocument, CaseEvent, CaseMaterial, CasePart, Delivery, PaperTransfer, Supplement

HANDOFF, JOINT_PART = "case_handoff", "joint_part"
# The message type of each step (the vocabulary); other steps travel as status updates.
EVENT_TYPES = {
    "accept": "acceptance", "decide_at_once": "acceptance", "refuse_intake": "refusal",
    "request_supplement": "supplement_request", "resubmit": "supplement_answer",
    "start_special": "special_procedure", "end_special": "special_procedure",
    "approve": "result", "deny": "result", "conclude": "result", "deliver": "result",
    "raise_problem": "problem_report", "conclude_part": "status_update", "assign_parts": "status_update",
}
EVENT_MESSAGE_TYPES = sorted(set(EVENT_TYPES.values()) | {"status_update"})

CASE_FIELDS = ("status", "case_no", "promised_days", "statutory_days", "paused_days", "calendar_warning", "decision_reason",
               "result_name", "certificate_no", "delivery_method", "delivery_address", "intake_check", "form_data", "commitments")
DATE_FIELDS = ("due_date", "statutory_due_date")
TIME_FIELDS = ("submitted_at", "accepted_at", "decided_at", "concluded_at", "delivered_at")
PART_ORDER = {CasePart.WAITING: 0, CasePart.ACTIVE: 1, CasePart.CONCLUDED: 2}


self_id = events.local_node_id


def holders(case):
    """Every node known to hold a copy of the case (a joint part's node only once it was sent one)."""
    return sorted(n for n in {case.receiving_node, case.competent_node, self_id(), *case.exchange_mark.get("nodes", [])} if n)


def peers(case):
    """The other nodes holding a copy of the case."""
    return [n for n in holders(case) if n != self_id()]


# --- what travels ---------------------------------------------------------------------------------

def _iso(value):
    return value.isoformat() if value else None


def event_record(event):
    return {
        "origin": event.origin, "action": event.action, "label": event.label, "actor_name": event.actor_name, "role": event.role,
        "department_name": event.department_name, "department_code": event.department_code, "region_code": event.region_code,
        "window_name": event.window_name, "at": _iso(event.at), "status_from": event.status_from, "status_to": event.status_to,
        "opinion": event.opinion, "data": event.data, "duty": event.duty,
    }


def _material_record(m, node):
    return {"origin": m.origin or f"{node}:{m.pk}", "material_seq": m.material.seq if m.material_id else None, "name": m.name,
            "sha256": m.blob_id, "file_name": m.file_name, "round": m.round, "how": m.how}


def _document_record(d, node):
    return {"origin": d.origin or f"{node}:{d.pk}", "kind": d.kind, "content": d.content}


def _case_fields(case):
    data = {f: getattr(case, f) for f in CASE_FIELDS}
    data.update({f: _iso(getattr(case, f)) for f in DATE_FIELDS + TIME_FIELDS})
    data["fee_amount"] = str(case.fee_amount)
    return data


def _side_rows(case):
    return {
        "supplements": [{"items": s.items, "note": s.note, "status": s.status, "requested_at": _iso(s.requested_at), "answered_at": _iso(s.answered_at)}
                        for s in case.supplements.order_by("id")],
        "paper": [{"courier": p.courier, "tracking_no": p.tracking_no, "status": p.status, "sent_at": _iso(p.sent_at),
                   "received_at": _iso(p.received_at), "received_by": p.received_by} for p in case.paper_transfers.order_by("id")],
        "parts": [{"seq": p.seq, "step_name": p.step_name, "department_code": p.department_code, "department_name": p.department_name,
                   "region_code": p.region_code, "region_path": p.region_path, "node_id": p.node_id, "status": p.status,
                   "opinion": p.opinion, "concluded_by": p.concluded_by, "concluded_at": _iso(p.concluded_at)} for p in case.parts.all()],
        "delivery": _delivery(case),
    }


def _delivery(case):
    d = Delivery.objects.filter(case=case).first()
    if d is None:
        return None
    return {"method": d.method, "courier": d.courier, "tracking_no": d.tracking_no, "address": d.address, "place": d.place,
            "recipient": d.recipient, "delivered_at": _iso(d.delivered_at)}


def _new_files(case, everything=False):
    """Materials and notices made on this node and not yet sent (or all of them, for a first copy)."""
    node, mark = self_id(), case.exchange_mark
    materials = case.materials.select_related("material")
    documents = case.documents.all()
    if not everything:
        materials = materials.filter(origin="", pk__gt=mark.get("material", 0))
        documents = documents.filter(origin="", pk__gt=mark.get("document", 0))
    materials, documents = list(materials.order_by("id")), list(documents.order_by("id"))
    own_m = [m.pk for m in materials if not m.origin]
    own_d = [d.pk for d in documents if not d.origin]
    if own_m:
        mark["material"] = max(own_m + [mark.get("material", 0)])
    if own_d:
        mark["document"] = max(own_d + [mark.get("document", 0)])
    return [_material_record(m, node) for m in materials], [_document_record(d, node) for d in documents]


def snapshot(case):
    """Everything a node needs to hold its own copy of the case: sent once to a node that joins."""
    impl, version, applicant = case.implementation, case.item_version, case.applicant
    materials, documents = _new_files(case, everything=True)
    return {
        "case_uid": str(case.uid), "mode": case.mode, "channel": case.channel, "case_kind": case.case_kind,
        "implementation_code": impl.implementation_code, "item_code": impl.item.basic_code, "version_no": version.version_no,
        "receiving": {"region_code": case.receiving_region.code if case.receiving_region_id else "",
                      "department_code": case.receiving_department.credit_code if case.receiving_department_id else "",
                      "basis": case.receiving_basis},
        "receiving_node": case.receiving_node, "competent_node": case.competent_node,
        "applicant": {"kind": applicant.kind, "applicant_type": applicant.applicant_type, "name": applicant.name,
                      "id_number": applicant.id_number, "credit_code": applicant.credit_code, "agent_name": applicant.agent_name,
                      "agent_id_number": applicant.agent_id_number, "phone": case.contact_phone},
        "case": _case_fields(case), **_side_rows(case), "materials": materials, "documents": documents,
        "events": [event_record(e) for e in case.events.order_by("seq")], "holders": holders(case),
    }


def _blobs(payload):
    shas = {m["sha256"] for m in payload.get("materials", [])}
    for value in (payload.get("case", {}).get("form_data") or {}).values():
        if isinstance(value, dict) and value.get("sha256"):
            shas.add(value["sha256"])
    return sorted(shas)


def _remember(case, *nodes):
    known = set(case.exchange_mark.get("nodes", []))
    new = {n for n in nodes if n and n != self_id()} - known
    if new:
        case.exchange_mark["nodes"] = sorted(known | new)


def send_copy(case, node, kind=HANDOFF):
    """Hand the case to `node` (the competent place, or a joint part's place) with all it needs."""
    _remember(case, node)
    payload = snapshot(case)
    Case.objects.filter(pk=case.pk).update(exchange_mark=case.exchange_mark)
    _send(node, kind, payload, case)


def _send(node, kind, payload, case):
    """Into the outbox within the step's transaction; a place whose node cannot be reached by the exchange
    at all (unregistered, suspended) refuses the step, which then changes nothing."""
    try:
        exchange.send(node, kind, payload, stream=str(case.uid), blobs=_blobs(payload))
    except exchange.PermanentError as exc:
        from tongban.core.errors import DomainError

        raise DomainError(f"无法向节点“{node}”发送：{exc}", status=409) from None


def publish(case, event):
    """After a local step on a cross-region case: the hand-off itself, or the event to every other node."""
    if event.action == "forward":
        if case.competent_node == self_id():  # both places on this node: the same hand-off, locally
            _send(self_id(), HANDOFF, {"case_uid": str(case.uid)}, case)
        else:
            send_copy(case, case.competent_node)
        return
    others = peers(case)
    if not others:
        return
    materials, documents = _new_files(case)
    payload = {"case_uid": str(case.uid), "event": event_record(event), "case": _case_fields(case), **_side_rows(case),
               "materials": materials, "documents": documents, "holders": holders(case)}
    Case.objects.filter(pk=case.pk).update(exchange_mark=case.exchange_mark)
    for node in others:
        _send(node, EVENT_TYPES.get(event.action, "status_update"), payload, case)


# --- applying what arrives ------------------------------------------------------------------------

def _locked(uid):
    return Case.objects.select_for_update().select_related("implementation", "item_version", "region", "department").filter(uid=uid).first()


def _mirror_actor(record):
    return Actor(name=record["actor_name"], role=record["role"], department_name=record["department_name"],
                 department_code=record["department_code"], region_code=record["region_code"], window_name=record["window_name"])


def _append_mirrored(case, record):
    if CaseEvent.objects.filter(case=case, origin=record["origin"]).exists():
        return None
    return events.append(case, record["action"], record["label"], _mirror_actor(record), record["status_from"], record["status_to"],
                         record["opinion"], record["data"], duty=record["duty"], origin=record["origin"],
                         at=parse_datetime(record["at"]) if record.get("at") else None)


def _set_fields(case, fields):
    for f in CASE_FIELDS:
        if f in fields:
            setattr(case, f, fields[f])
    for f in DATE_FIELDS:
        setattr(case, f, parse_date(fields[f]) if fields.get(f) else None)
    for f in TIME_FIELDS:
        setattr(case, f, parse_datetime(fields[f]) if fields.get(f) else None)
    if fields.get("fee_amount") is not None:
        case.fee_amount = fields["fee_amount"]


def _merge_files(case, payload):
    from tongban.catalog.models import Material

    seqs = {m.seq: m for m in Material.objects.filter(version=case.item_version)}
    have = set(case.materials.exclude(origin="").values_list("origin", flat=True))
    node = self_id()
    new = [m for m in payload.get("materials", []) if m["origin"] not in have and not m["origin"].startswith(f"{node}:")]
    stored = set(StoredBlob.objects.filter(pk__in={m["sha256"] for m in new}).values_list("pk", flat=True)) if new else set()
    for m in new:
        if m["sha256"] not in stored:
            raise exchange.PermanentError(f"材料“{m['name']}”的文件未随消息到达")
        CaseMaterial.objects.create(case=case, material=seqs.get(m["material_seq"]), name=m["name"][:200], blob_id=m["sha256"],
                                    file_name=m["file_name"][:255], round=m["round"], how=m["how"][:20], origin=m["origin"])
    docs = set(case.documents.exclude(origin="").values_list("origin", flat=True))
    for d in payload.get("documents", []):
        if d["origin"] in docs or d["origin"].startswith(f"{node}:"):
            continue
        CaseDocument.objects.create(case=case, kind=d["kind"], content=d["content"], origin=d["origin"])


def _merge_side_rows(case, payload):
    existing = list(case.supplements.order_by("id"))
    for i, s in enumerate(payload.get("supplements", [])):
        if i < len(existing):
            row = existing[i]
            if row.status == Supplement.OPEN and s["status"] == Supplement.ANSWERED:
                row.status, row.answered_at = s["status"], parse_datetime(s["answered_at"]) if s["answered_at"] else timezone.now()
                row.save(update_fields=["status", "answered_at"])
        else:
            row = Supplement.objects.create(case=case, items=s["items"], note=s["note"], status=s["status"],
                                            answered_at=parse_datetime(s["answered_at"]) if s["answered_at"] else None)
    papers = list(case.paper_transfers.order_by("id"))
    for i, p in enumerate(payload.get("paper", [])):
        if i < len(papers):
            row = papers[i]
            if row.status == PaperTransfer.SENT and p["status"] == PaperTransfer.RECEIVED:
                row.status, row.received_at, row.received_by = p["status"], parse_datetime(p["received_at"]), p["received_by"]
                row.save(update_fields=["status", "received_at", "received_by"])
        else:
            PaperTransfer.objects.create(case=case, courier=p["courier"], tracking_no=p["tracking_no"], status=p["status"],
                                         sent_at=parse_datetime(p["sent_at"]), received_at=parse_datetime(p["received_at"]) if p["received_at"] else None,
                                         received_by=p["received_by"])
    merge_parts(case, payload.get("parts", []))
    d = payload.get("delivery")
    if d and not Delivery.objects.filter(case=case).exists():
        Delivery.objects.create(case=case, method=d["method"], courier=d["courier"], tracking_no=d["tracking_no"], address=d["address"],
                                place=d["place"], recipient=d["recipient"], delivered_at=parse_datetime(d["delivered_at"]))


def merge_parts(case, parts):
    from tongban.directory.models import Department

    mine = {p.seq: p for p in case.parts.all()}
    for p in parts:
        row = mine.get(p["seq"])
        if row is None:
            CasePart.objects.create(
                case=case, seq=p["seq"], step_name=p["step_name"], department=Department.objects.filter(credit_code=p["department_code"]).first(),
                department_name=p["department_name"], department_code=p["department_code"], region_code=p["region_code"],
                region_path=p["region_path"], node_id=p["node_id"], status=p["status"], opinion=p["opinion"],
                concluded_by=p["concluded_by"], concluded_at=parse_datetime(p["concluded_at"]) if p["concluded_at"] else None)
        elif PART_ORDER[p["status"]] > PART_ORDER[row.status]:
            row.status, row.opinion, row.concluded_by = p["status"], p["opinion"], p["concluded_by"]
            row.concluded_at = parse_datetime(p["concluded_at"]) if p["concluded_at"] else None
            row.save(update_fields=["status", "opinion", "concluded_by", "concluded_at"])


def _create_copy(payload):
    """A node's own copy of a case handed to it: the same uid, implementation, applicant and history."""
    from tongban.applicants.services import applicant_at_window
    from tongban.catalog.models import Implementation, ItemVersion
    from tongban.core.errors import DomainError
    from tongban.directory.models import Department, Region

    impl = Implementation.objects.select_related("region", "department", "item").filter(implementation_code=payload["implementation_code"]).first()
    version = ItemVersion.objects.filter(item__basic_code=payload["item_code"], version_no=payload["version_no"]).first()
    if impl is None or version is None:
        raise exchange.PermanentError(f"本节点没有实施清单“{payload['implementation_code']}”或其办事指南版本，无法接收办件")
    a = payload["applicant"]
    try:
        applicant = applicant_at_window(a["kind"], a["name"], a["phone"], a["id_number"], a["credit_code"], a["applicant_type"],
                                        a["agent_name"], a["agent_id_number"])
    except DomainError as exc:
        raise exchange.PermanentError(f"申请人信息不正确：{exc}") from None
    receiving = payload["receiving"]
    region = Region.objects.filter(code=receiving["region_code"]).first() if receiving["region_code"] else None
    case = Case(
        uid=payload["case_uid"], mode=payload["mode"], channel=payload["channel"], applicant=applicant, implementation=impl,
        item_version=version, region=impl.region, region_path=impl.region.path, department=impl.department,
        applicant_name=applicant.name, applicant_type=applicant.applicant_type, applicant_code_type=applicant.code_type,
        applicant_code=applicant.code, agent_name=applicant.agent_name, contact_phone=a["phone"], case_kind=payload["case_kind"],
        receiving_region=region, receiving_region_path=region.path if region else "", receiving_basis=receiving["basis"],
        receiving_department=Department.objects.filter(credit_code=receiving["department_code"]).first() if receiving["department_code"] else None,
        receiving_node=payload["receiving_node"], competent_node=payload["competent_node"],
    )
    _set_fields(case, payload["case"])
    case.save()
    return case


def _receive_copy(msg):
    payload = msg.payload
    case = _locked(payload["case_uid"])
    if case is None:
        if "implementation_code" not in payload:
            raise exchange.PermanentError("办件不存在")
        case = _create_copy(payload)
    else:
        if msg.sender == case.competent_node or "implementation_code" in payload:
            _set_fields(case, payload.get("case", {}))
    _remember(case, msg.sender, *payload.get("holders", []))
    case.save()
    _merge_files(case, payload)
    _merge_side_rows(case, payload)
    for record in payload.get("events", []):
        _append_mirrored(case, record)
    return case


def receive_handoff(msg):
    """The competent place receives a case its receiving window forwarded (from another node, or from
    this one: then the case is already here and only its arrival is recorded)."""
    from . import notify

    with transaction.atomic():
        case = _locked(msg.payload["case_uid"]) if "implementation_code" not in msg.payload else None
        if case is None:
            case = _receive_copy(msg)
        who = Actor(name=f"{case.department.name}（通办平台）", department_name=case.department.name,
                    department_code=case.department.credit_code, region_code=case.region.code, duty="competent")
        data = {"from_node": msg.sender, "materials": case.materials.count()}
        event = events.append(case, "receive_handoff", "办理地接收", who, case.status, case.status, "", data, duty="competent")
        notify.competent_staff(case, "收到异地代收办件", f"办件{case.case_no}由{case.receiving_region.name if case.receiving_region_id else '收件地'}代收转来，请及时受理。")
        if peers(case):
            publish(case, event)


def receive_part(msg):
    """A joint part's place receives its copy of the case (materials and history included)."""
    from . import notify

    with transaction.atomic():
        case = _receive_copy(msg)
        notify.part_staff(case, "收到多地联办事项", f"办件{case.case_no}有需要本部门办理的联办事项，请及时办理。")


def receive_event(msg):
    """A step taken at another place of the case."""
    from . import joint

    payload, record = msg.payload, msg.payload["event"]
    with transaction.atomic():
        case = _locked(payload["case_uid"])
        if case is None:
            raise exchange.RetryLater("办件尚未到达本节点")
        _remember(case, msg.sender, *payload.get("holders", []))
        if msg.sender == case.competent_node:
            _set_fields(case, payload["case"])
        elif record["status_from"] != record["status_to"]:
            # A step of the window's (forward, resubmit, hand-over): its state, not the other place's clock.
            case.status = record["status_to"]
            for f in ("delivered_at", "submitted_at"):
                if payload["case"].get(f) and not getattr(case, f):
                    setattr(case, f, parse_datetime(payload["case"][f]))
            if record["action"] == "resubmit" and case.competent_node == self_id():
                from . import clock

                pause = clock.open_pause(case)
                if pause is not None:
                    clock.resume(case, pause)
        case.save()
        _merge_files(case, payload)
        _merge_side_rows(case, payload)
        event = _append_mirrored(case, record)
        if event is None:
            return
        if record["action"] == "raise_problem":
            from . import problems

            try:
                problems.record(case, record["data"], record["opinion"], side=record["duty"], author_name=record["actor_name"],
                                region_code=record["region_code"], department_name=record["department_name"],
                                created_at=parse_datetime(record["at"]) if record.get("at") else None)
            except problems.UnknownProblem:  # the report itself travels from another node and is not here yet
                raise exchange.RetryLater("所答复的问题反馈单尚未到达本节点") from None
        if record["action"] == "conclude_part" and case.competent_node == self_id():
            joint.part_concluded(case, record["data"].get("part"), record["opinion"])
        tell_places(case, event)


def tell_places(case, event):
    """Tell the staff of the other place of the case that is held on this node what the step means for
    them (the applicant is told by the node where the step was taken)."""
    from . import notify

    here = self_id()
    other_is_receiving = event.duty in ("competent", "part") and case.receiving_region_path and case.receiving_node in ("", here)
    other_is_competent = event.duty in ("receiving", "part") and case.competent_node in ("", here)
    no = case.case_no or ""
    if other_is_receiving:
        if event.action == "request_supplement":
            notify.receiving_staff(case, "办理地要求补齐补正", f"办件{no}需补齐补正（一次性告知），请协助申请人补正后重新提交。")
        elif event.action == "refuse_intake":
            notify.receiving_staff(case, "办理地不予受理", f"办件{no}不予受理：{event.opinion}")
        elif event.action == "conclude" and case.result_at_window:
            notify.receiving_staff(case, "办理结果已回传", f"办件{no}已办结，请通知申请人到窗口领取或打印结果。")
        elif event.action == "raise_problem":
            notify.receiving_staff(case, "办理地反馈问题", f"办件{no}：{event.data.get('title', '')}")
    if other_is_competent and event.action in ("raise_problem", "resubmit", "conclude_part"):
        titles = {"raise_problem": "收件地反馈问题", "resubmit": "补正材料已提交", "conclude_part": "联办事项已办结"}
        notify.competent_staff(case, titles[event.action], f"办件{no}：{event.data.get('title') or event.label}")


def register():
    exchange.register_handler(HANDOFF, receive_handoff)
    exchange.register_handler(JOINT_PART, receive_part)
    for kind in EVENT_MESSAGE_TYPES:
        exchange.register_handler(kind, receive_event)
