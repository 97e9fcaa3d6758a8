"""Every transition of the lifecycle table, the clock across the 2026 holidays, pauses, 容缺受理,
即办件, special procedures, review steps (BPMN), fees, the hash chain and the deadline task."""

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from tests.conftest import PDF_BYTES, upload
from tongban.cases import clock, lifecycle, services
from tongban.cases.models import Case, CaseEvent, ClockPause, DeferredMaterial, Message, Supplement
from tongban.cases.models import Status as S
from tongban.core.errors import Conflict, DomainError

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def at(monkeypatch):
    """Set the clock: at("2026-02-12 10:00")."""
    def set_time(text):
        fixed = datetime.datetime.fromisoformat(text).replace(tzinfo=TZ)
        monkeypatch.setattr("django.utils.timezone.now", lambda: fixed)
    return set_time


pytestmark = pytest.mark.django_db


def test_table_covers_every_status_and_targets_are_statuses():
    sources = set().union(*(t.sources for t in lifecycle.TABLE.values()))
    targets = {t.target for t in lifecycle.TABLE.values() if t.target}
    assert targets <= set(S.values)
    # every non-terminal status has a way out; terminal ones have only system flags
    for status in set(S.values) - {S.REFUSED, S.DELIVERED, S.WITHDRAWN}:
        assert status in sources, status


def test_promised_deadline_skips_spring_festival_2026_and_counts_make_up_saturdays(case_world, at):
    w = case_world()
    at("2026-02-12 10:00")  # Thursday before the 2026 Spring Festival (15–23 Feb off; 14 and 28 Feb are working Saturdays)
    case = w.act(w.submitted_case(), "accept")
    # 13 Feb, 14 Feb (Sat, 调休), 24, 25, 26, 27, 28 (Sat, 调休) Feb, 2, 3, 4 Mar
    assert case.due_date == datetime.date(2026, 3, 4)
    assert case.statutory_due_date == datetime.date(2026, 3, 18)  # 20 working days
    assert case.calendar_warning == ""
    at("2026-02-20 09:00")  # inside the holiday: 7 working days left (24 Feb … 4 Mar)
    d = clock.deadline(Case.objects.get(pk=case.pk))
    assert (d.remaining, d.colour) == (8, "green")


def test_national_day_2026_and_yellow_then_red(case_world, at, settings):
    settings.TONGBAN_DEADLINE_YELLOW_DAYS = 2
    w = case_world()
    w.impl.promised_limit_days = 5
    w.impl.save()
    at("2026-09-30 16:00")
    case = w.act(w.submitted_case(), "accept")
    # 1–7 Oct off; 8, 9, 10 (Sat, 调休), 12, 13 Oct
    assert case.due_date == datetime.date(2026, 10, 13)
    at("2026-10-10 09:00")
    assert clock.deadline(case).colour == "yellow"
    at("2026-10-14 09:00")
    d = clock.deadline(case)
    assert (d.colour, d.remaining, d.label) == ("red", -1, "已超期1个工作日")


def test_missing_holiday_year_warns_on_the_case(case_world, at):
    w = case_world()
    at("2026-12-28 10:00")
    case = w.act(w.submitted_case(), "accept")  # 10 working days run into 2027, which has no holiday data
    assert "2027" in case.calendar_warning
    assert "2027" in clock.deadline(case).warning


def test_supplement_before_acceptance_lists_everything_once_and_resubmission_returns_to_intake(case_world):
    w = case_world()
    case = w.submitted_case()
    a, b = w.materials
    case = w.act(case, "request_supplement", items=[{"material_id": a.pk, "problem": "签名缺失"}, {"material_id": b.pk, "problem": "复印件不清晰"},
                                                    {"name": "授权委托书", "problem": "代办需提供"}])
    assert case.status == S.SUPPLEMENT
    assert Supplement.objects.get(case=case).items[2]["name"] == "授权委托书"
    assert case.documents.filter(kind="supplement").count() == 1
    with pytest.raises(DomainError, match="请先重新上传补正材料"):
        services.perform(case.pk, "resubmit", w.applicant.user)
    for m in (a, b):
        services.add_material(w.applicant.user, case.pk, m.pk, upload(data=PDF_BYTES + b"v2" + m.name.encode()))
    case = services.perform(case.pk, "resubmit", w.applicant.user)
    assert case.status == S.SUBMITTED and case.supplements.get().status == Supplement.ANSWERED
    assert [m.round for m in services.current_materials(case)] == [2, 2]
    assert not ClockPause.objects.filter(case=case).exists()  # the clock had not started


