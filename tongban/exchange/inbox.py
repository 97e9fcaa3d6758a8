"""The receiving side: check each envelope, apply it once and in order, refuse the rest on record.

Deny by default: only registered, active nodes with an unrevoked key are heard. Each envelope is its
own transaction (inbox row + handler + stream cursor), so one bad envelope never blocks a batch.
"""

import base64
import binascii
import hashlib
import io
import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.core import files

from . import envelope, service, signing
from .models import InboxMessage, Node, NodeKey, Rejection, StreamCursor

log = logging.getLogger("tongban.exchange")

ACCEPTED, DUPLICATE, WAITING, REJECTED, RETRY = "accepted", "duplicate", "waiting", "rejected", "retry"
MAX_ENVELOPES = 500
OCTET_STREAM = "application/octet-stream"


class Rejected(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Context:
    """What one request shares among its envelopes."""

    me: Node
    remote_addr: str | None
    blobs: dict  # sha256 -> base64 text, as sent
    nodes: dict = field(default_factory=dict)  # node_id -> Node | None (cached lookups)
    keys: dict = field(default_factory=dict)  # (node pk, key_id) -> NodeKey | None
    stored: set = field(default_factory=set)  # blobs checked and stored by an earlier envelope of the request


def record_rejection(sender, message_id, type, reason, remote_addr=None):
    log.warning("exchange: rejected message %s from %s (%s): %s", message_id, sender, type, reason)
    try:
        with transaction.atomic():
            Rejection.objects.create(sender=envelope.db_text(sender or "", 64), message_id=envelope.db_text(message_id or "", 64),
                                     type=envelope.db_text(type or "", 64), reason=envelope.db_text(reason, 500), remote_addr=remote_addr or None)
    except Exception:
        log.exception("exchange: could not record rejection")


def receive(body, remote_addr=None):
    """Results, one per envelope, of a request body {"envelopes": [...], "blobs": {...}}; ValueError
    (Chinese) when the body as a whole is unusable."""
    if not isinstance(body, dict) or not isinstance(body.get("envelopes"), list):
        raise ValueError("请求格式不正确：应为包含 envelopes 列表的JSON对象")
    envelopes, blobs = body["envelopes"], body.get("blobs", {})
    if len(envelopes) > MAX_ENVELOPES:
        raise ValueError(f"一次最多提交{MAX_ENVELOPES}个信封")
    if not isinstance(blobs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in blobs.items()):
        raise ValueError("请求格式不正确：blobs 应为“SHA-256 → Base64”的对象")
    ctx = Context(me=service.self_node(), remote_addr=remote_addr, blobs=blobs)
    return [receive_one(env, ctx) for env in envelopes]


def receive_one(env, ctx):
    header = env.get("header") if isinstance(env, dict) else None
    claimed = header if isinstance(header, dict) else {}
    # echoed in the answer: a lone surrogate in it would break the JSON response itself
    message_id = envelope.db_text(claimed["message_id"], 64) if isinstance(claimed.get("message_id"), str) else ""
    try:
        return {"message_id": message_id, "status": _receive(env, ctx), "reason": ""}
    except Rejected as exc:
        record_rejection(claimed.get("sender"), message_id, claimed.get("type"), exc.reason, ctx.remote_addr)
        return {"message_id": message_id, "status": REJECTED, "reason": exc.reason}
    except service.RetryLater as exc:
        log.info("exchange: message %s to be retried: %s", message_id, exc)
        return {"message_id": message_id, "status": RETRY, "reason": str(exc) or "接收方暂时无法处理，请稍后重试"}
    except Exception:
        log.exception("exchange: could not apply message %s", message_id)
        return {"message_id": message_id, "status": RETRY, "reason": "接收方处理出错，请稍后重试"}


def _node(ctx, node_id):
    if node_id not in ctx.nodes:
        ctx.nodes[node_id] = Node.objects.filter(node_id=node_id).first()
    return ctx.nodes[node_id]


def _key(ctx, node, key_id):
    k = (node.pk, key_id)
    if k not in ctx.keys:
        ctx.keys[k] = NodeKey.objects.filter(node=node, key_id=key_id).first()
    return ctx.keys[k]


def _verify(env, ctx):
    """The checked header and payload, or Rejected."""
    try:
        header, signature, payload = envelope.check_shape(env)
    except envelope.EnvelopeError as exc:
        raise Rejected(str(exc))
    node = _node(ctx, header["sender"])
    if node is None or node.is_self:
        raise Rejected(f"发送节点“{header['sender']}”未登记，拒绝接收")
    if node.status != Node.ACTIVE:
        raise Rejected(f"发送节点“{node.name}”当前状态为{node.get_status_display()}，拒绝接收")
    if header["receiver"] != ctx.me.node_id:
        raise Rejected(f"接收节点“{header['receiver']}”不是本节点（{ctx.me.node_id}）")
    key = _key(ctx, node, header["key_id"])
    if key is None:
        raise Rejected(f"发送节点的密钥“{header['key_id']}”未登记")
    if key.revoked_at is not None:
        raise Rejected(f"发送节点的密钥“{header['key_id']}”已吊销")
    if key.algorithm != header["alg"]:
        raise Rejected("签名算法与登记的密钥不符")
    try:
        signed = envelope.canonical(header)
    except (ValueError, RecursionError):  # e.g. NaN in an extra header field: a refusal, not a retry
        raise Rejected("信封头无法转换为规范JSON")
    if not signing.verify(key.algorithm, key.public_key, signed, signature):
        raise Rejected("签名验证失败，信封可能被篡改或伪造")
    skew = abs((timezone.now() - envelope.parse_time(header["sent_at"])).total_seconds())
    if skew > settings.TONGBAN_EXCHANGE_MAX_SKEW_SECONDS:
        raise Rejected(f"发送时间与本节点时间相差{int(skew)}秒，超过允许的{settings.TONGBAN_EXCHANGE_MAX_SKEW_SECONDS}秒（时钟偏差或过期重放）")
    try:
        actual = envelope.payload_hash(payload, header["hash_alg"])
    except (TypeError, ValueError, RecursionError):
        raise Rejected("消息内容无法计算摘要")
    if actual != header["payload_hash"]:
        raise Rejected("消息内容与签名的摘要不符，内容可能被篡改")
    return header, payload


def _blob_bytes(ctx, sha):
    text = ctx.blobs.get(sha)
    if text is None:
        raise Rejected(f"随附材料 {sha[:12]}… 缺失")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(f"随附材料 {sha[:12]}… 不是有效的Base64编码")
    if hashlib.sha256(data).hexdigest() != sha:
        raise Rejected(f"随附材料 {sha[:12]}… 的内容与其摘要不符，材料可能被篡改")
    return data


def _store_blobs(ctx, shas):
    """Check and store the envelope's blobs; one shared by several envelopes of a batch is decoded,
    hashed and stored once."""
    new = [sha for sha in dict.fromkeys(shas) if sha not in ctx.stored]
    datas = [_blob_bytes(ctx, sha) for sha in new]  # all checked before any is stored
    if datas:
        files.store_many([(data, files.sniff(data[:16], io.BytesIO(data)) or OCTET_STREAM) for data in datas])
    ctx.stored.update(new)


def _receive(env, ctx):
    header, payload = _verify(env, ctx)
    sender, message_id = header["sender"], uuid.UUID(header["message_id"])
    if service.handler_for(header["type"]) is None:
        raise Rejected(f"未知的消息类型“{header['type']}”，本节点无法处理")
    _store_blobs(ctx, header["blobs"])
    try:
        with transaction.atomic():
            cursor = _locked_cursor(sender, header["stream"])
            seen = InboxMessage.objects.filter(sender=sender, message_id=message_id).values_list("payload_hash", flat=True).first()
            if seen is not None:  # delivered before (its acknowledgement was lost) or in a concurrent request
                return _duplicate(seen, header)
            seq = header["seq"]
            if seq <= cursor.last_seq:
                raise Rejected(f"序号{seq}不大于已处理的序号{cursor.last_seq}，且消息编号未曾收到（过期或伪造的消息）")
            row = InboxMessage(sender=sender, message_id=message_id, type=header["type"], stream=header["stream"], seq=seq,
                               payload=payload, payload_hash=header["payload_hash"], blobs=header["blobs"],
                               created_at=envelope.parse_time(header["created_at"]), status=InboxMessage.WAITING)
            if seq > cursor.last_seq + 1:
                row.save()
                cursor.waiting += 1
                cursor.save(update_fields=["waiting"])
                return WAITING
            row.status, row.applied_at = InboxMessage.APPLIED, timezone.now()
            row.save()
            _apply(row)
            cursor.last_seq = seq
            if cursor.waiting:
                _drain(cursor)
            cursor.save(update_fields=["last_seq", "waiting"])
            return ACCEPTED
    except service.PermanentError as exc:
        raise Rejected(f"接收方无法处理该消息：{exc}")
    except IntegrityError:
        seen = InboxMessage.objects.filter(sender=sender, message_id=message_id).values_list("payload_hash", flat=True).first()
        if seen is None:
            raise
        return _duplicate(seen, header)


def _duplicate(seen_hash, header):
    if seen_hash != header["payload_hash"]:
        raise Rejected("消息编号已收到过但内容不同（疑似重放或伪造的消息）")
    return DUPLICATE


def _locked_cursor(sender, stream):
    """The stream's cursor, locked until the transaction ends, so concurrent requests on one stream
    apply in turn (opened without a savepoint: INSERT … ON CONFLICT DO NOTHING, then lock)."""
    cursor = StreamCursor.objects.select_for_update().filter(sender=sender, stream=stream).first()
    if cursor is None:
        StreamCursor.objects.bulk_create([StreamCursor(sender=sender, stream=stream)], ignore_conflicts=True)
        cursor = StreamCursor.objects.select_for_update().get(sender=sender, stream=stream)
    return cursor


def _apply(row):
    fn = service.handler_for(row.type)
    if fn is None:
        raise service.PermanentError(f"未知的消息类型“{row.type}”")
    fn(service.Message(sender=row.sender, type=row.type, payload=row.payload, message_id=str(row.message_id), created_at=row.created_at,
                       stream=row.stream, seq=row.seq, blobs=list(row.blobs or [])))


def _drain(cursor):
    """Apply the waiting successors of the cursor, in order, each in its own savepoint. A transient
    failure leaves the rest waiting (`drain_waiting` tries again later); a permanent one is recorded
    and skipped, as the sender was told long ago that the message arrived."""
    while True:
        row = InboxMessage.objects.filter(sender=cursor.sender, stream=cursor.stream, seq=cursor.last_seq + 1, status=InboxMessage.WAITING).first()
        if row is None:
            return
        try:
            with transaction.atomic():
                _apply(row)
                InboxMessage.objects.filter(pk=row.pk).update(status=InboxMessage.APPLIED, applied_at=timezone.now())
            cursor.waiting = max(0, cursor.waiting - 1)
        except service.PermanentError as exc:
            InboxMessage.objects.filter(pk=row.pk).update(status=InboxMessage.FAILED, error=str(exc)[:2000])
            transaction.on_commit(lambda r=row, e=exc: record_rejection(r.sender, r.message_id, r.type, f"等待中的消息无法处理：{e}"))
            cursor.waiting = max(0, cursor.waiting - 1)
        except Exception as exc:
            log.warning("exchange: waiting message %s not applied yet: %s", row.message_id, exc)
            return
        cursor.last_seq = row.seq


def drain_waiting(limit=100):
    """Retry waiting messages whose predecessor has been applied (their handler failed transiently).
    Returns how many streams moved on."""
    moved = 0
    heads = (InboxMessage.objects.filter(status=InboxMessage.WAITING).order_by("sender", "stream", "seq")
             .values_list("sender", "stream", "seq")[:limit])
    done = set()
    for sender, stream, seq in heads:
        if (sender, stream) in done:
            continue
        done.add((sender, stream))
        cursor = StreamCursor.objects.filter(sender=sender, stream=stream).first()
        if cursor is None or seq != cursor.last_seq + 1:
            continue
        with transaction.atomic():
            cursor = _locked_cursor(sender, stream)
            before = cursor.last_seq
            _drain(cursor)
            if cursor.last_seq != before:
                cursor.save(update_fields=["last_seq", "waiting"])
                moved += 1
    return moved
