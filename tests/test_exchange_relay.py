"""The sending side: the outbox, the relay's retries and dead letters, resending, local hand-offs in
the caller's transaction, routing by region, node configuration commands and the operators' pages."""

import base64
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.test_exchange import Peer, exchange_env  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(exchange_env):  # noqa: F811
    return Peer()


def send_to_b(n=1, stream="case:1", type="test_note", blobs=()):
    from tongban.exchange import service

    with transaction.atomic():
        for i in range(n):
            service.send("B", type, {"i": i, "说明": "转办"}, stream=stream, blobs=blobs)


class FailingTransport:
    def __init__(self):
        self.calls = 0

    def post(self, base_url, body):
        self.calls += 1
        raise ConnectionRefusedError(111, "Connection refused")


class RecordingTransport:
    """Answers every envelope with one status, keeping what was sent."""

    def __init__(self, status="accepted"):
        self.status, self.bodies = status, []

    def post(self, base_url, body):
        self.bodies.append((base_url, body))
        return {"results": [{"message_id": e["header"]["message_id"], "status": self.status, "reason": "测试拒收" if self.status == "rejected" else ""}
                            for e in body["envelopes"]]}


class ClientTransport:
    """Posts through Django's test client to this process's inbox."""

    def post(self, base_url, body):
        response = Client().post("/exchange/inbox/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200
        return response.json()


# --- outbox and relay ------------------------------------------------------------------------------


def test_send_writes_outbox_with_stream_sequence(peer):
    from tongban.exchange.models import OutboxMessage

    send_to_b(3, stream="case:1")
    send_to_b(1, stream="case:2")
    rows = OutboxMessage.objects.order_by("stream", "seq")
    assert [(m.stream, m.seq, m.status) for m in rows] == [("case:1", 1, "pending"), ("case:1", 2, "pending"), ("case:1", 3, "pending"),
                                                          ("case:2", 1, "pending")]
    assert all(m.receiver == "B" and m.tries == 0 for m in rows)


def test_relay_sends_signed_verifiable_envelopes_and_marks_delivered(peer, settings):
    from tongban.core import files
    from tongban.exchange import envelope, relay, service, signing
    from tongban.exchange.models import NodeKey, OutboxMessage

    blob = files.store_bytes(b"%PDF-1.4 material", "application/pdf")
    send_to_b(2, blobs=[blob.sha256])
    transport = RecordingTransport("accepted")
    counts = relay.deliver_pending(transport)
    assert counts == {"attempted": 2, "sent": 2, "delivered": 2, "dead": 0, "retry": 0}
    [(base_url, body)] = transport.bodies  # one batch
    assert base_url == "http://b.test"
    assert base64.b64decode(body["blobs"][blob.sha256]) == b"%PDF-1.4 material"
    me = service.self_node()
    for i, env in enumerate(body["envelopes"], 1):
        header, signature, payload = envelope.check_shape(env)
        assert (header["sender"], header["receiver"], header["seq"], header["blobs"]) == (me.node_id, "B", i, [blob.sha256])
        key = NodeKey.objects.get(node=me, key_id=header["key_id"])
        assert signing.verify(key.algorithm, key.public_key, envelope.canonical(header), signature)
        assert envelope.payload_hash(payload, header["hash_alg"]) == header["payload_hash"]
    assert set(OutboxMessage.objects.values_list("status", "result")) == {("delivered", "accepted")}
    assert OutboxMessage.objects.filter(delivered_at__isnull=True).count() == 0
    assert relay.deliver_pending(transport)["sent"] == 0  # nothing left to do


def test_every_batch_carries_the_blobs_of_its_envelopes(peer):
    """A blob sent in one batch was left out of the next, whose envelope then arrived without it."""
    from tongban.core import files
    from tongban.exchange import relay

    blob = files.store_bytes(b"%PDF-1.4 shared", "application/pdf")
    send_to_b(relay.MAX_BATCH_ENVELOPES + 1, blobs=[blob.sha256])
    transport = RecordingTransport("accepted")
    assert relay.deliver_pending(transport)["delivered"] == relay.MAX_BATCH_ENVELOPES + 1
    assert len(transport.bodies) == 2
    for _url, body in transport.bodies:
        assert all(set(e["header"]["blobs"]) <= set(body["blobs"]) for e in body["envelopes"])


def test_peer_reason_with_nul_is_stored(peer):
    """A NUL in what the receiver answers reached last_error: on PostgreSQL every pass then failed."""
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(2)

    class NulTransport:
        def post(self, base_url, body):
            [e1, e2] = body["envelopes"]
            return {"results": [{"message_id": e1["header"]["message_id"], "status": "rejected", "reason": "坏\x00"},
                                {"message_id": e2["header"]["message_id"], "status": "retry", "reason": "稍后\x00"}]}

    assert relay.deliver_pending(NulTransport()) == {"attempted": 2, "sent": 2, "delivered": 0, "dead": 1, "retry": 1}
    assert sorted(OutboxMessage.objects.values_list("last_error", flat=True)) == ["接收节点拒收：坏", "稍后"]


def test_send_refuses_text_no_database_stores(peer):
    from tongban.exchange import service

    with pytest.raises(service.PermanentError, match="空字符"), transaction.atomic():
        service.send("B", "test_note", {"说明": "a\x00"}, stream="case:1")


def test_register_peer_refuses_what_the_columns_cannot_hold(exchange_env):  # noqa: F811
    from tongban.exchange import service, signing

    key = signing.generate_key("sm2")
    desc = {"node_id": "C", "name": "节点", "regions": [], "keys": [{k: key[k] for k in ("key_id", "algorithm", "public_key")}]}
    for changes in ({"name": "长" * 121}, {"name": "a\x00"}, {"node_id": "c" * 65}, {"base_url": "http://" + "x" * 300}, {"regions": ["32\x00"]}):
        with pytest.raises(ValueError):
            service.register_peer({**desc, **changes})
    assert service.register_peer(desc).node_id == "C"


def test_failing_transport_backs_off_then_dead_letter_then_resend(peer, settings, staff_factory):
    from tongban.core.models import AuditEntry
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    settings.TONGBAN_EXCHANGE_MAX_TRIES = 5
    send_to_b(1)
    transport, now, delays = FailingTransport(), timezone.now(), []
    for tries in range(1, 5):
        counts = relay.deliver_pending(transport, now=now)
        assert counts["retry"] == 1
        m = OutboxMessage.objects.get()
        assert (m.status, m.tries) == ("pending", tries)
        assert "拒绝连接" in m.last_error
        delays.append((m.next_attempt_at - now).total_seconds())
        assert relay.deliver_pending(transport, now=now)["sent"] == 0  # not due again before its time
        now = m.next_attempt_at
    assert delays == sorted(delays) and delays[0] > 0 and delays[-1] > delays[0]
    assert relay.deliver_pending(transport, now=now)["dead"] == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.tries) == ("dead", 5)
    assert transport.calls == 5

    admin, _ = staff_factory("platform_admin", "000000")
    assert relay.resend([m.message_id, "not-a-uuid"], admin) == 1
    m.refresh_from_db()
    assert (m.status, m.tries) == ("pending", 0)
    assert AuditEntry.objects.filter(action="exchange.resend", actor=admin).exists()
    assert relay.deliver_pending(RecordingTransport("accepted"))["delivered"] == 1
    m.refresh_from_db()
    assert (m.status, m.result) == ("delivered", "accepted")
    assert relay.resend([m.message_id], admin) == 0  # only dead letters are resent


