"""Shared fixtures for 一件事 tests: a bundle of several items in 莒南县, each with its own department,
staff and application form, published through the bundle versioning service.

    from tests.bundle_fixtures import bundle_world  # noqa: F401 (the fixture)

    def test_x(bundle_world):
        w = bundle_world(items=3, order="parallel", policy="partial")
        parent = w.apply()
"""

import pytest

from tests.conftest import PDF_BYTES, _serial, applicant_client, make_applicant, make_department, make_implementation, upload

REGION = "371327"
# Every item's form asks for these (merged into one by meaning), plus one field of its own.
SHARED_FIELDS = [
    {"key": "applicant_name", "label": "申请人姓名", "type": "text", "required": True},
    {"key": "id_no", "label": "公民身份号码", "type": "id_number", "required": True},
    {"key": "mobile", "label": "联系电话", "type": "phone", "required": True},
]
SHARED_MATERIAL = "申请人身份证明"  # needed by every item; its original is checked at the window
OPTIONAL_MATERIAL = "情况说明"  # deferrable under a commitment (告知承诺 + 容缺)


class BundleWorld:
    """`items` items in 莒南县, department i implementing item i (department 0 leads). Each item: the
    shared form fields + `own_<i>` (required text), materials “申请人身份证明” (shared, original
    checked), “<item>申请书” (own) and, when `deferrable`, “情况说明” (shared, required, deferrable)."""

    def __init__(self, staff_factory, items=3, order="parallel", policy="partial", permit_name="", deferrable=False,
                 stages=None, market_services=(), conflicting=False, service_objects="1", produced=False):
        from tongban.bundles import versioning
        from tongban.catalog.models import ApplicationForm, Item, ItemVersion, Material
        from tongban.directory.models import Region

        from .conftest import GUIDE_DEFAULTS

        _serial[0] += 1
        n = _serial[0]
        self.region = Region.objects.get(code=REGION)
        self.departments, self.items, self.versions, self.impls = [], [], [], []
        self.approvers, self.approver_clients, self.clerks = [], [], []
        for i in range(items):
            dept = make_department(REGION, f"一件事测试部门{n}-{i}")
            item = Item.objects.create(basic_code=f"00{(n * 10 + i) % 10**7:07d}{i:03d}"[:12], name=f"测试事项{n}-{i}", item_type="01", region=self.region)
            iv = ItemVersion.objects.create(item=item, version_no=1, name=item.name, status=ItemVersion.PUBLISHED, service_objects=service_objects,
                                            result_name=f"测试许可证{i}", **GUIDE_DEFAULTS)
            fields = [dict(f) for f in SHARED_FIELDS] + [{"key": f"own_{i}", "label": f"事项{i}专有信息", "type": "text", "required": True}]
            if conflicting and i in (1, 2):  # one meaning, two different lists of choices
                choices = ["甲", "乙"] if i == 1 else ["甲", "丙"]
                fields.append({"key": "kind", "label": "经营类别", "type": "choice", "choices": choices, "meaning": "business_kind"})
            ApplicationForm.objects.create(version=iv, fields=fields)
            Material.objects.create(version=iv, seq=1, name=SHARED_MATERIAL, original_check=True)
            Material.objects.create(version=iv, seq=2, name=f"{item.name}申请书")
            if deferrable:
                Material.objects.create(version=iv, seq=3, name=OPTIONAL_MATERIAL)
            if produced and i:  # what item 0 issues, later items need (营业执照 before 食品经营许可)
                Material.objects.create(version=iv, seq=4, name="测试许可证0", source="government")
            impl = make_implementation(item, dept)
            approver, approver_client = staff_factory("approver", REGION, dept)
            clerk, _clerk_client = staff_factory("clerk", REGION, dept)
            self.departments.append(dept)
            self.items.append(item)
            self.versions.append(iv)
            self.impls.append(impl)
            self.approvers.append(approver)
            self.approver_clients.append(approver_client)
            self.clerks.append(clerk)
        self.lead = self.departments[0]
        self.lead_clerk, self.lead_clerk_client = self.clerks[0], None
        from .conftest import verified_client

        self.lead_clerk_client = verified_client(self.lead_clerk)
        self.admin, _ = staff_factory("catalog_admin", REGION)
        self.code = f"YJS{n:05d}"
        bundle = versioning.create_bundle(self.admin, self.region, self.code, f"测试一件事{n}", "personal", "birth")
        draft = versioning.create_draft(self.admin, bundle, name=f"测试一件事{n}", lead_department=self.lead, order=order,
                                        refusal_policy=policy, promised_limit_days=10, delivery_methods=["mail", "online", "pickup"],
                                        combined_permit_name=permit_name, deferrable_materials=[OPTIONAL_MATERIAL] if deferrable else [])
        stages = stages or [1] * items
        versioning.set_entries(self.admin, draft, [{"implementation": impl, "stage": s} for impl, s in zip(self.impls, stages)])
        for name in market_services:
            versioning.add_market_service(self.admin, draft, name, f"{name}服务机构")
        self.bundle = bundle
        if conflicting:
            draft.refresh_from_db()
            self.version = draft
            return
        self.version = versioning.publish(self.admin, draft)
        self.version.refresh_from_db()
        self.applicant = make_applicant(name="王小明", phone="13800138111")
        self.client = applicant_client(self.applicant)

    # --- the merged definition ---

    def group(self, name):
        return next(g for g in self.version.material_groups if g["name"] == name)

    def group_keys(self, required_only=True):
        return [g["key"] for g in self.version.material_groups if not required_only or g["necessity"] == "required"]

    def form(self, **extra):
        keys = {f["key"] for f in self.version.form_fields}
        data = {"applicant_name": self.applicant.name, "id_number": self.applicant.id_number, "phone": self.applicant.phone}
        for f in self.version.form_fields:
            if f["key"].startswith("own_"):
                data[f["key"]] = f"{f['key']}的内容"
        data.update(extra)
        return {k: v for k, v in data.items() if k in keys}

    def uploads(self, skip=()):
        return {g["key"]: upload(f"{g['name']}.pdf", PDF_BYTES + g["name"].encode()) for g in self.version.material_groups
                if g["key"] not in skip and not (g.get("deferrable") and g["key"] in skip)}

    def apply(self, submit=True, token=None, skip=(), commitments=None, market_services=None, form=None, user=None, **kw):
        from tongban.bundles import applying

        materials = self.uploads(skip=skip)
        if commitments:
            for key in commitments:
                materials.pop(key, None)
        return applying.apply(self.applicant, user or self.applicant.user, self.code, form if form is not None else self.form(), None, materials,
                              delivery_method=kw.pop("delivery_method", "mail"), delivery_address=kw.pop("delivery_address", "山东省临沂市莒南县十字路街道1号"),
                              commitments=commitments, market_services=market_services, submit_now=submit, token=token, **kw)

    # --- the steps ---

    def children(self, parent):
        from tongban.cases.models import Case

        return list(Case.objects.filter(bundle_case=parent).select_related("item_version", "department").order_by("bundle_entry__seq"))

    def accept(self, parent, originals=None):
        from tongban.bundles import coordination

        originals = [self.group(SHARED_MATERIAL)["key"]] if originals is None else originals
        return coordination.intake(parent.pk, self.lead_clerk, "accept", identity_method="id_reader", originals_checked=originals)

    def approver_of(self, child):
        return self.approvers[self.departments.index(next(d for d in self.departments if d.pk == child.department_id))]

    def approve(self, child, conclude=True):
        from tongban.cases import handling

        who = self.approver_of(child)
        handling.perform(child.pk, "approve", who, params={"certificate_no": f"ZS-{child.pk}"})
        if conclude:
            handling.perform(child.pk, "conclude", who)

    def deny(self, child, reason="不符合法定条件", conclude=True):
        from tongban.cases import handling

        who = self.approver_of(child)
        handling.perform(child.pk, "deny", who, opinion=reason)
        if conclude:
            handling.perform(child.pk, "conclude", who)


@pytest.fixture
def bundle_world(staff_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: BundleWorld(staff_factory, **kw)
