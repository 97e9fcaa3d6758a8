from tongban.cases.models import CaseEvent


def test_happy_path(case_world):
    w = case_world()
    case = w.submitted_case()
    assert case.case_no.startswith("371327-")
    case = w.act(case, "accept")
    assert case.due_date
    case = w.act(case, "approve", w.approver)
    case = w.act(case, "conclude", w.approver)
    case = w.act(case, "deliver", w.clerk, method="mail", courier="中国邮政EMS", tracking_no="1234567890")
    assert case.status == "delivered"
    assert [e.label for e in CaseEvent.objects.filter(case=case)] == ["收件", "受理", "准予许可", "办结", "送达"]
