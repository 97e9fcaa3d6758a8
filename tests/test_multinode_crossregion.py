"""Cross-region cases between real nodes on loopback, each with its own database: node A serves
山东 (莒南县's 跨域通办专窗), B serves 内蒙古 (鄂尔多斯, the competent place), C serves 浙江 (台州, a joint
partner). A proxy case from A to B through to the result handed over at A; a joint case across all
three; the receiver killed mid-way; duplicated deliveries; forged envelopes. After every node is back,
each case has the same state and the same events (by origin) on every side, none applied twice."""

import json
import uuid

import pytest

from tests.multinode.harness import cluster, wait_until

pytestmark = pytest.mark.multinode

PROXY_CODE = "11150602MB5498656T4002010007000"  # 养老保险关系转移接续, 鄂尔多斯市东胜区人力资源和社会保障局
JOINT_CODE = "11150600MB0431014H3000710014000"  # 户口迁移, 鄂尔多斯市公安局 (joint)
NO_SCOPE_CODE = "11150600MB0431014H3000710107000"  # 新生儿出生户口登记: no 通办 scope
PDF = b"%PDF-1.4\n% multinode scan\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FORM = {"reason": "在莒南县跨域通办专窗申请", "residence": "371327", "address": "山东省临沂市莒南县十字路街道1号"}

STAFF_SCRIPT = """
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice
from tongban.directory.models import Department, Membership, Region
user, _ = get_user_model().objects.get_or_create(username={username!r}, defaults={{"first_name": {name!r}, "is_staff": True}})
user.set_password("Tongban@2026"); user.save()
TOTPDevice.objects.get_or_create(user=user, defaults={{"name": "test", "confirmed": True}})
dept = Department.objects.get(name={department!r}) if {department!r} else None
Membership.objects.get_or_create(user=user, role={role!r}, region=Region.objects.get(code={region!r}), department=dept)
"""

PARTNER_SCRIPT = """
from tongban.catalog.models import JointPartner
from tongban.directory.models import Department
JointPartner.objects.filter(implementation__implementation_code={code!r}).update(department=Department.objects.get(name={department!r}))
"""


def make_staff(node, username, role, region, department=""):
    node.manage("shell", "-c", STAFF_SCRIPT.format(username=username, name=f"{username}（测试）", role=role, region=region, department=department))


@pytest.fixture(scope="module")
def nodes():
    specs = [{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}, {"node_id": "C", "regions": ["330000"]}]
    with cluster(specs, env={"TONGBAN_EXCHANGE_MAX_TRIES": "30"}) as cl:
        b, c = cl["B"], cl["C"]
        make_staff(b, "ordos_hr", "approver", "150602", "鄂尔多斯市东胜区人力资源和社会保障局")
        # On B (the accepting place) the 迁出 part of 户口迁移 belongs to 台州市公安局, served by node C.
        b.manage("shell", "-c", PARTNER_SCRIPT.format(code=JOINT_CODE, department="台州市公安局"))
        make_staff(c, "taizhou_police", "approver", "331000", "台州市公安局")
        yield cl


def ok(result, expected=200):
    status, body = result
    assert status == expected, body
    return body


def receive_at_a(a, code, delivery="pickup", paper=None, id_tail=None):
    """The window at A opens, checks, scans and forwards a case; returns the case as A sees it."""
    clerk = a.session("demo_clerk")
    check = ok(clerk.get("/api/v1/cases/receiving-check", implementation_code=code))
    assert check["allowed"], check
    from tests.conftest import make_id_number

    body = {"implementation_code": code, "delivery_method": delivery, "form": FORM,
            "applicant": {"kind": "natural", "name": "赵秀兰", "id_number": make_id_number("371327", "19560315", id_tail), "phone": "13912345678"}}
    key = str(uuid.uuid4())
    case = ok(clerk.post_json("/api/v1/cases/proxy-cases", body, headers={"Idempotency-Key": key}), 201)
    again = ok(clerk.post_json("/api/v1/cases/proxy-cases", body, headers={"Idempotency-Key": key}), 201)
    assert again["id"] == case["id"]  # a retried request creates nothing new
    for m in check["materials"]:
        if m["required"]:
            ok(clerk.post_multipart(f"/api/v1/cases/{case['id']}/scans", {"material_id": str(m["id"])},
                                    {"file": (f"{m['name']}.pdf", PDF + str(m["id"]).encode() + case["uid"].encode(), "application/pdf")}), 201)
    ok(clerk.post_json(f"/api/v1/cases/{case['id']}/intake-check", {
        "identity_method": "face", "originals_checked": [m["id"] for m in check["materials"] if m["original_check"]],
        "formal_review": [{"point": p, "ok": True} for p in check["formal_review_points"]]}))
    params = {"paper": paper} if paper else {}
    return ok(clerk.post_json(f"/api/v1/cases/{case['id']}/actions/forward", {"params": params}))


