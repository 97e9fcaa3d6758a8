"""The exchange inbox: signatures, deny by default, replay and skew protection, idempotency, ordering,
and materials that travel by hash. Two nodes are simulated in one database: this node ("local") and
a peer "B" whose key pair the test holds and whose envelopes it signs."""

import base64
import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import PDF_BYTES

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange_env(settings, tmp_path, monkeypatch):
    from tongban.exchange import service, signing

    settings.TONGBAN_NODE_KEY_FILE = tmp_path / "node_key.json"
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(service, "_HANDLERS", dict(service._HANDLERS))
    signing.reset_signer()
    yield
    signing.reset_signer()


class Peer:
    """A peer node whose key the test holds: builds and signs envelopes as that node would."""

    def __init__(self, node_id="B", algorithm="sm2", regions=("320000",)):
        from tongban.exchange import service, signing

        self.node_id, self.algorithm = node_id, algorithm
        self.key = signing.generate_key(algorithm)
        self.node = service.register_peer({
            "node_id": node_id, "name": f"测试节点{node_id}", "base_url": f"http://{node_id.lower()}.test",
            "regions": list(regions), "keys": [{k: self.key[k] for k in ("key_id", "algorithm", "public_key")}],
        })
        self.seq = {}

    def sign(self, data, key=None):
        import gmssl_pyx
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = key or self.key
        if key["algorithm"] == "sm2":
            return gmssl_pyx.sm2_sign(bytes.fromhex(key["private_key"]), bytes.fromhex(key["public_key"]), data)
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key["private_key"])).sign(data)

    def envelope(self, type="test_note", payload=None, *, stream="s1", seq=None, message_id=None, sent_at=None, blobs=(),
                 receiver=None, key=None, header_changes=None, payload_for_hash=None):
        from tongban.exchange import envelope, service

        payload = {"text": "你好"} if payload is None else payload
        if seq is None:
            seq = self.seq[stream] = self.seq.get(stream, 0) + 1
        key = key or self.key
        hash_alg = "sm3" if key["algorithm"] == "sm2" else "sha256"
        now = timezone.now()
        header = {
            "sender": self.node_id, "receiver": receiver or service.self_node().node_id, "message_id": str(message_id or uuid.uuid4()),
            "type": type, "stream": stream, "seq": seq, "created_at": now.isoformat(), "sent_at": (sent_at or now).isoformat(),
            "payload_hash": envelope.payload_hash(payload if payload_for_hash is None else payload_for_hash, hash_alg), "hash_alg": hash_alg,
            "key_id": key["key_id"], "alg": key["algorithm"], "blobs": list(blobs),
        }
        header.update(header_changes or {})
        signature = self.sign(envelope.canonical(header), key)
        return {"header": header, "signature": base64.b64encode(signature).decode(), "payload": payload}


def post(envelopes, blobs=None, client=None):
    body = {"envelopes": envelopes, "blobs": {k: base64.b64encode(v).decode() for k, v in (blobs or {}).items()}}
    return (client or Client()).post("/exchange/inbox/", data=json.dumps(body, ensure_ascii=False), content_type="application/json")


def results(response):
    assert response.status_code == 200, response.content
    return [(r["status"], r["reason"]) for r in response.json()["results"]]


@pytest.fixture
def applied(exchange_env):
    from tongban.exchange import service

    calls = []
    service.register_handler("test_note", lambda msg: calls.append(msg))
    return calls


@pytest.fixture
def peer(exchange_env):
    return Peer()


def rejection_reasons():
    from tongban.exchange.models import Rejection

    return list(Rejection.objects.order_by("id").values_list("reason", flat=True))


