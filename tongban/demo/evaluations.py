"""Demo 好差评 and 咨询投诉建议 (演示数据), created through their services so the rectification steps,
inquiry steps, audit entries and messages are real.

On 张晓明's concluded 莒南县 cases: one 非常满意 online rating and one real-name 不满意 whose
rectification has its call-back recorded (the unit's next step is to decide 立行立改/限期整改/解释说明);
one 一次一评 at demo_clerk's window by a one-time token. Three inquiries: a consultation answered (waiting
for 张晓明's satisfaction), a complaint about a demo case in its department's queue, and a ticket pushed
by a demo 12345 hotline client (its key is random and never shown: create a usable one with
`manage.py hotline_client_create`).

Idempotent: each record is found by its demo text (marked 演示) and made only when missing; concluded
cases are made (through the handling services) only when no unrated concluded demo case is left.
"""

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from tongban.cases import handling
from tongban.cases import services as cases
from tongban.cases.models import Case
from tongban.catalog.models import Implementation
from tongban.evaluation import services as ratings
from tongban.evaluation.models import Channel, Evaluation, Level, Rectification
from tongban.inquiries import services as inquiries
from tongban.inquiries.models import HotlineClient, Inquiry, Kind, Source

REGION = "371327"
GOOD = "（演示）网上申报一次通过，材料清单清楚，办结很快。"
BAD = "（演示）补充材料时电话一直打不通，等了很久才有人回复。"
CALLBACK = "（演示）已电话回访申请人，核实补正期间咨询电话占线属实，申请人同意等待整改结果。"
WINDOW = "（演示）窗口工作人员讲解耐心，一次办好。"
CONSULT_TITLE = "（演示）办理需要本人到场吗？"
CONSULT_REPLY = "（演示）该事项可全程网办，无需本人到场；如选择窗口领取结果，请携带身份证原件。"
COMPLAINT_TITLE = "（演示）补正通知后无人接听咨询电话"
HOTLINE_NAME = "莒南县12345政务服务便民热线（演示）"
HOTLINE_TICKET = "DEMO-12345-0001"
DEMO_PDF = b"%PDF-1.4\n% Tongban demo feedback material\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FORM = {"reason": "演示申请：因工作需要办理", "residence": REGION, "address": "山东省临沂市莒南县十字路街道演示路1号"}


def _staff(username):
    return get_user_model().objects.filter(username=username).first()


def _implementations():
    from tongban.demo.cases import _generic_person_item

    return [i for i in Implementation.objects.filter(region__code=REGION, is_active=True, fee_amount__lte=0).select_related("item").order_by("id")
            if "online" in i.get_modes_names() and _generic_person_item(i)]


def _concluded_case(applicant, clerk, approver, n):
    """An unrated concluded 莒南县 case of the applicant; one is driven to 办结 when none is left."""
    unrated = (Case.objects.filter(applicant=applicant, region__code=REGION, status__in=ratings.RATEABLE, bundle_case__isnull=True)
               .exclude(evaluations__channel=Channel.ONLINE).order_by("id").first())
    if unrated is not None:
        return unrated
    impls = _implementations()
    if not impls:
        return None
    impl = impls[n % len(impls)]
    user = applicant.user
    case = cases.create_draft(applicant, impl.implementation_code, form=FORM, delivery_address=FORM["address"])
    for m in case.item_version.materials.filter(necessity="required"):
        cases.add_material(user, case.pk, m.pk, SimpleUploadedFile(f"{m.name}.pdf", DEMO_PDF + f"fb{n}-{m.pk}".encode(), "application/pdf"))
    case = cases.submit(user, case.pk)
    case = cases.perform(case.pk, "accept", clerk)
    for _ in range(10):  # every step of the review process, then the decision
        if handling.review_steps(case)[1]:
            break
        case = cases.perform(case.pk, "review", approver, "（演示）材料齐全，符合条件")
    case = cases.perform(case.pk, "approve", approver, "（演示）准予许可")
    return cases.perform(case.pk, "conclude", approver)


