"""咨询投诉建议: routing each way, deadlines in working days, reply → rating → reopen once, the 12345
hotline push (key, region, idempotency, bad payload), escalation once, permissions and masking."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse
from django.utils import timezone

from tests.conftest import applicant_client, make_applicant, make_department, make_implementation, make_item
from tongban.applicants.models import OutboundSms
from tongban.cases.models import Message
from tongban.inquiries import services, tasks
from tongban.inquiries.models import HotlineClient, Inquiry, InquiryStep, Status

pytestmark = pytest.mark.django_db
NEW = "/inquiries/new/"
HOTLINE = "/api/v1/inquiries/hotline"


def _post(client, **over):
    data = {"kind": "consult", "title": "如何办理", "content": "请问需要哪些材料？", "region_code": "371327"}
    data.update(over)
    return client.post(NEW, data)


def _hotline(region="371300"):
    client, key = services.create_hotline_client("临沂市12345热线", region)
    return client, {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _ticket(**over):
    data = {"ticket_no": "LY20261123-0001", "kind": "complaint", "title": "窗口办事排队久", "content": "在莒南县政务服务大厅排队两小时",
            "caller_name": "王五", "caller_phone": "13912345678", "region_code": "371327", "occurred_at": "2026-11-20T09:30:00+08:00"}
    data.update(over)
    return data


def _push(client, headers, **over):
    return client.post(HOTLINE, json.dumps(_ticket(**over)), content_type="application/json", **headers)


# --- routing ----------------------------------------------------------------------------------------

def test_routed_by_own_case_to_its_department(case_world):
    w = case_world()
    case = w.submitted_case()
    response = _post(w.client, case=str(case.pk), region_code="")
    inquiry = Inquiry.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("my_inquiries:detail", args=[inquiry.pk])
    assert (inquiry.department, inquiry.routed_by, inquiry.status, inquiry.case) == (w.department, "case", Status.ASSIGNED, case)
    assert inquiry.applicant == w.applicant and inquiry.inquirer_phone == w.applicant.phone
    assert Message.objects.filter(recipient=w.clerk, title__contains="待办理").exists()


def test_someone_elses_case_is_refused_and_nothing_written(case_world):
    w = case_world()
    case = w.submitted_case()
    other = applicant_client(make_applicant("李四", phone="13700000009"))
    response = _post(other, case=str(case.pk))
    assert response.status_code == 422 and "只能关联本人" in response.content.decode()
    assert not Inquiry.objects.exists()


def test_routed_by_item_and_region_to_the_implementing_department(client):
    dept = make_department("371327", "莒南县人力资源和社会保障局")
    item = make_item("城乡居民养老保险待遇申领", "000112345000")
    make_implementation(item, dept)
    make_department("371327", "莒南县政务服务管理办公室")
    assert _post(client, item="000112345000", phone="13800001111").status_code == 200
    inquiry = Inquiry.objects.get()
    assert (inquiry.department, inquiry.routed_by, inquiry.item) == (dept, "item", item)


def test_routed_to_the_regions_service_administration_department(client):
    admin_dept = make_department("371327", "莒南县政务服务管理办公室")
    make_department("371327", "莒南县公安局")
    response = _post(client, item="没有这个事项", phone="13800001111")
    assert response.status_code == 200 and "已收到" in response.content.decode()
    inquiry = Inquiry.objects.get()
    assert (inquiry.department, inquiry.routed_by, inquiry.item, inquiry.item_text) == (admin_dept, "region", None, "没有这个事项")


def test_without_any_department_it_waits_for_manual_assignment(client, staff_factory):
    general, general_client = staff_factory("clerk", "371302")
    _post(client, region_code="371302", phone="13800001111")
    inquiry = Inquiry.objects.get()
    assert inquiry.status == Status.RECEIVED and inquiry.department is None and inquiry.routed_by == "manual"
    assert Message.objects.filter(recipient=general, title__contains="待分派").exists()
    dept = make_department("371302", "兰山区卫生健康局")
    page = general_client.get(reverse("inquiries_workbench:detail", args=[inquiry.pk]))
    assert page.status_code == 200 and "兰山区卫生健康局" in page.content.decode()
    response = general_client.post(reverse("inquiries_workbench:act", args=[inquiry.pk, "assign"]), {"department": dept.pk})
    assert response.status_code == 302
    inquiry.refresh_from_db()
    assert (inquiry.status, inquiry.department, inquiry.routed_by) == (Status.ASSIGNED, dept, "manual")
    assert list(inquiry.steps.values_list("action", flat=True)) == ["submit", "assign"]


def test_assigning_to_a_department_of_another_region_is_refused(client, staff_factory):
    _, general_client = staff_factory("clerk", "371302")
    _post(client, region_code="371302", phone="13800001111")
    inquiry = Inquiry.objects.get()
    far = make_department("150602", "鄂尔多斯东胜区民政局")
    response = general_client.post(reverse("inquiries_workbench:act", args=[inquiry.pk, "assign"]), {"department": far.pk})
    assert response.status_code == 422 and "承办部门" in response.content.decode()
    inquiry.refresh_from_db()
    assert inquiry.department is None and inquiry.steps.count() == 1


# --- deadlines --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "due"), [("consult", "2026-11-25"), ("complaint", "2026-11-27"), ("suggestion", "2026-12-04")])
def test_deadline_in_working_days_per_kind(client, monkeypatch, kind, due):
    # Friday 20 November 2026: the weekend is not counted.
    friday = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    monkeypatch.setattr(timezone, "now", lambda: friday)
    _post(client, kind=kind, phone="13800001111")
    assert Inquiry.objects.get().due_date == datetime.date.fromisoformat(due)


def test_deadline_days_are_a_setting(client, settings, monkeypatch):
    friday = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    monkeypatch.setattr(timezone, "now", lambda: friday)
    settings.TONGBAN_INQUIRY_REPLY_DAYS = "consult=1"
    _post(client, kind="consult", phone="13800001111")
    assert Inquiry.objects.get().due_date == datetime.date(2026, 11, 23)


# --- portal input -----------------------------------------------------------------------------------

def test_bad_portal_input_is_422_in_chinese_and_writes_nothing(client):
    assert _post(client, title="", phone="13800001111").status_code == 422
    bad_kind = _post(client, kind="praise", phone="13800001111")
    assert bad_kind.status_code == 422 and "请选择类别" in bad_kind.content.decode()
    bad_phone = _post(client, phone="12345")
    assert bad_phone.status_code == 422 and "电话号码格式不正确" in bad_phone.content.decode()
    bad_region = _post(client, region_code="999999", phone="13800001111")
    assert bad_region.status_code == 422 and "不存在" in bad_region.content.decode()
    assert not Inquiry.objects.exists() and not InquiryStep.objects.exists()


def test_anonymous_submissions_are_rate_limited_per_address(client):
    for _ in range(services.PORTAL_LIMIT_ANONYMOUS):
        assert _post(client, phone="13800001111").status_code == 200
    response = _post(client, phone="13800001111")
    assert response.status_code == 429 and "过于频繁" in response.content.decode()
    assert Inquiry.objects.count() == services.PORTAL_LIMIT_ANONYMOUS


# --- reply, rating, reopening -----------------------------------------------------------------------

def test_reply_then_unsatisfied_reopens_once_then_closes(case_world, django_capture_on_commit_callbacks):
    w = case_world()
    case = w.submitted_case()
    _post(w.client, case=str(case.pk))
    inquiry = Inquiry.objects.get()
    detail = reverse("my_inquiries:detail", args=[inquiry.pk])
    act = reverse("inquiries_workbench:act", args=[inquiry.pk, "reply"])
    assert w.client.post(detail, {"satisfaction": "satisfied"}).status_code == 409  # nothing to rate yet

    with django_capture_on_commit_callbacks(execute=True):
        assert w.clerk_client.post(act, {"body": "需要身份证和申请表。"}).status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.status == Status.REPLIED
    assert Message.objects.filter(recipient=w.applicant.user, title__contains="已答复").exists()
    assert OutboundSms.objects.filter(phone=w.applicant.phone, text__contains="已答复").exists()
    assert "需要身份证和申请表" in w.client.get(detail).content.decode()

    assert w.client.post(detail, {"satisfaction": "unsatisfied", "comment": "没说清楚"}).status_code == 302
    inquiry.refresh_from_db()
    assert (inquiry.status, inquiry.reopen_count, inquiry.satisfaction) == (Status.ASSIGNED, 1, "unsatisfied")
    assert Message.objects.filter(recipient=w.clerk, title__contains="重新办理").exists()

    assert w.approver_client.post(act, {"body": "补充：还需户口簿。"}).status_code == 302
    assert w.client.post(detail, {"satisfaction": "unsatisfied"}).status_code == 302
    inquiry.refresh_from_db()
    assert (inquiry.status, inquiry.reopen_count, inquiry.satisfaction) == (Status.CLOSED, 1, "unsatisfied")
    assert inquiry.replies.count() == 2
    assert w.client.post(detail, {"satisfaction": "satisfied"}).status_code == 409
    assert list(inquiry.steps.values_list("action", flat=True)) == ["submit", "route", "reply", "rate", "reply", "rate"]
    # The history reads in order: each step starts where the one before it ended.
    steps = list(inquiry.steps.order_by("seq").values_list("status_from", "status_to"))
    assert steps[0] == ("", Status.RECEIVED) and steps[1] == (Status.RECEIVED, Status.ASSIGNED)
    assert all(prev[1] == nxt[0] for prev, nxt in zip(steps, steps[1:]))


def test_satisfied_closes_and_bad_rating_value_is_422(case_world):
    w = case_world()
    case = w.submitted_case()
    _post(w.client, case=str(case.pk))
    inquiry = Inquiry.objects.get()
    services.reply(w.clerk, inquiry.pk, "已处理")
    detail = reverse("my_inquiries:detail", args=[inquiry.pk])
    assert w.client.post(detail, {"satisfaction": "great"}).status_code == 422
    assert w.client.post(detail, {"satisfaction": "basic"}).status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.status == Status.CLOSED and inquiry.satisfaction == "basic"


def test_only_the_assigned_department_replies_and_others_cannot_rate(case_world, staff_factory):
    w = case_world()
    case = w.submitted_case()
    _post(w.client, case=str(case.pk))
    inquiry = Inquiry.objects.get()
    _, other_dept_client = staff_factory("clerk", "371327", make_department("371327", "莒南县公安局"))
    response = other_dept_client.post(reverse("inquiries_workbench:act", args=[inquiry.pk, "reply"]), {"body": "越权答复"})
    assert response.status_code == 404  # not even visible to another department
    services.reply(w.clerk, inquiry.pk, "已处理")
    stranger = applicant_client(make_applicant("李四", phone="13700000009"))
    assert stranger.post(reverse("my_inquiries:detail", args=[inquiry.pk]), {"satisfaction": "unsatisfied"}).status_code == 404
    inquiry.refresh_from_db()
    assert inquiry.status == Status.REPLIED and inquiry.replies.count() == 1


def test_staff_close_after_reply(case_world):
    w = case_world()
    case = w.submitted_case()
    _post(w.client, case=str(case.pk))
    inquiry = Inquiry.objects.get()
    close = reverse("inquiries_workbench:act", args=[inquiry.pk, "close"])
    assert w.clerk_client.post(close, {"note": ""}).status_code == 409
    services.reply(w.clerk, inquiry.pk, "已处理")
    assert w.clerk_client.post(close, {"note": "提出人未评价"}).status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.status == Status.CLOSED


# --- 12345 hotline ----------------------------------------------------------------------------------

def test_hotline_client_command_prints_the_key_once_and_stores_its_digest():
    out = StringIO()
    call_command("hotline_client_create", "临沂市12345热线", "--region", "371300", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    client = HotlineClient.objects.get()
    assert key.startswith("th_") and key not in (client.key_hash, client.key_prefix)
    assert services.authenticate_hotline(key) == client
    assert services.authenticate_hotline(key[:-1] + ("A" if key[-1] != "A" else "B")) is None


def test_hotline_push_creates_one_inquiry_and_is_idempotent(client):
    dept = make_department("371327", "莒南县政务服务管理办公室")
    _, headers = _hotline()
    first = _push(client, headers)
    assert first.status_code == 201, first.content.decode()
    body = first.json()
    assert body["status"] == "assigned" and body["department"] == dept.name and body["duplicate"] is False
    again = _push(client, headers, title="改了标题")
    assert again.status_code == 200 and again.json()["inquiry_no"] == body["inquiry_no"] and again.json()["duplicate"] is True
    inquiry = Inquiry.objects.get()
    assert (inquiry.source, inquiry.kind, inquiry.title, inquiry.hotline_ticket_no) == ("hotline", "complaint", "窗口办事排队久", "LY20261123-0001")
    assert inquiry.occurred_at == datetime.datetime(2026, 11, 20, 1, 30, tzinfo=datetime.UTC)


def test_hotline_wrong_or_missing_key_is_401(client):
    _hotline()
    wrong = _push(client, {"HTTP_AUTHORIZATION": "Bearer th_00000000_" + "x" * 43})
    assert wrong.status_code == 401 and "密钥无效" in wrong.json()["detail"]
    assert _push(client, {}).status_code == 401
    assert client.get(f"{HOTLINE}/LY1").status_code == 401
    assert not Inquiry.objects.exists()


def test_hotline_inactive_key_is_401(client):
    hotline, headers = _hotline()
    HotlineClient.objects.filter(pk=hotline.pk).update(is_active=False)
    assert _push(client, headers).status_code == 401


def test_hotline_other_regions_code_is_refused(client):
    _, headers = _hotline()
    response = _push(client, headers, region_code="150602")
    assert response.status_code == 403 and "受理范围" in response.json()["detail"]
    assert not Inquiry.objects.exists()


@pytest.mark.parametrize(("over", "field"), [
    ({"kind": "praise"}, "kind"), ({"title": ""}, "title"), ({"caller_phone": "abc1234"}, "caller_phone"),
    ({"region_code": "99999999"}, "region_code"), ({"occurred_at": "昨天"}, "occurred_at"), ({"unknown": 1}, "unknown"),
    ({"ticket_no": "含 空格"}, "ticket_no"), ({"occurred_at": "2099-01-01T00:00:00+08:00"}, "occurred_at"),
])
def test_hotline_bad_payload_is_422_in_chinese(client, over, field):
    _, headers = _hotline()
    response = _push(client, headers, **over)
    assert response.status_code == 422, response.content.decode()
    body = response.json()
    assert field in body["detail"] or any(e["field"] == field for e in body.get("errors", []))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"])
    assert not Inquiry.objects.exists()


def test_hotline_fetches_status_and_replies_of_its_own_tickets_only(client, staff_factory):
    dept = make_department("371327", "莒南县政务服务管理办公室")
    clerk, _ = staff_factory("clerk", "371327", dept)
    _, headers = _hotline()
    _push(client, headers)
    services.reply(clerk, Inquiry.objects.get().pk, "已协调增开窗口。")
    response = client.get(f"{HOTLINE}/LY20261123-0001", **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "replied" and body["replies"][0]["body"] == "已协调增开窗口。" and body["replies"][0]["department"] == dept.name
    assert [s["label"] for s in body["steps"]][-1].endswith("答复")
    _, other_headers = _hotline("371300")
    assert client.get(f"{HOTLINE}/LY20261123-0001", **other_headers).status_code == 404


# --- escalation -------------------------------------------------------------------------------------

def test_overdue_inquiry_is_escalated_once_to_the_parent_regions_supervisors(client, staff_factory):
    dept = make_department("371327", "莒南县政务服务管理办公室")
    supervisor, supervisor_client = staff_factory("supervisor", "371300")
    county_supervisor, _ = staff_factory("supervisor", "371327")
    _post(client, phone="13800001111")
    inquiry = Inquiry.objects.get()
    today = inquiry.due_date + datetime.timedelta(days=1)
    assert services.escalate_overdue(inquiry.due_date) == 0  # due today: not overdue yet
    assert tasks.run_scan(today) == 1
    assert tasks.run_scan(today) == 0
    inquiry.refresh_from_db()
    assert inquiry.status == Status.ESCALATED and inquiry.department == dept
    assert inquiry.steps.filter(action="escalate").count() == 1
    assert Message.objects.filter(recipient=supervisor, title__contains="超期督办").count() == 1
    assert not Message.objects.filter(recipient=county_supervisor, title__contains="超期督办").exists()
    listing = supervisor_client.get(reverse("inquiries_workbench:list") + "?status=escalated")
    assert listing.status_code == 200 and inquiry.inquiry_no in listing.content.decode()


def test_reopened_inquiry_can_be_escalated_again_for_its_new_deadline(case_world):
    w = case_world()
    case = w.submitted_case()
    _post(w.client, case=str(case.pk))
    inquiry = Inquiry.objects.get()
    assert services.escalate_overdue(inquiry.due_date + datetime.timedelta(days=1)) == 1
    services.reply(w.clerk, inquiry.pk, "已处理")
    services.rate(w.applicant.user, inquiry.pk, "unsatisfied")
    inquiry.refresh_from_db()
    assert inquiry.status == Status.ASSIGNED
    later = inquiry.due_date + datetime.timedelta(days=1)
    assert services.escalate_overdue(later) == 1 and services.escalate_overdue(later) == 0
    assert inquiry.steps.filter(action="escalate").count() == 2


def test_schedule_command_enqueues_once():
    from django_tasks_db.models import DBTaskResult

    from tongban.inquiries.management.commands.schedule_inquiry_scan import TASK_PATH

    call_command("schedule_inquiry_scan", stdout=StringIO())
    out = StringIO()
    call_command("schedule_inquiry_scan", stdout=out)
    assert "未重复加入" in out.getvalue()
    assert DBTaskResult.objects.filter(task_path=TASK_PATH).count() == 1


# --- permissions and masking ------------------------------------------------------------------------

def test_another_countys_staff_see_nothing(client, staff_factory):
    make_department("371327", "莒南县政务服务管理办公室")
    _post(client, phone="13800001111")
    inquiry = Inquiry.objects.get()
    _, other = staff_factory("clerk", "371302")
    listing = other.get(reverse("inquiries_workbench:list"))
    assert listing.status_code == 200 and inquiry.inquiry_no not in listing.content.decode()
    assert other.get(reverse("inquiries_workbench:detail", args=[inquiry.pk])).status_code == 404
    assert other.post(reverse("inquiries_workbench:act", args=[inquiry.pk, "reply"]), {"body": "x"}).status_code == 404
    _, other_supervisor = staff_factory("supervisor", "371302")
    assert inquiry.inquiry_no not in other_supervisor.get(reverse("inquiries_workbench:list")).content.decode()


def test_workbench_list_masks_phones_and_filters(client, staff_factory):
    dept = make_department("371327", "莒南县政务服务管理办公室")
    _, clerk_client = staff_factory("clerk", "371327", dept)
    _post(client, phone="13812345678")
    _post(client, kind="suggestion", title="建议增加自助机", phone="13812345678")
    html = clerk_client.get(reverse("inquiries_workbench:list")).content.decode()
    assert "138****5678" in html and "13812345678" not in html
    detail = clerk_client.get(reverse("inquiries_workbench:detail", args=[Inquiry.objects.first().pk])).content.decode()
    assert "13812345678" not in detail
    only = clerk_client.get(reverse("inquiries_workbench:list") + "?kind=suggestion").content.decode()
    assert "建议增加自助机" in only and "如何办理" not in only
    Inquiry.objects.filter(kind="consult").update(due_date=timezone.localdate() - datetime.timedelta(days=1))
    overdue = clerk_client.get(reverse("inquiries_workbench:list") + "?overdue=1").content.decode()
    assert "如何办理" in overdue and "建议增加自助机" not in overdue


def test_my_inquiries_lists_only_ones_own(case_world):
    w = case_world()
    _post(w.client)
    other = make_applicant("李四", phone="13700000009")
    other_client = applicant_client(other)
    _post(other_client, title="别人的咨询")
    mine = w.client.get(reverse("my_inquiries:list")).content.decode()
    assert "如何办理" in mine and "别人的咨询" not in mine
    theirs = Inquiry.objects.get(applicant=other)
    assert w.client.get(reverse("my_inquiries:detail", args=[theirs.pk])).status_code == 404


def test_steps_are_append_only():
    region_dept = make_department("371327", "莒南县政务服务管理办公室")
    inquiry = services.submit_portal(None, {"kind": "consult", "title": "t", "content": "c", "region_code": "371327", "phone": "13800001111"})
    assert inquiry.department == region_dept
    step = inquiry.steps.first()
    with pytest.raises(PermissionError):
        step.save()
    with pytest.raises(PermissionError):
        InquiryStep.objects.filter(pk=step.pk).update(label="改")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE inquiries_inquirystep SET label = 'x' WHERE id = %s", [step.pk])


def test_anonymous_inquirer_reads_the_reply_by_number_and_phone_tail(client, staff_factory, django_capture_on_commit_callbacks):
    dept = make_department("371327", "莒南县政务服务管理办公室")
    clerk, _ = staff_factory("clerk", "371327", dept)
    _post(client, name="赵六", phone="13812345678")
    inquiry = Inquiry.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(clerk, inquiry.pk, "请携带身份证到3号窗口。")
    sms = OutboundSms.objects.get(phone="13812345678", text__contains="已答复")
    assert "请携带身份证" in sms.text and "请登录" not in sms.text
    query = reverse("inquiries:query")
    found = client.post(query, {"inquiry_no": inquiry.inquiry_no, "tail": "345678"})
    html = found.content.decode()
    assert found.status_code == 200 and "请携带身份证到3号窗口" in html and "已答复" in html
    assert "13812345678" not in html and "赵六" not in html and clerk.username not in html
    wrong = client.post(query, {"inquiry_no": inquiry.inquiry_no, "tail": "000000"})
    assert wrong.status_code == 404 and "请携带身份证" not in wrong.content.decode()
    assert client.post(query, {"inquiry_no": inquiry.inquiry_no, "tail": "12"}).status_code == 422


def test_admin_lists_inquiries_read_only_with_masked_phones(client, staff_factory):
    make_department("371327", "莒南县政务服务管理办公室")
    _post(client, phone="13812345678")
    _, admin_client = staff_factory("platform_admin", "000000")
    listing = admin_client.get("/admin/inquiries/inquiry/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "138****5678" in html and "13812345678" not in html
    change = admin_client.get(f"/admin/inquiries/inquiry/{Inquiry.objects.get().pk}/change/")
    assert change.status_code == 200 and "13812345678" not in change.content.decode()
    assert admin_client.get("/admin/inquiries/hotlineclient/").status_code == 200


def test_form_offers_only_own_cases_and_the_case_page_links_to_it(case_world, client):
    w = case_world()
    case = w.submitted_case()
    other = case_world()
    other_case = other.submitted_case()
    html = w.client.get(f"{NEW}?case={case.pk}").content.decode()
    assert f'<option value="{case.pk}" selected>' in html and other_case.case_no not in html
    assert f"{NEW}?case={case.pk}" in w.client.get(reverse("portal:my-case", args=[case.pk])).content.decode()
    anonymous = client.get(NEW).content.decode()
    assert 'name="phone"' in anonymous and 'name="case"' not in anonymous