# --- signing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sm2", "ed25519"])
def test_sign_verify_round_trip(algorithm, exchange_env, settings):
    from tongban.exchange import signing

    settings.TONGBAN_NODE_SIGNING = algorithm
    signer = signing.local_signer()
    assert signer.algorithm == algorithm
    sig = signer.sign("通办".encode())
    assert signing.verify(algorithm, signer.public_key, "通办".encode(), sig)
    assert not signing.verify(algorithm, signer.public_key, "通办!".encode(), sig)
    if algorithm == "sm2":  # interoperable with the library's own SM2-with-SM3 (default signer id)
        import gmssl_pyx

        assert gmssl_pyx.sm2_verify(bytes.fromhex(signer.public_key), "通办".encode(), sig)
    other = signing.generate_key(algorithm)
    assert not signing.verify(algorithm, other["public_key"], "通办".encode(), sig)
    # garbage never raises
    assert not signing.verify(algorithm, "zz", b"x", sig)
    assert not signing.verify(algorithm, signer.public_key[:-2], b"x", sig)
    assert not signing.verify(algorithm, signer.public_key, b"x", b"\x00" * 3)
    assert not signing.verify("rsa", signer.public_key, b"x", sig)
    assert not signing.verify(algorithm, signer.public_key, b"x", "not bytes")
    # the key file is private to the node's user
    assert (settings.TONGBAN_NODE_KEY_FILE.stat().st_mode & 0o777) == 0o600
    key = json.loads(settings.TONGBAN_NODE_KEY_FILE.read_text())
    assert {"key_id", "algorithm", "private_key", "public_key"} <= set(key)


def test_hash_algorithm_follows_the_signer():
    from tongban.exchange import envelope

    assert envelope.payload_hash({"a": 1}, "sm3") != envelope.payload_hash({"a": 1}, "sha256")
    assert envelope.payload_hash({"a": 1}, "sha256") == hashlib.sha256(b'{"a":1}').hexdigest()


# --- accepting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sm2", "ed25519"])
def test_valid_envelope_applied_once_and_duplicate_answered(algorithm, exchange_env, applied):
    from tongban.exchange.models import InboxMessage, StreamCursor

    peer = Peer(algorithm=algorithm)
    env = peer.envelope(payload={"case_no": "X1", "意见": "同意"})
    assert results(post([env])) == [("accepted", "")]
    assert len(applied) == 1
    msg = applied[0]
    assert (msg.sender, msg.type, msg.payload, msg.stream, msg.seq) == ("B", "test_note", {"case_no": "X1", "意见": "同意"}, "s1", 1)
    assert msg.message_id == env["header"]["message_id"]
    # the same envelope again (a retry after a lost acknowledgement): acknowledged, not applied again
    assert results(post([env])) == [("duplicate", "")]
    assert len(applied) == 1
    assert InboxMessage.objects.get().status == InboxMessage.APPLIED
    assert StreamCursor.objects.get(sender="B", stream="s1").last_seq == 1
    assert rejection_reasons() == []


def test_one_bad_envelope_does_not_block_the_batch(peer, applied):
    good1, bad, good2 = peer.envelope(stream="a"), peer.envelope(stream="b"), peer.envelope(stream="c")
    bad["payload"] = {"text": "改过"}
    statuses = [s for s, _ in results(post([good1, bad, good2]))]
    assert statuses == ["accepted", "rejected", "accepted"]
    assert len(applied) == 2


# --- refusing --------------------------------------------------------------------------------------


def _assert_rejected(response, applied, fragment):
    from tongban.exchange.models import InboxMessage

    [(status, reason)] = results(response)
    assert status == "rejected"
    assert fragment in reason
    assert any(fragment in r for r in rejection_reasons())
    assert applied == []
    assert not InboxMessage.objects.exists()


def test_bad_signature_rejected(peer, applied):
    from tongban.exchange import envelope, signing

    env = peer.envelope()
    forged = signing.generate_key("sm2")  # signed by someone else's key under B's key id
    env["signature"] = base64.b64encode(peer.sign(envelope.canonical(env["header"]), forged)).decode()
    _assert_rejected(post([env]), applied, "签名验证失败")


