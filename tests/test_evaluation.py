"""好差评: 一事一评 and 追加评价 by the applicant, 一次一评 at a window by a one-time token, the
rectification of bad ratings (回访, 立行立改/限期整改/解释说明, 申诉复核, overdue flags), the national
export and who may read what."""

import csv
import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone
from openpyxl import load_workbook

from tests.conftest import applicant_client, make_applicant, make_department
from tongban.cases.models import Message
from tongban.core.errors import Conflict, DomainError
from tongban.core.workdays import add_working_days
from tongban.directory.models import Hall, Membership, Region, Window
from tongban.evaluation import exporting, services
from tongban.evaluation.models import Evaluation, Rectification, RectificationStep, WindowRatingToken

pytestmark = pytest.mark.django_db


def concluded(w):
    case = w.act(w.submitted_case(), "accept")
    case = w.act(case, "approve", w.approver)
    return w.act(case, "conclude", w.approver)


def rate(client, case, level=5, tags=("整体满意度",), comment="", anonymous=False):
    return client.post(f"/api/v1/evaluations/cases/{case.pk}", data=json.dumps(
        {"level": level, "tags": list(tags), "comment": comment, "anonymous": anonymous}), content_type="application/json")


def bad_rect(w, anonymous=False):
    case = concluded(w)
    ev = services.rate_case(w.applicant.user, case.pk, 1, ["办事效率"], "等了很久", anonymous=anonymous)
    return case, ev, Rectification.objects.get(evaluation=ev)


# --- 一事一评 ------------------------------------------------------------------------------------

def test_applicant_rates_concluded_case_once_second_is_409(case_world):
    w = case_world()
    case = concluded(w)
    r = rate(w.client, case, 5, ["整体满意度", "办事效率"], "很快")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["level_label"] == "非常满意" and body["tags"] == ["整体满意度", "办事效率"] and body["rectification"] is None
    r2 = rate(w.client, case, 4)
    assert r2.status_code == 409 and "一事一评" in r2.json()["detail"]
    assert Evaluation.objects.filter(case=case).count() == 1
    # The case page shows the rating instead of the form.
    page = w.client.get(f"/my/cases/{case.pk}/").content.decode()
    assert "您的评价" in page and "非常满意" in page and "追加评价" in page


def test_case_not_ended_cannot_be_rated(case_world):
    w = case_world()
    case = w.act(w.submitted_case(), "accept")
    r = rate(w.client, case)
    assert r.status_code == 409 and "办结" in r.json()["detail"]
    assert not Evaluation.objects.exists()
    assert "办结或不予受理后" in w.client.get(f"/my/cases/{case.pk}/").content.decode()


def test_only_the_applicant_may_rate(case_world):
    w = case_world()
    case = concluded(w)
    other = applicant_client(make_applicant("李四", phone="13900000009"))
    assert rate(other, case).status_code == 404
    assert rate(w.approver_client, case).status_code == 403
    assert other.post(f"/my/cases/{case.pk}/evaluate/", {"level": "5"}).status_code == 404
    assert not Evaluation.objects.exists()


def test_rating_page_form_posts_and_bad_input_is_422(case_world):
    w = case_world()
    case = concluded(w)
    page = w.client.get(f"/my/cases/{case.pk}/").content.decode()
    assert "提交评价" in page and "平台操作性" in page
    r = w.client.post(f"/my/cases/{case.pk}/evaluate/", {"level": "9"})
    assert r.status_code == 422 and "评价等级" in r.content.decode()
    r = w.client.post(f"/my/cases/{case.pk}/evaluate/", {"level": "4", "tags": ["办事便捷度"], "comment": "好"})
    assert r.status_code == 302
    assert Evaluation.objects.get(case=case).tags == ["办事便捷度"]


def test_tags_must_belong_to_the_channel(case_world):
    w = case_world()
    case = concluded(w)
    r = rate(w.client, case, 5, ["服务态度"])  # a window tag
    assert r.status_code == 422 and "服务态度" in r.json()["detail"]
    assert not Evaluation.objects.exists()
    with pytest.raises(DomainError, match="平台操作性"):
        services.clean_tags("window", ["平台操作性"])