def test_supplement_after_acceptance_stops_the_clock(case_world, at):
    w = case_world()
    at("2026-03-02 09:00")
    case = w.act(w.submitted_case(), "accept")
    assert case.due_date == datetime.date(2026, 3, 16)
    at("2026-03-04 09:00")
    case = w.act(case, "request_supplement", w.approver, items=[{"material_id": w.materials[0].pk, "problem": "盖章不清"}])
    at("2026-03-09 09:00")  # Monday: 3 working days later (5, 6, 9 Mar)
    assert clock.deadline(case).colour == "paused"
    services.add_material(w.applicant.user, case.pk, w.materials[0].pk, upload(data=PDF_BYTES + b"fixed"))
    case = services.perform(case.pk, "resubmit", w.applicant.user)
    assert case.status == S.UNDER_REVIEW and case.paused_days == 3
    assert case.due_date == datetime.date(2026, 3, 19)


def test_special_procedure_pauses_with_start_end_reason_result(case_world, at):
    w = case_world()
    at("2026-03-02 09:00")
    case = w.act(w.submitted_case(), "accept")
    with pytest.raises(DomainError, match="特别程序种类"):
        w.act(case, "start_special", w.approver, "需要听证", kind="party")
    case = w.act(case, "start_special", w.approver, "涉及重大公共利益，依法举行听证", kind="hearing")
    assert case.status == S.SPECIAL
    at("2026-03-06 15:00")
    case = w.act(case, "end_special", w.approver, "听证完毕，无异议")
    sp = case.special_procedures.get()
    assert (sp.kind, sp.result, sp.pause.working_days) == ("hearing", "听证完毕，无异议", 4)
    assert case.status == S.UNDER_REVIEW and case.due_date == datetime.date(2026, 3, 20)


def test_deferred_material_with_signed_commitment_and_overdue_flag(case_world, at):
    w = case_world()
    a, b = w.materials
    user = w.applicant.user
    at("2026-03-02 09:00")
    case = services.create_draft(w.applicant, w.impl.implementation_code)
    services.add_material(user, case.pk, a.pk, upload())
    with pytest.raises(DomainError, match="身份证明"):
        services.submit(user, case.pk)
    services.update_draft(user, case.pk, commitments=[b.pk])
    case = services.submit(user, case.pk)
    case = w.act(case, "accept")
    deferred = DeferredMaterial.objects.get(case=case)
    assert deferred.status == "pending" and deferred.signed_by == w.applicant.name and "承诺" in deferred.commitment_text
    case = w.act(case, "approve", w.approver)
    with pytest.raises(Conflict, match="容缺材料尚未补交"):
        w.act(case, "conclude", w.approver)
    at("2026-03-20 09:00")
    from tongban.cases.tasks import run_scan

    assert run_scan()[1] == 1
    deferred.refresh_from_db()
    assert deferred.status == "overdue"
    assert CaseEvent.objects.filter(case=case, action="flag_deferred_overdue").exists()
    services.add_material(user, case.pk, b.pk, upload(data=PDF_BYTES + b"later"))
    services.perform(case.pk, "fulfil_deferred", user, params={"deferred_id": deferred.pk})
    assert w.act(case, "conclude", w.approver).status == S.CONCLUDED


def test_immediate_case_is_decided_at_once_and_promised_case_is_not(case_world):
    w = case_world(case_kind="1")
    case = w.act(w.submitted_case(), "decide_at_once")
    assert case.status == S.APPROVED and case.accepted_at and case.decided_at
    w2 = case_world()
    with pytest.raises(DomainError, match="承诺件"):
        w2.act(w2.submitted_case(), "decide_at_once")


def test_withdrawal_before_decision_only(case_world):
    w = case_world()
    case = w.act(w.submitted_case(), "accept")
    case = services.perform(case.pk, "withdraw", w.applicant.user)
    assert case.status == S.WITHDRAWN
    case2 = w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver)
    with pytest.raises(Conflict):
        services.perform(case2.pk, "withdraw", w.applicant.user)