def case_on(node, session, uid, timeout=60, status=None):
    """The case with this uid as `node` shows it to `session` (waiting for it to arrive / reach `status`)."""
    def found():
        rows = ok(session.get("/api/v1/cases/", uid=uid))["items"]
        if not rows:
            return None
        detail = ok(session.get(f"/api/v1/cases/{rows[0]['id']}"))
        return detail if status is None or detail["status"] == status else None
    return wait_until(found, timeout=timeout, message=f"办件{uid}未在节点{node.node_id}达到状态{status}")


def act(session, case, action, opinion="", **params):
    return ok(session.post_json(f"/api/v1/cases/{case['id']}/actions/{action}", {"opinion": opinion, "params": params}))


def timeline(session, case):
    return sorted((e["origin"], e["action"], e["status_to"]) for e in ok(session.get(f"/api/v1/cases/{case['id']}/events")))


def assert_same_everywhere(views):
    """views: [(session, case)] of one case on several nodes: same status and the same events by origin."""
    first = timeline(*views[0])
    statuses = {ok(s.get(f"/api/v1/cases/{c['id']}"))["status"] for s, c in views}
    assert len(statuses) == 1, statuses
    for view in views[1:]:
        assert timeline(*view) == first
    origins = [o for o, _, _ in first]
    assert len(origins) == len(set(origins))


def assert_nothing_applied_twice(*nodes):
    for node in nodes:
        total, distinct = node.sql("SELECT count(*), count(DISTINCT sender || ':' || message_id) FROM exchange_inboxmessage")[0]
        assert total == distinct
        dup = node.sql("SELECT count(*) FROM (SELECT case_id, origin FROM cases_caseevent WHERE origin <> '' GROUP BY case_id, origin HAVING count(*) > 1) t")
        assert dup[0][0] == 0


