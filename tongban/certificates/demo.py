"""Demo catalogue of certificate types (演示数据): one per demo item that issues a certificate, the
two e-proof types issued from base data, the responsible ministries and a few certificates in the
demo applicants' wallets.

The type codes follow GB/T 36904 (the ministry's 统一社会信用代码 + 3 digits). The demo has no
national ministries, so they are created at the national root with valid-checksum codes derived from
their names and "（演示）" in the name: none of these codes is the real ministry's.
"""

from django.db import transaction

from tongban.catalog.models import Implementation, Item, ItemVersion
from tongban.demo.items import ITEMS_BY_KEY
from tongban.demo.places import GOV, MASS_ORG, credit_code
from tongban.directory.models import ROOT_CODE, Department, Region

from .models import Certificate, CertificateType

MINISTRIES = {
    "samr": ("国家市场监督管理总局", GOV),
    "mee": ("生态环境部", GOV),
    "mot": ("交通运输部", GOV),
    "nhc": ("国家卫生健康委员会", GOV),
    "mohrss": ("人力资源和社会保障部", GOV),
    "mps": ("公安部", GOV),
    "mnr": ("自然资源部", GOV),
    "mohurd": ("住房和城乡建设部", GOV),
    "cdpf": ("中国残疾人联合会", MASS_ORG),
}


def _f(key, label, kind="text", required=False):
    return {"key": key, "label": label, "type": kind, "required": required}


NAME, LEGAL, ADDRESS, SCOPE = _f("company_name", "名称"), _f("legal_representative", "法定代表人（负责人）"), _f("business_address", "住所（经营场所）"), _f("business_scope", "经营范围")

# (ministry, seq, name, items issuing it, holder kind, fields, validity years, template, trust, stands for, proof source, validity rule)
TYPES = [
    ("samr", 1, "营业执照", ["market_registration", "company_setup"], "both",
     [NAME, LEGAL, _f("registered_capital", "注册资本（万元）", "number"), ADDRESS, SCOPE], 0, "licence", "A",
     ["营业执照", "营业执照复印件", "营业执照副本", "营业执照副本复印件"], "", "长期有效（营业期限以照面为准）"),
    ("samr", 2, "食品经营许可证", ["food_business_licence"], "both",
     [NAME, _f("business_form", "主体业态"), _f("business_items", "经营项目"), ADDRESS, _f("food_safety_manager", "食品安全管理人员")], 5, "certificate", "A",
     ["食品经营许可证", "食品经营许可证复印件"], "", "有效期5年"),
    ("samr", 3, "全国工业产品生产许可证", ["industrial_licence"], "legal", [NAME, ADDRESS, SCOPE], 5, "certificate", "A",
     ["全国工业产品生产许可证", "工业产品生产许可证"], "", "有效期5年"),
    ("mee", 1, "排污许可证", ["pollutant_permit"], "legal", [NAME, LEGAL, ADDRESS], 5, "licence", "A", ["排污许可证", "排污许可证副本"], "", "有效期5年"),
    ("mot", 1, "道路运输经营许可证", ["freight_licence"], "both",
     [NAME, _f("licence_scope", "经营范围"), _f("vehicle_count", "车辆数（辆）", "number")], 4, "certificate", "A",
     ["道路运输经营许可证", "道路运输经营许可证复印件"], "", "有效期4年"),
    ("nhc", 1, "出生医学证明", ["birth_certificate"], "natural",
     [_f("baby_name", "新生儿姓名"), _f("baby_sex", "性别"), _f("baby_birth_date", "出生日期", "date"), _f("birth_place", "出生地点"),
      _f("mother_name", "母亲姓名"), _f("father_name", "父亲姓名")], 0, "certificate", "A", ["出生医学证明", "出生医学证明复印件"], "", "长期有效"),
    ("nhc", 2, "预防接种证", ["vaccination_certificate"], "natural",
     [_f("baby_name", "儿童姓名"), _f("baby_birth_date", "出生日期", "date"), _f("guardian_name", "监护人姓名")], 0, "certificate", "B",
     ["预防接种证", "预防接种证复印件"], "", "长期有效"),
    ("mohrss", 1, "中华人民共和国社会保障卡", ["social_security_card"], "natural", [_f("card_bank", "发卡银行"), _f("card_outlet", "领卡网点")], 10,
     "certificate", "A", ["社会保障卡", "社会保障卡复印件"], "", "有效期10年"),
    ("mohrss", 2, "就业创业证", ["unemployment_registration"], "natural", [], 0, "certificate", "B", ["就业创业证", "就业失业登记证"], "", "长期有效"),
    ("mps", 1, "居民户口簿", ["hukou_migration", "birth_registration"], "natural",
     [_f("baby_name", "登记人员姓名"), _f("hukou_follow", "随父/随母落户"), _f("settle_address", "住址")], 0, "certificate", "A",
     ["居民户口簿", "户口簿", "户口簿复印件", "户口本"], "", "长期有效"),
    ("mnr", 1, "不动产权证书", ["property_transfer"], "both", [], 0, "certificate", "A", ["不动产权证书", "房屋所有权证", "不动产权证书复印件"], "", "长期有效"),
    ("mnr", 2, "不动产登记证明", ["mortgage_registration"], "both", [], 0, "certificate", "A", ["不动产登记证明"], "", "长期有效"),
    ("cdpf", 1, "中华人民共和国残疾人证", ["disability_card"], "natural", [_f("disability_category", "残疾类别")], 10, "certificate", "A",
     ["残疾人证", "残疾人证复印件"], "", "有效期10年"),
    # E-proofs (电子证明), issued from base data by the department keeping it (see sharing.eproofs).
    ("mohrss", 3, "社会保险参保证明", [], "both", [], 0, "proof", "A", ["社会保险参保证明", "社保缴费证明", "参保证明"], "social_insurance",
     "自出具之日起3个月内有效"),
    ("mohurd", 1, "住房公积金缴存证明", [], "both", [], 0, "proof", "A", ["住房公积金缴存证明", "公积金缴存证明"], "housing_fund",
     "自出具之日起3个月内有效"),
]
PROOF_PROVIDERS = {"social_insurance": "人力资源和社会保障", "housing_fund": "住房公积金"}

