"""The append-only, hash-chained history of a case (CaseEvent).

Each event's hash covers the previous hash and the event's canonical content, so changing, removing
or reordering any past event breaks every later hash; `manage.py verify_case_chains` checks them all.
"""

import hashlib
import json
from dataclasses import dataclass

from django.utils import timezone

from .models import CaseEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who acted, as the record names them (resolved once per request)."""

    user: object = None
    name: str = "系统"
    role: str = "system"
    department_name: str = ""
    department_code: str = ""
    region_code: str = ""
    window_name: str = ""
    duty: str = ""  # on a cross-region case: whose duty the step was (收件地 / 办理地 / 联办地)


SYSTEM = Actor()


def _content(event):
    content = {
        "case": event.case_id, "seq": event.seq, "action": event.action, "label": event.label,
        "actor": event.actor_id, "actor_name": event.actor_name, "role": event.role,
        "department_name": event.department_name, "department_code": event.department_code,
        "region_code": event.region_code, "window_name": event.window_name,
        "at": event.at.isoformat(), "status_from": event.status_from, "status_to": event.status_to,
        "opinion": event.opinion, "data": event.data,
    }
    # Added with cross-region handling; absent from (and so not changing) the hashes of older events.
    for extra in ("duty", "origin"):
        if getattr(event, extra, ""):
            content[extra] = getattr(event, extra)
    return content


def compute_hash(prev_hash, event):
    body = json.dumps(_content(event), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(case, action, label, actor, status_from="", status_to="", opinion="", data=None, duty="", origin=None, at=None):
    """Append an event; the caller holds the case's row lock, so the sequence cannot race.
    `origin` is given for an event mirrored from another node; a local event of a cross-region case
    gets "<this node>:<seq>"."""
    last = CaseEvent.objects.filter(case=case).order_by("-seq").values_list("seq", "hash").first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    if origin is None:
        origin = f"{local_node_id()}:{seq}" if case.mode != "online" else ""
    event = CaseEvent(
        case=case, seq=seq, action=action, label=label, actor=actor.user, actor_name=actor.name, role=actor.role,
        department_name=actor.department_name, department_code=actor.department_code, region_code=actor.region_code,
        window_name=actor.window_name, at=at or timezone.now().replace(microsecond=0), status_from=status_from, status_to=status_to,
        opinion=opinion, data=data or {}, duty=duty, origin=origin, prev_hash=prev,
    )
    event.hash = compute_hash(prev, event)
    event.save()
    return event


def local_node_id():
    """This deployment's node (where a step recorded here happened)."""
    from tongban.exchange.service import self_node

    return self_node().node_id


def verify_chain(events, hash_of=None):
    """The first broken event of one history (in seq order), or None when the chain holds. `hash_of`
    (prev hash, event) → hash defaults to case events' (bundle events have their own content)."""
    hash_of = hash_of or compute_hash
    prev, expected_seq = GENESIS, 1
    for event in events:
        if event.seq != expected_seq or event.prev_hash != prev or hash_of(prev, event) != event.hash:
            return event
        prev, expected_seq = event.hash, expected_seq + 1
    return None