def test_proxy_case_from_a_to_b_through_delivery_at_a(nodes):
    a, b = nodes["A"], nodes["B"]
    case_a = receive_at_a(a, PROXY_CODE, delivery="pickup", paper={"courier": "中国邮政EMS", "tracking_no": "EMS1234567890"})
    assert case_a["status"] == "submitted" and case_a["case_no"].startswith("371327-")
    uid = case_a["uid"]

    clerk_b, hr_b, window = b.session("demo_clerk_ordos"), b.session("ordos_hr"), a.session("demo_clerk")
    case_b = case_on(b, clerk_b, uid)
    assert case_b["receiving"]["region_code"] == "371327" and len(case_b["materials"]) == len(case_a["materials"])
    assert {m["sha256"] for m in case_b["materials"]} == {m["sha256"] for m in case_a["materials"]}
    assert case_on(a, window, uid)["status"] == "submitted"

    act(clerk_b, case_b, "accept")
    act(clerk_b, case_b, "confirm_paper")
    # A problem raised at the window reaches the competent place, whose answer reaches the window.
    act(window, case_a, "raise_problem", "申请人询问办理进度", title="进度咨询")
    problem = wait_until(lambda: (ok(clerk_b.get(f"/api/v1/cases/{case_b['id']}"))["problems"] or [None])[0], timeout=60,
                         message="问题反馈未到达办理地")
    assert problem["title"] == "进度咨询" and problem["side"] == "receiving"
    act(clerk_b, case_b, "raise_problem", "已受理，预计5个工作日内办结", reply_to=problem["uid"])
    wait_until(lambda: ok(window.get(f"/api/v1/cases/{case_a['id']}"))["problems"][0]["replies"], timeout=60, message="答复未回到收件地")
    act(clerk_b, case_b, "request_supplement", items=[{"name": "参保缴费凭证", "problem": "缺少经办机构盖章"}])
    # The supplement notice reaches the window (and its staff), which scans the corrected file and resubmits.
    supp = case_on(a, window, uid, status="supplement")
    assert supp["open_supplement"]["items"][0]["problem"] == "缺少经办机构盖章"
    messages = ok(window.get("/api/v1/cases/messages"))
    assert any(m["title"] == "办理地要求补齐补正" for m in messages)
    act(window, supp, "resubmit")
    case_b = case_on(b, clerk_b, uid, status="under_review")
    act(hr_b, case_b, "review", "材料齐全")
    act(hr_b, case_b, "review", "同意")
    act(hr_b, case_b, "approve", "符合转移接续条件", result_name="基本养老保险关系转移接续联系函")
    act(hr_b, case_b, "conclude")

    # The result comes back to A: printed there and handed over with the recipient recorded.
    at_a = case_on(a, window, uid, status="concluded")
    assert any(d["kind"] == "conclusion" for d in at_a["documents"])
    doc = next(d for d in at_a["documents"] if d["kind"] == "conclusion")
    assert window.request("GET", doc["url"]).status == 200
    act(window, at_a, "deliver", method="pickup", place="莒南县政务服务中心18号窗口", recipient="赵秀兰")
    case_on(b, clerk_b, uid, status="delivered")
    assert_same_everywhere([(window, at_a), (clerk_b, case_b)])
    duties = {action: duty for action, duty in ((e["action"], e["duty"]) for e in ok(clerk_b.get(f"/api/v1/cases/{case_b['id']}/events")))}
    assert duties["forward"] == "receiving" and duties["accept"] == "competent" and duties["deliver"] == "receiving"
    assert_nothing_applied_twice(a, b)


def test_receiving_outside_scope_is_refused(nodes):
    clerk = nodes["A"].session("demo_clerk")
    check = ok(clerk.get("/api/v1/cases/receiving-check", implementation_code=NO_SCOPE_CODE))
    assert not check["allowed"] and "通办范围" in check["reason"]


def test_receiver_down_then_back_nothing_lost(nodes):
    a, b = nodes["A"], nodes["B"]
    b.stop()
    b.wait_down()
    cases = [receive_at_a(a, PROXY_CODE, delivery="mail", id_tail=900 + i) for i in range(3)]
    wait_until(lambda: a.sql("SELECT count(*) FROM exchange_outboxmessage WHERE receiver = 'B' AND status = 'pending' AND tries > 0")[0][0] >= 1,
               timeout=60, message="A's relay never tried the dead receiver")
    b.start()
    a.retry_outbox_now()
    clerk_b = b.session("demo_clerk_ordos")
    for c in cases:
        case_on(b, clerk_b, c["uid"], timeout=120)
    window = a.session("demo_clerk")
    for c in cases:
        # B's 办理地接收 comes back to A: both sides hold the same history.
        wait_until(lambda c=c: len(timeline(window, c)) == 2, timeout=60, message="办理地接收未回传")
        assert_same_everywhere([(window, c), (clerk_b, case_on(b, clerk_b, c["uid"]))])
    assert_nothing_applied_twice(a, b)


def test_duplicated_delivery_is_applied_once(nodes):
    a, b = nodes["A"], nodes["B"]
    case = receive_at_a(a, PROXY_CODE, delivery="mail", id_tail=950)
    clerk_b = b.session("demo_clerk_ordos")
    case_b = case_on(b, clerk_b, case["uid"])
    wait_until(lambda: a.sql("SELECT count(*) FROM exchange_outboxmessage WHERE stream = %s AND status = 'delivered'", (case["uid"],))[0][0] >= 1,
               timeout=60, message="hand-off not acknowledged")
    before = timeline(clerk_b, case_b)
    # The same messages once more (as after a lost acknowledgement): B answers "duplicate" and changes nothing.
    a.sql("UPDATE exchange_outboxmessage SET status = 'pending', tries = 0, next_attempt_at = created_at WHERE stream = %s", (case["uid"],))
    wait_until(lambda: a.sql("SELECT count(*) FROM exchange_outboxmessage WHERE stream = %s AND status = 'pending'", (case["uid"],))[0][0] == 0,
               timeout=60, message="resent messages not acknowledged")
    results = {r[0] for r in a.sql("SELECT result FROM exchange_outboxmessage WHERE stream = %s", (case["uid"],))}
    assert results == {"duplicate"}
    assert timeline(clerk_b, case_b) == before
    assert_nothing_applied_twice(a, b)


