"""The relay: delivers due outbox messages to their nodes, in batches, in stream order.

Every attempt is signed afresh. Per message the receiver answers accepted / duplicate / waiting
(delivered), rejected (dead at once) or retry; a transport failure retries the whole batch with
exponential back-off and jitter, until TONGBAN_EXCHANGE_MAX_TRIES make it a dead letter that an
operator can resend.
"""

import base64
import http.client
import json
import logging
import queue
import random
import threading
import time
import uuid
import zlib
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tongban.core import audit
from tongban.core.files import blob_path

from . import envelope, inbox, service, signing
from .models import Node, OutboxMessage

log = logging.getLogger("tongban.exchange")

MAX_BATCH_ENVELOPES = 25  # a batch is applied one envelope after another: keep it well inside the timeout
MAX_BATCH_BLOB_BYTES = 8 * 1024 * 1024
MAX_BACKOFF_SECONDS = 300
DELIVERED_RESULTS = {"accepted": OutboxMessage.ACCEPTED, "duplicate": OutboxMessage.DUPLICATE, "waiting": OutboxMessage.WAITING}


class TransportError(Exception):
    pass


class HttpTransport:
    """POST {base_url}/exchange/inbox/ with one kept-alive connection per receiver."""

    concurrent = True  # one thread per receiver may use it at once

    def __init__(self, timeout=None):
        self.timeout = timeout if timeout is not None else settings.TONGBAN_EXCHANGE_TIMEOUT_SECONDS
        self._conns = {}
        self._lock = threading.Lock()

    def _connection(self, base_url):
        key = (base_url, threading.get_ident())  # lanes to one receiver post at once: a connection each
        with self._lock:
            conn = self._conns.get(key)
            if conn is None:
                parts = urlsplit(base_url)
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                conn = cls(parts.hostname, parts.port, timeout=self.timeout)
                self._conns[key] = conn
            return conn

    def _drop(self, base_url):
        with self._lock:
            conn = self._conns.pop((base_url, threading.get_ident()), None)
        if conn is not None:
            conn.close()

    def post(self, base_url, body: dict) -> dict:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path = urlsplit(base_url).path.rstrip("/") + "/exchange/inbox/"
        for attempt in (1, 2):
            conn = self._connection(base_url)
            try:
                conn.request("POST", path, body=data, headers={"Content-Type": "application/json; charset=utf-8", "Connection": "keep-alive"})
                response = conn.getresponse()
                raw = response.read()
                if response.will_close:
                    self._drop(base_url)
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest):
                self._drop(base_url)
                if attempt == 2:  # a kept-alive connection the peer closed: one fresh try (the inbox is idempotent)
                    raise
            except Exception:
                self._drop(base_url)
                raise
        if response.status != 200:
            detail = ""
            try:
                detail = json.loads(raw).get("detail", "")
            except Exception:
                detail = raw[:200].decode("utf-8", "replace")
            detail = envelope.db_text(detail or "", 300)  # the peer's text ends up in last_error
            raise TransportError(f"接收节点返回 HTTP {response.status}{('：' + detail) if detail else ''}")
        try:
            return json.loads(raw)
        except ValueError:
            raise TransportError("接收节点返回的内容不是JSON")

    def close(self):
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()


def backoff(tries):
    return min(MAX_BACKOFF_SECONDS, 2**tries) * random.uniform(0.8, 1.2)


def _read_blob(sha):
    try:
        return blob_path(sha).read_bytes()
    except OSError:
        return None


def _ordered_due(now, limit):
    """Due pending rows, in (receiver, stream, seq) order, without any row whose pending predecessor
    on its stream is not due yet (seq n+1 never travels before seq n)."""
    due = list(OutboxMessage.objects.filter(status=OutboxMessage.PENDING, next_attempt_at__lte=now).order_by("receiver", "stream", "seq")[:limit])
    if not due:
        return []
    streams = {(m.receiver, m.stream) for m in due}
    due_ids = {m.pk for m in due}
    blocked_from = {}
    waiting = OutboxMessage.objects.filter(status=OutboxMessage.PENDING, next_attempt_at__gt=now, receiver__in={r for r, _ in streams},
                                           stream__in={s for _, s in streams}).values_list("receiver", "stream", "seq", "pk")
    for receiver, stream, seq, pk in waiting:
        if (receiver, stream) in streams and pk not in due_ids:
            key = (receiver, stream)
            blocked_from[key] = min(seq, blocked_from.get(key, seq))
    return [m for m in due if m.seq < blocked_from.get((m.receiver, m.stream), m.seq + 1)]


def _encoded_blobs(shas, have):
    """({sha: base64} of the blobs not in `have`, None), or (None, sha) of a blob whose file is gone."""
    extra = {}
    for sha in shas:
        if sha not in have and sha not in extra:
            data = _read_blob(sha)
            if data is None:
                return None, sha
            extra[sha] = base64.b64encode(data).decode("ascii")
    return extra, None