def test_tampered_header_rejected(peer, applied):
    env = peer.envelope()
    env["header"]["stream"] = "other"  # signed header changed after signing
    _assert_rejected(post([env]), applied, "签名验证失败")


def test_unknown_sender_rejected(peer, applied):
    stranger = Peer.__new__(Peer)
    stranger.node_id, stranger.algorithm, stranger.seq = "C", "sm2", {}
    from tongban.exchange import signing

    stranger.key = signing.generate_key("sm2")
    _assert_rejected(post([stranger.envelope()]), applied, "未登记")


def test_suspended_sender_rejected(peer, applied):
    from tongban.exchange.models import Node

    Node.objects.filter(node_id="B").update(status=Node.SUSPENDED)
    _assert_rejected(post([peer.envelope()]), applied, "暂停")


def test_self_claimed_as_sender_rejected(peer, applied):
    from tongban.exchange import service

    env = peer.envelope(header_changes={"sender": service.self_node().node_id})
    _assert_rejected(post([env]), applied, "未登记")


def test_wrong_receiver_rejected(peer, applied):
    _assert_rejected(post([peer.envelope(receiver="Z")]), applied, "不是本节点")


def test_revoked_key_rejected(peer, applied):
    from tongban.exchange.models import NodeKey

    NodeKey.objects.filter(node__node_id="B").update(revoked_at=timezone.now())
    _assert_rejected(post([peer.envelope()]), applied, "已吊销")


def test_unregistered_key_rejected(peer, applied):
    from tongban.exchange import signing

    _assert_rejected(post([peer.envelope(key=signing.generate_key("sm2"))]), applied, "未登记")


@pytest.mark.parametrize("minutes", [-10, 10])
def test_stale_or_future_sent_at_rejected(peer, applied, minutes):
    env = peer.envelope(sent_at=timezone.now() + timedelta(minutes=minutes))
    _assert_rejected(post([env]), applied, "时钟偏差")


def test_payload_hash_mismatch_rejected(peer, applied):
    env = peer.envelope(payload={"amount": 100})
    env["payload"] = {"amount": 1000}
    _assert_rejected(post([env]), applied, "摘要不符")


def test_replayed_message_id_with_other_payload_rejected(peer, applied):
    from tongban.exchange.models import InboxMessage

    first = peer.envelope(payload={"decision": "approve"})
    assert results(post([first])) == [("accepted", "")]
    forged = peer.envelope(payload={"decision": "deny"}, message_id=first["header"]["message_id"], seq=2)
    [(status, reason)] = results(post([forged]))
    assert status == "rejected" and "内容不同" in reason
    assert len(applied) == 1 and applied[0].payload == {"decision": "approve"}
    assert InboxMessage.objects.count() == 1


def test_stale_seq_with_unknown_message_id_rejected(peer, applied):
    assert results(post([peer.envelope(seq=1)])) == [("accepted", "")]
    [(status, reason)] = results(post([peer.envelope(seq=1)]))
    assert status == "rejected" and "序号" in reason
    assert len(applied) == 1


def test_tampered_blob_rejected(peer, applied):
    from tongban.core.models import StoredBlob

    data = PDF_BYTES + b"material"
    sha = hashlib.sha256(data).hexdigest()
    env = peer.envelope(payload={"material": sha}, blobs=[sha])
    _assert_rejected(post([env], {sha: data + b"tampered"}), applied, "内容与其摘要不符")
    assert not StoredBlob.objects.filter(pk=sha).exists()


def test_missing_blob_rejected(peer, applied):
    sha = hashlib.sha256(b"never sent").hexdigest()
    _assert_rejected(post([peer.envelope(blobs=[sha])]), applied, "缺失")


def test_unknown_type_rejected(peer, applied):
    _assert_rejected(post([peer.envelope(type="no_such_type")]), applied, "未知的消息类型")


