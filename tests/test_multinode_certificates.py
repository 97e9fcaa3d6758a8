"""跨节点验真 between two real nodes on loopback: node A (山东) issues 张晓明's 社会保障卡 with a key only A
holds; node B (内蒙古) fetches A's signed trusted-issuer list (`certificate_trust_sync`), then verifies the
certificate's QR code and its identifier through B's public API — valid, as A confirms. A revokes it;
B then says revoked. Timeouts are failure guards, not timing assertions."""

import json
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.multinode.harness import cluster, exchange_commands_available

pytestmark = pytest.mark.multinode

ISSUE_ON_A = """
import json
from tongban.applicants.models import Applicant
from tongban.certificates import issuing, keys, qr
from tongban.certificates.models import CertificateType
a = Applicant.objects.get(id_number="11010519491231002X")
t = CertificateType.objects.get(name="中华人民共和国社会保障卡")
issuer = t.issuing_departments.filter(region__code__startswith="3713").order_by("id").first()
keys.rotate(issuer, None)  # a key made on A after the nodes were cloned: B cannot know it but from A's list
c = issuing.issue(t, issuer, {"name": a.name, "code": a.code, "code_type": a.code_type, "applicant": a},
                  {"card_bank": "中国工商银行莒南支行（演示）", "card_outlet": "莒南县政务服务中心社保窗口"}, source="import")
print("CERT=" + json.dumps({"identifier": c.identifier, "qr": qr.qr_text(c), "issuer": issuer.name}, ensure_ascii=False))
"""

REVOKE_ON_A = """
from tongban.certificates import issuing
from tongban.certificates.models import Certificate
issuing.revoke(Certificate.objects.get(identifier={identifier!r}), None, "跨节点查验测试：吊销")
print("REVOKED")
"""


def public_get(node, path, **params):
    with urllib.request.urlopen(f"{node.url}{path}?{urlencode(params)}", timeout=30) as response:
        return response.status, json.loads(response.read().decode("utf-8"))


@pytest.fixture(scope="module")
def nodes():
    if not exchange_commands_available():
        pytest.skip("tongban.exchange 的节点命令不可用：无法登记对端节点")
    specs = [{"node_id": "A", "name": "节点A（山东）", "regions": ["370000"]}, {"node_id": "B", "name": "节点B（内蒙古）", "regions": ["150000"]}]
    with cluster(specs) as cl:
        out = cl["A"].manage("shell", "-c", ISSUE_ON_A)
        cl.cert = json.loads(next(line[5:] for line in out.splitlines() if line.startswith("CERT=")))
        yield cl


def test_b_verifies_a_certificate_issued_on_a_then_sees_it_revoked(nodes):
    a, b, cert = nodes["A"], nodes["B"], nodes.cert
    assert not b.sql("SELECT count(*) FROM certificates_certificate WHERE identifier = %s", (cert["identifier"],))[0][0]

    out = b.manage("certificate_trust_sync")
    assert "A" in out and "已验证" in out, out
    assert b.sql("SELECT verified FROM certificates_peertrustlist WHERE node_id = 'A'")[0][0] in (True, 1)

    payload = cert["qr"].split("?c=", 1)[1]
    status, by_qr = public_get(b, "/api/v1/certificates/verify", qr=cert["qr"])
    assert status == 200 and by_qr["status"] == "valid", by_qr
    assert "节点A（山东）" in by_qr["message"] and cert["issuer"] in by_qr["message"] and "确认当前有效" in by_qr["message"], by_qr
    assert {"label": "发证节点", "value": "节点A（山东）"} in by_qr["fields"], by_qr
    status, by_id = public_get(b, "/api/v1/certificates/verify", identifier=cert["identifier"])
    assert status == 200 and by_id["status"] == "valid" and by_id["message"].startswith("由发证节点节点A（山东）答复"), by_id
    # A logged B's questions as coming from node B.
    assert a.sql("SELECT count(*) FROM sharing_accesslog WHERE identifier = %s AND actor_node = 'B'", (cert["identifier"],))[0][0] >= 2

    assert "REVOKED" in a.manage("shell", "-c", REVOKE_ON_A.format(identifier=cert["identifier"]))
    status, by_qr = public_get(b, "/api/v1/certificates/verify", qr=payload)
    assert status == 200 and by_qr["status"] == "revoked" and "跨节点查验测试" in by_qr["message"], by_qr
    status, by_id = public_get(b, "/api/v1/certificates/verify", identifier=cert["identifier"])
    assert status == 200 and by_id["status"] == "revoked", by_id

    # A down: B still checks the signature and says it could not confirm the status.
    a.stop()
    status, by_qr = public_get(b, "/api/v1/certificates/verify", qr=payload)
    assert status == 200 and by_qr["status"] == "unknown" and "暂时无法连接发证节点确认是否吊销" in by_qr["message"], by_qr