def test_rejected_result_is_dead_at_once(peer):
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(1)
    assert relay.deliver_pending(RecordingTransport("rejected"))["dead"] == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.tries) == ("dead", 1)
    assert "测试拒收" in m.last_error


def test_rejection_by_a_real_inbox_is_dead_at_once(peer):
    """Through the inbox view of this process: this node is not B, so the envelope is refused."""
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage, Rejection

    send_to_b(1)
    assert relay.deliver_pending(ClientTransport())["dead"] == 1
    assert "拒收" in OutboxMessage.objects.get().last_error
    assert Rejection.objects.count() == 1


def test_retry_result_backs_off(peer):
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(1)
    assert relay.deliver_pending(RecordingTransport("retry"))["retry"] == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.tries) == ("pending", 1)


def test_a_later_seq_never_travels_before_an_earlier_one(peer):
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(1, stream="case:9")
    now = timezone.now()
    relay.deliver_pending(FailingTransport(), now=now)  # seq 1 now backs off
    send_to_b(1, stream="case:9")  # seq 2 is due at once
    transport = RecordingTransport("accepted")
    assert relay.deliver_pending(transport, now=now + timedelta(milliseconds=1))["sent"] == 0
    later = OutboxMessage.objects.get(seq=1).next_attempt_at
    relay.deliver_pending(transport, now=later)
    [(_url, body)] = transport.bodies
    assert [e["header"]["seq"] for e in body["envelopes"]] == [1, 2]


