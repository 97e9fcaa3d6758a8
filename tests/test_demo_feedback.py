"""Demo 好差评 and 咨询投诉建议 (tongban.demo.evaluations): loaded once for this module with the demo data
set and the demo cases, inside a transaction rolled back at the end (MEDIA_ROOT in a temporary directory)."""

import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from tongban.cases.models import Case
from tongban.core import authz
from tongban.core.models import AuditEntry
from tongban.directory.models import Membership
from tongban.evaluation import services as ratings
from tongban.evaluation.models import TAGS, Channel, Evaluation, Level, Rectification, RectificationStep, WindowRatingToken
from tongban.inquiries import services as inquiries
from tongban.inquiries.models import HotlineClient, Inquiry, InquiryReply, InquiryStep, Kind, Source, Status


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from tongban.demo.cases import load_case_demo
    from tongban.demo.loader import load_demo

    media = tmp_path_factory.mktemp("feedback_demo_media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            load_demo()
            yield {"cases": load_case_demo(), "media": media}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def person(demo):
    return demo["cases"]["applicants"][0]


def counts():
    models = (Case, Evaluation, Rectification, RectificationStep, WindowRatingToken, Inquiry, InquiryStep, InquiryReply, HotlineClient)
    return {m.__name__: m.objects.count() for m in models}


@pytest.mark.django_db
def test_first_run_made_the_ratings_and_inquiries(demo):
    assert demo["cases"]["feedback"] == {"evaluations": 3, "callbacks": 1, "inquiries": 3, "hotline_clients": 1}


@pytest.mark.django_db
def test_online_ratings_on_concluded_junan_cases(demo):
    applicant = person(demo)
    online = list(Evaluation.objects.filter(applicant=applicant, channel=Channel.ONLINE).select_related("case__region").order_by("level"))
    assert [e.level for e in online] == [Level.DISSATISFIED, Level.VERY_SATISFIED]
    assert len({e.case_id for e in online}) == 2
    for e in online:
        assert e.case.applicant_id == applicant.pk and e.case.region.code == "371327" and ratings.can_rate(e.case)
        assert e.region_path == e.case.region_path and e.department_id == e.case.department_id
        assert set(e.tags) <= set(TAGS[Channel.ONLINE]) and "演示" in e.comment
    bad = online[0]
    assert not bad.anonymous and bad.rater_label == applicant.name
    # The applicant reads their own ratings through the authorisation filter.
    assert set(ratings.visible_evaluations(applicant.user).values_list("pk", flat=True)) >= {e.pk for e in online}


@pytest.mark.django_db
def test_bad_rating_rectification_is_at_the_call_back_stage(demo):
    bad = Evaluation.objects.get(applicant=person(demo), level=Level.DISSATISFIED)
    rect = Rectification.objects.get(evaluation=bad)
    assert rect.status == Rectification.OPEN and rect.real_name and rect.callback_reached is True
    assert rect.called_back_at is not None and "演示" in rect.callback_summary and rect.outcome == ""
    assert rect.department_id == bad.case.department_id and rect.region_path == bad.region_path
    steps = list(rect.steps.order_by("id"))
    assert [s.action for s in steps] == ["open", "callback"]
    # The history chains: each step starts where the previous ended, and ends at the current status.
    assert steps[0].status_from == "" and all(a.status_to == b.status_from for a, b in zip(steps, steps[1:]))
    assert steps[-1].status_to == rect.status
    # The demo approver (谁办理谁负责: 莒南县 handling staff) can take the next step.
    approver = Membership.objects.get(user__username="demo_approver", region__code="371327").user
    assert ratings.visible_rectifications(approver).filter(pk=rect.pk).exists()
    assert ratings.get_visible(approver, rect.pk) == rect
    # Only bad ratings open a rectification.
    assert not Rectification.objects.exclude(evaluation__level__in=(Level.DISSATISFIED, Level.VERY_DISSATISFIED)).exists()


@pytest.mark.django_db
def test_window_rating_by_one_time_token(demo):
    clerk = Membership.objects.get(user__username="demo_clerk")
    window = Evaluation.objects.get(channel=Channel.WINDOW, comment__contains="演示")
    assert window.window_id == clerk.window_id and window.anonymous and window.applicant_id is None
    assert window.token.status == WindowRatingToken.USED and window.token.issued_by_id == clerk.user_id
    assert set(window.tags) <= set(TAGS[Channel.WINDOW]) and window.level == Level.VERY_SATISFIED
    with pytest.raises(Exception, match="已使用"):
        ratings.rate_window(window.token.token, Level.SATISFIED)


@pytest.mark.django_db
def test_three_inquiries_in_their_states(demo):
    applicant = person(demo)
    consult = Inquiry.objects.get(applicant=applicant, kind=Kind.CONSULT, title__contains="演示")
    assert consult.status == Status.REPLIED and consult.replies.count() == 1 and consult.department_id is not None
    complaint = Inquiry.objects.get(applicant=applicant, kind=Kind.COMPLAINT, title__contains="演示")
    assert complaint.status == Status.ASSIGNED and complaint.case.applicant_id == applicant.pk
    assert complaint.department_id == complaint.case.department_id and complaint.routed_by == "case"
    hotline = Inquiry.objects.get(source=Source.HOTLINE, title__contains="演示")
    assert hotline.hotline_client.region.code == "371327" and hotline.status in (Status.ASSIGNED, Status.RECEIVED)
    for inquiry in (consult, complaint, hotline):
        assert inquiry.inquiry_no and inquiry.region_path.startswith(inquiry.region.path)
        assert inquiry.due_date > inquiry.submitted_at.date() and "演示" in inquiry.content
        steps = list(inquiry.steps.order_by("seq"))
        assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
        assert steps[0].action == "submit" and steps[-1].status_to == inquiry.status
    # The applicant sees their two; the complaint waits in its department's queue for the 莒南县 staff.
    approver = Membership.objects.get(user__username="demo_approver", region__code="371327").user
    assert set(authz.filter_queryset(Inquiry.objects.all(), applicant.user).values_list("pk", flat=True)) == {consult.pk, complaint.pk}
    assert authz.can(approver, complaint, authz.WRITE)


@pytest.mark.django_db
def test_hotline_client_key_is_never_shown(demo):
    client = HotlineClient.objects.get(name__contains="演示")
    assert len(client.key_hash) == 64 and client.is_active
    assert inquiries.hotline_ticket(client, "DEMO-12345-0001").kind == Kind.SUGGESTION
    secret_start = f"th_{client.key_prefix}_"
    out = io.StringIO()
    with override_settings(MEDIA_ROOT=str(demo["media"])):
        call_command("load_demo", stdout=out)
    assert secret_start not in out.getvalue()
    assert not any(secret_start in (a.summary + str(a.data)) for a in AuditEntry.objects.all())


@pytest.mark.django_db
def test_loading_again_makes_nothing_new(demo):
    from tongban.demo.cases import load_case_demo
    from tongban.demo.loader import load_demo

    before = counts()
    with override_settings(MEDIA_ROOT=str(demo["media"])):
        load_demo()
        again = load_case_demo()
    assert again["feedback"] == {}
    assert counts() == before
