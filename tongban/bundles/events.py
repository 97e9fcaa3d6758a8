"""The append-only, hash-chained record of a bundle case (BundleEvent), and the bundle's notices.

Chained like case events (`cases.events`): each hash covers the previous hash and the event's
canonical content, so changing, removing or reordering a past event breaks every later hash. The
applicant hears from the bundle, never from its children: one notice per bundle step.
"""

import hashlib
import json

from django.utils import timezone

from tongban.cases import events as case_events
from tongban.cases import notify
from tongban.cases.events import GENESIS, SYSTEM, Actor

from .models import BundleEvent

__all__ = ["GENESIS", "SYSTEM", "Actor", "append", "compute_hash", "verify_chain", "notify_applicant"]


def _content(event):
    return {
        "bundle_case": event.bundle_case_id, "seq": event.seq, "action": event.action, "label": event.label,
        "actor": event.actor_id, "actor_name": event.actor_name, "role": event.role, "department_name": event.department_name,
        "at": event.at.isoformat(), "status_from": event.status_from, "status_to": event.status_to, "opinion": event.opinion,
        "data": event.data,
    }


def compute_hash(prev_hash, event):
    body = json.dumps(_content(event), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(bundle_case, action, label, actor, status_from="", status_to="", opinion="", data=None):
    """Append an event to `bundle_case`; the caller holds the parent's row lock, so the sequence
    cannot race. `actor` is a `cases.events.Actor`."""
    last = BundleEvent.objects.filter(bundle_case=bundle_case).order_by("-seq").values_list("seq", "hash").first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    # JSON round trip: what is hashed now is exactly what the database gives back later.
    data = json.loads(json.dumps(data or {}, ensure_ascii=False, default=str))
    event = BundleEvent(
        bundle_case=bundle_case, seq=seq, action=action, label=label[:60], actor=actor.user, actor_name=actor.name[:150],
        role=actor.role, department_name=actor.department_name[:120], at=timezone.now().replace(microsecond=0),
        status_from=status_from, status_to=status_to, opinion=opinion, data=data, prev_hash=prev,
    )
    event.hash = compute_hash(prev, event)
    event.save()
    return event


def verify_chain(events):
    """The first broken event of one bundle case's events (in seq order), or None when the chain holds."""
    return case_events.verify_chain(events, compute_hash)


def notify_applicant(bundle_case, title, body, case=None):
    """One message (and SMS) to the applicant of a bundle case; messages link to a case, so the
    bundle's links to `case` (its first child) when given."""
    notify.person(bundle_case.applicant.user_id, bundle_case.contact_phone, title, body, case)