def test_batches_are_limited(peer, monkeypatch):
    from tongban.exchange import relay

    monkeypatch.setattr(relay, "MAX_BATCH_ENVELOPES", 3)
    send_to_b(7)
    transport = RecordingTransport("accepted")
    assert relay.deliver_pending(transport)["delivered"] == 7
    assert [len(b["envelopes"]) for _u, b in transport.bodies] == [3, 3, 1]
    seqs = [e["header"]["seq"] for _u, b in transport.bodies for e in b["envelopes"]]
    assert seqs == sorted(seqs)


def test_relay_command_survives_an_unreachable_peer(peer):
    from tongban.exchange.models import Node, OutboxMessage

    Node.objects.filter(node_id="B").update(base_url="http://127.0.0.1:9")  # nothing listens there
    send_to_b(1)
    call_command("exchange_relay", "--once", stdout=io.StringIO())
    m = OutboxMessage.objects.get()
    assert (m.status, m.tries) == ("pending", 1)
    assert m.last_error


@pytest.fixture
def purge_after():
    yield
    from django.db import connection

    if connection.vendor == "sqlite":  # let the flush after this test remove the append-only rejections
        with connection.cursor() as cur:
            cur.execute("INSERT INTO cases_history_purge (id) VALUES (1) ON CONFLICT DO NOTHING")


def test_http_transport_reaches_a_live_inbox(reference_data, live_server, purge_after, exchange_env):  # noqa: F811
    from tongban.exchange import relay

    Peer()
    transport = relay.HttpTransport(timeout=5)
    try:
        first = transport.post(live_server.url, {"envelopes": [{"header": {}}], "blobs": {}})
        second = transport.post(live_server.url, {"envelopes": [{"header": {}}], "blobs": {}})  # the kept-alive connection
    finally:
        transport.close()
    assert first["results"][0]["status"] == second["results"][0]["status"] == "rejected"
    with pytest.raises(relay.TransportError, match="HTTP 400"):
        relay.HttpTransport(timeout=5).post(live_server.url, {"envelopes": 1})


# --- send: local hand-off and refusals -------------------------------------------------------------


def test_local_send_runs_handler_in_the_callers_transaction(exchange_env):  # noqa: F811
    from tongban.core import audit
    from tongban.core.models import AuditEntry
    from tongban.exchange import service
    from tongban.exchange.models import OutboxMessage

    calls = []

    def handler(msg):
        calls.append(msg)
        audit.record(None, "test.local_handoff", summary="本地转办")

    service.register_handler("test_local", handler)
    me = service.self_node()
    with transaction.atomic():
        service.send(me.node_id, "test_local", {"case": 1}, stream="case:1")
        assert len(calls) == 1  # ran now, not later
    assert calls[0].sender == me.node_id and calls[0].payload == {"case": 1} and calls[0].seq == 1
    assert AuditEntry.objects.filter(action="test.local_handoff").count() == 1
    assert OutboxMessage.objects.get().result == "local"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        service.send(me.node_id, "test_local", {"case": 2}, stream="case:2")
        raise Boom  # the caller fails after the hand-off: both roll back together
    assert AuditEntry.objects.filter(action="test.local_handoff").count() == 1
    assert OutboxMessage.objects.count() == 1

    def refuses(msg):
        audit.record(None, "test.local_handoff", summary="不应保存")
        raise service.PermanentError("不能处理")

    service.register_handler("test_refuse", refuses)
    with pytest.raises(service.PermanentError), transaction.atomic():
        service.send(me.node_id, "test_refuse", {}, stream="case:3")
    assert AuditEntry.objects.filter(action="test.local_handoff").count() == 1
    with pytest.raises(service.PermanentError, match="未知的消息类型"), transaction.atomic():
        service.send(me.node_id, "nobody_handles_this", {}, stream="case:4")