def test_additional_rating_once_and_joins_the_open_rectification(case_world):
    w = case_world()
    case, ev, rect = bad_rect(w)
    r = w.client.post(f"/api/v1/evaluations/{ev.pk}/additional", data=json.dumps({"level": 2, "comment": "仍未解决"}), content_type="application/json")
    assert r.status_code == 201 and r.json()["kind"] == "additional" and r.json()["parent_id"] == ev.pk
    r = w.client.post(f"/api/v1/evaluations/{ev.pk}/additional", data=json.dumps({"level": 5}), content_type="application/json")
    assert r.status_code == 409
    assert Rectification.objects.count() == 1
    assert rect.steps.filter(action="addition").exists()
    other = applicant_client(make_applicant("王五", phone="13900000008"))
    assert other.post(f"/api/v1/evaluations/{ev.pk}/additional", data=json.dumps({"level": 5}), content_type="application/json").status_code == 404


# --- rectification ---------------------------------------------------------------------------------

def test_bad_addition_after_a_closed_rectification_opens_a_new_one(case_world):
    w = case_world()
    _c, ev, rect = bad_rect(w)
    with pytest.raises(Conflict, match="先回访"):
        services.appeal(w.clerk, rect.pk, "误评")
    services.record_callback(w.clerk, rect.pk, True, "属实")
    services.decide(w.clerk, rect.pk, "immediate", "已更正")
    addition = services.add_rating(w.applicant.user, ev.pk, 1, ["办事便捷度"], "又出现同样问题")
    assert Rectification.objects.count() == 2
    assert Rectification.objects.get(evaluation=addition).status == "open"


def test_bad_rating_opens_exactly_one_rectification_for_the_handling_unit(case_world):
    w = case_world()
    case = concluded(w)
    assert rate(w.client, case, 2, ["办事效率"], "材料要求反复").status_code == 201
    rect = Rectification.objects.get()
    assert rect.department_id == case.department_id and rect.region_path == case.region_path
    assert rect.status == "open" and rect.real_name
    assert list(rect.steps.values_list("action", flat=True)) == ["open"]
    assert Message.objects.filter(recipient=w.clerk, title__contains="差评").exists()
    # A good rating opens nothing.
    w2 = case_world()
    assert rate(w2.client, concluded(w2), 3).status_code == 201
    assert Rectification.objects.count() == 1


def test_callback_then_deadline_in_working_days_and_completion(case_world, settings):
    settings.TONGBAN_RECTIFICATION_DAYS = 5
    w = case_world()
    case, ev, rect = bad_rect(w)
    with pytest.raises(Conflict, match="先回访"):
        services.decide(w.clerk, rect.pk, "deadline", "整改窗口流程")
    services.record_callback(w.clerk, rect.pk, True, "已电话联系，情况属实")
    with pytest.raises(DomainError, match="处理方式"):
        services.decide(w.clerk, rect.pk, "later", "x")
    rect = services.decide(w.clerk, rect.pk, "deadline", "整改窗口流程")
    assert rect.status == "rectifying"
    assert rect.deadline == add_working_days(timezone.localdate(), 5).value
    rect = services.complete(w.clerk, rect.pk, "已优化流程，压缩时限")
    assert rect.status == "done" and rect.completed_at
    assert [s.action for s in rect.steps.all()] == ["open", "callback", "decide", "complete"]
    assert Message.objects.filter(recipient=w.applicant.user, title="差评整改结果").exists()
    page = w.client.get(f"/my/cases/{case.pk}/").content.decode()
    assert "整改办结" in page and "已优化流程" in page
    with pytest.raises(Conflict):
        services.complete(w.clerk, rect.pk, "again")


def test_immediate_and_explain_close_at_once_and_anonymous_needs_no_callback(case_world):
    w = case_world()
    _c, _e, rect = bad_rect(w, anonymous=True)
    assert not rect.real_name
    rect = services.decide(w.clerk, rect.pk, "explain", "依据法规须提交该材料")
    assert rect.status == "done" and rect.outcome == "explain"
    w2 = case_world()
    _c, _e, rect2 = bad_rect(w2)
    services.record_callback(w2.clerk, rect2.pk, False, "电话未接通")
    assert services.decide(w2.clerk, rect2.pk, "immediate", "已当场更正").status == "done"


