"""Demo 一件事 of 莒南县 (演示数据), from `items.BUNDLES` (catalog/data/yijianshi.csv), published through
`bundles.versioning` so their merged forms, materials and order of work are real; plus the real
per-item application forms of the items they include (built from each item spec's `form` rows).

Idempotent: a bundle is created only when its code is missing; an item version's form is replaced
only while it has none or still has the generic demo FORM of `demo.cases`.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.bundles import versioning
from tongban.bundles.models import Bundle, BundleVersion
from tongban.catalog.formdef import definition_errors
from tongban.catalog.models import ApplicationForm, Implementation, ItemVersion
from tongban.directory.models import Department, Membership, Region

from .items import BUNDLES, ITEMS_BY_KEY
from .places import PASSWORD, UNITS

REGION = "371327"
CATALOG_ADMIN = "demo_catalog"  # 莒南县 catalog_admin (places.STAFF)
SKIP = None  # asked by the application itself (送达方式、送达地址), not by the item's form

# label in an item's form → field(s): (key, type, meaning, extra attributes). A label may stand for
# two fields (姓名及证件号码). Meanings make fields of several items one field of a bundle's form.
LABELS = {
    "申请人姓名": [("applicant_name", "text", "applicant_name", {})],
    "申报人（父/母）姓名": [("applicant_name", "text", "applicant_name", {})],
    "公民身份号码": [("id_number", "id_number", "id_number", {})],
    "申报人公民身份号码": [("id_number", "id_number", "id_number", {})],
    "联系电话": [("phone", "phone", "phone", {})],
    "现居住地址": [("address", "address", "address", {})],
    "单位名称": [("company_name", "text", "company_name", {"max_length": 120})],
    "企业名称": [("company_name", "text", "company_name", {"max_length": 120})],
    "统一社会信用代码": [("credit_code", "credit_code", "credit_code", {})],
    "法定代表人（负责人）": [("legal_representative", "text", "legal_representative", {"max_length": 60})],
    "经办人姓名": [("agent_name", "text", "agent_name", {"max_length": 60})],
    "经办人联系电话": [("agent_phone", "phone", "agent_phone", {})],
    "住所": [("business_address", "address", "business_address", {})],
    "经营场所": [("business_address", "address", "business_address", {})],
    "注册资本（万元）": [("registered_capital", "number", "", {"min": 0})],
    "经营范围": [("business_scope", "text", "", {"max_length": 500})],
    "申请经营范围": [("licence_scope", "text", "", {"max_length": 200})],
    "拟投入车辆（辆）": [("vehicle_count", "number", "", {"min": 1, "max": 10000})],
    "驾驶人员（人）": [("driver_count", "number", "", {"min": 1, "max": 10000})],
    "主体业态": [("business_form", "text", "", {"max_length": 60})],
    "经营项目": [("business_items", "text", "", {"max_length": 200})],
    "食品安全管理人员": [("food_safety_manager", "text", "", {"max_length": 60})],
    "注销原因": [("dereg_reason", "text", "", {"max_length": 200})],
    "注销方式": [("dereg_method", "choice", "", {"choices": ["普通注销", "简易注销"]})],
    "主管税务机关": [("tax_authority", "text", "", {"max_length": 120})],
    "新生儿姓名": [("baby_name", "text", "baby_name", {"max_length": 40})],
    "儿童姓名": [("baby_name", "text", "baby_name", {"max_length": 40})],
    "性别": [("sex", "choice", "", {"choices": ["男", "女"]})],
    "出生时间": [("birth_time", "text", "", {"max_length": 20})],
    "出生日期": [("baby_birth_date", "date", "baby_birth_date", {})],
    "出生地点": [("birth_place", "text", "", {"max_length": 120})],
    "母亲姓名及证件号码": [("mother_name", "text", "mother_name", {"max_length": 40}),
                           ("mother_id_number", "id_number", "mother_id_number", {})],
    "父亲姓名及证件号码": [("father_name", "text", "father_name", {"max_length": 40}),
                           ("father_id_number", "id_number", "father_id_number", {})],
    "监护人姓名": [("guardian_name", "text", "guardian_name", {"max_length": 40})],
    "监护人": [("guardian_name", "text", "guardian_name", {"max_length": 40, "required": False})],
    "出生医学证明编号": [("birth_certificate_no", "text", "birth_certificate_no", {"max_length": 30})],
    "随父/随母落户": [("hukou_follow", "choice", "", {"choices": ["随父", "随母"]})],
    "落户地址": [("settle_address", "address", "", {})],
    "参保人员类别": [("insured_category", "choice", "", {"choices": ["新生儿", "学生儿童", "成年居民", "老年居民"]})],
    "民族": [("ethnicity", "text", "", {"max_length": 20})],
    "发卡银行": [("card_bank", "text", "", {"max_length": 60})],
    "领卡网点": [("card_outlet", "text", "", {"max_length": 100})],
    "残疾类别（申请）": [("disability_category", "choice", "",
                        {"choices": ["视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "精神残疾", "多重残疾"]})],
    "残疾人证号": [("disability_card_no", "text", "", {"max_length": 30})],
    "家庭类别": [("family_category", "choice", "", {"choices": ["最低生活保障家庭", "低收入家庭"]})],
    "结果领取方式": SKIP,
    "邮寄地址": SKIP,
}
# Per item: what a label means there (性别 of a birth is the newborn's) or why it differs (a company
# being set up has no credit code yet; a later licence gets it from the 营业执照 issued first).
OVERRIDES = {
    "company_setup": {"单位名称": {"label": "企业名称", "help": "须已通过名称自主申报"}, "企业名称": SKIP, "统一社会信用代码": SKIP},
    "food_business_licence": {"统一社会信用代码": {"required": False, "help": "已取得营业执照的填写；与营业执照一并申请的，登记后自动带入"}},
    "freight_licence": {"统一社会信用代码": {"required": False, "help": "已取得营业执照的填写；与营业执照一并申请的，登记后自动带入"}},
    "birth_certificate": {"性别": {"key": "baby_sex", "meaning": "baby_sex"}},
    "birth_registration": {"性别": {"key": "baby_sex", "meaning": "baby_sex"},
                           "出生医学证明编号": {"required": False, "help": "已取得出生医学证明的填写；与出生医学证明一并申请的，签发后自动带入"}},
    "resident_medical_insurance": {"监护人姓名": {"required": False}},
    "disability_allowance": {"残疾人证号": {"required": False, "help": "已持残疾人证的填写；与残疾人证一并申请的，发证后自动带入"}},
}
# Type by a word of the label, for labels the table does not know (the brief's inference rules).
_INFER = [("公民身份号码", "id_number"), ("身份证", "id_number"), ("电话", "phone"), ("手机", "phone"), ("日期", "date"),
          ("地址", "address"), ("信用代码", "credit_code")]


def form_for(spec):
    """The ApplicationForm definition of an item spec, from its `form` rows (label, example, help)."""
    _title, rows = spec["form"]
    overrides = OVERRIDES.get(spec["key"], {})
    fields, seen = [], set()
    for n, (label, example, note) in enumerate(rows, 1):
        override = overrides.get(label, {})
        known = LABELS.get(label, [(f"field_{n}", _infer(label), "", {})])
        if override is SKIP or known is SKIP:
            continue
        for key, kind, meaning, extra in known:
            f = {"key": key, "label": label, "type": kind, "required": True}
            if len(known) > 1:  # one row standing for two fields: each its own label
                f["label"] = {"name": "姓名", "id_number": "公民身份号码"}[key.split("_", 1)[1]]
                f["label"] = label.split("姓名")[0] + f["label"]
            f.update(extra)
            f.update(override)
            if meaning or override.get("meaning"):
                f["meaning"] = override.get("meaning", meaning)
            help_text = override.get("help") or note or (f"如：{example}" if kind in ("text", "address") and example else "")
            if help_text:
                f["help"] = help_text
            if f["key"] in seen:  # 单位名称 and 企业名称 are one field of the form
                continue
            seen.add(f["key"])
            fields.append(f)
    problems = definition_errors(fields)
    if problems:
        raise ValueError(f"{spec['name']}：{problems}")
    return fields


def _infer(label):
    return next((kind for word, kind in _INFER if word in label), "text")


# The demo bundles: entries are (item key, stage); promised days are the bundle's own (shorter than
# doing the items one by one), set the way these 一件事 are promised in practice.
DEMO = [
    {
        "code": "371327YJS001", "source": "新生儿出生", "name": "新生儿出生", "theme": "personal", "stage": "birth", "lead": "health",
        "order": BundleVersion.STAGED, "promised": 8, "policy": BundleVersion.PARTIAL, "delivery": ["mail", "online", "pickup"],
        "entries": [("birth_certificate", 1), ("vaccination_certificate", 2), ("birth_registration", 2),
                    ("resident_medical_insurance", 2), ("social_security_card", 2)],
        "description": "新生儿出生后，父母一次申请、一张表单、一套材料，同时办理出生医学证明、预防接种证、出生登记（落户）、"
                       "城乡居民医保参保登记和社会保障卡申领。出生医学证明签发后，其余事项由各部门同时办理，结果统一送达。",
        "conditions": "在依法取得助产技术服务资质的医疗机构内出生、父母至少一方户籍在莒南县的新生儿，由父母或监护人申请。",
    },
    {
        "code": "371327YJS002", "source": "开办餐饮店", "name": "开办餐饮店", "theme": "enterprise", "stage": "open", "lead": "approval",
        "order": BundleVersion.SEQUENTIAL, "promised": 4, "policy": BundleVersion.PARTIAL, "delivery": ["online", "mail", "pickup"],
        "entries": [("company_setup", 1), ("food_business_licence", 2)],
        "permit": "食品经营（餐饮）行业综合许可证",
        # 营业执照 is issued by the first step; the layout plan may follow under a signed commitment.
        "deferrable": ["营业执照", "与食品经营相适应的主要设备设施布局、操作流程等文件"],
        "market": [("银行开户预约", "中国农业银行莒南县支行（演示）", "预约开立企业基本存款账户，营业执照办结后银行联系您"),
                   ("公章刻制", "莒南县公章刻制服务点（演示）", "首套公章免费刻制，随营业执照一并寄递")],
        "description": "开办餐饮店一次申请：先办理营业执照（企业设立登记），随即办理食品经营许可，核发一张食品经营（餐饮）行业综合许可证，一证准营。",
        "conditions": "在莒南县申请设立从事餐饮服务的企业或个体工商户，企业名称已通过自主申报，经营场所符合食品安全要求。",
    },
    {
        "code": "371327YJS003", "source": "企业注销登记", "name": "企业注销", "theme": "enterprise", "stage": "close", "lead": "approval",
        "order": BundleVersion.PARALLEL, "promised": 1, "policy": BundleVersion.ALL_OR_NOTHING, "delivery": ["online", "mail"],
        "entries": [("company_deregistration", 1), ("tax_deregistration", 1)],
        "description": "企业注销“一网服务”：一次提交，市场主体注销登记和税务注销同步办理；任一事项不能办结的，整体不予注销，说明理由。",
        "conditions": "企业已依法清算（简易注销的，未发生债权债务或已清偿完结），清算或简易注销公告期已满且无异议。",
    },
    {
        "code": "371327YJS004", "source": "开办运输企业", "name": "开办运输企业", "theme": "enterprise", "stage": "open", "lead": "approval",
        "order": BundleVersion.SEQUENTIAL, "promised": 2, "policy": BundleVersion.PARTIAL, "delivery": ["online", "mail", "pickup"],
        "entries": [("company_setup", 1), ("freight_licence", 2)],
        "deferrable": ["营业执照"],
        "market": [("银行开户预约", "中国农业银行莒南县支行（演示）", "预约开立企业基本存款账户")],
        "description": "开办道路货物运输企业一次申请：办理营业执照后，接续办理道路货物运输经营许可。",
        "conditions": "在莒南县设立从事道路普通货物运输的企业，有与经营相适应的车辆、驾驶人员和安全生产管理制度。",
    },
    {
        "code": "371327YJS005", "source": "残疾人服务", "name": "残疾人服务", "theme": "personal", "stage": "work", "lead": "disabled",
        "order": BundleVersion.SEQUENTIAL, "promised": 20, "policy": BundleVersion.PARTIAL, "delivery": ["mail", "pickup", "online"],
        "entries": [("disability_card", 1), ("disability_allowance", 2)],
        "description": "残疾人证新办与困难残疾人生活补贴一次申请：残疾人证核发后，自动转民政部门审核生活补贴。",
        "conditions": "户籍在莒南县、符合残疾标准的残疾人；申请生活补贴的，属于最低生活保障家庭或低收入家庭。",
    },
]
HEALTH_APPROVER = {"username": "demo_approver_health", "name": "孙丽华（演示）", "department": "莒南县卫生健康局"}


def load_bundles(created):
    """Load the demo bundles (counts added to `created`); returns the extra demo accounts."""
    with transaction.atomic():
        region = Region.objects.get(code=REGION)
        impls = {
            i.item.basic_code: i
            for i in Implementation.objects.filter(region=region, is_active=True).select_related("item", "department")
        }
        wanted = {key for spec in DEMO for key, _ in spec["entries"]}
        _forms(wanted, created)
        missing = [spec for spec in DEMO if not Bundle.objects.filter(code=spec["code"]).exists()]
        if missing:
            # Published as 莒南县's catalogue administrator would: through the versioning service, audited.
            actor = get_user_model().objects.filter(username=CATALOG_ADMIN).first()
            if actor is None:
                raise LookupError(f"演示账号 {CATALOG_ADMIN} 不存在，无法发布演示一件事")
            for spec in missing:
                _bundle(spec, region, impls, actor)
                created["bundles"] += 1
        return [_health_approver(created)]


def _forms(keys, created):
    """Real forms for the bundled items' published versions (only where none or the generic one)."""
    from .cases import FORM

    versions = ItemVersion.objects.filter(status=ItemVersion.PUBLISHED, item__basic_code__in=[ITEMS_BY_KEY[k]["basic_code"] for k in keys])
    current = {f.version_id: f for f in ApplicationForm.objects.filter(version__in=versions)}
    by_code = {ITEMS_BY_KEY[k]["basic_code"]: ITEMS_BY_KEY[k] for k in keys}
    for version in versions.select_related("item"):
        form = current.get(version.pk)
        if form is not None and form.fields != FORM:
            continue
        fields = form_for(by_code[version.item.basic_code])
        if form is None:
            form = ApplicationForm(version=version, fields=fields)
        form.fields = fields
        form.full_clean()
        form.save()
        created["bundle_forms"] += 1