def test_handler_permanent_error_rejected(peer, exchange_env):
    from tongban.exchange import service
    from tongban.exchange.models import InboxMessage, StreamCursor

    def handler(msg):
        InboxMessage.objects.all().delete()  # anything it wrote is rolled back with the refusal
        raise service.PermanentError("实施清单不存在")

    service.register_handler("test_note", handler)
    [(status, reason)] = results(post([peer.envelope()]))
    assert status == "rejected" and "实施清单不存在" in reason
    assert not InboxMessage.objects.exists()
    assert not StreamCursor.objects.filter(last_seq__gt=0).exists()


def test_handler_retry_later_is_not_stored(peer, exchange_env):
    from tongban.exchange import service
    from tongban.exchange.models import InboxMessage

    state = {"fail": True, "n": 0}

    def handler(msg):
        if state["fail"]:
            raise service.RetryLater("办件尚未同步")
        state["n"] += 1

    service.register_handler("test_note", handler)
    env = peer.envelope()
    assert results(post([env]))[0][0] == "retry"
    assert not InboxMessage.objects.exists()
    state["fail"] = False
    assert results(post([env])) == [("accepted", "")]
    assert state["n"] == 1


def test_unexpected_handler_error_is_retry_not_500(peer, exchange_env):
    from tongban.exchange import service

    service.register_handler("test_note", lambda msg: 1 / 0)
    assert results(post([peer.envelope()]))[0][0] == "retry"


def test_rejections_are_append_only(peer, applied):
    from tongban.exchange.models import Rejection

    post([peer.envelope(type="no_such_type")])
    row = Rejection.objects.get()
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        Rejection.objects.all().delete()


# --- ordering --------------------------------------------------------------------------------------


def test_reordered_seq_waits_then_applies_in_order(peer, applied):
    from tongban.exchange.models import InboxMessage, StreamCursor

    e1, e2, e3 = peer.envelope(payload={"n": 1}), peer.envelope(payload={"n": 2}), peer.envelope(payload={"n": 3})
    assert results(post([e3])) == [("waiting", "")]
    assert results(post([e2])) == [("waiting", "")]
    assert applied == []
    assert InboxMessage.objects.filter(status=InboxMessage.WAITING).count() == 2
    assert results(post([e2])) == [("duplicate", "")]
    assert results(post([e1])) == [("accepted", "")]
    assert [m.payload["n"] for m in applied] == [1, 2, 3]
    assert [m.seq for m in applied] == [1, 2, 3]
    assert not InboxMessage.objects.filter(status=InboxMessage.WAITING).exists()
    assert StreamCursor.objects.get(sender="B", stream="s1").last_seq == 3


def test_streams_are_independent(peer, applied):
    assert results(post([peer.envelope(stream="x", seq=2), peer.envelope(stream="y", seq=1)])) == [("waiting", ""), ("accepted", "")]
    assert [m.stream for m in applied] == ["y"]


def test_waiting_message_with_transient_failure_is_drained_later(peer, exchange_env):
    from tongban.exchange import inbox, service
    from tongban.exchange.models import InboxMessage

    state = {"fail_seq": 2, "seen": []}

    def handler(msg):
        if msg.seq == state["fail_seq"]:
            raise service.RetryLater("稍后")
        state["seen"].append(msg.seq)

    service.register_handler("test_note", handler)
    e1, e2 = peer.envelope(), peer.envelope()
    assert results(post([e2])) == [("waiting", "")]
    assert results(post([e1])) == [("accepted", "")]
    assert state["seen"] == [1]
    assert InboxMessage.objects.get(seq=2).status == InboxMessage.WAITING
    state["fail_seq"] = None
    assert inbox.drain_waiting() == 1
    assert state["seen"] == [1, 2]


# --- materials -------------------------------------------------------------------------------------


