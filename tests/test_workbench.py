"""The staff workbench: queue, case page with its actions, messages; scope and sign-in rules."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tongban.cases.models import Case, Delivery, Message, Supplement
from tongban.core.workdays import add_working_days
from tongban.workbench.queues import queue_queryset

pytestmark = pytest.mark.django_db

QUEUE = "/workbench/queue/"


def detail(case):
    return f"/workbench/cases/{case.pk}/"


def act(case, action):
    return f"/workbench/cases/{case.pk}/act/{action}/"


def html(response):
    return response.content.decode()


def past_due():
    """A due date whose deadline is red on any day of the week (yesterday may be a weekend)."""
    today = timezone.localdate()
    return min(today - datetime.timedelta(days=1), add_working_days(today, -1).value)


def test_clerk_queue_lists_submitted_case_masked(case_world):
    w = case_world()
    case = w.submitted_case()
    r = w.clerk_client.get(QUEUE)
    assert r.status_code == 200
    body = html(r)
    assert case.case_no in body and case.masked_code in body
    assert case.applicant_code not in body  # never the full ID number in a list
    assert "待受理" in body and "未开始计时" in body
    assert f'href="/workbench/cases/{case.pk}/"' in body
    # the root of the workbench leads to the queue; the detail has the intake actions
    assert w.clerk_client.get("/workbench/")["Location"] == QUEUE
    body = html(w.clerk_client.get(detail(case)))
    for text in ("受理", "要求补齐补正", "不予受理", w.version.name, case.contact_phone):
        assert text in body
    assert case.applicant_code not in body


def test_queue_filters(case_world):
    w = case_world()
    case = w.submitted_case()
    c = w.clerk_client
    assert case.case_no in html(c.get(QUEUE, {"case_no": case.case_no}))
    assert case.case_no not in html(c.get(QUEUE, {"case_no": "371327-X"}))
    assert case.case_no in html(c.get(QUEUE, {"item": w.version.name[2:6]}))
    assert case.case_no not in html(c.get(QUEUE, {"item": "没有这个事项"}))
    assert case.case_no in html(c.get(QUEUE, {"applicant": "张"}))
    assert case.case_no not in html(c.get(QUEUE, {"applicant": "李四"}))
    assert case.case_no in html(c.get(QUEUE, {"status": "submitted"}))
    assert case.case_no not in html(c.get(QUEUE, {"status": "concluded"}))
    r = c.get(QUEUE, {"status": "nonsense", "colour": "purple", "page": "x"})  # ignored, not a 500
    assert r.status_code == 200 and case.case_no in html(r)


def test_other_county_clerk_sees_nothing(case_world, staff_factory):
    w = case_world()
    case = w.submitted_case()
    _other, client = staff_factory("clerk", "371302")
    assert case.case_no not in html(client.get(QUEUE))
    assert client.get(detail(case)).status_code == 404
    assert client.post(act(case, "accept")).status_code == 404
    case.refresh_from_db()
    assert case.status == "submitted"


def test_accept_via_post(case_world):
    w = case_world()
    case = w.submitted_case()
    r = w.clerk_client.post(act(case, "accept"), {"opinion": "材料齐全"})
    assert r.status_code == 302 and r["Location"] == detail(case)
    case.refresh_from_db()
    assert case.status == "accepted" and case.due_date
    body = html(w.clerk_client.get(r["Location"]))
    assert f"已受理：办件{case.case_no}" in body  # the success message
    assert "材料齐全" in body  # the opinion in the timeline
    assert "窗口受理人员" in body and "已收件（待受理） → 已受理" in body


def test_request_supplement_lists_everything_at_once(case_world):
    w = case_world()
    case = w.submitted_case()
    m1, m2 = w.materials
    # a ticked material without its problem: refused, nothing written
    r = w.clerk_client.post(act(case, "request_supplement"), {"sup_material": [m1.pk]})
    assert r.status_code == 422 and "请写明材料名称和存在的问题" in html(r)
    assert not Supplement.objects.filter(case=case).exists()
    r = w.clerk_client.post(act(case, "request_supplement"), {
        "sup_material": [m1.pk, m2.pk], f"sup_problem_{m1.pk}": "缺少签名", f"sup_problem_{m2.pk}": "照片不清晰",
        "sup_other_name_1": "", "sup_other_problem_1": "", "opinion": "请一并补齐",
    })
    assert r.status_code == 302
    supplement = Supplement.objects.get(case=case)
    assert [(i["name"], i["problem"]) for i in supplement.items] == [(m1.name, "缺少签名"), (m2.name, "照片不清晰")]
    assert supplement.note == "请一并补齐"
    case.refresh_from_db()
    assert case.status == "supplement"
    body = html(w.clerk_client.get(detail(case)))
    assert "缺少签名" in body and "照片不清晰" in body
    assert "当前没有您可以办理的操作" in body  # 待补正 is read-only for the clerk
    assert "待补正" in html(w.clerk_client.get(QUEUE))


def test_request_supplement_with_a_free_row(case_world):
    w = case_world()
    case = w.submitted_case()
    r = w.clerk_client.post(act(case, "request_supplement"), {"sup_other_name_1": "委托书", "sup_other_problem_1": "需补充授权委托书"})
    assert r.status_code == 302
    assert Supplement.objects.get(case=case).items == [{"material_id": None, "name": "委托书", "problem": "需补充授权委托书"}]


def test_approver_sees_case_after_acceptance(case_world):
    w = case_world()
    case = w.submitted_case()
    assert case.case_no not in html(w.approver_client.get(QUEUE))
    w.clerk_client.post(act(case, "accept"))
    body = html(w.approver_client.get(QUEUE))
    assert case.case_no in body and "待审查" in body
    body = html(w.approver_client.get(detail(case)))
    assert "准予许可" in body and "不予许可" in body and "启动特别程序" in body


def test_approve_conclude_deliver_by_mail(case_world):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    r = w.approver_client.post(act(case, "approve"), {"result_name": "测试许可证", "certificate_no": "XK-001"})
    assert r.status_code == 302
    assert w.clerk_client.post(act(case, "conclude")).status_code == 302
    case.refresh_from_db()
    assert case.status == "concluded" and case.certificate_no == "XK-001"
    assert "待送达" in html(w.clerk_client.get(QUEUE))
    # mail without a tracking number: 422 with the message, nothing recorded
    r = w.clerk_client.post(act(case, "deliver"), {"method": "mail", "courier": "中国邮政EMS", "tracking_no": ""})
    assert r.status_code == 422
    body = html(r)
    assert "邮寄送达请填写快递公司和快递单号" in body and "中国邮政EMS" in body  # what was typed stays
    case.refresh_from_db()
    assert case.status == "concluded" and not Delivery.objects.filter(case=case).exists()
    r = w.clerk_client.post(act(case, "deliver"), {"method": "mail", "courier": "中国邮政EMS", "tracking_no": "EM123456789CN"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == "delivered"
    body = html(w.clerk_client.get(detail(case)))
    assert "EM123456789CN" in body and "受理通知书" in body and "/cases/" in body


def test_approving_a_refused_case_is_a_conflict(case_world):
    w = case_world()
    case = w.submitted_case()
    r = w.clerk_client.post(act(case, "refuse_intake"), {"opinion": ""})
    assert r.status_code == 422 and "请填写不予受理理由" in html(r)
    assert w.clerk_client.post(act(case, "refuse_intake"), {"opinion": "不属于本部门职权范围"}).status_code == 302
    r = w.approver_client.post(act(case, "approve"))
    assert r.status_code == 409
    assert "办件当前状态为“不予受理”，不能准予许可" in html(r)
    case.refresh_from_db()
    assert case.status == "refused"


def test_second_approver_is_told_someone_else_acted(case_world, staff_factory):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    _b, client_b = staff_factory("approver", "371327", w.department)
    page_b = html(client_b.get(detail(case)))  # B opens the case while it is still open
    assert "准予许可" in page_b
    assert w.approver_client.post(act(case, "approve")).status_code == 302  # A acts first
    r = client_b.post(act(case, "approve"), {"opinion": "同意"})
    assert r.status_code == 409 and "已被他人处理" in html(r)
    case.refresh_from_db()
    assert case.status == "approved"


def test_wrong_role_is_forbidden_with_a_message(case_world):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    r = w.clerk_client.post(act(case, "approve"))
    assert r.status_code == 403 and "您无权对该办件执行“准予许可”" in html(r)
    assert w.clerk_client.post(act(case, "no_such_action")).status_code == 404
    assert w.clerk_client.get(act(case, "accept")).status_code == 405


def test_review_steps_of_a_bpmn_process(case_world):
    w = case_world(steps=[{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}])
    case = w.submitted_case()
    w.act(case, "accept")
    body = html(w.approver_client.get(detail(case)))
    assert "当前审查环节" in body and "审核" in body
    assert act(case, "review") in body and act(case, "approve") not in body
    assert "审查环节尚未全部完成" in body
    r = w.approver_client.post(act(case, "review"), {"result": "pass", "opinion": ""})
    assert r.status_code == 422 and "请填写审查意见" in html(r)
    assert w.approver_client.post(act(case, "review"), {"result": "pass", "opinion": "材料真实有效"}).status_code == 302
    body = html(w.approver_client.get(detail(case)))
    assert "审批" in body and act(case, "review") in body
    assert w.approver_client.post(act(case, "review"), {"result": "pass", "opinion": "同意"}).status_code == 302
    body = html(w.approver_client.get(detail(case)))
    assert act(case, "review") not in body and act(case, "approve") in body
    case.refresh_from_db()
    assert case.status == "under_review"


def test_special_procedure_pauses_the_clock(case_world):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    r = w.approver_client.post(act(case, "start_special"), {"kind": "hearing", "opinion": ""})
    assert r.status_code == 422 and "请填写启动理由" in html(r)
    assert w.approver_client.post(act(case, "start_special"), {"kind": "hearing", "opinion": "涉及重大公共利益"}).status_code == 302
    body = html(w.approver_client.get(detail(case)))
    assert "deadline-paused" in body and "计时暂停" in body and "听证" in body
    assert "deadline-paused" in html(w.approver_client.get(QUEUE))
    assert w.approver_client.post(act(case, "end_special"), {"opinion": "听证通过"}).status_code == 302
    case.refresh_from_db()
    assert case.status == "under_review"


def test_deadline_badge_colours(case_world, settings):
    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    Case.objects.filter(pk=case.pk).update(due_date=past_due())
    for page in (detail(case), QUEUE):
        body = html(w.approver_client.get(page))
        assert "deadline-red" in body and "已超期" in body
    Case.objects.filter(pk=case.pk).update(due_date=add_working_days(timezone.localdate(), 1).value)
    body = html(w.approver_client.get(detail(case)))
    assert "deadline-yellow" in body and "即将到期" in body
    Case.objects.filter(pk=case.pk).update(due_date=add_working_days(timezone.localdate(), settings.TONGBAN_DEADLINE_YELLOW_DAYS + 5).value)
    assert "deadline-green" in html(w.approver_client.get(detail(case)))
    Case.objects.filter(pk=case.pk).update(calendar_warning="2041年的节假日安排尚未录入")
    assert "日历提示：2041年的节假日安排尚未录入" in html(w.approver_client.get(detail(case)))


def test_queue_queryset_filters_by_colour(case_world):
    w = case_world()
    red, yellow, green = w.submitted_case(), w.submitted_case(), w.submitted_case()
    waiting = w.submitted_case()  # not accepted: no deadline yet, listed last
    today = timezone.localdate()
    for case, due in ((red, past_due()), (yellow, today), (green, add_working_days(today, 10).value)):
        w.act(case, "accept")
        Case.objects.filter(pk=case.pk).update(due_date=due)
    assert [c.pk for c in queue_queryset(w.approver, {"colour": "red"})] == [red.pk]
    assert [c.pk for c in queue_queryset(w.approver, {"colour": "yellow"})] == [yellow.pk]
    assert [c.pk for c in queue_queryset(w.approver, {"colour": "green"})] == [green.pk]
    assert [c.pk for c in queue_queryset(w.clerk, {})] == [waiting.pk]  # the clerk's 待受理
    assert [c.pk for c in queue_queryset(w.approver, {})] == [red.pk, yellow.pk, green.pk]
    body = html(w.approver_client.get(QUEUE, {"colour": "red"}))
    assert red.case_no in body and green.case_no not in body


def test_queue_page_is_one_query_for_the_rows(case_world):
    w = case_world()
    cases = [w.submitted_case() for _ in range(3)]
    w.clerk_client.get(QUEUE)  # warm the calendar

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert w.clerk_client.get(QUEUE).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    cases += [w.submitted_case() for _ in range(4)]
    assert count() == few


def test_queue_paginates(case_world, monkeypatch):
    from tongban.workbench import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    w = case_world()
    cases = [w.submitted_case() for _ in range(3)]
    first = html(w.clerk_client.get(QUEUE))
    assert "共 <strong class=\"total\">3</strong> 件" in first and "下一页" in first
    second = html(w.clerk_client.get(QUEUE, {"page": 2}))
    assert cases[2].case_no in second and cases[0].case_no not in second and "上一页" in second and "下一页" not in second
    assert 'aria-current="page">2</span>' in second and "?page=1" in second


def test_supervisor_reads_but_cannot_act(case_world, staff_factory):
    w = case_world()
    case = w.submitted_case()
    _s, client = staff_factory("supervisor", "371300")
    assert case.case_no in html(client.get(QUEUE))
    body = html(client.get(detail(case)))
    assert "当前没有您可以办理的操作" in body and act(case, "accept") not in body
    assert client.post(act(case, "accept")).status_code == 403


def test_messages_page(case_world):
    w = case_world()
    case = w.submitted_case()
    Message.objects.create(recipient=w.clerk, case=case, title="办件超期预警", body=f"办件{case.case_no}已超过承诺办结日期")
    Message.objects.create(recipient=w.approver, title="别人的消息", body="不应出现")
    body = html(w.clerk_client.get("/workbench/messages/"))
    assert "办件超期预警" in body and "别人的消息" not in body and "1条未读" in body and "未读" in body
    assert f"/workbench/cases/{case.pk}/" in body
    assert w.clerk_client.post("/workbench/messages/read/").status_code == 302
    assert not Message.objects.filter(recipient=w.clerk, read_at__isnull=True).exists()
    assert "条未读" not in html(w.clerk_client.get(QUEUE))


def test_anonymous_is_sent_to_sign_in(case_world):
    w = case_world()
    case = w.submitted_case()
    for url in (QUEUE, detail(case), "/workbench/messages/"):
        r = Client().get(url)
        assert r.status_code == 302 and r["Location"].startswith("/staff/login/?next=")
    r = Client().post(act(case, "accept"))
    assert r.status_code == 302 and r["Location"].startswith("/staff/login/")
    case.refresh_from_db()
    assert case.status == "submitted"


def test_unverified_session_is_sent_to_sign_in(case_world):
    w = case_world()
    case = w.submitted_case()
    client = Client()
    client.force_login(w.clerk, backend="django.contrib.auth.backends.ModelBackend")  # password only, no TOTP
    r = client.get(QUEUE)
    assert r.status_code == 302 and r["Location"].startswith("/staff/login/")
    r = client.post(act(case, "accept"))
    assert r.status_code == 302 and r["Location"] == f"/staff/login/?next=/workbench/cases/{case.pk}/"  # back to the case, not a GET of the form action
    case.refresh_from_db()
    assert case.status == "submitted"
    # the applicant's own session is not a staff session either
    assert w.client.get(QUEUE).status_code == 302


def test_staff_without_membership_is_sent_to_sign_in(case_world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import verified_client

    case_world()
    user = get_user_model().objects.create_user(username="no_role_staff", password="Tongban-test-2026")
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    assert verified_client(user).get(QUEUE).status_code == 302


def test_case_page_shows_form_materials_and_deferred(case_world):
    from tongban.cases.models import DeferredMaterial
    from tongban.catalog.models import ApplicationForm

    w = case_world()
    ApplicationForm.objects.create(version=w.version, fields=[{"key": "reason", "label": "申请事由", "type": "text"}])
    case = w.submitted_case()
    Case.objects.filter(pk=case.pk).update(form_data={"reason": "新开门店"})
    w.act(case, "accept")
    DeferredMaterial.objects.create(case=case, material=w.materials[1], commitment_text="承诺补交", signed_by="张三",
                                    signed_at=timezone.now(), due_date=timezone.localdate() - datetime.timedelta(days=3))
    body = html(w.approver_client.get(detail(case)))
    assert "申请事由" in body and "新开门店" in body
    assert f'<iframe src="/cases/{case.pk}/materials/' in body  # PDFs preview inline
    assert "身份证明" in body and "已逾期" in body and 'class="overdue"' in body
    assert "受理通知书" in body and f"/cases/{case.pk}/documents/" in body


def test_region_scope_without_department(case_world, staff_factory):
    from tongban.workbench.queues import _prefix_range

    w = case_world()
    case = w.submitted_case()
    w.act(case, "accept")
    prefecture, _c = staff_factory("approver", "371300")  # 临沂市, every department
    neighbour, _c = staff_factory("approver", "371400")  # 德州市
    assert [c.pk for c in queue_queryset(prefecture, {})] == [case.pk]
    assert list(queue_queryset(neighbour, {})) == []
    q = _prefix_range("000000/370000/371300/")
    assert ("region_path__lt", "000000/370000/3713000") in q.children  # the prefix as a range an index can use