def _ratings(applicant, clerk, approver, made):
    if not Evaluation.objects.filter(applicant=applicant, comment=GOOD).exists():
        case = _concluded_case(applicant, clerk, approver, 0)
        if case is not None:
            ratings.rate_case(applicant.user, case.pk, Level.VERY_SATISFIED, ["整体满意度", "办事效率", "办事便捷度"], GOOD)
            made["evaluations"] += 1
    bad = Evaluation.objects.filter(applicant=applicant, comment=BAD).first()
    if bad is None:
        case = _concluded_case(applicant, clerk, approver, 1)
        if case is not None:
            bad = ratings.rate_case(applicant.user, case.pk, Level.DISSATISFIED, ["办事效率"], BAD, anonymous=False)
            made["evaluations"] += 1
    if bad is not None:
        rect = Rectification.objects.get(evaluation=bad)
        if rect.called_back_at is None and rect.status == Rectification.OPEN:
            ratings.record_callback(approver, rect.pk, True, CALLBACK)
            made["callbacks"] += 1
    if not Evaluation.objects.filter(channel=Channel.WINDOW, comment=WINDOW).exists():
        token = ratings.issue_token(clerk)
        ratings.rate_window(token.token, Level.VERY_SATISFIED, ["整体满意度", "服务态度"], WINDOW)
        made["evaluations"] += 1


def _inquiries(applicant, approver, made):
    if not Inquiry.objects.filter(applicant=applicant, title=CONSULT_TITLE).exists():
        impl = next(iter(_implementations()), None)
        data = {"kind": Kind.CONSULT, "title": CONSULT_TITLE, "region_code": REGION, "item": impl.item.name if impl else "",
                "content": "（演示）我想在网上申请，是否需要本人到窗口核验身份？"}
        inquiry = inquiries.submit_portal(applicant.user, data, client_key="demo")
        if inquiry.department_id is None:  # no department found by item or region: the region's staff assign it
            dept = next(iter(inquiries.assignable_departments(approver, inquiry)), None)
            inquiry = inquiries.assign(approver, inquiry.pk, dept.pk, "（演示）人工分派")
        inquiries.reply(approver, inquiry.pk, CONSULT_REPLY)
        made["inquiries"] += 1
    if not Inquiry.objects.filter(applicant=applicant, title=COMPLAINT_TITLE).exists():
        case = (Case.objects.filter(applicant=applicant, region__code=REGION, bundle_case__isnull=True, department__isnull=False)
                .exclude(case_no=None).order_by("id").first())
        data = {"kind": Kind.COMPLAINT, "title": COMPLAINT_TITLE, "case": str(case.pk) if case else "", "region_code": REGION,
                "content": "（演示）收到补正通知后拨打咨询电话三次均无人接听，希望改进。"}
        inquiries.submit_portal(applicant.user, data, client_key="demo")
        made["inquiries"] += 1
    client = HotlineClient.objects.filter(name=HOTLINE_NAME).first()
    if client is None:
        client, _key = inquiries.create_hotline_client(HOTLINE_NAME, REGION)  # the key is dropped: never printed
        made["hotline_clients"] += 1
    if not Inquiry.objects.filter(source=Source.HOTLINE, hotline_client=client, hotline_ticket_no=HOTLINE_TICKET).exists():
        impl = next(iter(_implementations()), None)
        inquiries.receive_hotline(client, {
            "ticket_no": HOTLINE_TICKET, "kind": Kind.SUGGESTION, "title": "（演示）建议延长政务服务中心周末服务时间",
            "content": "（演示）来电人建议周六全天开放综合窗口，方便上班族办事。", "caller_name": "赵先生（演示）",
            "caller_phone": "13800000009", "region_code": REGION, "item": impl.item.name if impl else "",
        })
        made["inquiries"] += 1


def load_feedback_demo(applicants):
    """`applicants`: the demo applicants (张晓明 first). Returns counts of what this run made."""
    from collections import Counter

    made = Counter()
    person = applicants[0]
    clerk, approver = _staff("demo_clerk"), _staff("demo_approver")
    if clerk is None or approver is None:
        return dict(made)
    with transaction.atomic():
        _ratings(person, clerk, approver, made)
    with transaction.atomic():
        _inquiries(person, approver, made)
    return dict(made)