def test_other_department_cannot_see_or_act(case_world, staff_factory):
    w = case_world()
    _c, _e, rect = bad_rect(w)
    other_dept = make_department("371327", "莒南县其他局")
    stranger, stranger_client = staff_factory("clerk", "371327", other_dept)
    assert stranger_client.get(f"/workbench/rectifications/{rect.pk}/").status_code == 404
    assert f"/workbench/rectifications/{rect.pk}/" not in stranger_client.get("/workbench/rectifications/").content.decode()
    assert f"/workbench/rectifications/{rect.pk}/" in w.clerk_client.get("/workbench/rectifications/").content.decode()
    with pytest.raises(Exception, match="未找到"):
        services.record_callback(stranger, rect.pk, True, "x")
    assert w.clerk_client.get(f"/workbench/rectifications/{rect.pk}/").status_code == 200
    # A supervisor reads but may not handle (谁办理谁负责).
    sup, sup_client = staff_factory("supervisor", "371300")
    assert sup_client.get(f"/workbench/rectifications/{rect.pk}/").status_code == 200
    r = sup_client.post(f"/workbench/rectifications/{rect.pk}/", {"action": "callback", "reached": "1", "summary": "x"})
    assert r.status_code == 403
    assert RectificationStep.objects.filter(rectification=rect).count() == 1


def test_appeal_and_review(case_world, staff_factory):
    w = case_world()
    _c, ev, rect = bad_rect(w)
    services.record_callback(w.clerk, rect.pk, True, "申请人表示误点")
    r = w.clerk_client.post(f"/workbench/rectifications/{rect.pk}/", {"action": "appeal", "reason": ""})
    assert r.status_code == 422
    r = w.clerk_client.post(f"/workbench/rectifications/{rect.pk}/", {"action": "appeal", "reason": "申请人确认误评"})
    assert r.status_code == 302
    rect.refresh_from_db()
    assert rect.status == "appealed"
    with pytest.raises(Exception, match="监督人员"):
        services.review(w.clerk, rect.pk, True, "x")
    far_sup, _ = staff_factory("supervisor", "150600")
    with pytest.raises(Exception, match="未找到"):
        services.review(far_sup, rect.pk, True, "x")
    sup, sup_client = staff_factory("supervisor", "371300")
    assert "提交复核" in sup_client.get(f"/workbench/rectifications/{rect.pk}/").content.decode()
    assert "提交复核" not in w.clerk_client.get(f"/workbench/rectifications/{rect.pk}/").content.decode()
    r = sup_client.post(f"/workbench/rectifications/{rect.pk}/", {"action": "review", "upheld": "", "opinion": "x"})
    assert r.status_code == 422
    r = sup_client.post(f"/workbench/rectifications/{rect.pk}/", {"action": "review", "upheld": "0", "opinion": "证据不足"})
    assert r.status_code == 302
    rect.refresh_from_db()
    assert rect.status == "open"  # back to where it was
    services.appeal(w.clerk, rect.pk, "补充录音证据")
    services.review(sup, rect.pk, True, "录音证实为误评")
    rect.refresh_from_db()
    ev.refresh_from_db()
    assert rect.status == "excluded" and ev.status == "excluded"
    assert Evaluation.objects.filter(pk=ev.pk).exists()  # kept, only excluded from statistics
    assert Message.objects.filter(recipient=w.applicant.user, title="评价复核结果").exists()


def test_overdue_rectifications_flagged_once(case_world):
    w = case_world()
    _c, _e, rect = bad_rect(w)
    services.record_callback(w.clerk, rect.pk, True, "属实")
    rect = services.decide(w.clerk, rect.pk, "deadline", "限期整改")
    assert services.flag_overdue(rect.deadline) == 0  # due today is not overdue
    later = rect.deadline + datetime.timedelta(days=1)
    assert services.flag_overdue(later) == 1
    assert services.flag_overdue(later) == 0
    rect.refresh_from_db()
    assert rect.overdue_at and rect.steps.filter(action="flag_overdue").count() == 1
    assert Message.objects.filter(recipient=w.clerk, title="差评整改超期").exists()
    assert "已超期" in w.clerk_client.get("/workbench/rectifications/").content.decode()


def test_steps_are_append_only(case_world):
    w = case_world()
    _c, _e, rect = bad_rect(w)
    step = rect.steps.get()
    with pytest.raises(PermissionError):
        step.save()
    with pytest.raises(PermissionError):
        RectificationStep.objects.filter(pk=step.pk).update(note="x")