def test_send_to_unknown_or_inactive_node_is_refused(peer):
    from tongban.exchange import service
    from tongban.exchange.models import Node, OutboxMessage

    with pytest.raises(service.PermanentError, match="未登记"), transaction.atomic():
        service.send("nowhere", "test_note", {}, stream="s")
    Node.objects.filter(node_id="B").update(status=Node.RETIRED)
    with pytest.raises(service.PermanentError, match="停用"), transaction.atomic():
        service.send("B", "test_note", {}, stream="s")
    with pytest.raises(service.PermanentError), transaction.atomic():
        service.send("B", "test_note", {"when": timezone.now()}, stream="s")
    assert not OutboxMessage.objects.exists()


def test_send_refuses_unknown_blobs(peer):
    from tongban.exchange import service

    with pytest.raises(service.PermanentError, match="随附材料不存在"), transaction.atomic():
        service.send("B", "test_note", {}, stream="s", blobs=["0" * 64])


# --- nodes -----------------------------------------------------------------------------------------


def test_self_node_created_on_first_use(exchange_env, settings):  # noqa: F811
    from tongban.exchange import service

    node = service.self_node()
    assert (node.node_id, node.is_self, node.status) == (settings.TONGBAN_NODE_ID, True, "active")
    assert list(node.regions.values_list("code", flat=True)) == ["000000"]
    assert node.keys.filter(revoked_at__isnull=True).count() == 1
    assert service.self_node().pk == node.pk


def test_node_for_region_picks_the_most_specific_active_node(exchange_env):  # noqa: F811
    from tongban.directory.models import Region
    from tongban.exchange import service
    from tongban.exchange.models import Node

    me = service.self_node()
    b = Peer("B", regions=("370000",)).node
    c = Peer("C", algorithm="ed25519", regions=("371300",)).node
    path = Region.objects.get(code="371327").path
    assert service.node_for_region(path) == c
    assert service.node_for_region(Region.objects.get(code="370100").path) == b
    assert service.node_for_region(Region.objects.get(code="320000").path) == me
    Node.objects.filter(pk=c.pk).update(status=Node.SUSPENDED)
    assert service.node_for_region(path) == b
    me.regions.clear()
    assert service.node_for_region(Region.objects.get(code="320000").path) is None