def _bundle(spec, region, impls, actor):
    entries = []
    for key, stage in spec["entries"]:
        impl = impls.get(ITEMS_BY_KEY[key]["basic_code"])
        if impl is None:
            raise LookupError(f"演示一件事“{spec['name']}”缺少莒南县的实施清单：{ITEMS_BY_KEY[key]['name']}")
        entries.append({"implementation": impl, "stage": stage})
    lead = Department.objects.get(region=region, name=_department_name(spec["lead"]))
    source = next(b for b in BUNDLES if b["name"] == spec["source"])
    bundle = versioning.create_bundle(actor, region, spec["code"], spec["name"], spec["theme"], spec["stage"], batch=source["batch"])
    draft = versioning.create_draft(
        actor, bundle, change_note="演示数据", name=spec["name"], description=spec["description"], conditions=spec["conditions"],
        lead_department=lead, order=spec["order"], refusal_policy=spec["policy"], promised_limit_days=spec["promised"],
        delivery_methods=spec["delivery"], combined_permit_name=spec.get("permit", ""), deferrable_materials=spec.get("deferrable", []),
    )
    versioning.set_entries(actor, draft, entries)
    for name, provider, description in spec.get("market", []):
        versioning.add_market_service(actor, draft, name, provider, description)
    return versioning.publish(actor, draft)


