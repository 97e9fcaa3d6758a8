"""一件事 bundle case services: one application → a parent and one child per item, atomically; the lead
window's comprehensive intake; departments' own reviews; the order of work; the refusal policy; the
unified delivery; joint appointments; 一类事; who may do what."""

from types import SimpleNamespace

import pytest
from django.http import Http404

from tests.bundle_fixtures import OPTIONAL_MATERIAL, SHARED_MATERIAL, BundleWorld
from tongban.bundles import applying, coordination, documents, events
from tongban.bundles.models import BundleCase, BundleDocument, BundleEvent, BundleStatus, BundleVersion
from tongban.cases import handling
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial, Message
from tongban.cases.models import Status as S
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError
from tongban.core.models import StoredBlob

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle_world(staff_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: BundleWorld(staff_factory, **kw)

B = BundleStatus


def _counts():
    return (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count(), CaseEvent.objects.count(),
            BundleEvent.objects.count(), CaseDocument.objects.count())


# --- applying ----------------------------------------------------------------------------------

def test_submission_creates_parent_and_children_with_split_form_and_shared_material_once(bundle_world):
    w = bundle_world(items=3)
    blobs_before = StoredBlob.objects.count()
    parent = w.apply(token="tok-1")
    parent.refresh_from_db()
    assert parent.status == B.SUBMITTED and parent.case_no and parent.submit_token == "tok-1"
    assert parent.lead_department_id == w.lead.pk and parent.lead_region_path == w.lead.region.path
    children = w.children(parent)
    assert [c.department_id for c in children] == [d.pk for d in w.departments]
    for i, child in enumerate(children):
        assert child.mode == "bundle" and child.status == S.SUBMITTED and child.case_no and child.case_no != parent.case_no
        assert child.receiving_department_id == w.lead.pk and child.receiving_region_path == w.lead.region.path
        # Each department receives its own item's fields under its own keys, and only those.
        assert child.form_data == {"applicant_name": w.applicant.name, "id_no": w.applicant.id_number, "mobile": w.applicant.phone,
                                   f"own_{i}": f"own_{i}的内容"}
        names = sorted(CaseMaterial.objects.filter(case=child).values_list("name", flat=True))
        assert names == sorted([SHARED_MATERIAL, f"{w.items[i].name}申请书"])
        assert child.documents.filter(kind="receipt").count() == 1
        assert list(child.events.values_list("action", flat=True)) == ["submit"]
        assert handling.events.verify_chain(child.events.order_by("seq")) is None
    # One form: the shared fields appear once in the merged form.
    keys = [f["key"] for f in w.version.form_fields]
    assert keys.count("applicant_name") == 1 and keys.count("id_number") == 1 and keys.count("phone") == 1
    # One set of materials: the shared material is one group and one stored file, seen by every department.
    shared = CaseMaterial.objects.filter(case__bundle_case=parent, name=SHARED_MATERIAL)
    assert shared.count() == 3 and len(set(shared.values_list("blob_id", flat=True))) == 1
    assert StoredBlob.objects.count() - blobs_before == 1 + 3  # the shared file once, each item's own once
    assert list(parent.events.values_list("action", flat=True)) == ["submit"]
    assert events.verify_chain(parent.events.order_by("seq")) is None
    # One notice to the applicant for the whole bundle, none per child.
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1


def test_same_token_returns_the_same_bundle_case(bundle_world):
    w = bundle_world(items=2)
    first = w.apply(token="same-token")
    before = _counts()
    again = w.apply(token="same-token")
    assert again.pk == first.pk and _counts() == before


def test_token_of_another_applicant_is_a_conflict(bundle_world):
    w = bundle_world(items=2)
    w.apply(token="shared")
    from tests.conftest import make_applicant

    other = make_applicant(name="李四", phone="13900000001")
    with pytest.raises(Conflict):
        applying.apply(other, other.user, w.code, {}, submit_now=True, token="shared")


def test_failure_on_the_third_child_leaves_nothing(bundle_world, monkeypatch):
    w = bundle_world(items=4)
    before = _counts()
    from tongban.cases import intake

    calls = {"n": 0}
    real = intake.new_case

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DomainError("第三个事项出错", status=422)
        return real(*args, **kwargs)

    monkeypatch.setattr(applying, "new_case", failing)
    with pytest.raises(DomainError):
        w.apply()
    assert calls["n"] == 3
    assert _counts() == before


def test_failure_while_numbering_a_child_rolls_back_the_parent(bundle_world, monkeypatch):
    w = bundle_world(items=3)
    before = _counts()
    from tongban.cases import numbering

    calls = {"n": 0}

    def failing(region_code):
        calls["n"] += 1
        if calls["n"] == 4:  # parent, child 1, child 2, then child 3 fails
            raise RuntimeError("counter unavailable")
        return numbering.next_case_no(region_code)

    monkeypatch.setattr(applying, "next_case_no", failing)
    with pytest.raises(RuntimeError):
        w.apply()
    assert _counts() == before


def test_missing_required_material_lists_it_and_writes_nothing(bundle_world):
    w = bundle_world(items=2)
    shared = w.group(SHARED_MATERIAL)["key"]
    before = _counts()
    with pytest.raises(DomainError) as exc:
        w.apply(skip=(shared,))
    assert exc.value.status == 422 and SHARED_MATERIAL in exc.value.message
    assert _counts() == before


def test_bad_form_and_bad_input_are_422_with_nothing_written(bundle_world):
    w = bundle_world(items=2)
    before = _counts()
    with pytest.raises(DomainError) as exc:
        w.apply(form=w.form(id_number="123"))
    assert exc.value.status == 422 and "申请人公民身份号码" in exc.value.message
    with pytest.raises(DomainError) as exc:
        w.apply(form={**w.form(), "unknown_field": "x"})
    assert "unknown_field" in exc.value.message
    with pytest.raises(DomainError) as exc:
        w.apply(delivery_method="remote_print")
    assert "送达方式" in exc.value.message
    with pytest.raises(DomainError):
        w.apply(market_services=[999999])
    with pytest.raises(DomainError):
        applying.apply(w.applicant, w.applicant.user, w.code, w.form(), materials={"g99": None}, submit_now=True)
    from tests.conftest import upload

    with pytest.raises(DomainError) as exc:
        applying.apply(w.applicant, w.applicant.user, w.code, w.form(), materials={"g1": upload("x.pdf", b"MZ not a pdf")}, submit_now=True)
    assert exc.value.status == 415
    with pytest.raises(DomainError) as exc:
        applying.published("NO-SUCH")
    assert exc.value.status == 404
    assert _counts() == before


def test_commitment_defers_a_deferrable_material(bundle_world):
    w = bundle_world(items=2, deferrable=True)
    optional = w.group(OPTIONAL_MATERIAL)
    assert optional["deferrable"]
    with pytest.raises(DomainError):  # a material that is not deferrable cannot be committed
        w.apply(commitments=[w.group(SHARED_MATERIAL)["key"]])
    parent = w.apply(commitments=[optional["key"]])
    assert [c["name"] for c in parent.commitments] == [OPTIONAL_MATERIAL]
    for child in w.children(parent):
        assert [c["name"] for c in child.commitments] == [OPTIONAL_MATERIAL]
        assert not child.materials.filter(name=OPTIONAL_MATERIAL).exists()
    w.accept(parent)
    for child in w.children(parent):
        assert child.status == S.ACCEPTED
        assert child.deferred_materials.get().material.name == OPTIONAL_MATERIAL


def test_draft_then_submit(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply(submit=False)
    assert parent.status == B.DRAFT and parent.case_no is None
    assert all(c.status == S.DRAFT for c in w.children(parent))
    parent = applying.submit(w.applicant.user, parent.pk, token="later")
    assert parent.status == B.SUBMITTED and parent.case_no
    assert all(c.status == S.SUBMITTED and c.documents.filter(kind="receipt").exists() for c in w.children(parent))
    assert applying.submit(w.applicant.user, parent.pk, token="later").pk == parent.pk


def test_prefill_reuses_own_earlier_answers_only(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply()
    filled = applying.prefill(w.applicant, w.version)
    assert filled["applicant_name"] == w.applicant.name and filled["id_number"] == w.applicant.id_number
    assert filled["own_0"] == "own_0的内容"  # an item's own field from the earlier application of that item
    from tests.conftest import make_applicant

    other = make_applicant(name="赵六", phone="13900000002")
    other_fill = applying.prefill(other, w.version)
    assert other_fill.get("own_0") is None and other_fill["applicant_name"] == "赵六"
    assert parent.pk


def test_merge_conflict_reported_and_publishing_refused(bundle_world):
    w = bundle_world(items=3, conflicting=True)
    assert w.version.status == BundleVersion.DRAFT
    assert any("经营类别" in p and "可选项不一致" in p for p in w.version.merge_problems)
    from tongban.bundles import versioning

    with pytest.raises(DomainError):
        versioning.publish(w.admin, w.version)


# --- derived status -----------------------------------------------------------------------------

def _kids(*specs):
    return [SimpleNamespace(status=s, denied=d) for s, d in specs]


@pytest.mark.parametrize(("policy", "children", "expected"), [
    ("partial", [(S.DRAFT, False), (S.DRAFT, False)], (B.DRAFT, "")),
    ("partial", [(S.SUBMITTED, False), (S.SUBMITTED, False)], (B.SUBMITTED, "")),
    ("partial", [(S.REFUSED, False), (S.REFUSED, False)], (B.REFUSED, "")),
    ("partial", [(S.SUPPLEMENT, False), (S.SUBMITTED, False)], (B.SUPPLEMENT, "")),
    ("partial", [(S.ACCEPTED, False), (S.SUBMITTED, False)], (B.IN_PROGRESS, "")),
    ("partial", [(S.UNDER_REVIEW, False), (S.APPROVED, False)], (B.IN_PROGRESS, "")),
    ("partial", [(S.DENIED, True), (S.CONCLUDED, False)], (B.IN_PROGRESS, "")),
    ("partial", [(S.CONCLUDED, False), (S.CONCLUDED, False)], (B.READY, "full")),
    ("partial", [(S.CONCLUDED, True), (S.CONCLUDED, False)], (B.READY, "partial")),
    ("partial", [(S.CONCLUDED, True), (S.CONCLUDED, True)], (B.READY, "failed")),
    ("partial", [(S.DELIVERED, False), (S.CONCLUDED, False)], (B.READY, "full")),
    ("partial", [(S.DELIVERED, True), (S.DELIVERED, False)], (B.DELIVERED, "partial")),
    ("partial", [(S.DELIVERED, False), (S.DELIVERED, False)], (B.DELIVERED, "full")),
    ("partial", [(S.WITHDRAWN, False), (S.WITHDRAWN, False)], (B.WITHDRAWN, "")),
    ("all_or_nothing", [(S.DENIED, True), (S.TERMINATED, False)], (B.FAILED, "failed")),
    ("all_or_nothing", [(S.CONCLUDED, True), (S.TERMINATED, False)], (B.FAILED, "failed")),
    ("all_or_nothing", [(S.CONCLUDED, False), (S.CONCLUDED, False)], (B.READY, "full")),
])
def test_derive_status_table(policy, children, expected):
    assert coordination.derive_status(SimpleNamespace(refusal_policy=policy), _kids(*children)) == expected


# --- comprehensive intake -----------------------------------------------------------------------

def test_intake_accept_records_first_verification_recognised_by_every_department(bundle_world):
    w = bundle_world(items=3)
    parent = w.apply()
    Message.objects.all().delete()
    with pytest.raises(DomainError) as exc:  # the original of the shared identity material must be checked
        coordination.intake(parent.pk, w.lead_clerk, "accept", identity_method="id_reader", originals_checked=[])
    assert SHARED_MATERIAL in exc.value.message
    with pytest.raises(DomainError):
        coordination.intake(parent.pk, w.lead_clerk, "accept", identity_method="fingerprint", originals_checked=[])
    parent = w.accept(parent)
    parent.refresh_from_db()
    assert parent.status == B.IN_PROGRESS and parent.accepted_at and parent.due_date
    assert parent.verifications[0]["what"] == "申请人身份" and parent.verifications[0]["department"] == w.lead.name
    assert {v["what"] for v in parent.verifications} == {"申请人身份", SHARED_MATERIAL}
    for child in w.children(parent):
        assert child.status == S.ACCEPTED and child.due_date
        check = child.intake_check
        assert check["identity_method"] == "id_reader" and check["mutual_recognition"]["department"] == w.lead.name
        shared = child.item_version.materials.get(name=SHARED_MATERIAL)
        assert check["originals_checked"] == [shared.pk]
        accepted = child.events.get(action="accept")
        assert accepted.department_name == w.lead.name  # the lead window accepted on the department's behalf
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1
    with pytest.raises(Conflict):
        w.accept(parent)


def test_intake_supplement_one_notice_and_resubmit_once(bundle_world):
    w = bundle_world(items=3)
    parent = w.apply()
    Message.objects.all().delete()
    shared = w.group(SHARED_MATERIAL)["key"]
    own_of_second = w.group(f"{w.items[1].name}申请书")["key"]
    coordination.intake(parent.pk, w.lead_clerk, "supplement", opinion="请补正", supplement_items=[
        {"group": shared, "problem": "身份证明模糊"}, {"group": own_of_second, "problem": "缺少签字"}])
    parent.refresh_from_db()
    assert parent.status == B.SUPPLEMENT
    children = w.children(parent)
    assert all(c.status == S.SUPPLEMENT for c in children)
    asked = [sorted(i["material_id"] for i in c.supplements.get().items) for c in children]
    assert len(asked[1]) == 2 and len(asked[0]) == 1 and len(asked[2]) == 1
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1
    from tests.conftest import upload

    with pytest.raises(DomainError):  # the second item's form still lacks the re-uploaded 申请书
        applying.resubmit(w.applicant.user, parent.pk, {shared: upload("id.pdf", b"%PDF-1.4 new id")})
    assert all(c.status == S.SUPPLEMENT for c in w.children(parent))
    applying.resubmit(w.applicant.user, parent.pk, {shared: upload("id.pdf", b"%PDF-1.4 new id"),
                                                    own_of_second: upload("form.pdf", b"%PDF-1.4 signed")})
    parent.refresh_from_db()
    assert parent.status == B.SUBMITTED
    assert all(c.status == S.SUBMITTED for c in w.children(parent))
    assert CaseMaterial.objects.filter(case__bundle_case=parent, round=2).count() == 4  # shared ×3 + the second's own


def test_intake_refuse_needs_reason_and_refuses_every_child(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply()
    with pytest.raises(DomainError):
        coordination.intake(parent.pk, w.lead_clerk, "refuse")
    coordination.intake(parent.pk, w.lead_clerk, "refuse", opinion="不属于本机关职权范围")
    parent.refresh_from_db()
    assert parent.status == B.REFUSED
    assert all(c.status == S.REFUSED and c.documents.filter(kind="refusal").exists() for c in w.children(parent))


def test_child_intake_steps_only_through_the_bundle(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply()
    child = w.children(parent)[0]
    with pytest.raises(Conflict):
        handling.perform(child.pk, "accept", w.lead_clerk)
    with pytest.raises(Conflict):
        handling.perform(child.pk, "withdraw", w.applicant.user)
    draft = w.apply(submit=False)
    draft_child = w.children(draft)[0]
    with pytest.raises(Conflict):  # a draft's items are submitted together, never one by one
        handling.perform(draft_child.pk, "submit", w.applicant.user)
    assert Case.objects.get(pk=draft_child.pk).status == S.DRAFT


# --- back office and order of work --------------------------------------------------------------

def test_sequential_release_after_the_previous_stage_concludes(bundle_world):
    w = bundle_world(items=3, order="sequential")
    parent = w.accept(w.apply())
    first, second, third = w.children(parent)
    assert (first.status, second.status, third.status) == (S.ACCEPTED, S.SUBMITTED, S.SUBMITTED)
    view = coordination.overview(BundleCase.objects.get(pk=parent.pk))
    assert [r["waiting"] for r in view["children"]] == [False, True, True]
    w.approve(first, conclude=False)
    assert Case.objects.get(pk=second.pk).status == S.SUBMITTED  # approved is not concluded
    handling.perform(first.pk, "conclude", w.approver_of(first))
    second.refresh_from_db()
    assert second.status == S.ACCEPTED and Case.objects.get(pk=third.pk).status == S.SUBMITTED
    released = second.events.get(action="accept")
    assert released.role == "system" and w.lead.name in released.actor_name
    assert BundleEvent.objects.filter(bundle_case=parent, action="release").count() == 1
    w.approve(second)
    assert Case.objects.get(pk=third.pk).status == S.ACCEPTED
    assert BundleEvent.objects.filter(bundle_case=parent, action="release").count() == 2
    w.approve(Case.objects.get(pk=third.pk))
    parent.refresh_from_db()
    assert parent.status == B.READY and parent.outcome == BundleCase.FULL


def test_department_approver_sees_child_and_parent_but_cannot_intake(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply()
    approver = w.approvers[1]
    assert coordination.visible_bundle_case(approver, parent.pk).pk == parent.pk
    from tongban.cases.intake import visible_case

    children = w.children(parent)
    assert visible_case(approver, children[1].pk).pk == children[1].pk  # its own item
    with pytest.raises(PermissionDenied):
        coordination.intake(parent.pk, approver, "accept", identity_method="id_reader", originals_checked=[w.group(SHARED_MATERIAL)["key"]])
    # A clerk of a cooperating department reads the bundle but is not the lead window either.
    with pytest.raises(PermissionDenied):
        coordination.intake(parent.pk, w.clerks[1], "refuse", opinion="x")


def test_another_countys_clerk_gets_404(bundle_world, staff_factory):
    w = bundle_world(items=2)
    parent = w.apply()
    outsider, _ = staff_factory("clerk", "371321")  # 沂南县
    with pytest.raises(Http404):
        coordination.visible_bundle_case(outsider, parent.pk)
    with pytest.raises(Http404):
        coordination.intake(parent.pk, outsider, "refuse", opinion="x")
    from tests.conftest import make_applicant

    stranger = make_applicant(name="钱七", phone="13900000003")
    with pytest.raises(Http404):
        coordination.visible_bundle_case(stranger.user, parent.pk)
    with pytest.raises(Http404):
        applying.withdraw(stranger.user, parent.pk)


# --- refusal policy -----------------------------------------------------------------------------

def test_all_or_nothing_denial_terminates_the_rest_and_fails_the_bundle(bundle_world):
    w = bundle_world(items=3, policy=BundleVersion.ALL_OR_NOTHING)
    parent = w.accept(w.apply())
    first, second, third = w.children(parent)
    w.approve(first)
    Message.objects.all().delete()
    w.deny(second, "经营场所不符合要求", conclude=False)
    parent.refresh_from_db()
    assert parent.status == B.FAILED and parent.outcome == BundleCase.FAILED
    third.refresh_from_db()
    assert third.status == S.TERMINATED
    assert Case.objects.get(pk=first.pk).status == S.CONCLUDED  # already concluded: stays as decided
    failure = parent.documents.get(kind="failure")
    assert failure.content["reason"] == "经营场所不符合要求" and failure.content["denied_item"] == second.item_version.name
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1
    pdf = documents.document_pdf(failure)
    assert pdf.startswith(b"%PDF")
    handling.perform(second.pk, "conclude", w.approver_of(second))
    parent.refresh_from_db()
    assert parent.status == B.FAILED


def test_partial_policy_delivers_with_explanation(bundle_world):
    w = bundle_world(items=3)
    parent = w.accept(w.apply())
    first, second, third = w.children(parent)
    w.approve(first)
    w.deny(second, "材料不实")
    assert Case.objects.get(pk=third.pk).status == S.ACCEPTED  # a denial does not stop the others
    w.approve(third)
    parent.refresh_from_db()
    assert parent.status == B.READY and parent.outcome == BundleCase.PARTIAL
    view = coordination.overview(parent)
    assert "材料不实" in view["explanation_draft"]
    with pytest.raises(DomainError) as exc:
        coordination.deliver(parent.pk, w.lead_clerk, "online")
    assert "结果说明" in exc.value.message
    Message.objects.all().delete()
    coordination.deliver(parent.pk, w.lead_clerk, "online", explanation=view["explanation_draft"])
    parent.refresh_from_db()
    assert parent.status == B.DELIVERED and parent.explanation
    assert all(c.status == S.DELIVERED for c in w.children(parent))
    doc = parent.documents.get(kind="conclusion")
    assert [i["result"] for i in doc.content["items"]] == ["准予许可", "不予许可", "准予许可"]
    assert not parent.documents.filter(kind="permit").exists()
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1


def test_unified_delivery_one_notice_conclusion_and_permit(bundle_world):
    w = bundle_world(items=2, permit_name="食品经营行业综合许可证")
    parent = w.accept(w.apply())
    for child in w.children(parent):
        w.approve(child)
    parent.refresh_from_db()
    assert parent.status == B.READY
    lead_clerk_messages = Message.objects.filter(recipient=w.lead_clerk, title="一件事待统一出件")
    assert lead_clerk_messages.count() == 1
    with pytest.raises(DomainError):  # mail needs a courier and tracking number
        coordination.deliver(parent.pk, w.lead_clerk, "mail")
    with pytest.raises(PermissionDenied):
        coordination.deliver(parent.pk, w.approvers[1], "online")
    Message.objects.filter(recipient=w.applicant.user).delete()
    coordination.deliver(parent.pk, w.lead_clerk, "mail", courier="中国邮政EMS", tracking_no="EMS123456")
    parent.refresh_from_db()
    assert parent.status == B.DELIVERED and parent.outcome == BundleCase.FULL and parent.permit_no
    permit = parent.documents.get(kind="permit")
    assert [p["certificate_no"] for p in permit.content["permits"]] == [f"ZS-{c.pk}" for c in w.children(parent)]
    conclusion = parent.documents.get(kind="conclusion")
    assert len(conclusion.content["items"]) == 2
    assert Message.objects.filter(recipient=w.applicant.user).count() == 1
    for doc in (permit, conclusion):
        assert documents.document_pdf(doc).startswith(b"%PDF")
        doc.refresh_from_db()
        assert doc.blob_id
    with pytest.raises(Conflict):
        coordination.deliver(parent.pk, w.lead_clerk, "online")
    assert events.verify_chain(parent.events.order_by("seq")) is None
    timeline = coordination.timeline(parent)
    assert timeline[0]["source"] == "bundle" and timeline[0]["action"] == "submit"
    assert {r["item_name"] for r in timeline} >= {"一件事", w.items[0].name, w.items[1].name}
    assert timeline == sorted(timeline, key=lambda r: r["at"])


def test_withdraw_before_decisions(bundle_world):
    w = bundle_world(items=2)
    parent = w.accept(w.apply())
    applying.withdraw(w.applicant.user, parent.pk)
    parent.refresh_from_db()
    assert parent.status == B.WITHDRAWN
    assert all(c.status == S.WITHDRAWN for c in w.children(parent))
    with pytest.raises(Conflict):
        applying.withdraw(w.applicant.user, parent.pk)


# --- joint appointments and 一类事 --------------------------------------------------------------

def test_joint_appointment_with_several_departments(bundle_world):
    import datetime

    from django.utils import timezone

    w = bundle_world(items=3)
    parent = w.accept(w.apply())
    children = w.children(parent)
    when = timezone.now() + datetime.timedelta(days=3)
    with pytest.raises(DomainError):  # one department is not a joint appointment
        coordination.schedule_appointment(parent.pk, w.lead_clerk, "inspection", when, "经营场所", [children[0].pk])
    with pytest.raises(DomainError):
        coordination.schedule_appointment(parent.pk, w.lead_clerk, "inspection", timezone.now() - datetime.timedelta(days=1), "经营场所",
                                          [c.pk for c in children[:2]])
    appointment = coordination.schedule_appointment(parent.pk, w.lead_clerk, "inspection", when, "经营场所", [c.pk for c in children[:2]])
    assert appointment.status == "scheduled"
    for child in children[:2]:
        assert child.events.filter(action="joint_appointment").count() == 1
        assert Message.objects.filter(recipient=w.approver_of(child), title="联合勘验预约").exists()
        assert Case.objects.get(pk=child.pk).status == S.ACCEPTED  # no change of state
    assert not children[2].events.filter(action="joint_appointment").exists()
    with pytest.raises(PermissionDenied):  # the third department does not take part
        coordination.record_appointment(appointment.pk, w.approvers[2], "同意")
    coordination.record_appointment(appointment.pk, w.approvers[0], "现场符合要求")
    with pytest.raises(PermissionDenied):  # each department once
        coordination.record_appointment(appointment.pk, w.approvers[0], "再次")
    appointment = coordination.record_appointment(appointment.pk, w.approvers[1], "同意")
    assert appointment.status == "held" and len(appointment.results) == 2
    assert parent.events.filter(action="joint_opinion").count() == 2


def test_market_service_requested_forwarded_done(bundle_world):
    w = bundle_world(items=2, market_services=("银行开户", "公章刻制"))
    services = list(w.version.market_services.order_by("seq"))
    parent = w.apply(market_services=[services[1].pk])
    assert [r["name"] for r in parent.market_requests] == ["公章刻制"]
    with pytest.raises(Conflict):
        coordination.mark_market_request(parent.pk, w.lead_clerk, services[1].pk, "done")
    with pytest.raises(DomainError):
        coordination.mark_market_request(parent.pk, w.lead_clerk, services[0].pk, "forwarded")
    coordination.mark_market_request(parent.pk, w.lead_clerk, services[1].pk, "forwarded", "已转交刻章单位")
    parent = coordination.mark_market_request(parent.pk, w.lead_clerk, services[1].pk, "done")
    assert parent.market_requests[0]["status"] == "done"
    assert parent.events.filter(action="market_service").count() == 2


def test_bundle_events_are_append_only(bundle_world):
    w = bundle_world(items=2)
    parent = w.apply()
    event = parent.events.get()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        BundleEvent.objects.filter(pk=event.pk).update(label="改")
    assert BundleDocument.objects.filter(bundle_case=parent).count() == 0


# --- a material issued inside the bundle (免提交) ----------------------------------------------------

def test_material_issued_by_an_earlier_stage_is_taken_from_its_result(bundle_world):
    from tongban.bundles.models import BundleStatus

    w = bundle_world(items=2, order="sequential", produced=True)
    produced = w.group("测试许可证0")
    assert produced["produced_by"] == f"e{w.version.entries.get(seq=1).pk}"
    parent = w.apply(skip=(produced["key"],))  # the applicant cannot have it yet: not asked for
    w.accept(parent)
    first, second = w.children(parent)
    assert second.status == "submitted" and not second.materials.filter(name="测试许可证0").exists()
    w.approve(first)
    second.refresh_from_db()
    assert second.status == "accepted"
    reused = second.materials.get(name="测试许可证0")
    assert reused.how == "reuse" and first.case_no in reused.file_name
    assert reused.blob.sha256 == first.documents.get(kind="conclusion").blob.sha256
    parent.refresh_from_db()
    assert parent.status == BundleStatus.IN_PROGRESS


def test_item_whose_needed_result_was_denied_is_terminated_with_the_reason(bundle_world):
    from tongban.bundles.models import BundleStatus

    w = bundle_world(items=2, order="sequential", produced=True, policy="partial")
    parent = w.apply(skip=(w.group("测试许可证0")["key"],))
    w.accept(parent)
    first, second = w.children(parent)
    w.deny(first)
    second.refresh_from_db()
    assert second.status == "terminated"
    assert "测试许可证0" in second.events.get(action="terminate").opinion
    parent.refresh_from_db()
    # Nothing was granted: the denial and the termination are still handed over together, explained.
    assert (parent.status, parent.outcome) == (BundleStatus.READY, "failed")


def test_bundle_children_are_counted_in_the_cockpit_summary_like_single_cases(bundle_world):
    from django.db.models import Sum

    from tongban.supervision import summary
    from tongban.supervision.models import DailyCaseFigure

    w = bundle_world(items=3)
    parent = w.apply()
    w.accept(parent)
    incremental = DailyCaseFigure.objects.aggregate(r=Sum("received"), a=Sum("accepted"))
    assert incremental == {"r": 3, "a": 3}
    summary.rebuild()  # recomputed from the cases: the same
    assert DailyCaseFigure.objects.aggregate(r=Sum("received"), a=Sum("accepted")) == incremental
