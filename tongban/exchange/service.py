"""The exchange facade: which node serves a region, sending a message, and the handlers that apply
messages. Other apps use only this module.

`send()` is the one way to hand something to a node, local or remote: to a peer it writes an outbox
row in the caller's transaction (the relay delivers it after commit); to this node it runs the
handler at once, in the same transaction, so a local hand-off commits or rolls back with the change.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tongban.core.api_input import bad_text, bad_text_path
from tongban.core.models import StoredBlob

from . import envelope, signing
from .models import Node, NodeKey, OutboxMessage, OutboxStream

log = logging.getLogger("tongban.exchange")

ROOT_REGION_CODE = "000000"


class PermanentError(Exception):
    """This message can never be applied: the envelope is rejected and the sender dead-letters it."""


class RetryLater(Exception):
    """A transient failure: the sender tries again later."""


@dataclass
class Message:
    """What a handler receives."""

    sender: str
    type: str
    payload: dict
    message_id: str
    created_at: datetime
    stream: str
    seq: int
    blobs: list = field(default_factory=list)


_HANDLERS = {}


def register_handler(type: str, fn) -> None:
    _HANDLERS[type] = fn


def handler_for(type):
    return _HANDLERS.get(type)


# --- nodes -----------------------------------------------------------------------------------------


_SELF = {"node": None, "until": 0.0}
SELF_CACHE_SECONDS = 60  # node_init in another process is seen within a minute (restart to see it at once)


def self_node() -> Node:
    """The local node; on first use of an unconfigured deployment, created from settings serving every
    region (the embedded single-node default). Cached per process: every step of a cross-region case
    asks for it several times."""
    if _SELF["node"] is not None and time.monotonic() < _SELF["until"]:
        return _SELF["node"]
    node = Node.objects.filter(is_self=True).first()
    if node is None:  # created now: not cached, as the caller's transaction may still roll it back
        try:
            with transaction.atomic():
                return configure_self(settings.TONGBAN_NODE_ID, settings.TONGBAN_NODE_NAME, "", [ROOT_REGION_CODE], missing_ok=True)
        except IntegrityError:  # created by a concurrent request a moment ago
            return Node.objects.get(is_self=True)
    _SELF.update(node=node, until=time.monotonic() + SELF_CACHE_SECONDS)
    return node


def forget_self():
    _SELF.update(node=None, until=0.0)


def configure_self(node_id, name, base_url, region_codes, algorithm=None, missing_ok=False) -> Node:
    """Create or update the self node and register its current public key (idempotent)."""
    from tongban.directory.models import Region

    regions = list(Region.objects.filter(code__in=region_codes))
    unknown = sorted(set(region_codes) - {r.code for r in regions})
    if unknown and not missing_ok:
        raise ValueError(f"区划代码不存在：{'、'.join(unknown)}")
    key = signing.ensure_key_file(algorithm=algorithm)
    if algorithm and key["algorithm"] != algorithm:
        raise ValueError(f"节点密钥文件已存在且算法为 {key['algorithm']}，与要求的 {algorithm} 不一致；如需更换算法，请先备份并移走密钥文件")
    signing.reset_signer()
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(is_self=True).first()
        clash = Node.objects.filter(node_id=node_id, is_self=False).first()
        if clash is not None:
            raise ValueError(f"节点标识 {node_id} 已登记为其他节点，不能用作本节点")
        if node is None:
            node = Node.objects.create(node_id=node_id, name=name, base_url=base_url, is_self=True, status=Node.ACTIVE)
        else:
            node.node_id, node.name, node.base_url, node.status = node_id, name, base_url, Node.ACTIVE
            node.save()
        node.regions.set(regions)
        NodeKey.objects.get_or_create(node=node, key_id=key["key_id"], defaults={"algorithm": key["algorithm"], "public_key": key["public_key"]})
    forget_self()
    return node


def descriptor(node=None) -> dict:
    node = node or self_node()
    return {
        "node_id": node.node_id,
        "name": node.name,
        "base_url": node.base_url,
        "regions": sorted(node.regions.values_list("code", flat=True)),
        "keys": [
            {"key_id": k.key_id, "algorithm": k.algorithm, "public_key": k.public_key}
            for k in node.keys.filter(revoked_at__isnull=True).order_by("created_at", "key_id")
        ],
    }


def register_peer(desc: dict) -> Node:
    """Register or update a peer from its descriptor (status active). Keys missing from the
    descriptor are revoked (rotation); a key id never changes its public key."""
    from tongban.directory.models import Region

    if not isinstance(desc, dict):
        raise ValueError("节点描述应为JSON对象")
    node_id, name, base_url = desc.get("node_id"), desc.get("name"), desc.get("base_url", "")
    codes, keys = desc.get("regions", []), desc.get("keys", [])
    if not isinstance(node_id, str) or not node_id:
        raise ValueError("节点描述缺少 node_id")
    try:
        validate_slug(node_id)
    except ValidationError:
        raise ValueError(f"节点标识 {node_id} 只能包含字母、数字、下划线和连字符")
    if len(node_id) > 64:  # the column's width: PostgreSQL refuses a longer value with an error
        raise ValueError("节点标识不能超过64个字符")
    if not isinstance(name, str) or not name:
        raise ValueError("节点描述缺少 name")
    if len(name) > 120 or bad_text(name):
        raise ValueError("节点名称不能超过120个字符，也不能含有空字符")
    if not isinstance(base_url, str) or (base_url and not base_url.startswith(("http://", "https://"))):
        raise ValueError("base_url 应以 http:// 或 https:// 开头")
    if len(base_url) > 300 or bad_text(base_url):
        raise ValueError("base_url 不能超过300个字符，也不能含有空字符")
    if not isinstance(codes, list) or not all(isinstance(c, str) and not bad_text(c) for c in codes):
        raise ValueError("regions 应为区划代码列表")
    if not isinstance(keys, list) or not keys:
        raise ValueError("节点描述至少应包含一个公钥")
    for k in keys:
        if not isinstance(k, dict) or not isinstance(k.get("key_id"), str) or not k["key_id"] or len(k["key_id"]) > 64 or bad_text(k["key_id"]):
            raise ValueError("公钥条目缺少 key_id")
        if not signing.valid_public_key(k.get("algorithm"), k.get("public_key")):
            raise ValueError(f"公钥 {k['key_id']} 的算法或公钥值不正确")
    me = Node.objects.filter(is_self=True).first()
    if me is not None and me.node_id == node_id:
        raise ValueError(f"{node_id} 是本节点，不能作为对端节点登记或覆盖")
    regions = list(Region.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {r.code for r in regions})
    if unknown:
        raise ValueError(f"区划代码不存在：{'、'.join(unknown)}")
    now = timezone.now()
    with transaction.atomic():
        node, _ = Node.objects.update_or_create(node_id=node_id, defaults={"name": name, "base_url": base_url.rstrip("/"), "status": Node.ACTIVE})
        node.regions.set(regions)
        current = {k.key_id: k for k in node.keys.all()}
        for k in keys:
            existing = current.get(k["key_id"])
            if existing is None:
                NodeKey.objects.create(node=node, key_id=k["key_id"], algorithm=k["algorithm"], public_key=k["public_key"].lower())
            elif existing.public_key.lower() != k["public_key"].lower() or existing.algorithm != k["algorithm"]:
                raise ValueError(f"公钥 {k['key_id']} 已登记为不同的公钥值；更换密钥请使用新的密钥标识")
        listed = {k["key_id"] for k in keys}
        node.keys.filter(revoked_at__isnull=True).exclude(key_id__in=listed).update(revoked_at=now)
    return node


def node_for_region(region_path: str) -> Node | None:
    """The active node serving this region path; the most specific served subtree wins (this node
    on a tie)."""
    me = self_node()
    best, best_len = None, -1
    rows = Node.regions.through.objects.filter(node__status=Node.ACTIVE).values_list("node_id", "region__path", "node__is_self")
    for node_pk, path, is_self in rows:
        if region_path.startswith(path) and (len(path) > best_len or (len(path) == best_len and is_self)):
            best, best_len = node_pk, len(path)
    if best is None:
        return None
    return me if best == me.pk else Node.objects.get(pk=best)


# --- sending ---------------------------------------------------------------------------------------


def _next_seq(receiver, stream):
    with transaction.atomic():
        if not OutboxStream.objects.filter(receiver=receiver, stream=stream).update(last_seq=F("last_seq") + 1):
            try:
                with transaction.atomic():
                    OutboxStream.objects.create(receiver=receiver, stream=stream, last_seq=1)
                return 1
            except IntegrityError:  # a concurrent sender opened the stream first
                OutboxStream.objects.filter(receiver=receiver, stream=stream).update(last_seq=F("last_seq") + 1)
        return OutboxStream.objects.filter(receiver=receiver, stream=stream).values_list("last_seq", flat=True).get()


def send(receiver_node_id: str, type: str, payload: dict, *, stream: str, blobs=()) -> str:
    """Send a message to a node (call inside the caller's transaction.atomic()); returns its message id."""
    if not isinstance(type, str) or not type or len(type) > 64:
        raise PermanentError("消息类型无效")
    if not isinstance(stream, str) or not stream or len(stream) > 128:
        raise PermanentError("消息流名称无效（1至128个字符）")
    if not isinstance(payload, dict):
        raise PermanentError("消息内容应为字典")
    if bad_text_path(payload) is not None:  # the receiver refuses it; PostgreSQL here would not even store it
        raise PermanentError("消息内容含有空字符（\\u0000）或无效的Unicode字符")
    try:
        payload = json.loads(envelope.canonical(payload))  # what the receiver will see, exactly
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"消息内容无法转换为JSON：{exc}")
    blobs = list(dict.fromkeys(blobs))
    me = self_node()
    local = receiver_node_id == me.node_id
    if not local:
        node = Node.objects.filter(node_id=receiver_node_id, is_self=False).first()
        if node is None:
            raise PermanentError(f"接收节点“{receiver_node_id}”未登记，不能发送消息")
        if node.status != Node.ACTIVE:
            raise PermanentError(f"接收节点“{node.name}”当前状态为{node.get_status_display()}，不能发送消息")
    if blobs:
        found = set(StoredBlob.objects.filter(sha256__in=blobs).values_list("sha256", flat=True))
        missing = [b for b in blobs if b not in found]
        if missing:
            raise PermanentError(f"随附材料不存在：{'、'.join(m[:12] for m in missing)}")
    signer = signing.local_signer()
    now = timezone.now()
    with transaction.atomic():
        row = OutboxMessage.objects.create(
            receiver=receiver_node_id, type=type, stream=stream, seq=_next_seq(receiver_node_id, stream), payload=payload,
            payload_hash=envelope.payload_hash(payload, signer.hash_alg), hash_alg=signer.hash_alg, blobs=blobs,
            next_attempt_at=now,
        )
        if local:
            fn = handler_for(type)
            if fn is None:
                raise PermanentError(f"未知的消息类型“{type}”，本节点无法处理")
            fn(Message(sender=me.node_id, type=type, payload=payload, message_id=str(row.message_id), created_at=row.created_at,
                       stream=stream, seq=row.seq, blobs=blobs))
            OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxMessage.DELIVERED, delivered_at=now, result=OutboxMessage.LOCAL)
    return str(row.message_id)


# --- ping: an operator's check that a peer is reachable and accepts this node's signature ------------

PING = "ping"


def _pong(msg):
    """Nothing to apply: the acknowledgement is the answer (the inbox has already checked everything)."""


def ping(receiver_node_id):
    """Queue a ping to a peer; returns its message id (delivered when the outbox row is acknowledged)."""
    with transaction.atomic():
        return send(receiver_node_id, PING, {"from": self_node().node_id}, stream=f"ping-{uuid.uuid4()}")


register_handler(PING, _pong)