def test_list_puts_real_name_without_callback_first(case_world, staff_factory):
    w = case_world()
    _c, _e, called = bad_rect(w)  # the older one, already called back
    services.record_callback(w.clerk, called.pk, True, "属实")
    w2 = case_world()
    _c2, _e2, waiting = bad_rect(w2)
    order = list(services.follow_up_order(Rectification.objects.all()).values_list("pk", flat=True))
    assert order.index(waiting.pk) < order.index(called.pk)
    _sup, sup_client = staff_factory("supervisor", "371300")
    page = sup_client.get("/workbench/rectifications/").content.decode()
    assert page.index(f">#{waiting.pk}<") < page.index(f">#{called.pk}<")


# --- 一次一评 at a window ---------------------------------------------------------------------------

@pytest.fixture
def window_clerk(staff_factory):
    dept = make_department("371327", "莒南县行政审批服务局")
    hall = Hall.objects.create(name="莒南县评价测试大厅", kind=Hall.COUNTY_HALL, region=Region.objects.get(code="371327"), address="测试地址")
    window = Window.objects.create(hall=hall, number="7", name="综合受理")
    user, client = staff_factory("clerk", "371327", dept)
    Membership.objects.filter(user=user).update(window=window)
    return user, client, dept, window


def invite(client, case_no=""):
    r = client.post("/workbench/rating-invite/", {"case_no": case_no})
    assert r.status_code == 200, r.content.decode()[:500]
    return WindowRatingToken.objects.order_by("-id").first(), r.content.decode()


def test_window_token_rates_exactly_once(window_clerk, client):
    user, wb, dept, window = window_clerk
    assert wb.get("/workbench/rating-invite/").status_code == 200 and client.get("/rate/").status_code == 200
    token, page = invite(wb)
    assert token.short_code in page and "<svg" in page and token.department_id == dept.pk and token.window_id == window.pk
    r = client.get(f"/rate/{token.token}/")
    assert r.status_code == 200 and "服务态度" in r.content.decode() and "平台操作性" not in r.content.decode()
    r = client.post(f"/rate/{token.token}/", {"level": "1", "tags": ["服务态度"], "comment": "态度差"})
    assert r.status_code == 200 and "评价已提交" in r.content.decode()
    ev = Evaluation.objects.get()
    assert ev.channel == "window" and ev.anonymous and ev.window_id == window.pk and ev.department_id == dept.pk
    rect = Rectification.objects.get()
    assert rect.department_id == dept.pk and not rect.real_name
    assert client.post(f"/rate/{token.token}/", {"level": "5"}).status_code == 409
    assert client.get(f"/rate/{token.short_code}/").status_code == 409
    assert Evaluation.objects.count() == 1


def test_window_token_expired_forged_and_wrong_tags(window_clerk, client):
    _u, wb, _d, _w = window_clerk
    token, _ = invite(wb)
    r = client.post(f"/rate/{token.token}/", {"level": "5", "tags": ["平台操作性"]})
    assert r.status_code == 422 and "平台操作性" in r.content.decode()
    WindowRatingToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client.post(f"/rate/{token.token}/", {"level": "5"}).status_code == 410
    assert client.get("/rate/not-a-real-token/").status_code == 404
    forged = "00000000" if token.short_code != "00000000" else "11111111"
    assert client.get(f"/rate/{forged}/").status_code == 404
    assert client.get("/rate/?code=abc").status_code == 422
    assert client.get(f"/rate/?code={token.short_code}").status_code == 302
    assert not Evaluation.objects.exists()


def test_window_token_needs_a_window_and_a_visible_case(window_clerk, case_world):
    _u, wb, _d, _w = window_clerk
    w = case_world()
    r = w.clerk_client.post("/workbench/rating-invite/", {})  # this clerk has no window
    assert r.status_code == 403 and "未绑定服务窗口" in r.content.decode()
    case = concluded(w)
    r = wb.post("/workbench/rating-invite/", {"case_no": case.case_no})  # another department's case
    assert r.status_code == 404
    assert not WindowRatingToken.objects.exists()


def test_window_rating_bound_to_a_case_is_real_name(window_clerk, case_world, client):
    user, wb, dept, _w = window_clerk
    w = case_world()
    case = concluded(w)
    Membership.objects.create(user=user, role="clerk", region=case.region, department=case.department)  # also serves that department
    user._tongban_grants = None
    token, _ = invite(wb, case.case_no)
    assert token.case_id == case.pk
    assert client.post(f"/rate/{token.token}/", {"level": "4", "tags": ["服务效率"]}).status_code == 200
    ev = Evaluation.objects.get()
    assert ev.applicant_id == w.applicant.pk and not ev.anonymous and ev.case_id == case.pk


