"""Demo of cross-region handling (演示数据): 户口迁移 of 鄂尔多斯 as a 多地联办 item whose 迁出 step is
done by 莒南县公安局, and two applications received at the 莒南县 跨域通办专窗 for 鄂尔多斯 — one waiting
for acceptance at 鄂尔多斯's 综合受理 window (异地代收代办), one jointly handled with its 迁出 part open
at 莒南."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tongban.catalog.models import Implementation, ItemVersion, JointPartner, ReviewProcess
from tongban.directory.models import Department, Membership

JOINT_CODE = "11150600MB0431014H3000710014000"  # 户口迁移, 鄂尔多斯市公安局
PROXY_CODE = "11150600MB7835337G3000710015000"  # 不动产抵押登记, 鄂尔多斯
JOINT_STEPS = [{"name": "迁入地审核", "role": "approver"}, {"name": "迁出地公安机关核实", "role": "approver"},
               {"name": "签发", "role": "approver"}]
PDF = b"%PDF-1.4\n% Tongban demo scan\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def prepare_joint():
    """The joint item's own review steps and its partner (before the generic demo steps are given out)."""
    impl = Implementation.objects.filter(implementation_code=JOINT_CODE).select_related("item").first()
    partner = Department.objects.filter(name="莒南县公安局").first()
    if impl is None or partner is None:
        return 0
    version = impl.item.versions.filter(status=ItemVersion.PUBLISHED).first()
    if version is not None and not ReviewProcess.objects.filter(version=version).exists():
        rp = ReviewProcess(version=version, steps=JOINT_STEPS)
        rp.full_clean()
        rp.save()
    _, made = JointPartner.objects.get_or_create(implementation=impl, step_name="迁出地公安机关核实", defaults={"department": partner})
    return int(made)


def _window_case(clerk, code, applicant, delivery, n):
    from tongban.cases import handling, proxy

    form = {"reason": "演示：在莒南县跨域通办专窗申请", "residence": "371327", "address": "山东省临沂市莒南县十字路街道演示路1号"}
    case = proxy.open_case(clerk, code, applicant, form, delivery, form["address"] if delivery == "mail" else "")
    for m in case.item_version.materials.filter(necessity="required").order_by("seq"):
        proxy.add_scan(clerk, case.pk, m.pk, SimpleUploadedFile(f"{m.name}.pdf", PDF + f"{n}-{m.pk}".encode(), "application/pdf"))
    originals = list(case.item_version.materials.filter(original_check=True).values_list("pk", flat=True))
    review = [{"point": p, "ok": True} for p in proxy.review_points(case.item_version)]
    proxy.record_check(clerk, case.pk, "id_reader", originals, review)
    return handling.perform(case.pk, "forward", clerk)


def load_window_cases(applicant):
    """Two applications received at 莒南县's window for 鄂尔多斯 (once)."""
    from tongban.cases import handling
    from tongban.cases.models import Case

    if Case.objects.filter(applicant=applicant).exclude(mode="online").exists():
        return 0
    clerk = Membership.objects.filter(user__username="demo_clerk", role="clerk").select_related("user").first()
    ordos_clerk = Membership.objects.filter(user__username="demo_clerk_ordos", role="clerk").select_related("user").first()
    approver = Membership.objects.filter(user__username="demo_approver", region__code="150600").select_related("user").first()
    if clerk is None or ordos_clerk is None or approver is None:
        return 0
    person = {"kind": applicant.kind, "name": applicant.name, "id_number": applicant.id_number, "phone": applicant.phone}
    made = 0
    if Implementation.objects.filter(implementation_code=PROXY_CODE).exists():
        _window_case(clerk.user, PROXY_CODE, person, "mail", 1)
        made += 1
    if Implementation.objects.filter(implementation_code=JOINT_CODE).exists():
        case = _window_case(clerk.user, JOINT_CODE, person, "pickup", 2)
        case = handling.perform(case.pk, "accept", ordos_clerk.user)
        handling.perform(case.pk, "review", approver.user, "迁入条件符合，转迁出地核实")
        made += 1
    return made
