"""The append-only, hash-chained log of every access to a certificate or to base data (用证日志).

`record` appends one row inside the caller's transaction: a refusal that the caller then raises must be
recorded after the failing transaction (outside it), or it rolls back with it. Each row's hash covers
the previous row's hash and the row's content, so changing, removing or reordering any row breaks
every later hash (`verify` finds the first broken row). Rows are numbered globally; two writers racing
for the same number retry on the unique constraint, so the chain never forks.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.cases.events import GENESIS, verify_chain
from tongban.core.masking import mask_text

from .models import AccessLog

ACTIONS = {
    "view": "查看", "use": "用于申请", "prefill": "预填申请表", "verify": "验真", "present": "亮证查验",
    "release": "跨节点提供", "request": "跨节点请求", "print": "打印", "issue": "签发电子证明",
}
_FIELDS = ("seq", "actor_id", "actor_name", "actor_department", "actor_node", "action", "holder_code", "region_path",
           "identifier", "service_code", "case_uid", "case_no", "purpose", "consent_ref", "outcome", "reason")


def _content(row):
    content = {f: getattr(row, f) for f in _FIELDS}
    content["at"] = row.at.isoformat()
    return content


def compute_hash(prev_hash, row):
    body = json.dumps(_content(row), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(action, *, holder_code, outcome, actor=None, actor_name="", actor_department="", actor_node="", identifier="",
           service_code="", case=None, purpose="", consent_ref="", reason="", region_path="") -> AccessLog:
    """Append one access. `actor` is a user (or None for an anonymous verifier / another node, named by
    `actor_name`); `case` a cases.Case or None; `outcome` AccessLog.GRANTED / REFUSED / ERROR."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    name = actor_name or ((user.get_full_name() or user.username) if user else "匿名")
    for _ in range(20):
        last = AccessLog.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        row = AccessLog(
            seq=seq, at=timezone.now().replace(microsecond=0), actor=user, actor_name=name[:150], actor_department=actor_department[:120],
            actor_node=actor_node[:40], action=action, holder_code=holder_code or "", region_path=region_path or "",
            identifier=identifier or "", service_code=service_code or "", case_uid=str(case.uid) if case is not None else "",
            case_no=(case.case_no or "") if case is not None else "", purpose=mask_text(purpose or "")[:300],
            consent_ref=str(consent_ref or "")[:60], outcome=outcome, reason=mask_text(reason or "")[:300], prev_hash=prev,
        )
        row.hash = compute_hash(prev, row)
        try:
            with transaction.atomic():
                row.save()
            return row
        except IntegrityError:  # another writer took this number: read the new head and chain after it
            continue
    raise RuntimeError("用证日志写入冲突，请稍后重试")


def verify(rows=None):
    """The first row whose hash or order is broken, or None when the whole chain holds."""
    rows = AccessLog.objects.order_by("seq").iterator() if rows is None else rows
    return verify_chain(rows, compute_hash)


def for_holder(code):
    """The holder's own log (newest first): who used their certificates and data, when and why."""
    return AccessLog.objects.filter(holder_code=code).order_by("-seq") if code else AccessLog.objects.none()
