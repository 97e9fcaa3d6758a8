"""跨节点验真 in one process: a peer node is a real HTTP server on loopback (stdlib `http.server` in a
thread) serving a trusted-issuer list signed with the peer's own node key and answering the public
verification API; our verification code runs unmocked against it. Covers the peer list's signature
(tampered, wrong key, replayed), QR codes issued by the peer (valid, one byte changed, revoked key, peer
unreachable, revoked at the issuer), identifiers alone, an answer trying to inject markup or an unknown
status, the loop guard between nodes, lazy refresh, the sync command and the public page."""

import datetime
import http.server
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.test import Client

from tongban.certificates import canonical, identifiers, peers, qr, verifying
from tongban.certificates.models import PeerTrustList
from tongban.core.codes import make_uscc
from tongban.exchange.models import Node, NodeKey
from tongban.exchange.signing import key_id_for
from tongban.sharing.models import AccessLog

PEER_NAME = "节点甲（山东）"
DEPT_NAME = "莒南县市场监督管理局"


class KeyPair:
    def __init__(self):
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes_raw()
        self.public_key = raw.hex()
        self.key_id = key_id_for("ed25519", self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


class Peer:
    """The other node: its node key, one issuing department's key, the list and the status it serves."""

    def __init__(self, node_id="peer-a", name=PEER_NAME, issuer_key=None):
        self.node_id, self.name = node_id, name
        self.node_key = KeyPair()
        self.issuer_key = issuer_key or KeyPair()
        self.credit_code = make_uscc("11", "371327", "70000001")
        self.type_code = make_uscc("11", "100000", "70000002") + "001"
        self.version = 1000
        self.revoked = False
        self.status_answer = {"status": "valid", "label": "有效", "message": "该证照由莒南县市场监督管理局签发，签名验证通过，内容未被篡改，当前有效",
                              "identifier": "", "newer_identifier": "", "fields": [{"label": "证照名称", "value": "食品经营许可证"}]}
        self.status_code = 200
        self.requests = []  # (path, query, X-Tongban-Node header)
        self.signed = None
        self.publish()

    def document(self):
        key = {"key_id": self.issuer_key.key_id, "algorithm": "ed25519", "public_key": self.issuer_key.public_key, "status": "active",
               "valid_from": "2026-01-01T00:00:00+08:00", "valid_until": ""}
        issuers = [] if self.revoked else [{"department": DEPT_NAME, "credit_code": self.credit_code, "region": "371327", "keys": [key]}]
        revoked = [{"key_id": self.issuer_key.key_id, "algorithm": "ed25519", "credit_code": self.credit_code, "department": DEPT_NAME,
                    "revoked_at": "2026-11-01T10:00:00+08:00"}] if self.revoked else []
        return {"version": self.version, "issued_at": "2026-11-20T08:00:00+08:00",
                "node": {"id": self.node_id, "name": self.name, "key_id": self.node_key.key_id, "algorithm": "ed25519", "public_key": self.node_key.public_key},
                "issuers": issuers, "revoked_keys": revoked}

    def publish(self, signer=None):
        doc = self.document()
        signer = signer or self.node_key
        self.signed = {"document": doc, "signature": signer.sign(canonical.canonical_json(doc)).hex(), "key_id": signer.key_id, "algorithm": "ed25519"}

    def certificate_qr(self, serial="2026000001", holder="张晓明", until="2031-11-19"):
        identifier = identifiers.make(self.type_code, self.credit_code, serial, 1)
        head = {"v": 1, "id": identifier, "t": self.type_code, "tn": "食品经营许可证", "n": f"JY{serial}", "h": holder, "hc": "11010519491231002X",
                "i": self.credit_code, "in": DEPT_NAME, "d": "2026-11-20", "f": "2026-11-20", "u": until, "j": "莒南县",
                "dh": "0" * 64, "k": self.issuer_key.key_id, "a": "ed25519"}
        head_bytes = canonical.head_bytes(head)
        return identifier, head_bytes, self.issuer_key.sign(head_bytes)


def _handler(peer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            peer.requests.append((url.path, parse_qs(url.query), self.headers.get("X-Tongban-Node")))
            if url.path == peers.TRUST_LIST_PATH:
                self._json(200, peer.signed)
            elif url.path == peers.VERIFY_PATH:
                self._json(peer.status_code, dict(peer.status_answer, identifier=parse_qs(url.query).get("identifier", [""])[0]))
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, status, body):
            data = json.dumps(body).encode()  # \u escapes: a lone surrogate travels as the network would carry it
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def serve(p):
    """Start `p`'s HTTP server on a free loopback port and register it as a peer node."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p.url = f"http://127.0.0.1:{server.server_address[1]}"
    p.node = Node.objects.create(node_id=p.node_id, name=p.name, base_url=p.url, status=Node.ACTIVE)
    NodeKey.objects.create(node=p.node, key_id=p.node_key.key_id, algorithm="ed25519", public_key=p.node_key.public_key)
    p.server = server
    return p


def stop(p):
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def peer(db, settings):
    settings.TONGBAN_PEER_HTTP_TIMEOUT = 2
    p = serve(Peer())
    yield p
    stop(p)


def qr_text(head_bytes, signature):
    return qr.verify_url(qr.encode(head_bytes, signature))


# --- the peer's list ---------------------------------------------------------------------------------

def test_sync_verifies_the_peer_list_and_a_tampered_one_is_never_trusted(peer):
    row = peers.sync(peer.node)
    assert row.verified and row.error == "" and row.version == 1000 and row.document["issuers"][0]["credit_code"] == peer.credit_code

    peer.signed["document"]["issuers"][0]["keys"][0]["public_key"] = KeyPair().public_key  # swapped after signing
    row = peers.sync(peer.node)
    assert not row.verified and "签名验证失败" in row.error
    _, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.UNTRUSTED_KEY, verdict.message


def test_a_list_signed_by_a_key_not_registered_for_the_peer_is_refused(peer):
    peer.publish(signer=KeyPair())
    row = peers.sync(peer.node)
    assert not row.verified and "不是该节点登记的节点公钥" in row.error
    assert peers.find_key(peer.issuer_key.key_id, refresh=False) is None


def test_an_older_list_is_not_taken_back(peer):
    assert peers.sync(peer.node).verified
    peer.version = 999
    peer.revoked = False
    peer.publish()
    row = peers.sync(peer.node)
    assert row.verified and row.version == 1000 and "重放" in row.error


def test_unreachable_peer_keeps_the_last_verified_list(peer):
    assert peers.sync(peer.node).verified
    stop(peer)
    row = peers.sync(peer.node)
    assert row.verified and row.version == 1000 and "无法连接" in row.error


# --- QR codes issued by the peer --------------------------------------------------------------------

def test_peer_qr_verifies_valid_and_names_the_issuing_node(peer):
    peers.sync(peer.node)
    identifier, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.VALID and verdict.label == "有效", verdict.message
    assert PEER_NAME in verdict.message and DEPT_NAME in verdict.message and "确认当前有效" in verdict.message
    shown = dict(verdict.fields)
    assert shown["发证节点"] == PEER_NAME and shown["发证机构"] == DEPT_NAME and shown["证照标识"] == identifier
    assert shown["持证主体"] == "张*明" and "11010519491231002X" not in str(verdict.fields)
    # The issuing node was asked about this identifier, and told who asks (so it answers from its own records).
    asked = [r for r in peer.requests if r[0] == peers.VERIFY_PATH]
    assert asked[-1][1]["identifier"] == [identifier] and asked[-1][2] == Node.objects.get(is_self=True).node_id
    entry = AccessLog.objects.order_by("-seq").first()
    assert entry.identifier == identifier and "有效" in entry.reason and PEER_NAME in entry.reason


def test_one_byte_changed_is_forged(peer):
    peers.sync(peer.node)
    _, head_bytes, signature = peer.certificate_qr()
    changed = head_bytes.replace("张晓明".encode(), "张晓亮".encode())
    assert changed != head_bytes
    verdict = verifying.verify_qr(qr_text(changed, signature))
    assert verdict.status == verifying.FORGED and verdict.fields == []
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert verifying.verify_qr(qr_text(head_bytes, flipped)).status == verifying.FORGED


def test_key_the_peer_lists_as_revoked_is_untrusted(peer):
    peer.revoked = True
    peer.publish()
    peers.sync(peer.node)
    _, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.UNTRUSTED_KEY and "2026-11-01" in verdict.message and PEER_NAME in verdict.message
    assert not [r for r in peer.requests if r[0] == peers.VERIFY_PATH]  # nothing to ask: the key itself is not trusted


def test_key_of_another_issuer_is_untrusted(peer):
    peers.sync(peer.node)
    head = json.loads(peer.certificate_qr()[1])
    head["i"] = make_uscc("11", "371327", "70000009")  # claims another department, signed with this one's key
    head["id"] = identifiers.make(peer.type_code, head["i"], "2026000001", 1)
    head_bytes = canonical.head_bytes(head)
    verdict = verifying.verify_qr(qr_text(head_bytes, peer.issuer_key.sign(head_bytes)))
    assert verdict.status == verifying.UNTRUSTED_KEY, verdict.message


def test_peer_unreachable_answers_at_signature_level(peer, settings):
    peers.sync(peer.node)
    stop(peer)
    _, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.UNKNOWN and verdict.label == verifying.UNCONFIRMED_LABEL
    assert verdict.message.startswith(f"签名有效，由{PEER_NAME}的{DEPT_NAME}签发") and "暂时无法连接发证节点确认是否吊销，请稍后再查" in verdict.message
    assert dict(verdict.fields)["状态确认"].startswith("未能连接")
    # Expired by its own signed dates even without the issuing node.
    _, head_bytes, signature = peer.certificate_qr(serial="2026000002", until="2020-01-01")
    assert verifying.verify_qr(qr_text(head_bytes, signature)).status == verifying.EXPIRED


def test_peer_says_revoked(peer):
    peers.sync(peer.node)
    peer.status_answer = {"status": "revoked", "label": "已吊销", "message": "该证照已于2026-11-21被发证机构吊销，原因：虚假材料，不能作为办事依据",
                          "identifier": "", "newer_identifier": "", "fields": []}
    _, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.REVOKED and "虚假材料" in verdict.message and PEER_NAME in verdict.message


def test_peer_answer_cannot_inject_markup_or_an_unknown_status(peer):
    peers.sync(peer.node)
    peer.status_answer = {"status": "revoked", "message": "<script>alert(1)</script>已吊销", "newer_identifier": "<b>x</b>",
                          "fields": [{"label": "<i>证照名称</i>", "value": "<img src=x onerror=alert(1)>"}]}
    identifier, head_bytes, signature = peer.certificate_qr()
    verdict = verifying.verify_identifier(identifier)
    assert verdict.status == verifying.REVOKED
    text = verdict.message + str(verdict.fields) + verdict.newer
    assert "<" not in text and ">" not in text and verdict.newer == ""
    peer.status_answer = {"status": "totally-valid", "message": "相信我"}
    verdict = verifying.verify_qr(qr_text(head_bytes, signature))
    assert verdict.status == verifying.UNKNOWN and verdict.label == verifying.UNCONFIRMED_LABEL and "相信我" not in verdict.message
    page = Client().get("/verify/", {"identifier": identifier})
    assert page.status_code == 200 and "相信我" not in page.content.decode()


# --- identifiers alone --------------------------------------------------------------------------------

def test_identifier_is_answered_by_the_issuing_node(peer):
    peers.sync(peer.node)
    identifier, _, _ = peer.certificate_qr()
    newer = identifiers.make(peer.type_code, peer.credit_code, "2026000001", 2)
    peer.status_answer = {"status": "superseded", "label": "已变更", "message": f"该证照已于2026-11-21变更，请以现行版本为准：{newer}",
                          "identifier": identifier, "newer_identifier": newer, "fields": [{"label": "证照名称", "value": "食品经营许可证"}]}
    verdict = verifying.verify_identifier(identifier)
    assert verdict.status == verifying.SUPERSEDED and verdict.newer == newer and verdict.message.startswith(f"由发证节点{PEER_NAME}答复")
    assert dict(verdict.fields) == {"证照名称": "食品经营许可证", "发证节点": PEER_NAME}
    body = Client().get("/api/v1/certificates/verify", {"identifier": identifier}).json()
    assert body["status"] == "superseded" and body["identifier"] == identifier and body["newer_identifier"] == newer

    stop(peer)
    verdict = verifying.verify_identifier(identifier)
    assert verdict.status == verifying.UNKNOWN and "暂时无法连接发证节点" in verdict.message and PEER_NAME in verdict.message


def test_identifier_of_an_issuer_no_peer_names_is_unknown(peer):
    peers.sync(peer.node)
    identifier = identifiers.make(peer.type_code, make_uscc("11", "150602", "70000003"), "2026000001", 1)
    verdict = verifying.verify_identifier(identifier)
    assert verdict.status == verifying.UNKNOWN and verdict.message == verifying.NOT_FOUND


def test_a_peer_asking_is_answered_from_local_records_only(peer):
    """Two nodes must not ask each other in a loop: a request naming a node is not passed on; the
    access log names the asking node."""
    peers.sync(peer.node)
    identifier, head_bytes, signature = peer.certificate_qr()
    before = len(peer.requests)
    client = Client(headers={"X-Tongban-Node": "peer-a"})
    body = client.get("/api/v1/certificates/verify", {"identifier": identifier}).json()
    assert body["status"] == "unknown"
    body = client.get("/api/v1/certificates/verify", {"qr": qr.encode(head_bytes, signature)}).json()
    assert body["status"] == "untrusted_key"
    assert len(peer.requests) == before
    entry = AccessLog.objects.order_by("-seq").first()
    assert entry.actor_node == "peer-a" and PEER_NAME in entry.actor_name


def test_lazy_refresh_when_a_key_is_unknown(peer, settings):
    settings.TONGBAN_PEER_TRUST_REFRESH_MINUTES = 10
    assert not PeerTrustList.objects.exists()
    _, head_bytes, signature = peer.certificate_qr()
    assert verifying.verify_qr(qr_text(head_bytes, signature)).status == verifying.VALID
    row = PeerTrustList.objects.get(node_id="peer-a")
    assert row.verified
    # A fresh list is not fetched again for every unknown key.
    fetched = sum(1 for r in peer.requests if r[0] == peers.TRUST_LIST_PATH)
    other = KeyPair()
    head = json.loads(head_bytes)
    head["k"] = other.key_id
    forged = canonical.head_bytes(head)
    assert verifying.verify_qr(qr_text(forged, other.sign(forged))).status == verifying.UNTRUSTED_KEY
    assert sum(1 for r in peer.requests if r[0] == peers.TRUST_LIST_PATH) == fetched
    # A stale one is.
    PeerTrustList.objects.filter(pk=row.pk).update(checked_at=row.checked_at - datetime.timedelta(minutes=11))
    from django.core.cache import cache

    cache.clear()
    assert verifying.verify_qr(qr_text(forged, other.sign(forged))).status == verifying.UNTRUSTED_KEY
    assert sum(1 for r in peer.requests if r[0] == peers.TRUST_LIST_PATH) == fetched + 1


def test_sync_command_and_schedule(peer, capsys):
    call_command("certificate_trust_sync")
    out = capsys.readouterr().out
    assert "peer-a" in out and "已验证" in out and "1 个发证密钥" in out
    call_command("certificate_trust_sync", "--schedule", "--every", "30")
    call_command("certificate_trust_sync", "--schedule")
    out = capsys.readouterr().out
    assert "已排队" in out and "未重复加入" in out


def test_public_page_shows_the_issuing_node_escaped(peer):
    peer.node.name = "<b>节点甲</b>"
    peer.node.save()
    peers.sync(peer.node)
    _, head_bytes, signature = peer.certificate_qr()
    page = Client().get("/verify/", {"c": qr.encode(head_bytes, signature)})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-status="valid"' in html and "&lt;b&gt;节点甲" in html and "<b>节点甲" not in html
    assert Client().get("/verify/", {"c": qr.encode(head_bytes, signature), "script": "hant"}).status_code == 200



def test_the_node_that_knows_the_certificate_answers(peer):
    """Nodes cloned from one database list the same issuer key: the one that knows the certificate answers."""
    other = serve(Peer(node_id="peer-b", name="节点乙（内蒙古）", issuer_key=peer.issuer_key))
    try:
        peer.status_answer = {"status": "unknown", "message": "未查到该证照，可能是伪造的", "fields": []}
        assert all(r.verified for r in peers.sync_all())
        identifier, head_bytes, signature = peer.certificate_qr()
        verdict = verifying.verify_qr(qr_text(head_bytes, signature))
        assert verdict.status == verifying.VALID and dict(verdict.fields)["发证节点"] == "节点乙（内蒙古）", verdict.message
        verdict = verifying.verify_identifier(identifier)
        assert verdict.status == verifying.VALID and verdict.message.startswith("由发证节点节点乙（内蒙古）答复")
        other.status_answer = dict(peer.status_answer)
        verdict = verifying.verify_qr(qr_text(head_bytes, signature))
        assert verdict.status == verifying.UNKNOWN and "发证节点未查到" in verdict.message
    finally:
        stop(other)


def test_background_task_syncs_every_peer(peer):
    assert peers.sync_trust_lists.call(0) == {"verified": 1, "failed": 0}
    stop(peer)
    assert peers.sync_trust_lists.call(0) == {"verified": 0, "failed": 1}
    assert PeerTrustList.objects.get(node_id="peer-a").verified  # the last verified list is kept


def test_a_list_with_characters_the_database_refuses_is_an_error_not_a_crash(peer):
    peer.signed["document"]["issuers"][0]["department"] = "莒南\x00县"
    row = peers.sync(peer.node)
    assert not row.verified and "字符" in row.error and row.document == {}
    peer.signed = {"document": {"node": "\ud800"}, "signature": "00", "key_id": peer.node_key.key_id, "algorithm": "ed25519"}
    row = peers.sync(peer.node)
    assert not row.verified and "字符" in row.error