def _batches(rows, me, signer):
    """("batch", body, members) of at most MAX_BATCH_ENVELOPES envelopes and ~8 MB of blobs, in
    order, signed as they are built; ("dead", row, reason) for a row whose blob file is gone. Touches
    no database, so it may run in a worker thread."""
    body, size, members = {"envelopes": [], "blobs": {}}, 0, []
    for m in rows:
        shas = m.blobs or []
        extra, missing = _encoded_blobs(shas, body["blobs"])
        if missing:
            yield "dead", m, f"本节点的随附材料文件 {missing[:12]}… 缺失，无法发送"
            continue
        extra_size = sum(len(v) for v in extra.values())
        if members and (len(members) >= MAX_BATCH_ENVELOPES or size + extra_size > MAX_BATCH_BLOB_BYTES * 4 // 3):
            # the new batch must carry every blob of m, also those the batch just closed had
            extra.update((sha, body["blobs"][sha]) for sha in shas if sha in body["blobs"])
            extra_size = sum(len(v) for v in extra.values())
            yield "batch", body, members
            body, size, members = {"envelopes": [], "blobs": {}}, 0, []
        body["envelopes"].append(envelope.build(m, me.node_id, signer))
        body["blobs"].update(extra)
        size += extra_size
        members.append(m)
    if members:
        yield "batch", body, members


def _run_job(transport, base_url, rows, me, signer):
    """(members, response | exception | ("dead", reason)) per batch for one receiver, in order; once
    the receiver is unreachable, the rest of its rows share the failure (nothing overtakes)."""
    sent = set()
    for kind, *rest in _batches(rows, me, signer):
        if kind == "dead":
            m, reason = rest
            sent.add(m.pk)
            yield [m], ("dead", reason)
            continue
        body, members = rest
        sent.update(m.pk for m in members)
        try:
            response = transport.post(base_url, body)
        except Exception as exc:
            yield members + [m for m in rows if m.pk not in sent], exc
            return
        yield members, response


def _outcomes(transport, jobs, me, signer):
    """The outcomes of all receivers as they arrive; receivers in parallel threads when the transport
    allows it (the threads only sign and post; the database is written by the caller's thread)."""
    if len(jobs) <= 1 or not getattr(transport, "concurrent", False):
        for _receiver, base_url, rows in jobs:
            yield from _run_job(transport, base_url, rows, me, signer)
        return
    results, done = queue.Queue(), object()

    def worker(base_url, rows):
        try:
            for item in _run_job(transport, base_url, rows, me, signer):
                results.put(item)
        except Exception as exc:  # signing failed: the whole job waits for the next pass
            log.exception("exchange: preparing a batch failed")
            results.put((rows, exc))
        finally:
            results.put(done)

    threads = [threading.Thread(target=worker, args=(url, rows), daemon=True) for _r, url, rows in jobs]
    for t in threads:
        t.start()
    remaining = len(threads)
    while remaining:
        item = results.get()
        if item is done:
            remaining -= 1
        else:
            yield item


def _error_text(exc):
    if isinstance(exc, TransportError):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "接收节点拒绝连接（可能未启动）"
    if isinstance(exc, TimeoutError):
        return "连接接收节点超时"
    return f"无法连接接收节点：{type(exc).__name__} {exc}"[:500]


def _record(members, outcome, now, counts):
    """Write what the receiver said about one batch (one short transaction)."""
    delivered, failures = defaultdict(list), {}
    if isinstance(outcome, tuple):  # ("dead", reason) decided here
        for m in members:
            failures[m.pk] = outcome
    elif isinstance(outcome, Exception):
        reason = _error_text(outcome)
        log.warning("exchange: delivery to %s failed: %s", members[0].receiver if members else "?", reason)
        for m in members:
            failures[m.pk] = ("retry", reason)
    else:
        counts["sent"] += len(members)
        results = {}
        for r in outcome.get("results", []) if isinstance(outcome, dict) else []:
            if isinstance(r, dict) and isinstance(r.get("message_id"), str):
                results[r["message_id"]] = r
        for m in members:
            r = results.get(str(m.message_id))
            status = r.get("status") if r else None
            if status in DELIVERED_RESULTS:
                delivered[DELIVERED_RESULTS[status]].append(m.pk)
            elif status == "rejected":
                failures[m.pk] = ("dead", envelope.db_text(f"接收节点拒收：{r.get('reason') or '未说明原因'}", 2000))
            else:  # the peer's reason as text the database stores: a NUL in it failed the whole pass, again and again
                failures[m.pk] = ("retry", envelope.db_text((r or {}).get("reason") or "接收节点未返回该消息的处理结果", 2000))
    changed = []
    for m in members:
        if m.pk not in failures:
            continue
        kind, reason = failures[m.pk]
        m.tries += 1
        m.last_error = reason
        if kind == "dead" or m.tries >= settings.TONGBAN_EXCHANGE_MAX_TRIES:
            m.status = OutboxMessage.DEAD
            counts["dead"] += 1
            log.warning("exchange: message %s to %s is a dead letter: %s", m.message_id, m.receiver, reason)
        else:
            m.next_attempt_at = now + timedelta(seconds=backoff(m.tries))
            counts["retry"] += 1
        changed.append(m)
    with transaction.atomic():
        for result, pks in delivered.items():
            OutboxMessage.objects.filter(pk__in=pks, status=OutboxMessage.PENDING).update(
                status=OutboxMessage.DELIVERED, delivered_at=timezone.now(), result=result, last_error="")
            counts["delivered"] += len(pks)
        if changed:
            OutboxMessage.objects.bulk_update(changed, ["tries", "last_error", "status", "next_attempt_at"])


def _lanes(rows):
    """A receiver's rows split into lanes posted side by side; a stream always goes by one lane, in
    order (order matters only within a stream, so the receiver may apply different cases at once)."""
    n = max(1, settings.TONGBAN_EXCHANGE_LANES)
    lanes = [[] for _ in range(n)]
    for m in rows:
        lanes[zlib.crc32(m.stream.encode()) % n].append(m)
    return [lane for lane in lanes if lane]


def deliver_pending(transport=None, now=None, limit=500) -> dict:
    """One pass over the due outbox; each batch's outcome is written as soon as it is known.
    Returns counts: attempted, sent (answered by the receiver), delivered, dead, retry."""
    now = now or timezone.now()
    counts = {"attempted": 0, "sent": 0, "delivered": 0, "dead": 0, "retry": 0}
    rows = _ordered_due(now, limit)
    if not rows:
        return counts
    transport = transport or _default_transport()
    me = service.self_node()
    signer = signing.local_signer()
    nodes = {n.node_id: n for n in Node.objects.filter(node_id__in={m.receiver for m in rows})}
    by_receiver, held = defaultdict(list), defaultdict(list)
    for m in rows:
        node = nodes.get(m.receiver)
        if node is None or node.is_self:
            held[("dead", f"接收节点“{m.receiver}”未登记")].append(m)
        elif node.status != Node.ACTIVE:
            held[("retry", f"接收节点“{node.name}”当前状态为{node.get_status_display()}")].append(m)
        elif not node.base_url:
            held[("retry", f"接收节点“{node.name}”未配置访问地址")].append(m)
        else:
            by_receiver[m.receiver].append(m)
    for (kind, reason), members in held.items():
        _record(members, (kind, reason), now, counts)
    jobs = [(receiver, nodes[receiver].base_url, lane) for receiver, ms in by_receiver.items() for lane in _lanes(ms)]
    for members, outcome in _outcomes(transport, jobs, me, signer):
        _record(members, outcome, now, counts)
    counts["attempted"] = sum(len(ms) for ms in by_receiver.values())
    return counts


_transport = None


def _default_transport():
    global _transport
    if _transport is None:
        _transport = HttpTransport()
    return _transport


def resend(message_ids, user) -> int:
    """Operator action: dead letters back to pending, tried again at once. Returns how many."""
    ids = []
    for value in message_ids:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    with transaction.atomic():
        rows = list(OutboxMessage.objects.select_for_update().filter(message_id__in=ids, status=OutboxMessage.DEAD))
        if not rows:
            return 0
        OutboxMessage.objects.filter(pk__in=[m.pk for m in rows]).update(status=OutboxMessage.PENDING, tries=0, next_attempt_at=timezone.now())
        audit.record(user, "exchange.resend", summary=f"重新发送{len(rows)}条死信消息",
                     data={"message_ids": [str(m.message_id) for m in rows], "receivers": sorted({m.receiver for m in rows})},
                     object_type="exchange.outboxmessage", object_id=",".join(str(m.pk) for m in rows)[:200])
    return len(rows)


def run(transport=None, interval=0.2, once=False, stop=None, drain_every=5.0):
    """The relay loop: a pass, then again at once if it found work, else after `interval`. Errors
    (the database gone, a peer down) are logged and the loop goes on."""
    transport = transport or HttpTransport()
    last_drain, pause = 0.0, interval
    while not (stop and stop.is_set()):
        worked = False
        try:
            counts = deliver_pending(transport)
            worked = counts["attempted"] > 0
            if worked:
                log.info("exchange relay: %s", counts)
            if time.monotonic() - last_drain >= drain_every:
                inbox.drain_waiting()
                last_drain = time.monotonic()
            pause = interval
        except Exception:
            log.exception("exchange relay: pass failed, retrying")
            close_old_connections()
            connection.close()  # a broken connection is reopened on the next pass
            pause = min(max(pause * 2, interval), 5.0)
        if once:
            break
        if not worked:
            if stop is not None:
                stop.wait(pause)
            else:
                time.sleep(pause)
    transport_close = getattr(transport, "close", None)
    if transport_close:
        transport_close()
