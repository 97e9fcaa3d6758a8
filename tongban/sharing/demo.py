"""Demo base data, data services, sharing demands and grants (演示数据), idempotent.

- Base records: 张晓明's 社会保险参保 (莒南县人力资源和社会保障局) and 住房公积金缴存 (临沂市住房公积金管理中心),
  the demo company's 企业登记信息 (莒南县市场监督管理局).
- A data service per certificate type and issuing department, and per base-data kind and provider.
- Demands met by grants wherever a 莒南县 online item lists a material a certificate or e-proof can stand
  for (so 张晓明 and the demo company can use their certificates there), and one unmet demand.
"""

import hashlib

from django.db import transaction

from tongban.certificates.models import CertificateType
from tongban.directory.models import Department

from . import evidence
from .models import BaseRecord, DataService, ShareDemand, ShareGrant

PERSON = ("11010519491231002X", "张晓明（演示）")
COMPANY = ("91371327MA3C5X0P09", "莒南县演示食品有限公司")
COUNTY = "371327"

SOCIAL_INSURANCE = [("insured_unit", "参保单位"), ("insurance_types", "参保险种"), ("insured_status", "参保状态"),
                    ("insured_since", "首次参保年月"), ("paid_months", "累计缴费月数"), ("insured_place", "参保地")]
HOUSING_FUND = [("deposit_unit", "缴存单位"), ("account_status", "账户状态"), ("monthly_deposit", "月缴存额（元）"),
                ("deposit_since", "开户年月"), ("deposit_months", "累计缴存月数")]
ENTERPRISE = [("company_name", "企业名称"), ("credit_code", "统一社会信用代码"), ("legal_representative", "法定代表人"),
              ("business_address", "住所（经营场所）"), ("registered_capital", "注册资本（万元）"), ("established_on", "成立日期")]

# (kind, subject, provider name, fields, data)
RECORDS = [
    ("social_insurance", PERSON, "莒南县人力资源和社会保障局", SOCIAL_INSURANCE, {
        "insured_unit": "莒南县演示食品有限公司", "insurance_types": "职工基本养老保险、职工基本医疗保险、失业保险、工伤保险",
        "insured_status": "正常参保", "insured_since": "2013-07", "paid_months": "156", "insured_place": "山东省临沂市莒南县"}),
    ("housing_fund", PERSON, "临沂市住房公积金管理中心", HOUSING_FUND, {
        "deposit_unit": "莒南县演示食品有限公司", "account_status": "正常缴存", "monthly_deposit": "860", "deposit_since": "2015-03",
        "deposit_months": "128"}),
    ("enterprise", COMPANY, "莒南县市场监督管理局", ENTERPRISE, {
        "company_name": COMPANY[1], "credit_code": COMPANY[0], "legal_representative": "张晓明",
        "business_address": "山东省临沂市莒南县十字路街道文化路18号（示例）", "registered_capital": "100", "established_on": "2019-05-20"}),
]
PROOF_FIELDS = {"social_insurance": SOCIAL_INSURANCE, "housing_fund": HOUSING_FUND}
PROOF_STANDS_FOR = {"social_insurance": ["基本养老保险参保缴费凭证"]}
UNMET = ("莒南县市场监督管理局", "housing_fund", "核验企业为职工缴存住房公积金的情况（企业信用评价）")


def _fields(pairs):
    return [{"key": k, "label": label} for k, label in pairs]


def _count(created, key, n=1):
    if n:
        created[key] = created.get(key, 0) + n


def _records(created):
    out = []
    for kind, (code, name), provider_name, _pairs, data in RECORDS:
        provider = Department.objects.filter(name=provider_name).first()
        if provider is None:
            continue
        record, made = BaseRecord.objects.get_or_create(kind=kind, subject_code=code, provider=provider,
                                                        defaults={"subject_name": name, "region_path": provider.region.path, "data": data})
        _count(created, "base_records", int(made))
        out.append(record)
    return out


def _proof_types():
    """The demo e-proof types carry the base-data items as their face fields (where still empty) and
    stand for the proofs the demo items ask for."""
    for kind, pairs in PROOF_FIELDS.items():
        for ptype in CertificateType.objects.filter(proof_source=kind):
            changed = []
            if not ptype.fields:
                ptype.fields = [{"key": k, "label": label, "type": "text", "required": k in ("insured_unit", "deposit_unit")} for k, label in pairs]
                changed.append("fields")
            extra = [n for n in PROOF_STANDS_FOR.get(kind, []) if n not in (ptype.stands_for or [])]
            if extra:
                ptype.stands_for = [*(ptype.stands_for or []), *extra]
                changed.append("stands_for")
            if changed:
                ptype.save(update_fields=[*changed, "updated_at"])


