"""Cross-node use of a certificate (跨节点用证) between real nodes on loopback: node A serves 山东 (张晓明
applies online in 莒南县), node B serves 内蒙古 (鄂尔多斯市公安局 issued his 居民户口簿). The applicant consents
on A; A requests the certificate from B through the exchange; B checks its grant to the 莒南县 department
and releases the signed head and the PDF, A verifies the signature and attaches it. With B's grant
revoked, B refuses and both sides log it."""

import json

import pytest

from tests.multinode.harness import cluster, wait_until

pytestmark = pytest.mark.multinode

CODE = "11371327MB1028948H4002010009000"  # 城乡居民基本养老保险关系转移接续, 莒南县人力资源和社会保障局
HOLDER = ("11010519491231002X", "13800000001")

ISSUE_ON_B = """
import json
from tongban.applicants.models import Applicant
from tongban.certificates import issuing
from tongban.certificates.models import CertificateType
from tongban.directory.models import Department
from tongban.sharing.models import DataService, ShareGrant
a = Applicant.objects.get(id_number="11010519491231002X")
t = CertificateType.objects.get(name="居民户口簿")
issuer = Department.objects.get(name="鄂尔多斯市公安局")
c = issuing.issue(t, issuer, {"name": a.name, "code": a.code, "code_type": a.code_type, "applicant": a}, {"settle_address": "内蒙古自治区鄂尔多斯市东胜区演示路1号"})
consumer = Department.objects.get(name="莒南县人力资源和社会保障局")
ShareGrant.objects.create(service=DataService.objects.get(certificate_type=t, provider=issuer), consumer=consumer, provider_region_path=issuer.region.path)
fields = ["identifier", "serial", "version", "number", "holder_name", "holder_code", "holder_code_type", "issuer_name", "issuer_code",
          "region_path", "jurisdiction", "algorithm", "key_id", "signature", "status", "source", "data"]
row = {f: getattr(c, f) for f in fields}
row.update(issued_on=c.issued_on.isoformat(), valid_from=c.valid_from.isoformat(), valid_until=c.valid_until.isoformat() if c.valid_until else None)
print("CERT=" + json.dumps(row, ensure_ascii=False))
"""

# A's wallet shows the certificate (a copy of B's record; A does not know B's issuer key) and A's side of the grant.
COPY_ON_A = """
import datetime, json
from tongban.applicants.models import Applicant
from tongban.certificates.models import Certificate, CertificateType
from tongban.directory.models import Department
from tongban.sharing.models import DataService, ShareGrant
row = json.loads({row!r})
for f in ("issued_on", "valid_from", "valid_until"):
    row[f] = datetime.date.fromisoformat(row[f]) if row[f] else None
a = Applicant.objects.get(id_number="11010519491231002X")
t = CertificateType.objects.get(name="居民户口簿")
issuer = Department.objects.get(credit_code=row["issuer_code"])
Certificate.objects.create(type=t, issuer=issuer, holder=a, **row)
consumer = Department.objects.get(name="莒南县人力资源和社会保障局")
service = DataService.objects.get(certificate_type=t, provider=issuer)
ShareGrant.objects.get_or_create(service=service, consumer=consumer, revoked_at=None, defaults={{"provider_region_path": issuer.region.path}})
"""


def ok(result, expected=200):
    status, body = result
    assert status == expected, body
    return body


@pytest.fixture(scope="module")
def nodes():
    specs = [{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}]
    with cluster(specs, env={"TONGBAN_EXCHANGE_MAX_TRIES": "30"}) as cl:
        out = cl["B"].manage("shell", "-c", ISSUE_ON_B)
        row = next(line[5:] for line in out.splitlines() if line.startswith("CERT="))
        cl["A"].manage("shell", "-c", COPY_ON_A.format(row=row))
        cl.identifier = json.loads(row)["identifier"]
        yield cl


def _apply_and_attach(a):
    applicant = a.applicant_session(*HOLDER)
    case = ok(applicant.post_multipart("/api/v1/cases/applications", {"data": json.dumps({"implementation_code": CODE})}, {}), 201)
    offers = ok(applicant.get(f"/api/v1/sharing/cases/{case['id']}/offers"))
    offer = next(o for o in offers if o["kind"] == "certificate" and "鄂尔多斯" in o["label"])
    consent = ok(applicant.post_json(f"/api/v1/sharing/cases/{case['id']}/consents", {"material_id": offer["material_id"], "offer": offer["offer"]}), 201)
    answer = ok(applicant.post_json(f"/api/v1/sharing/consents/{consent['id']}/attach", {}), 202)
    assert answer["status"] == "requested"
    return case, answer["request_uid"]


def _answer(nodes, uid, final):
    """The consumer's row once it reached one of `final`, nudging both outboxes (the relay backs off
    after a failed attempt, e.g. while the other node was still busy)."""
    def done():
        for node in nodes.values():
            node.retry_outbox_now()
        row = _status(nodes["A"], uid, "consumer")
        return row if row and row[0] in final else None
    return wait_until(done, timeout=180, message="no answer to the evidence request reached A", diagnostics=nodes.diagnostics)


def _status(node, uid, side):
    rows = node.sql("SELECT status, reason FROM sharing_evidencerequest WHERE uid = %s AND side = %s", (uid.replace("-", "") if node.backend == "sqlite" else uid, side))
    return rows[0] if rows else None


def test_release_then_refusal_without_grant(nodes):
    a, b = nodes["A"], nodes["B"]
    case, uid = _apply_and_attach(a)
    done = _answer(nodes, uid, ("released", "failed", "refused"))
    assert done[0] == "released", done
    material = a.sql("SELECT m.how, m.origin FROM cases_casematerial m WHERE m.case_id = %s", (case["id"],))
    assert [(how, origin.split(":")[0]) for how, origin in material] == [("reuse", "B")]
    note = a.sql("SELECT u.identifier, u.verification FROM sharing_usedevidence u WHERE u.case_id = %s", (case["id"],))
    verification = note[0][1] if isinstance(note[0][1], dict) else json.loads(note[0][1])
    assert note[0][0] == nodes.identifier and verification["status"] == "valid"
    assert "节点B" in verification["note"]  # A did not know B's issuer key: it trusted the key in B's signed envelope
    assert _status(b, uid, "provider")[0] == "released"
    assert b.sql("SELECT outcome, actor_node FROM sharing_accesslog WHERE action = 'release' AND identifier = %s", (nodes.identifier,)) == [("granted", "A")]
    assert a.sql("SELECT outcome FROM sharing_accesslog WHERE action = 'use' AND identifier = %s", (nodes.identifier,)) == [("granted",)]

    # B revokes its grant: the next request is refused there, and A records the refusal.
    b.sql("UPDATE sharing_sharegrant SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL AND consumer_id = "
          "(SELECT id FROM directory_department WHERE name = '莒南县人力资源和社会保障局')")
    case2, uid2 = _apply_and_attach(a)
    refused = _answer(nodes, uid2, ("released", "failed", "refused"))
    assert refused[0] == "refused", refused
    assert "共享授权" in refused[1]
    assert not a.sql("SELECT id FROM cases_casematerial WHERE case_id = %s", (case2["id"],))
    assert b.sql("SELECT outcome FROM sharing_accesslog WHERE action = 'release' ORDER BY seq DESC LIMIT 1") == [("refused",)]
    assert a.sql("SELECT outcome FROM sharing_accesslog WHERE action = 'use' ORDER BY seq DESC LIMIT 1") == [("refused",)]
    for node in (a, b):
        assert "完整" in node.manage("verify_access_log")
