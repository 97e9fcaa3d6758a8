"""Demo 一件事 applications (演示数据), created through the bundle services so their records are real:
张晓明's 新生儿出生, submitted and comprehensively accepted (the first stage in review, the others
waiting for it), and the demo company's 开办餐饮店, waiting for the comprehensive intake.

Idempotent: an application is made only when the applicant has none of that bundle. Does nothing
while the demo bundles (demo.bundles) are not published.
"""

import datetime

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from tongban.bundles import applying, coordination
from tongban.bundles.models import BundleCase, BundleVersion
from tongban.core.codes import id_check_char
from tongban.core.errors import DomainError

BIRTH, RESTAURANT = "371327YJS001", "371327YJS002"
ADDRESS = "山东省临沂市莒南县十字路街道人民路1号"
DEMO_PDF = b"%PDF-1.4\n% Tongban demo bundle material\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _id(first17):
    return first17 + id_check_char(first17)


# Values by meaning or key (a demo answer for each field the demo bundles ask).
VALUES = {
    "baby_name": "张小宝", "baby_sex": "男", "sex": "男", "baby_birth_date": None, "birth_time": "08:30", "birth_place": "莒南县人民医院",
    "mother_name": "王丽（演示）", "mother_id_number": _id("37132719920315002"), "father_name": "张晓明（演示）",
    "guardian_name": "张晓明（演示）", "birth_certificate_no": "", "hukou_follow": "随父", "settle_address": ADDRESS, "address": ADDRESS,
    "insured_category": "新生儿", "ethnicity": "汉族", "card_bank": "中国农业银行", "card_outlet": "莒南县十字路支行",
    "company_name": "莒南县演示餐饮有限公司", "legal_representative": "李经办（演示）", "business_address": "山东省临沂市莒南县十字路街道演示路8号",
    "registered_capital": 50, "business_scope": "餐饮服务；食品销售", "licence_scope": "热食类食品制售", "business_form": "餐饮服务经营者（小型餐馆）",
    "business_items": "热食类食品制售", "food_safety_manager": "王安全（演示）", "agent_name": "李经办（演示）",
}


def _value(field, applicant):
    key, meaning, kind = field["key"], field.get("meaning") or "", field["type"]
    if meaning == "baby_birth_date" or key == "baby_birth_date":
        return (timezone.localdate() - datetime.timedelta(days=6)).isoformat()
    for name in (meaning, key):
        if name in VALUES and VALUES[name] not in (None, ""):
            return VALUES[name]
    if kind == "id_number":
        return applicant.id_number or applicant.agent_id_number
    if kind == "credit_code":
        return applicant.credit_code or None
    if kind == "phone":
        return applicant.phone
    if kind == "choice":
        return field["choices"][0]
    if kind == "number":
        return max(1, int(field.get("min", 1)))
    if kind == "date":
        return timezone.localdate().isoformat()
    if kind == "region":
        return "371327"
    if kind == "address":
        return ADDRESS
    if kind == "text":
        return "演示"
    return None  # a file field is not filled by the demo


def _form(version, applicant):
    form = applying.prefill(applicant, version)
    for f in version.form_fields:
        if f["key"] not in form:
            value = _value(f, applicant)
            if value not in (None, ""):
                form[f["key"]] = value
    return form


def _materials(version, tag):
    return {g["key"]: SimpleUploadedFile(f"{g['name'][:60]}.pdf", DEMO_PDF + f"{tag}-{g['key']}".encode(), "application/pdf")
            for g in version.material_groups}


def _apply(code, applicant, tag):
    version = BundleVersion.objects.filter(bundle__code=code, status=BundleVersion.PUBLISHED).first()
    if version is None or BundleCase.objects.filter(applicant=applicant, bundle_version__bundle__code=code).exists():
        return None
    method = "mail" if "mail" in version.get_delivery_methods_names() else None
    return applying.apply(applicant, applicant.user, code, _form(version, applicant), None, _materials(version, tag), delivery_method=method,
                          delivery_address=ADDRESS, submit_now=True, token=f"demo-bundle-{code}-{applicant.pk}")


def load_bundle_case_demo(applicants):
    """`applicants`: [natural demo applicant (张晓明), legal demo applicant]. Returns how many were made."""
    made = 0
    person, company = applicants[0], applicants[1]
    clerk = get_user_model().objects.filter(username="demo_clerk").first()
    try:
        with transaction.atomic():
            parent = _apply(BIRTH, person, "birth")
            if parent is not None:
                made += 1
                if clerk is not None:
                    groups = [g["key"] for g in parent.bundle_version.material_groups if g.get("original_check")]
                    coordination.intake(parent.pk, clerk, "accept", identity_method="id_reader", originals_checked=groups)
        with transaction.atomic():
            if _apply(RESTAURANT, company, "restaurant") is not None:
                made += 1
    except DomainError as exc:  # the demo catalogue changed in a way these answers do not fit: say so
        raise DomainError(f"演示一件事办件无法创建：{exc.message}", status=exc.status) from None
    return made
