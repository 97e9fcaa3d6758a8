"""问题反馈单: idempotent on uid (the same report from another node is stored once), validation with
Chinese 422 messages, replies and closing, and who reads them."""

import uuid

import pytest

from tongban.cooperation import services
from tongban.cooperation.models import WorkOrder, WorkOrderReply
from tongban.core.authz import PermissionDenied, filter_queryset
from tongban.core.errors import Conflict, DomainError

pytestmark = pytest.mark.django_db


def report(case=None, **kw):
    values = dict(side="receiving", author_name="王晓梅", region_code="371327", department_name="莒南县政务服务中心",
                  title="材料无法上传", body="申请人的身份证明扫描件上传失败，请协助。")
    values.update(kw)
    return services.record_problem(case, **values)


def test_record_problem_is_idempotent_on_uid():
    uid = uuid.uuid4()
    first = report(uid=uid)
    again = report(uid=str(uid), title="另一个标题")  # a retried delivery: stored once, never rewritten
    assert first.pk == again.pk and again.title == "材料无法上传"
    assert WorkOrder.objects.filter(uid=uid).count() == 1
    assert first.status == WorkOrder.OPEN and first.raised_side == "receiving"
    assert report().pk != first.pk  # without uid: a new report each time


def test_record_problem_same_uid_other_case_conflicts(case_world):
    world = case_world()
    case = world.submitted_case()
    uid = uuid.uuid4()
    report(case, uid=uid)
    with pytest.raises(Conflict):
        report(None, uid=uid)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"title": ""}, "请填写问题标题"),
        ({"title": "   "}, "请填写问题标题"),
        ({"title": "题" * 101}, "问题标题不能超过100个字"),
        ({"body": ""}, "请填写问题描述"),
        ({"body": "字" * 2001}, "问题描述不能超过2000个字"),
        ({"body": "含\x00字符"}, "问题描述包含不允许的字符"),
        ({"title": "a\x00"}, "问题标题包含不允许的字符"),
        ({"side": "elsewhere"}, "提出方应为收件地、办理地或联办地"),
        ({"author_name": ""}, "请填写提出人"),
        ({"uid": "not-a-uuid"}, "全局标识格式不正确"),
    ],
)
def test_record_problem_validation(kw, message):
    with pytest.raises(DomainError) as exc:
        report(**kw)
    assert exc.value.status == 422 and exc.value.message == message
    assert not WorkOrder.objects.exists()


def test_limits_are_inclusive():
    order = report(title="题" * 100, body="字" * 2000)
    assert len(order.title) == 100 and len(order.body) == 2000


def test_reply_answers_and_is_idempotent(staff_factory):
    order = report()
    uid = uuid.uuid4()
    reply = services.record_reply(order, side="competent", author_name="乌云其木格", region_code="150600", body="已核实，请重新上传。", uid=uid)
    again = services.record_reply(order, side="competent", author_name="乌云其木格", region_code="150600", body="重复投递", uid=uid)
    assert reply.pk == again.pk and WorkOrderReply.objects.count() == 1
    order.refresh_from_db()
    assert order.status == WorkOrder.ANSWERED
    with pytest.raises(DomainError, match="请填写答复内容"):
        services.record_reply(order, side="competent", author_name="乌云其木格", region_code="150600", body=" ")
    clerk, _ = staff_factory("clerk", "371327")
    services.close_problem(order, clerk)
    order.refresh_from_db()
    assert order.status == WorkOrder.CLOSED and order.closed_by_name
    # a late reply from the other node is kept, the report stays closed
    services.record_reply(order, side="competent", author_name="乌云其木格", region_code="150600", body="补充说明")
    order.refresh_from_db()
    assert order.status == WorkOrder.CLOSED and order.replies.count() == 2


def test_close_needs_a_handler_who_reads_it(staff_factory):
    order = report()
    elsewhere, _ = staff_factory("clerk", "440300")
    supervisor, _ = staff_factory("supervisor", "371327")
    for user in (elsewhere, supervisor):
        with pytest.raises(PermissionDenied):
            services.close_problem(order, user)


def test_who_reads_work_orders(case_world, staff_factory):
    world = case_world()
    case = world.submitted_case()
    order = report(case, region_code="320302")  # raised by a receiving window in 徐州市鼓楼区
    services.record_reply(order, side="competent", author_name="审批人", region_code="371327", body="收到")
    visible = lambda user: filter_queryset(WorkOrder.objects.all(), user).filter(pk=order.pk).exists()  # noqa: E731
    replies = lambda user: filter_queryset(WorkOrderReply.objects.all(), user).filter(work_order=order).count()  # noqa: E731
    assert visible(world.clerk) and visible(world.approver) and replies(world.clerk) == 1
    receiving, _ = staff_factory("clerk", "320302")
    assert visible(receiving) and replies(receiving) == 1  # the side that raised it
    stranger, _ = staff_factory("clerk", "440300")
    assert not visible(stranger) and replies(stranger) == 0
    assert not visible(world.applicant.user)  # the applicant reads the case, not the offices' reports about it
    from django.contrib.auth.models import AnonymousUser

    assert not visible(AnonymousUser())