def test_blob_stored_before_handler_runs(peer, exchange_env):
    from tongban.core import files
    from tongban.core.models import StoredBlob
    from tongban.exchange import service

    data = PDF_BYTES + "材料".encode()
    sha = hashlib.sha256(data).hexdigest()
    seen = {}

    def handler(msg):
        blob = StoredBlob.objects.get(pk=msg.payload["material"])
        with files.open_blob(blob) as f:
            seen["bytes"] = f.read()
        seen["type"] = blob.content_type

    service.register_handler("test_note", handler)
    assert results(post([peer.envelope(payload={"material": sha}, blobs=[sha])], {sha: data})) == [("accepted", "")]
    assert seen == {"bytes": data, "type": "application/pdf"}


# --- the request as a whole ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[]", b'{"envelopes": 1}', b'{"envelopes": [], "blobs": []}',
                                  b'{"envelopes": [], "blobs": {"a": 1}}', b"[" * 5000 + b"]" * 5000])
def test_bad_request_body_is_400_in_chinese(exchange_env, body):
    response = Client().post("/exchange/inbox/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["detail"])


@pytest.mark.parametrize("env", [None, 1, "x", [], {}, {"header": {}}, {"header": {"sender": "B"}, "signature": "x", "payload": {}},
                                 {"header": {"sender": ["B"], "message_id": {"a": 1}, "type": None}, "signature": 5, "payload": []}])
def test_garbage_envelope_is_rejected_not_500(peer, applied, env):
    response = post([env])
    [(status, reason)] = results(response)
    assert status == "rejected" and reason


@pytest.mark.parametrize("changes", [{"seq": "1"}, {"seq": 0}, {"seq": True}, {"message_id": "x"}, {"sent_at": "yesterday"},
                                     {"sent_at": "2026-01-01T00:00:00"}, {"blobs": ["../etc/passwd"]}, {"hash_alg": "md5"}])
def test_malformed_header_fields_rejected(peer, applied, changes):
    [(status, reason)] = results(post([peer.envelope(header_changes=changes)]))
    assert status == "rejected" and reason


def test_get_is_405_and_no_csrf_needed(exchange_env, peer, applied):
    client = Client(enforce_csrf_checks=True)
    assert client.get("/exchange/inbox/").status_code == 405
    assert results(post([peer.envelope()], client=client)) == [("accepted", "")]
    assert "sessionid" not in client.cookies


def _post_raw(envelopes):
    """Posted with \\uXXXX escapes, as any JSON encoder may send a NUL or a lone surrogate."""
    body = json.dumps({"envelopes": envelopes, "blobs": {}}, allow_nan=True)
    return Client().post("/exchange/inbox/", data=body, content_type="application/json")


@pytest.mark.parametrize("header_changes, payload", [
    ({}, {"text": "a\x00b"}), ({}, {"a\x00": 1}), ({"stream": "s\x00"}, None), ({"stream": "s\ud800"}, None),
    ({"sender": "B\x00"}, None), ({"message_id": "\ud800"}, None), ({"extra": float("nan")}, None),
])
def test_text_no_database_stores_is_rejected_and_recorded_not_retried(peer, applied, header_changes, payload):
    """NUL characters (PostgreSQL refuses them), lone surrogates and NaN used to fail at the database or
    the encoder as "retry", so the sender tried again until the message was a dead letter."""
    from tongban.exchange.models import InboxMessage, Rejection

    env = peer.envelope(payload=payload)
    env["header"].update(header_changes)  # after signing: the shape is refused before the signature is checked
    response = _post_raw([env])
    [(status, reason)] = results(response)
    assert status == "rejected" and reason
    assert Rejection.objects.count() == 1
    assert applied == [] and not InboxMessage.objects.exists()


def test_blob_shared_by_a_batch_is_stored_once(peer, applied):
    from tongban.core import files

    data = PDF_BYTES + b"shared"
    sha = hashlib.sha256(data).hexdigest()
    envs = [peer.envelope(payload={"n": i}, blobs=[sha]) for i in range(3)]
    calls = []
    real = files.store_many
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "store_many", lambda items: calls.append(len(items)) or real(items))
        assert results(post(envs, {sha: data})) == [("accepted", "")] * 3
    assert calls == [1]
