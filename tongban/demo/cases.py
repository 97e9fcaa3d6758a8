"""Demo applicants, application forms, review processes and a few cases in different states
(演示数据), created through the case services so their histories are real hash-chained events."""

from django.contrib.auth import get_user_model
from django.db import transaction

from tongban.applicants.models import Applicant
from tongban.cases import services
from tongban.cases.models import Case
from tongban.catalog.models import ApplicationForm, Implementation, ItemVersion, ReviewProcess
from tongban.demo import crossregion

FORM = [
    {"key": "reason", "label": "申请事由", "type": "text", "required": True, "max_length": 300},
    {"key": "residence", "label": "户籍所在地", "type": "region", "help": "6位行政区划代码，如 371327"},
    {"key": "address", "label": "联系地址", "type": "address", "required": True},
    {"key": "email", "label": "备用联系电话", "type": "phone"},
]
STEPS = [{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}]
APPLICANTS = [
    {"kind": "natural", "name": "张晓明（演示）", "id_number": "11010519491231002X", "phone": "13800000001"},
    {"kind": "legal", "name": "莒南县演示食品有限公司", "credit_code": "91371327MA3C5X0P09", "agent_name": "李经办（演示）",
     "agent_id_number": "371327198801010012", "phone": "13800000002", "applicant_type": "2"},
]
DEMO_PDF = b"%PDF-1.4\n% Tongban demo material\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def load_case_demo():
    """Idempotent: forms and processes where missing, applicants once, demo cases once."""
    with transaction.atomic():
        crossregion.prepare_joint()
        versions = ItemVersion.objects.filter(status=ItemVersion.PUBLISHED)
        forms = [ApplicationForm(version=v, fields=FORM) for v in versions.exclude(application_form__isnull=False)]
        ApplicationForm.objects.bulk_create(forms)
        processes = 0
        for v in versions.exclude(review_process__isnull=False).exclude(case_kind="1"):
            rp = ReviewProcess(version=v, steps=STEPS)
            rp.full_clean()
            rp.save()
            processes += 1
        applicants = [_applicant(spec) for spec in APPLICANTS]
        from tongban.certificates.demo import issue_wallet  # 电子证照 in the demo wallets, once their holders exist

        issue_wallet(applicants)
    cases = 0 if Case.objects.filter(applicant=applicants[0]).exists() else _cases(applicants[0])
    with transaction.atomic():
        cases += crossregion.load_window_cases(applicants[0])
    from tongban.demo.bundle_cases import load_bundle_case_demo  # 一件事 applications, after the applicants exist

    bundle_cases = load_bundle_case_demo(applicants)
    from tongban.demo.evaluations import load_feedback_demo  # 好差评 and 咨询投诉建议, on the demo cases

    feedback = load_feedback_demo(applicants)
    return {"forms": len(forms), "processes": processes, "applicants": applicants, "cases": cases, "bundle_cases": bundle_cases,
            "feedback": feedback}


def _applicant(spec):
    found = Applicant.objects.filter(phone=spec["phone"]).first()
    if found:
        return found
    user = get_user_model().objects.create_user(username=f"p-demo-{spec['phone']}", first_name=spec["name"][:150])
    user.set_unusable_password()
    user.save()
    return Applicant.objects.create(user=user, kind=spec["kind"], applicant_type=spec.get("applicant_type", "1"), name=spec["name"],
                                    id_number=spec.get("id_number", ""), credit_code=spec.get("credit_code", ""), agent_name=spec.get("agent_name", ""),
                                    agent_id_number=spec.get("agent_id_number", ""), phone=spec["phone"])


def _generic_person_item(impl):
    """For natural persons and still on the generic FORM the demo cases fill in (the items of the demo
    一件事 have their own forms, see demo.bundles)."""
    version = impl.item.versions.get(status=ItemVersion.PUBLISHED)
    form = ApplicationForm.objects.filter(version=version).first()
    return "1" in version.service_objects and form is not None and form.fields == FORM


def _cases(applicant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tongban.directory.models import Membership

    clerk = Membership.objects.filter(user__username="demo_clerk").select_related("user").first()
    approver = Membership.objects.filter(user__username="demo_approver", region__code="371327").select_related("user").first()
    if clerk is None or approver is None:
        return 0
    impls = [i for i in Implementation.objects.filter(region__code="371327", is_active=True).select_related("item").order_by("id")
             if "online" in i.get_modes_names() and _generic_person_item(i)][:3]
    user, made = applicant.user, 0
    form = {"reason": "演示申请：因工作需要办理", "residence": "371327", "address": "山东省临沂市莒南县十字路街道演示路1号"}
    for n, impl in enumerate(impls):
        case = services.create_draft(applicant, impl.implementation_code, form=form, delivery_address=form["address"])
        for m in case.item_version.materials.filter(necessity="required"):
            services.add_material(user, case.pk, m.pk, SimpleUploadedFile(f"{m.name}.pdf", DEMO_PDF + f"{n}-{m.pk}".encode(), "application/pdf"))
        case = services.submit(user, case.pk)
        if n >= 1:
            case = services.perform(case.pk, "accept", clerk.user)
        if n >= 2 and case.process_id:
            case = services.perform(case.pk, "review", approver.user, "材料齐全，符合条件")
        made += 1
    return made