# --- reading, anonymity, export --------------------------------------------------------------------

def test_anonymous_rating_hides_the_rater_from_staff(case_world, staff_factory):
    w = case_world()
    case, ev, rect = bad_rect(w, anonymous=True)
    staff_view = w.clerk_client.get("/api/v1/evaluations/").json()
    assert staff_view["total"] == 1 and staff_view["items"][0]["rater"] == "匿名"
    own = w.client.get("/api/v1/evaluations/").json()
    assert own["items"][0]["rater"] == w.applicant.name
    page = w.clerk_client.get(f"/workbench/rectifications/{rect.pk}/").content.decode()
    assert w.applicant.name not in page and case.contact_phone not in page and "匿名" in page
    other = applicant_client(make_applicant("赵六", phone="13900000007"))
    assert other.get("/api/v1/evaluations/").json()["total"] == 0
    assert other.get(f"/api/v1/evaluations/{ev.pk}").status_code == 404
    far, far_client = staff_factory("approver", "150600")
    assert far_client.get("/api/v1/evaluations/").json()["total"] == 0


def test_real_name_phone_is_masked_on_the_workbench(case_world):
    w = case_world()
    case, _ev, rect = bad_rect(w)
    page = w.clerk_client.get(f"/workbench/rectifications/{rect.pk}/").content.decode()
    assert w.applicant.name in page and case.masked_phone in page and case.contact_phone not in page


def test_export_fields_masking_and_scope(case_world, staff_factory):
    w = case_world()
    case, _ev, _rect = bad_rect(w)
    w.impl.business_code = "BIZ-001"
    w.impl.save()
    w2 = case_world()
    services.rate_case(w2.applicant.user, concluded(w2).pk, 5, [], "", anonymous=True)
    sup, sup_client = staff_factory("supervisor", "371300")
    r = sup_client.get("/workbench/evaluations/export/?format=csv")
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == exporting.COLUMNS
    rows = {row[3]: dict(zip(table[0], row)) for row in table[1:]}
    row = rows[case.case_no]
    assert row["实施编码"] == w.impl.implementation_code and row["业务办理项编码"] == "BIZ-001"
    assert row["办件状态"] == "3" and row["办理部门"] == case.department.name and row["评价渠道"] == "1"
    assert row["申请人"] == case.applicant_name and row["联系电话"] == case.masked_phone and row["评价等级"] == "非常不满意"
    assert row["行政区划"] == case.region.code and row["事项类型"] == w.item.item_type
    anon = [r for r in rows.values() if r["实名/匿名"] == "匿名"][0]
    assert anon["申请人"] == "匿名" and anon["联系电话"] == ""
    # Platform administrators see the full phone; a supervisor elsewhere sees nothing; a clerk may not export.
    admin, _ = staff_factory("platform_admin", "000000")
    assert case.contact_phone in exporting.to_csv(admin).decode("utf-8-sig")
    far, _ = staff_factory("supervisor", "150600")
    assert len(list(exporting.rows(far))) == 0
    assert w.clerk_client.get("/workbench/evaluations/export/").status_code == 403
    r = sup_client.get("/workbench/evaluations/export/?format=xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == exporting.COLUMNS and ws.max_row == 3


def test_export_command(case_world, staff_factory, tmp_path):
    w = case_world()
    case, _ev, _rect = bad_rect(w)
    sup, _ = staff_factory("supervisor", "371300")
    out = tmp_path / "e.csv"
    call_command("export_evaluations", "--user", sup.username, "--output", str(out))
    text = out.read_text("utf-8-sig")
    assert case.case_no in text and case.contact_phone not in text and case.masked_phone in text


def test_periodic_task_flags_overdue(case_world):
    from tongban.evaluation.tasks import scan_rectifications

    w = case_world()
    _c, _e, rect = bad_rect(w)
    services.record_callback(w.clerk, rect.pk, True, "属实")
    services.decide(w.clerk, rect.pk, "deadline", "限期整改")
    Rectification.objects.filter(pk=rect.pk).update(deadline=timezone.localdate() - datetime.timedelta(days=1))
    assert scan_rectifications.call(0) == {"overdue": 1}
    assert scan_rectifications.call(0) == {"overdue": 0}