def _department_name(key):
    unit = next(u for u in UNITS if u["region"] == REGION)
    return next(d["name"] for d in unit["departments"] if key in d["keys"])


def _health_approver(created):
    """A 莒南县卫生健康局 approver, for the department's own review of 新生儿出生 (出生医学证明、预防接种证)."""
    spec = HEALTH_APPROVER
    User = get_user_model()
    user = User.objects.filter(username=spec["username"]).first()
    if user is None:
        user = User(username=spec["username"], first_name=spec["name"], is_staff=True, is_active=True, password=make_password(PASSWORD))
        user.full_clean()
        user.save()
        created["accounts"] += 1
    region = Region.objects.get(code=REGION)
    department = Department.objects.get(region=region, name=spec["department"])
    if not Membership.objects.filter(user=user, role="approver", region=region, department=department).exists():
        membership = Membership(user=user, role="approver", region=region, department=department)
        membership.full_clean()
        membership.save()
        created["memberships"] += 1
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        device = TOTPDevice(user=user, name="演示动态口令", confirmed=True)
        device.full_clean()
        device.save()
        created["totp_devices"] += 1
    return {
        "username": user.username, "name": user.get_full_name(), "role": "approver", "role_label": dict(Membership.ROLE_CHOICES)["approver"],
        "region": region.full_name() or region.name, "department": department.name, "window": "", "password": PASSWORD,
    }