def test_operator_ping_between_nodes(nodes):
    from tests.multinode.harness import HarnessError

    a = nodes["A"]
    assert "已确认" in a.manage("exchange_ping", "C")
    with pytest.raises(HarnessError, match="未登记|不存在|未知"):
        a.manage("exchange_ping", "Z")


def test_forged_envelopes_are_rejected_and_logged(nodes):
    import urllib.error
    import urllib.request

    b = nodes["B"]
    before = b.sql("SELECT count(*) FROM exchange_rejection")[0][0]
    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc).isoformat()
    forged = {"header": {"sender": "A", "receiver": "B", "message_id": str(uuid.uuid4()), "type": "case_handoff", "stream": "x", "seq": 1,
                         "created_at": now, "sent_at": now, "payload_hash": "0" * 64, "hash_alg": "sm3", "key_id": "nope", "alg": "sm2", "blobs": []},
              "signature": "AAAA", "payload": {"case_uid": str(uuid.uuid4())}}
    unknown = json.loads(json.dumps(forged))
    unknown["header"]["sender"] = "Z"
    for envelope in (forged, unknown):
        req = urllib.request.Request(f"{b.url}/exchange/inbox/", data=json.dumps({"envelopes": [envelope], "blobs": {}}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        assert body["results"][0]["status"] == "rejected", body
    assert b.sql("SELECT count(*) FROM exchange_rejection")[0][0] == before + 2


def test_joint_case_across_three_places(nodes):
    a, b, c = nodes["A"], nodes["B"], nodes["C"]
    case_a = receive_at_a(a, JOINT_CODE, delivery="pickup", id_tail=970)
    assert case_a["mode"] == "joint"
    uid = case_a["uid"]
    clerk_b, police_b, police_c, window = b.session("demo_clerk_ordos"), b.session("demo_approver"), c.session("taizhou_police"), a.session("demo_clerk")
    case_b = case_on(b, clerk_b, uid)
    act(clerk_b, case_b, "accept")
    act(police_b, case_b, "review", "迁入条件符合")
    # The 迁出 part goes to 台州市公安局 at node C, with the materials and the history so far.
    case_c = case_on(c, police_c, uid)
    assert [p["status"] for p in case_c["parts"]] == ["active"] and len(case_c["materials"]) == len(case_a["materials"])
    assert "conclude_part" in case_c["allowed_actions"]
    act(police_c, case_c, "conclude_part", "已核实迁出地户籍信息，同意迁出")
    # B completes the step when C's conclusion arrives, then signs the single result.
    wait_until(lambda: any(s["name"] == "签发" for s in ok(police_b.get(f"/api/v1/cases/{case_b['id']}"))["ready_steps"]), timeout=60,
               message="联办结果未回到办理地")
    act(police_b, case_b, "review", "准予迁入")
    act(police_b, case_b, "approve", "准予迁入", result_name="准予迁入证明")
    act(clerk_b, case_b, "conclude")
    at_a = case_on(a, window, uid, status="concluded")
    act(window, at_a, "deliver", method="pickup", place="莒南县政务服务中心18号窗口", recipient="赵秀兰")
    case_on(b, clerk_b, uid, status="delivered")
    case_on(c, police_c, uid, status="delivered")
    assert_same_everywhere([(window, at_a), (clerk_b, case_b), (police_c, case_c)])
    parts = {n: ok(s.get(f"/api/v1/cases/{cc['id']}"))["parts"] for n, s, cc in (("A", window, at_a), ("B", clerk_b, case_b), ("C", police_c, case_c))}
    assert all(p[0]["status"] == "concluded" and p[0]["opinion"].startswith("已核实") for p in parts.values())
    assert_nothing_applied_twice(a, b, c)