def _services(created, records):
    services = []
    for ctype in CertificateType.objects.filter(is_active=True, proof_source="").prefetch_related("issuing_departments__region"):
        for dept in ctype.issuing_departments.all():
            code = f"c{hashlib.sha256(ctype.code.encode()).hexdigest()[:6]}-{dept.credit_code}"  # stable on every node
            svc, made = DataService.objects.get_or_create(code=code, defaults={
                "name": ctype.name, "provider": dept, "region_path": dept.region.path, "source": DataService.CERTIFICATE,
                "certificate_type": ctype, "fields": [{"key": f.get("key"), "label": f.get("label")} for f in ctype.fields or [] if isinstance(f, dict)]})
            _count(created, "data_services", int(made))
            services.append(svc)
    labels = dict(BaseRecord.KIND_CHOICES)
    pairs = {kind: pairs for kind, _s, _p, pairs, _d in RECORDS}
    for record in records:
        code = f"b-{record.kind}-{record.provider.credit_code}"[:40]
        svc, made = DataService.objects.get_or_create(code=code, defaults={
            "name": labels[record.kind], "provider": record.provider, "region_path": record.provider.region.path,
            "source": DataService.BASE_DATA, "base_kind": record.kind, "fields": _fields(pairs[record.kind])})
        _count(created, "data_services", int(made))
        services.append(svc)
    return services


def _standing(service):
    """The certificate type a service's data can stand for materials as (a proof type for base data)."""
    if service.source == DataService.CERTIFICATE:
        return service.certificate_type
    return CertificateType.objects.filter(proof_source=service.base_kind, is_active=True).order_by("code").first()


def _grants(created, services):
    from tongban.catalog.models import Implementation, ItemVersion

    wanted = {}  # (consumer id, service id) → item codes
    impls = (Implementation.objects.filter(region__code=COUNTY, is_active=True).select_related("item", "department"))
    for impl in impls:
        if "online" not in impl.get_modes_names():
            continue
        version = impl.item.versions.filter(status=ItemVersion.PUBLISHED).first()
        if version is None:
            continue
        names = [m.name for m in version.materials.all()]
        for svc in services:
            ctype = _standing(svc)
            if ctype is None or svc.provider_id == impl.department_id:
                continue
            if svc.source == DataService.CERTIFICATE and not svc.region_path.startswith(impl.region.path):
                continue  # the county's own issuers: the demo wallet's certificates come from them
            if any(evidence.stands_for(ctype, n) for n in names):
                wanted.setdefault((impl.department_id, svc.pk), set()).add(impl.item.basic_code)
    by_pk = {s.pk: s for s in services}
    for (consumer_id, service_id), codes in sorted(wanted.items()):
        svc, consumer = by_pk[service_id], Department.objects.get(pk=consumer_id)
        demand = ShareDemand.objects.filter(consumer=consumer, service=svc).first()
        if demand is None:
            demand = ShareDemand.objects.create(consumer=consumer, region_path=consumer.region.path, service=svc, data_name=svc.name,
                                                item_codes=sorted(codes), purpose="网上申请时由申请人授权使用，免于提交纸质材料（演示）",
                                                status=ShareDemand.MET, answer=f"已授权（{svc.name}）")
            _count(created, "share_demands")
        if not ShareGrant.objects.filter(service=svc, consumer=consumer, revoked_at__isnull=True).exists():
            ShareGrant.objects.create(service=svc, consumer=consumer, provider_region_path=svc.region_path, item_codes=sorted(codes), demand=demand)
            _count(created, "share_grants")


def _unmet(created, services):
    consumer = Department.objects.filter(name=UNMET[0]).first()
    svc = next((s for s in services if s.source == DataService.BASE_DATA and s.base_kind == UNMET[1]), None)
    if consumer is None or svc is None or ShareDemand.objects.filter(consumer=consumer, service=svc).exists():
        return
    from tongban.catalog.models import Implementation

    impls = Implementation.objects.filter(region__code=COUNTY).select_related("item").order_by("id")
    first = impls.first()
    codes = sorted(set(impls.filter(department=consumer).values_list("item__basic_code", flat=True)[:1])) or ([first.item.basic_code] if first else [])
    ShareDemand.objects.create(consumer=consumer, region_path=consumer.region.path, service=svc, data_name=svc.name, item_codes=codes,
                               purpose=UNMET[2], status=ShareDemand.OPEN)
    _count(created, "share_demands")


def load_sharing_demo(created):
    with transaction.atomic():
        records = _records(created)
        _proof_types()
        services = _services(created, records)
        _grants(created, services)
        _unmet(created, services)
    return []
