"""Cross-region handling on one node (both places served by this deployment): 异地代收代办 from a 专窗 in
莒南县 (Shandong) for an implementation of 东胜区 (Inner Mongolia) through to the result handed over at
the window; refusal outside scope; paper originals; problems raised by either side; 多地联办 with
parallel parts. The hand-off goes through the same exchange interface as between nodes, locally."""

import json

import pytest

from tests.conftest import PDF_BYTES, make_department, make_id_number, make_implementation, make_item, upload
from tests.test_workflow import bpmn, flow

pytestmark = pytest.mark.django_db

COMPETENT_REGION, RECEIVING_REGION = "150602", "371327"
POINTS = "1、申请表填写完整、签字齐全；2、身份证明与申请人一致"


class ProxyWorld:
    def __init__(self, staff_factory, scopes=("cross_province",), modes=("online", "proxy"), delivery=("mail", "pickup", "remote_print")):
        self.department = make_department(COMPETENT_REGION, "东胜区测试局")
        self.item = make_item("异地测试许可", "000112345000", materials=("申请书", "身份证明"))
        self.version = self.item.versions.get()
        self.version.formal_review_points = POINTS
        self.version.save()
        self.materials = list(self.version.materials.order_by("seq"))
        self.materials[1].original_check = True
        self.materials[1].save()
        self.impl = make_implementation(self.item, self.department, modes=modes, scopes=scopes)
        self.impl.delivery_methods = list(delivery)
        self.impl.save()
        self.window_clerk, self.window = staff_factory("clerk", RECEIVING_REGION)
        self.clerk, self.clerk_client = staff_factory("clerk", COMPETENT_REGION, self.department)
        self.approver, self.approver_client = staff_factory("approver", COMPETENT_REGION, self.department)
        self.id_number = make_id_number("371327", "19560315")

    def open(self, delivery_method="pickup", **extra):
        body = {"implementation_code": self.impl.implementation_code, "delivery_method": delivery_method,
                "applicant": {"kind": "natural", "name": "赵秀兰", "id_number": self.id_number, "phone": "13912345678"}, **extra}
        return self.window.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json")

    def ready(self, case_id):
        for m in self.materials:
            r = self.window.post(f"/api/v1/cases/{case_id}/scans", {"material_id": m.pk, "file": upload(f"{m.name}.pdf", PDF_BYTES + m.name.encode())})
            assert r.status_code == 201, r.content
        check = {"identity_method": "id_reader", "originals_checked": [self.materials[1].pk],
                 "formal_review": [{"point": "申请表填写完整、签字齐全", "ok": True}, {"point": "身份证明与申请人一致", "ok": True}]}
        r = self.window.post(f"/api/v1/cases/{case_id}/intake-check", json.dumps(check), content_type="application/json")
        assert r.status_code == 200, r.content

    def act(self, client, case_id, action, opinion="", **params):
        return client.post(f"/api/v1/cases/{case_id}/actions/{action}", json.dumps({"opinion": opinion, "params": params}),
                           content_type="application/json")