# Certificates in the demo applicants' wallets: (applicant code, type name, face data).
WALLET = [
    ("11010519491231002X", "中华人民共和国社会保障卡", {"card_bank": "中国工商银行莒南支行（演示）", "card_outlet": "莒南县政务服务中心社保窗口"}),
    ("11010519491231002X", "居民户口簿", {"baby_name": "张晓明", "settle_address": "山东省临沂市莒南县十字路街道人民路8号（示例）"}),
    ("91371327MA3C5X0P09", "营业执照", {"company_name": "莒南县演示食品有限公司", "legal_representative": "张晓明", "registered_capital": "100",
                                    "business_address": "山东省临沂市莒南县十字路街道文化路18号（示例）", "business_scope": "食品销售；餐饮服务；日用百货销售"}),
    ("91371327MA3C5X0P09", "食品经营许可证", {"company_name": "莒南县演示食品有限公司", "business_form": "食品销售经营者（商场超市）",
                                      "business_items": "预包装食品销售（含冷藏冷冻食品）、散装食品销售", "business_address": "山东省临沂市莒南县十字路街道文化路18号（示例）",
                                      "food_safety_manager": "李经办"}),
]


def _ministries(created):
    root = Region.objects.get(code=ROOT_CODE)
    result = {}
    for key, (name, kind) in MINISTRIES.items():
        demo_name = f"{name}（演示）"
        dept = Department.objects.filter(region=root, name=demo_name).first()
        if dept is None:
            dept = Department(name=demo_name, short_name=name[:40], region=root, credit_code=credit_code(kind, "100000", demo_name))
            dept.full_clean()
            dept.save()
            created["departments"] = created.get("departments", 0) + 1
        result[key] = dept
    return result


def load_certificate_demo(created):
    """Idempotent: ministries, types and their links to the demo items where missing."""
    with transaction.atomic():
        root = Region.objects.get(code=ROOT_CODE)
        ministries = _ministries(created)
        for ministry, seq, name, item_keys, holder_kind, fields, years, template, trust, stands_for, proof_source, rule in TYPES:
            code = f"{ministries[ministry].credit_code}{seq:03d}"
            ctype = CertificateType.objects.filter(code=code).first()
            if ctype is None:
                ctype = CertificateType.objects.create(
                    code=code, name=name, ministry_name=MINISTRIES[ministry][0], region=root, holder_kind=holder_kind, fields=fields,
                    validity_years=years, validity_rule=rule, trust_level=trust, template=template, proof_source=proof_source, stands_for=stands_for,
                )
                created["certificate_types"] = created.get("certificate_types", 0) + 1
            basic_codes = [ITEMS_BY_KEY[k]["basic_code"] for k in item_keys if k in ITEMS_BY_KEY]
            items = Item.objects.filter(basic_code__in=basic_codes)
            issuers = Department.objects.filter(pk__in=Implementation.objects.filter(item__in=items).values("department_id"))
            if proof_source:
                issuers = Department.objects.filter(name__contains=PROOF_PROVIDERS[proof_source]).exclude(region=root)
            ctype.issuing_departments.add(*issuers)
            ItemVersion.objects.filter(item__in=items, certificate_type__isnull=True).update(certificate_type=ctype)
    return []


def issue_wallet(applicants):
    """A few certificates for the demo applicants (once): the wallet and once-only use have something
    to show before any demo case concludes. Called by the case demo after the applicants exist."""
    from . import issuing

    issued = 0
    by_code = {a.code: a for a in applicants}
    for code, type_name, data in WALLET:
        applicant = by_code.get(code)
        ctype = CertificateType.objects.filter(name=type_name).order_by("code").first()
        if applicant is None or ctype is None or Certificate.objects.filter(holder_code=code, type=ctype).exists():
            continue
        issuer = ctype.issuing_departments.filter(region__code__startswith="371327").order_by("id").first() or ctype.issuing_departments.order_by("id").first()
        if issuer is None:
            continue
        holder = {"name": applicant.name, "code": code, "code_type": applicant.code_type, "applicant": applicant}
        issuing.issue(ctype, issuer, holder, data, source="import")
        issued += 1
    return issued