def test_denial_issues_notice_and_concludes(case_world):
    w = case_world()
    case = w.act(w.submitted_case(), "accept")
    with pytest.raises(DomainError, match="不予许可理由"):
        w.act(case, "deny", w.approver)
    case = w.act(case, "deny", w.approver, "不符合《条例》第十条规定的条件")
    assert case.documents.filter(kind="denial").exists()
    assert w.act(case, "conclude").status == S.CONCLUDED


def test_review_steps_run_as_bpmn_and_decision_waits_for_them(case_world):
    w = case_world(steps=[{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}])
    case = w.act(w.submitted_case(), "accept")
    assert case.process is not None
    with pytest.raises(Conflict, match="审查环节尚未全部完成"):
        w.act(case, "approve", w.approver)
    with pytest.raises(DomainError, match="审查意见"):
        w.act(case, "review", w.approver)
    case = w.act(case, "review", w.approver, "材料真实有效")
    assert case.status == S.UNDER_REVIEW
    # editing the item's process afterwards does not change this running case
    rp = w.version.review_process
    rp.steps = [{"name": "只有一步", "role": "approver"}]
    rp.full_clean()
    rp.save()
    case = w.act(case, "review", w.approver, "同意")
    assert [e.label for e in case.events.order_by("seq")][-2:] == ["审核", "审批"]
    assert w.act(case, "approve", w.approver).status == S.APPROVED


def test_fee_must_be_paid_before_conclusion(case_world):
    from tongban.cases import payments

    w = case_world(fee=50)
    case = w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver)
    with pytest.raises(Conflict, match="尚未缴纳"):
        w.act(case, "conclude", w.approver)
    p = payments.start(w.applicant.user, case.pk)
    assert payments.start(w.applicant.user, case.pk).pk == p.pk  # one pending payment
    payments.confirm(p.reference)
    payments.confirm(p.reference)  # a repeated callback records one payment
    assert CaseEvent.objects.filter(case=case, action="pay").count() == 1
    assert w.act(case, "conclude", w.approver).status == S.CONCLUDED


def test_every_step_messages_the_applicant(case_world):
    w = case_world()
    w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver)
    titles = list(Message.objects.filter(recipient=w.applicant.user).order_by("id").values_list("title", flat=True))
    assert titles == ["申请已收件", "申请已受理", "准予许可"]


def test_hash_chain_verifies_and_detects_tampering(case_world):
    w = case_world()
    case = w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver)
    out = io.StringIO()
    call_command("verify_case_chains", stdout=out)
    assert "全部完好" in out.getvalue()
    event = CaseEvent.objects.filter(case=case).order_by("seq")[1]
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(DatabaseError):
        with connection.cursor() as cur, transaction.atomic():
            cur.execute("UPDATE cases_caseevent SET opinion = 'x' WHERE id = %s", [event.pk])
    # a forged chain (written around the triggers) is found
    from tongban.cases.events import verify_chain

    events = list(CaseEvent.objects.filter(case=case).order_by("seq"))
    events[1].opinion = "篡改"
    assert verify_chain(events).seq == 2


@pytest.fixture
def committed_world(reference_data, case_world):
    """Data the worker can see (committed), and a flush afterwards that may remove case history."""
    yield case_world()
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("INSERT INTO cases_history_purge (id) VALUES (1) ON CONFLICT DO NOTHING")


# The worker closes its database connections when it stops, which would end a test's transaction.
@pytest.mark.django_db(transaction=True)
def test_deadline_scan_runs_on_the_database_worker_and_flags_once(committed_world, at):
    w = committed_world
    at("2026-03-02 09:00")
    case = w.act(w.submitted_case(), "accept")
    at("2026-03-20 09:00")
    from tongban.cases.tasks import scan_deadlines

    scan_deadlines.enqueue(0)
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=io.StringIO(), stderr=io.StringIO())
    assert CaseEvent.objects.filter(case=case, action="flag_overdue").count() == 1
    assert Message.objects.filter(recipient=w.approver, title="办件超期预警").exists()
    scan_deadlines.enqueue(0)
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=io.StringIO(), stderr=io.StringIO())
    assert CaseEvent.objects.filter(case=case, action="flag_overdue").count() == 1
