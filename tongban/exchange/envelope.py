"""Signed envelopes: {"header": {...}, "signature": base64, "payload": {...}}.

The signature covers the canonical JSON of the header; the header carries the payload's hash and the
list of blobs (SHA-256), so the payload and the materials are bound to the signature too.
"""

import base64
import binascii
import json
import re
import uuid
from datetime import datetime

from django.utils import timezone

from tongban.core.api_input import bad_text_path

from . import signing

HEADER_FIELDS = ("sender", "receiver", "message_id", "type", "stream", "seq", "created_at", "sent_at",
                 "payload_hash", "hash_alg", "key_id", "alg", "blobs")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")  # blob names and payload hashes alike


class EnvelopeError(Exception):
    """The envelope is malformed; the message is the Chinese reason."""


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def payload_hash(payload, hash_alg) -> str:
    return signing.digest(hash_alg, canonical(payload))


def db_text(value, limit):
    """What a peer claims or answers, as text any database stores: NUL characters dropped, lone
    surrogates replaced (PostgreSQL refuses the one, neither driver encodes the other), cut to `limit`."""
    text = str(value).replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def build(message, sender_id, signer, sent_at=None) -> dict:
    """The envelope of an outbox row, signed now (a fresh sent_at on every attempt)."""
    header = {
        "sender": sender_id,
        "receiver": message.receiver,
        "message_id": str(message.message_id),
        "type": message.type,
        "stream": message.stream,
        "seq": message.seq,
        "created_at": message.created_at.isoformat(),
        "sent_at": (sent_at or timezone.now()).isoformat(),
        "payload_hash": message.payload_hash,
        "hash_alg": message.hash_alg,
        "key_id": signer.key_id,
        "alg": signer.algorithm,
        "blobs": list(message.blobs or []),
    }
    signature = signer.sign(canonical(header))
    return {"header": header, "signature": base64.b64encode(signature).decode("ascii"), "payload": message.payload}


def parse_time(value):
    try:
        dt = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if timezone.is_naive(dt):
        return None  # a time without its offset is ambiguous between nodes
    return dt


def check_shape(env):
    """(header, signature bytes, payload) of a structurally valid envelope, else EnvelopeError."""
    if not isinstance(env, dict):
        raise EnvelopeError("信封格式不正确：应为JSON对象")
    header, signature, payload = env.get("header"), env.get("signature"), env.get("payload")
    if not isinstance(header, dict):
        raise EnvelopeError("信封格式不正确：缺少信封头")
    missing = [f for f in HEADER_FIELDS if f not in header]
    if missing:
        raise EnvelopeError(f"信封头缺少字段：{'、'.join(missing)}")
    for f in HEADER_FIELDS:
        if f in ("seq", "blobs"):
            continue
        if not isinstance(header[f], str) or not header[f] or len(header[f]) > 200:
            raise EnvelopeError(f"信封头字段 {f} 应为非空字符串")
    if len(header["type"]) > 64 or len(header["stream"]) > 128 or len(header["sender"]) > 64:
        raise EnvelopeError("信封头字段过长")
    seq = header["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
        raise EnvelopeError("信封头字段 seq 应为正整数")
    blobs = header["blobs"]
    if not isinstance(blobs, list) or len(blobs) > 1000 or not all(isinstance(b, str) and SHA256_RE.match(b) for b in blobs):
        raise EnvelopeError("信封头字段 blobs 应为SHA-256十六进制字符串列表")
    try:
        uuid.UUID(header["message_id"])
    except ValueError:
        raise EnvelopeError("信封头字段 message_id 不是有效的消息编号")
    if parse_time(header["created_at"]) is None or parse_time(header["sent_at"]) is None:
        raise EnvelopeError("信封头中的时间格式不正确（应为带时区的ISO 8601时间）")
    if header["hash_alg"] not in signing.HASH_ALG.values() or not SHA256_RE.match(header["payload_hash"]):
        raise EnvelopeError("信封头中的摘要算法或摘要值不正确")
    if not isinstance(signature, str) or len(signature) > 400:
        raise EnvelopeError("信封缺少签名")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("签名不是有效的Base64编码")
    if not isinstance(payload, dict):
        raise EnvelopeError("消息内容应为JSON对象")
    if bad_text_path(env) is not None:  # would fail at the database as a "retry", again and again
        raise EnvelopeError("信封含有空字符（\\u0000）或无效的Unicode字符")
    return header, raw_signature, payload