@pytest.fixture
def proxy_world(reference_data_db, staff_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: ProxyWorld(staff_factory, **kw)


@pytest.fixture
def reference_data_db(db, django_db_blocker):
    from tongban.directory.models import Region

    assert Region.objects.filter(code=COMPETENT_REGION).exists()


def test_proxy_case_from_window_to_result_handed_over_at_the_window(proxy_world):
    from tongban.cases.models import Case, Message

    w = proxy_world()
    r = w.open()
    assert r.status_code == 201, r.content
    case = r.json()
    assert case["mode"] == "proxy" and case["status"] == "draft" and case["receiving"]["basis"].startswith("跨省通办")
    cid = case["id"]

    # Forwarding before the checks is refused with what is missing.
    r = w.act(w.window, cid, "forward")
    assert r.status_code == 422 and "身份" in r.json()["detail"]
    w.ready(cid)
    r = w.act(w.window, cid, "forward")
    assert r.status_code == 200, r.content
    case = r.json()
    assert case["status"] == "submitted" and case["case_no"].startswith("371327-")

    # The competent place sees the hand-off in its incoming queue and in its timeline.
    r = w.clerk_client.get("/workbench/queue/?scope=incoming")
    assert case["case_no"] in r.content.decode()
    events = w.clerk_client.get(f"/api/v1/cases/{cid}/events").json()
    assert [(e["action"], e["duty"]) for e in events] == [("forward", "receiving"), ("receive_handoff", "competent")]
    assert Message.objects.filter(recipient=w.clerk, case_id=cid).exists()

    assert w.act(w.clerk_client, cid, "accept").status_code == 200
    assert w.act(w.window, cid, "approve").status_code == 403  # not the window's duty
    assert w.act(w.approver_client, cid, "approve", "符合条件").status_code == 200
    assert w.act(w.approver_client, cid, "conclude").status_code == 200
    # The result goes back to the window: the competent place cannot hand it over, the window can, with a recipient.
    assert w.act(w.clerk_client, cid, "deliver", method="pickup", recipient="赵秀兰").status_code == 403
    r = w.act(w.window, cid, "deliver", method="pickup", recipient="")
    assert r.status_code == 422 and "签收人" in r.json()["detail"]
    assert Message.objects.filter(recipient=w.window_clerk, case_id=cid, title="办理结果已回传").exists()
    r = w.act(w.window, cid, "deliver", method="remote_print", place="莒南县政务服务中心跨域通办专窗", recipient="赵秀兰")
    assert r.status_code == 200, r.content

    final = Case.objects.get(pk=cid)
    assert final.status == "delivered" and final.delivery.recipient == "赵秀兰"
    duties = [(e.action, e.duty) for e in final.events.order_by("seq")]
    assert duties == [("forward", "receiving"), ("receive_handoff", "competent"), ("accept", "competent"), ("approve", "competent"),
                      ("conclude", "competent"), ("deliver", "receiving")]
    # Both places read the same timeline; the window's page shows whose duty each step was.
    page = w.window.get(f"/workbench/cases/{cid}/").content.decode()
    assert "收件地" in page and "办理地" in page and "东胜区测试局" in page

    # The hand-off is in the cockpit's flows as the steps happened: per pair of places and cut to
    # province and prefecture by day and month — the same rows a rebuild from the cases gives.
    from tongban.supervision import summary
    from tongban.supervision.models import DailyFlowFigure, RegionFlowFigure

    def flow_rows():
        return (sorted(DailyFlowFigure.objects.values_list("region_path", "receiving_region_path", "cases")),
                sorted(RegionFlowFigure.objects.values_list("grain", "period", "level", "region_path", "receiving_region_path", "mode", "cases")))

    kept = flow_rows()
    assert kept[0] == [(final.region_path, final.receiving_region_path, 1)]
    assert {(g, lv, src[-7:-1], dst[-7:-1]) for g, _p, lv, src, dst, _m, _n in kept[1]} == {
        (g, lv, code, code2) for g in "dm" for lv, code, code2 in ((2, "150000", "370000"), (3, "150600", "371300"))}
    summary.rebuild()
    assert flow_rows() == kept


def test_receiving_outside_scope_is_refused_with_the_reason(proxy_world):
    from tongban.cases.models import Case

    w = proxy_world(scopes=("province_wide",))
    r = w.open()
    assert r.status_code == 422
    assert "不在该事项的通办范围" in r.json()["detail"]
    assert not Case.objects.exists()
    page = w.window.get(f"/workbench/proxy/?implementation_code={w.impl.implementation_code}").content.decode()
    assert "不能代收" in page


def test_online_only_implementation_cannot_be_received_elsewhere(proxy_world):
    w = proxy_world(modes=("online",))
    r = w.open()
    assert r.status_code == 422 and "不支持异地代收代办" in r.json()["detail"]


def test_supplement_reaches_the_window_and_paper_originals_are_signed_for(proxy_world):
    from tongban.cases.models import Message, PaperTransfer

    w = proxy_world()
    cid = w.open(delivery_method="mail", delivery_address="山东省临沂市莒南县十字路街道1号").json()["id"]
    w.ready(cid)
    r = w.act(w.window, cid, "forward", paper={"courier": "中国邮政EMS", "tracking_no": "1234567890123"})
    assert r.status_code == 200 and r.json()["paper_transfers"][0]["status"] == "sent"
    r = w.act(w.clerk_client, cid, "request_supplement", items=[{"material_id": w.materials[0].pk, "problem": "缺少签名"}])
    assert r.status_code == 200
    assert Message.objects.filter(recipient=w.window_clerk, case_id=cid, title="办理地要求补齐补正").exists()
    # The applicant brings the corrected material to the window, which scans it and resubmits.
    r = w.window.post(f"/api/v1/cases/{cid}/scans", {"material_id": w.materials[0].pk, "file": upload("申请书.pdf", PDF_BYTES + b"signed")})
    assert r.status_code == 201
    assert w.act(w.window, cid, "resubmit").status_code == 200
    assert "confirm_paper" in w.clerk_client.get(f"/api/v1/cases/{cid}").json()["allowed_actions"]
    assert w.act(w.clerk_client, cid, "confirm_paper").status_code == 200
    assert PaperTransfer.objects.get(case_id=cid).status == "received"
    assert w.act(w.clerk_client, cid, "confirm_paper").status_code == 409


def test_either_side_raises_a_problem_and_the_other_answers(proxy_world):
    from tongban.cooperation.models import WorkOrder

    w = proxy_world()
    cid = w.open().json()["id"]
    w.ready(cid)
    w.act(w.window, cid, "forward")
    r = w.act(w.window, cid, "raise_problem", "申请人询问能否加急", title="加急咨询")
    assert r.status_code == 200, r.content
    order = WorkOrder.objects.get(case_id=cid)
    assert order.raised_side == "receiving"
    detail = w.clerk_client.get(f"/api/v1/cases/{cid}").json()
    assert detail["problems"][0]["title"] == "加急咨询"
    r = w.act(w.clerk_client, cid, "raise_problem", "可以，承诺5个工作日内办结", reply_to=str(order.uid))
    assert r.status_code == 200
    detail = w.window.get(f"/api/v1/cases/{cid}").json()
    assert detail["problems"][0]["replies"][0]["side"] == "competent"
    assert w.act(w.window, cid, "raise_problem", "", title="空").status_code == 422


def test_staff_elsewhere_see_nothing_of_the_case(proxy_world, staff_factory):
    w = proxy_world()
    cid = w.open().json()["id"]
    _, other = staff_factory("clerk", "370102")
    assert other.get(f"/api/v1/cases/{cid}").status_code == 404
    assert other.get(f"/workbench/cases/{cid}/").status_code == 404


JOINT_XML = bpmn(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:userTask id="police" name="公安审核"/>'
    '<bpmn:userTask id="market" name="市场监管审核"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:userTask id="decide" name="审批"/>'
    '<bpmn:endEvent id="end"/>'
    + flow("f1", "start", "fork") + flow("f2", "fork", "police") + flow("f3", "fork", "market") + flow("f4", "police", "join")
    + flow("f5", "market", "join") + flow("f6", "join", "decide") + flow("f7", "decide", "end"),
    lanes={"approver": ["police", "market", "decide"]},
)


def test_joint_case_parts_run_in_parallel_and_one_result_follows(proxy_world, staff_factory):
    from tongban.cases.models import Case
    from tongban.catalog.models import JointPartner, ReviewProcess

    w = proxy_world(modes=("online", "proxy", "joint"))
    ReviewProcess.objects.create(version=w.version, source="uploaded", bpmn_xml=JOINT_XML)
    police = make_department("371327", "莒南县公安局测试")
    market = make_department("130102", "长安区市场监管测试")
    JointPartner.objects.create(implementation=w.impl, step_name="公安审核", department=police)
    JointPartner.objects.create(implementation=w.impl, step_name="市场监管审核", department=market)
    _, police_client = staff_factory("approver", "371327", police)
    _, market_client = staff_factory("approver", "130102", market)

    r = w.open()
    assert r.json()["mode"] == "joint"
    cid = r.json()["id"]
    w.ready(cid)
    w.act(w.window, cid, "forward")
    assert w.act(w.clerk_client, cid, "accept").status_code == 200
    detail = w.approver_client.get(f"/api/v1/cases/{cid}").json()
    assert [(p["step_name"], p["status"]) for p in detail["parts"]] == [("公安审核", "active"), ("市场监管审核", "active")]
    # The lead cannot take the parts' steps; each part's department sees the case and concludes its part.
    assert w.act(w.approver_client, cid, "approve").status_code == 409  # parts still open
    assert w.act(w.approver_client, cid, "review", "通过").status_code == 409
    assert market_client.get(f"/api/v1/cases/{cid}").status_code == 200
    assert w.act(market_client, cid, "conclude_part", "经营场所核查无误").status_code == 200
    assert w.act(market_client, cid, "conclude_part", "再次").status_code == 403  # its part is done
    assert w.act(police_client, cid, "conclude_part", "无违法记录").status_code == 200
    assert w.act(w.approver_client, cid, "review", "同意").status_code == 200
    assert w.act(w.approver_client, cid, "approve", "符合条件").status_code == 200
    assert w.act(w.approver_client, cid, "conclude").status_code == 200
    case = Case.objects.get(pk=cid)
    assert case.status == "concluded"
    actions = [(e.action, e.duty) for e in case.events.order_by("seq")]
    assert ("assign_parts", "competent") in actions and actions.count(("conclude_part", "part")) == 2


@pytest.mark.parametrize("applicant, message", [
    ({"kind": "natural", "name": "赵秀兰", "id_number": "371327195603150000", "phone": "13912345678"}, "校验位"),
    ({"kind": "natural", "name": "赵\x00兰", "id_number": None, "phone": "13912345678"}, ""),
    ({"kind": "robot", "name": "赵秀兰", "phone": "13912345678"}, "申请人类别"),
    ({"kind": "natural", "name": "赵秀兰", "id_number": None, "phone": "123"}, "手机号"),
])
def test_bad_applicant_at_the_window_is_refused_in_chinese(proxy_world, applicant, message):
    from tongban.cases.models import Case

    w = proxy_world()
    if applicant.get("id_number", "") is None:
        applicant["id_number"] = w.id_number
    body = {"implementation_code": w.impl.implementation_code, "applicant": applicant}
    r = w.window.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json")
    assert 400 <= r.status_code < 500
    detail = json.dumps(r.json(), ensure_ascii=False)
    assert message in detail and any("\u4e00" <= ch <= "\u9fff" for ch in detail)
    assert not Case.objects.exists()


def test_bad_intake_checks_are_refused_and_nothing_changes(proxy_world):
    from tongban.cases.models import Case

    w = proxy_world()
    cid = w.open().json()["id"]
    bad = [
        {"identity_method": "telepathy"},
        {"identity_method": "face", "originals_checked": ["x"]},
        {"identity_method": "face", "originals_checked": [999999]},
        {"identity_method": "face", "formal_review": [{"point": "不存在的要点", "ok": True}]},
        {"identity_method": "face", "formal_review": [{"point": "申请表填写完整、签字齐全", "ok": "yes"}]},
        {"identity_method": "face", "formal_review": "全部符合"},
    ]
    for body in bad:
        r = w.window.post(f"/api/v1/cases/{cid}/intake-check", json.dumps(body), content_type="application/json")
        assert r.status_code == 422, (body, r.content)
    assert Case.objects.get(pk=cid).intake_check == {}
    # Somebody else's window cannot touch the draft.
    r = w.clerk_client.post(f"/api/v1/cases/{cid}/intake-check", json.dumps({"identity_method": "face"}), content_type="application/json")
    assert r.status_code == 404
    r = w.window.post(f"/api/v1/cases/{cid}/scans", {"material_id": "abc"})
    assert r.status_code == 422


def test_a_retried_proxy_request_creates_one_case(proxy_world):
    from tongban.cases.models import Case

    w = proxy_world()
    body = {"implementation_code": w.impl.implementation_code, "delivery_method": "pickup",
            "applicant": {"kind": "natural", "name": "赵秀兰", "id_number": w.id_number, "phone": "13912345678"}}
    first = w.window.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = w.window.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert Case.objects.count() == 1


def test_township_centre_receives_for_its_county_vertically(proxy_world, staff_factory):
    """Seed 000's 纵向代收代办: a street centre takes what only the county decides and forwards it."""
    w = proxy_world(scopes=())
    _, street = staff_factory("clerk", "150602001")
    body = {"implementation_code": w.impl.implementation_code, "delivery_method": "pickup", "form": {},
            "applicant": {"kind": "natural", "name": "赵秀兰", "id_number": w.id_number, "phone": "13912345678"}}
    r = street.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    case = r.json()
    assert case["receiving"]["basis"] == "县域内纵向代收代办" and case["receiving"]["region_code"] == "150602001"
    w.window = street  # the street centre does the window's work
    w.ready(case["id"])
    r = w.act(street, case["id"], "forward")
    assert r.status_code == 200 and r.json()["case_no"].startswith("150602-")
    assert w.act(w.clerk_client, case["id"], "accept").status_code == 200
    # A window elsewhere may not receive this county-only implementation.
    _, elsewhere = staff_factory("clerk", "371327")
    r = elsewhere.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json")
    assert r.status_code == 422 and "未列入通办范围" in r.json()["detail"]


def test_forward_to_another_node_goes_through_the_outbox_in_the_same_transaction(proxy_world):
    """With 鄂尔多斯 served by node B, forwarding writes the case and its signed hand-off message together;
    steps of B's duty cannot be taken on this node's copy; an unreachable node refuses the step."""
    from tests.test_exchange import Peer
    from tongban.cases.models import Case
    from tongban.exchange.models import Node, OutboxMessage

    w = proxy_world()
    Peer("B", regions=("150000",))
    r = w.open()
    case = r.json()
    assert case["competent_node"] == "B"
    w.ready(case["id"])
    assert w.act(w.window, case["id"], "forward").status_code == 200
    message = OutboxMessage.objects.get(receiver="B", type="case_handoff")
    assert message.stream == case["uid"] and message.status == "pending" and len(message.blobs) == 2
    assert message.payload["implementation_code"] == w.impl.implementation_code
    # 受理 is the competent place's duty, held by node B: nobody on this node may take it.
    r = w.act(w.clerk_client, case["id"], "accept")
    assert r.status_code == 403
    Node.objects.filter(node_id="B").update(status="suspended")
    r = w.act(w.window, case["id"], "raise_problem", "请尽快受理", title="催办")
    assert r.status_code == 409 and "无法向节点" in r.json()["detail"]
    assert Case.objects.get(pk=case["id"]).events.count() == 1  # the refused step left nothing behind


def test_window_id_out_of_range_is_refused_before_the_database(proxy_world):
    w = proxy_world()
    body = {"implementation_code": w.impl.implementation_code, "window_id": 2**70,
            "applicant": {"kind": "natural", "name": "赵秀兰", "id_number": w.id_number, "phone": "13912345678"}}
    r = w.window.post("/api/v1/cases/proxy-cases", json.dumps(body), content_type="application/json")
    assert r.status_code == 422


def test_joint_partners_are_set_through_the_catalogue_service(proxy_world, staff_factory):
    from django.core.exceptions import ValidationError

    from tongban.catalog import services
    from tongban.catalog.models import JointPartner
    from tongban.core.authz import PermissionDenied
    from tongban.core.models import AuditEntry

    w = proxy_world(modes=("online", "proxy", "joint"))
    partner = make_department("371327", "莒南县公安局联办测试")
    admin, admin_client = staff_factory("catalog_admin", COMPETENT_REGION)
    outsider, _ = staff_factory("catalog_admin", "371327")
    with pytest.raises(PermissionDenied):
        services.save_joint_partner(outsider, JointPartner(implementation=w.impl, step_name="迁出核实", department=partner))
    services.save_joint_partner(admin, JointPartner(implementation=w.impl, step_name=" 迁出核实 ", department=partner))
    assert w.impl.joint_partners.get().step_name == "迁出核实"
    assert AuditEntry.objects.filter(action="joint_partner.create").exists()
    with pytest.raises(ValidationError):  # one department per step
        services.save_joint_partner(admin, JointPartner(implementation=w.impl, step_name="迁出核实", department=partner))
    page = admin_client.get(f"/admin/catalog/implementation/{w.impl.pk}/change/")
    assert page.status_code == 200 and "联办部门" in page.content.decode()