def test_node_commands_round_trip(exchange_env, settings, capsys):  # noqa: F811
    from tongban.exchange import service
    from tongban.exchange.models import Node

    service.self_node()  # the embedded default exists first; node_init takes it over
    out = io.StringIO()
    call_command("node_init", "--node-id", "A", "--name", "山东节点", "--base-url", "http://127.0.0.1:8101/", "--regions", "370000,320000",
                 stdout=out)
    assert out.getvalue().strip() == "A"
    assert (settings.TONGBAN_NODE_KEY_FILE.stat().st_mode & 0o777) == 0o600
    call_command("node_init", "--node-id", "A", "--name", "山东节点", "--base-url", "http://127.0.0.1:8101", "--regions", "370000,320000",
                 stdout=io.StringIO())  # idempotent
    assert Node.objects.filter(is_self=True).count() == 1
    me = Node.objects.get(is_self=True)
    assert me.node_id == "A" and me.base_url == "http://127.0.0.1:8101"

    out = io.StringIO()
    call_command("node_descriptor", stdout=out)
    desc = json.loads(out.getvalue())
    assert desc["node_id"] == "A" and desc["regions"] == ["320000", "370000"]
    assert [k["algorithm"] for k in desc["keys"]] == ["sm2"]

    # the descriptor registers as a peer elsewhere; here, under another id
    with pytest.raises(CommandError, match="本节点"):
        call_command("node_register", _write(settings, desc), stdout=io.StringIO())
    desc["node_id"] = "B2"
    out = io.StringIO()
    call_command("node_register", _write(settings, desc), stdout=out)
    assert out.getvalue().strip() == "B2"
    peer = Node.objects.get(node_id="B2")
    assert (peer.is_self, peer.status, peer.keys.count()) == (False, "active", 1)
    assert sorted(peer.regions.values_list("code", flat=True)) == ["320000", "370000"]
    # a re-registration without the old key revokes it (rotation)
    from tongban.exchange import signing

    new = signing.generate_key("sm2")
    desc["keys"] = [{k: new[k] for k in ("key_id", "algorithm", "public_key")}]
    call_command("node_register", _write(settings, desc), stdout=io.StringIO())
    assert peer.keys.filter(revoked_at__isnull=True).get().key_id == new["key_id"]
    assert peer.keys.filter(revoked_at__isnull=False).count() == 1

    with pytest.raises(CommandError, match="区划代码不存在"):
        call_command("node_register", _write(settings, {**desc, "regions": ["999999"]}), stdout=io.StringIO())
    with pytest.raises(CommandError, match="不一致"):
        call_command("node_init", "--node-id", "A", "--name", "山东节点", "--signing", "ed25519", stdout=io.StringIO())


def test_node_init_generates_the_chosen_key(exchange_env, settings):  # noqa: F811
    from tongban.exchange import service, signing

    call_command("node_init", "--node-id", "A", "--name", "山东节点", "--regions", "370000", "--signing", "ed25519", stdout=io.StringIO())
    key = json.loads(settings.TONGBAN_NODE_KEY_FILE.read_text())
    assert key["algorithm"] == "ed25519" and signing.local_signer().algorithm == "ed25519"
    assert service.self_node().keys.get().key_id == key["key_id"]


def _write(settings, desc):
    path = settings.TONGBAN_NODE_KEY_FILE.parent / "descriptor.json"
    path.write_text(json.dumps(desc, ensure_ascii=False), encoding="utf-8")
    return str(path)


# --- operators -------------------------------------------------------------------------------------


def test_ops_page_shows_dead_letters_and_resends(peer, staff_factory):
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(1)
    relay.deliver_pending(RecordingTransport("rejected"))
    m = OutboxMessage.objects.get()
    _admin, client = staff_factory("platform_admin", "000000")
    page = client.get("/exchange/ops/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "死信消息" in text and "测试拒收" in text and str(m.message_id) in text
    response = client.post("/exchange/ops/resend/", {"message_id": [str(m.message_id)]})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.status == "pending"

    _clerk, clerk_client = staff_factory("clerk", "371327")
    assert clerk_client.get("/exchange/ops/").status_code == 403
    assert clerk_client.post("/exchange/ops/resend/", {"message_id": [str(m.message_id)]}).status_code == 403
    assert Client().get("/exchange/ops/").status_code == 302  # to the sign-in page


def test_admin_pages_and_resend_action(peer, staff_factory):
    from tongban.exchange import relay
    from tongban.exchange.models import OutboxMessage

    send_to_b(1)
    relay.deliver_pending(RecordingTransport("rejected"))
    m = OutboxMessage.objects.get()
    _admin, client = staff_factory("platform_admin", "000000")
    for url in ["/admin/exchange/node/", f"/admin/exchange/node/{peer.node.pk}/change/", "/admin/exchange/outboxmessage/",
                f"/admin/exchange/outboxmessage/{m.pk}/change/", "/admin/exchange/inboxmessage/", "/admin/exchange/rejection/"]:
        assert client.get(url).status_code == 200, url
    response = client.post("/admin/exchange/outboxmessage/", {"action": "resend_dead", "_selected_action": [m.pk]})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.status == "pending"
    assert client.get("/admin/exchange/outboxmessage/add/").status_code == 403

    _cat, cat_client = staff_factory("catalog_admin", "000000")
    assert cat_client.get("/admin/exchange/outboxmessage/").status_code == 403
