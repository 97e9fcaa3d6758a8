"""一件事 catalogue: merging of forms and materials, the order of work as BPMN, versioning and its
authorisation, the admin reporting conflicts on save, the 服务清单 and guide pages, and the demo bundles."""

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings

from tests.conftest import make_department, make_implementation, make_item
from tongban.bundles import merging, versioning
from tongban.bundles.models import Bundle, BundleEntry, BundleVersion, MarketService
from tongban.cases import workflow
from tongban.catalog.models import ApplicationForm, Material
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError
from tongban.core.models import AuditEntry

_n = [0]


def _code():
    _n[0] += 1
    return f"0099{_n[0]:05d}000"


def form_item(name, fields, materials=("申请表", "申请人有效身份证件"), necessity=None):
    """A published item whose version has `fields` as its application form."""
    item = make_item(name, _code(), materials=materials)
    version = item.versions.get()
    ApplicationForm.objects.create(version=version, fields=fields)
    for material_name, value in (necessity or {}).items():
        Material.objects.filter(version=version, name=material_name).update(necessity=value)
    return item


class World:
    """Two departments of 莒南县, their catalogue administrator and items whose forms overlap."""

    def __init__(self, staff_factory):
        self.lead = make_department("371327", f"莒南县牵头局{_n[0]}")
        self.other = make_department("371327", f"莒南县协同局{_n[0]}")
        self.admin, self.client = staff_factory("catalog_admin", "371327")
        self.region = self.lead.region
        self.a = form_item("甲事项", [
            {"key": "name", "label": "申请人姓名", "type": "text", "required": False, "max_length": 40},
            {"key": "tel", "label": "联系电话", "type": "phone", "required": True},
            {"key": "reason", "label": "申请事由", "type": "text", "required": True},
        ], materials=("甲申请表", "申请人有效身份证件", "授权委托书"), necessity={"申请人有效身份证件": "conditional", "授权委托书": "optional"})
        self.b = form_item("乙事项", [
            {"key": "xm", "label": "姓名", "type": "text", "required": True, "max_length": 20},
            {"key": "mobile", "label": "手机号码", "type": "phone"},
            {"key": "reason", "label": "办理原因", "type": "text"},
            {"key": "scope", "label": "经营范围", "type": "text"},
        ], materials=("乙申请表", "申请人 有效身份证件", "授权委托书"))
        self.c = form_item("丙事项", [
            {"key": "tel", "label": "联系电话", "type": "text"},
            {"key": "sex", "label": "性别", "type": "choice", "choices": ["男", "女"], "meaning": "baby_sex"},
        ])
        self.d = form_item("丁事项", [
            {"key": "sex", "label": "新生儿性别", "type": "choice", "choices": ["男", "女", "未说明"]},
            {"key": "scope", "label": "经营范围", "type": "text"},
        ])
        self.impl = {k: make_implementation(getattr(self, k), self.lead if k in "ac" else self.other, region_code="371327") for k in "abcd"}

    def bundle(self, *keys, order=BundleVersion.PARALLEL, stages=None, code=None, **fields):
        bundle = versioning.create_bundle(self.admin, self.region, code or f"T{_code()}", "测试一件事", "personal", "birth")
        draft = versioning.create_draft(self.admin, bundle, name="测试一件事", lead_department=self.lead, order=order, promised_limit_days=5,
                                        delivery_methods=["mail"], **fields)
        stages = stages or [1] * len(keys)
        versioning.set_entries(self.admin, draft, [{"implementation": self.impl[k], "stage": s} for k, s in zip(keys, stages, strict=True)])
        draft.refresh_from_db()
        return draft


@pytest.fixture
def world(db, staff_factory):
    return World(staff_factory)


def _entry_keys(version):
    return [e.key for e in version.entries.order_by("seq")]


# --- one form -------------------------------------------------------------------------------------

def test_fields_of_one_meaning_merge_once_and_required_is_ored(world):
    v = world.bundle("a", "b")
    ea, eb = _entry_keys(v)
    by_key = {f["key"]: f for f in v.form_fields}
    assert v.merge_problems == []
    name = by_key["applicant_name"]
    assert name["label"] == "申请人姓名" and name["required"] is True and name["max_length"] == 20
    assert name["entries"] == [ea, eb] and name["meaning"] == "applicant_name"
    assert by_key["phone"]["required"] is True and by_key["phone"]["entries"] == [ea, eb]
    assert [f["label"] for f in v.form_fields].count("申请人姓名") == 1
    assert v.field_map[ea] == {"name": "applicant_name", "tel": "phone", "reason": "reason"}
    assert v.field_map[eb]["xm"] == "applicant_name" and v.field_map[eb]["mobile"] == "phone"
    # each department receives its own item's fields, under its own keys
    data = {"applicant_name": "张三", "phone": "13800138000", "reason": "开店", f"reason_{eb}": "变更"}
    assert merging.split_form(v, ea, data) == {"name": "张三", "tel": "13800138000", "reason": "开店"}
    assert merging.split_form(v, eb, data) == {"xm": "张三", "mobile": "13800138000", "reason": "变更"}
    assert {f["key"] for f in merging.entry_fields(v, eb)} == {"applicant_name", "phone", f"reason_{eb}", "scope"}
    assert all("entries" not in f and "meaning" not in f for f in merging.validation_fields(v))


def test_an_items_own_field_keeps_its_key_and_same_key_other_label_is_not_merged(world):
    v = world.bundle("a", "b", "d")
    ea, eb, ed = _entry_keys(v)
    keys = [f["key"] for f in v.form_fields]
    assert "reason" in keys and f"reason_{eb}" in keys  # 申请事由 ≠ 办理原因 though both are "reason"
    labels = {f["key"]: f["label"] for f in v.form_fields}
    assert labels["reason"] == "申请事由" and labels[f"reason_{eb}"] == "办理原因"
    # same key and same label (an item's own field in two items) is one field
    assert keys.count("scope") == 1 and {f["key"]: f for f in v.form_fields}["scope"]["entries"] == [eb, ed]


def test_type_and_choice_conflicts_are_reported_naming_both_items(world):
    v = world.bundle("a", "c", "d")
    problems = v.merge_problems
    assert len(problems) == 2, problems
    phone, sex = problems
    assert "联系电话" in phone and "《甲事项》" in phone and "《丙事项》" in phone and "类型不一致" in phone
    assert "手机号码" in phone and "文本" in phone
    assert "新生儿性别" in sex and "《丙事项》" in sex and "《丁事项》" in sex and "可选项不一致" in sex and "未说明" in sex
    # the conflicting field still appears once (the first definition) until it is fixed
    assert [f["key"] for f in v.form_fields].count("phone") == 1


# --- one set of materials --------------------------------------------------------------------------

def test_materials_needed_by_several_items_appear_once_with_the_strongest_necessity(world):
    v = world.bundle("a", "b", "c")
    ea, eb, ec = _entry_keys(v)
    groups = {g["name"]: g for g in v.material_groups}
    assert [g["name"] for g in v.material_groups] == ["甲申请表", "申请人有效身份证件", "授权委托书", "乙申请表", "申请表"]
    ident = groups["申请人有效身份证件"]  # "申请人 有效身份证件" of 乙 normalises to the same name
    assert ident["necessity"] == "required" and ident["entry_ids"] == [ea, eb, ec] and ident["items"] == ["甲事项", "乙事项", "丙事项"]
    assert len(ident["material_ids"]) == 3
    assert groups["授权委托书"]["necessity"] == "required" and groups["授权委托书"]["entry_ids"] == [ea, eb]
    assert groups["甲申请表"]["entry_ids"] == [ea]


def test_a_material_issued_by_an_earlier_stage_is_marked_produced(world):
    world.a.versions.update(result_name="乙申请表")
    staged = world.bundle("a", "b", order=BundleVersion.STAGED, stages=[1, 2])
    ea, _eb = _entry_keys(staged)
    groups = {g["name"]: g for g in staged.material_groups}
    assert groups["乙申请表"]["produced_by"] == ea and "produced_by" not in groups["授权委托书"]
    parallel = world.bundle("a", "b")  # issued at the same time: the applicant still brings it
    assert all("produced_by" not in g for g in parallel.material_groups)


def test_deferrable_materials_are_marked_and_unknown_ones_reported(world):
    v = world.bundle("a", "b", deferrable_materials=["授权委托书"])
    assert {g["name"]: g["deferrable"] for g in v.material_groups}["授权委托书"] is True
    assert {g["name"]: g["deferrable"] for g in v.material_groups}["甲申请表"] is False
    v = versioning.update_draft(world.admin, v, deferrable_materials=["授权委托书", "不存在的材料"])
    assert any("不存在的材料" in p for p in v.merge_problems)


# --- order of work -----------------------------------------------------------------------------------

@pytest.mark.parametrize("order, stages", [
    (BundleVersion.SEQUENTIAL, [1, 1, 1]),  # the stage is ignored: each entry its own step, in order
    (BundleVersion.STAGED, [1, 2, 2]),
    (BundleVersion.STAGED, [2, 1, 1]),
    (BundleVersion.PARALLEL, [3, 1, 2]),  # all at once whatever the stages say
])
def test_order_of_work_is_valid_bpmn_starting_with_the_first_stage(world, order, stages):
    v = world.bundle("a", "b", "d", order=order, stages=stages)
    keys = _entry_keys(v)
    assert workflow.parse_definition(v.bpmn_xml)
    state = workflow.start(v.bpmn_xml, {})
    ready = sorted(s.name for s in workflow.ready_steps(v.bpmn_xml, state))
    expected = {
        BundleVersion.SEQUENTIAL: [keys[0]],
        BundleVersion.PARALLEL: sorted(keys),
    }.get(order) or sorted(k for k, s in zip(keys, stages, strict=True) if s == min(stages))
    assert ready == expected, (order, stages)


# --- versioning ------------------------------------------------------------------------------------

def test_publish_is_refused_while_conflicts_remain(world):
    v = world.bundle("a", "c")
    with pytest.raises(DomainError) as exc:
        versioning.publish(world.admin, v)
    assert "联系电话" in exc.value.message and "先处理后再发布" in exc.value.message
    assert exc.value.details["problems"] == v.merge_problems
    v.refresh_from_db()
    assert v.status == BundleVersion.DRAFT
    # fixing the entries (dropping the conflicting item) lets it publish
    versioning.set_entries(world.admin, v, [{"implementation": world.impl["a"]}, {"implementation": world.impl["b"]}])
    assert versioning.publish(world.admin, v).status == BundleVersion.PUBLISHED


def test_publish_retires_the_previous_version_and_published_ones_are_immutable(world):
    v1 = world.bundle("a", "b")
    versioning.add_market_service(world.admin, v1, "银行开户预约", "测试银行")
    versioning.publish(world.admin, v1)
    with pytest.raises(Conflict):
        versioning.update_draft(world.admin, v1, promised_limit_days=3)
    with pytest.raises(Conflict):
        versioning.set_entries(world.admin, v1, [{"implementation": world.impl["a"]}])
    with pytest.raises(Conflict):
        versioning.add_market_service(world.admin, v1, "公章刻制", "测试刻章店")
    v2 = versioning.edit(world.admin, v1, change_note="压缩时限", promised_limit_days=3)
    assert v2.pk != v1.pk and v2.version_no == 2 and v2.status == BundleVersion.DRAFT and v2.promised_limit_days == 3
    assert [e.implementation_id for e in v2.entries.order_by("seq")] == [world.impl["a"].pk, world.impl["b"].pk]
    assert list(v2.market_services.values_list("name", flat=True)) == ["银行开户预约"]
    assert [f["label"] for f in v2.form_fields] == [f["label"] for f in v1.form_fields] and v2.merge_problems == []
    assert list(v2.cooperating_departments.all()) == [world.other]
    versioning.publish(world.admin, v2)
    v1.refresh_from_db()
    assert v1.status == BundleVersion.RETIRED and v1.retired_at is not None
    assert v1.bundle.versions.filter(status=BundleVersion.PUBLISHED).get() == v2
    versioning.retire(world.admin, v2)
    assert v1.bundle.versions.filter(status=BundleVersion.PUBLISHED).count() == 0
    actions = list(AuditEntry.objects.filter(object_type="bundles.bundleversion").values_list("action", flat=True))
    assert {"bundle_version.draft", "bundle_version.entries", "bundle_version.publish", "bundle_version.retire"} <= set(actions)


def test_cooperating_departments_follow_the_entries(world):
    v = world.bundle("a", "c")
    assert list(v.cooperating_departments.all()) == []
    versioning.set_entries(world.admin, v, [{"implementation": world.impl["a"]}, {"implementation": world.impl["b"]}])
    assert list(v.cooperating_departments.all()) == [world.other]


def test_entries_are_checked(world):
    v = world.bundle("a")
    outside = make_implementation(world.b, make_department("110105", "北京测试局"), region_code="110105")
    inactive = make_implementation(form_item("停用事项", []), world.lead, region_code="371327")
    inactive.is_active = False
    inactive.save()
    cases = [
        ([{"implementation": outside}], "不在本一件事的发布区划"),
        ([{"implementation": inactive}], "已停用"),
        ([{"implementation": world.impl["a"]}, {"implementation": world.impl["a"]}], "重复纳入"),
        ([{"implementation": world.impl["b"]}], "牵头部门"),
        ([], "至少应包含一个事项"),
        ([{"implementation": world.impl["a"], "stage": 0}], "办理阶段"),
        ([{"implementation": "x"}], "事项无效"),
    ]
    for entries, message in cases:
        with pytest.raises(DomainError, match=message):
            versioning.set_entries(world.admin, v, entries)
    assert list(v.entries.values_list("implementation_id", flat=True)) == [world.impl["a"].pk]  # nothing half-written


def test_bad_bundle_input_is_a_chinese_message(world):
    with pytest.raises(DomainError, match="生命周期阶段"):
        versioning.create_bundle(world.admin, world.region, "X1", "错阶段", "personal", "open")
    bundle = versioning.create_bundle(world.admin, world.region, "X2", "测试", "enterprise", "open")
    with pytest.raises(ValidationError):
        versioning.create_bundle(world.admin, world.region, "X2", "重复编码", "enterprise", "open")
    with pytest.raises(DomainError, match="未知"):
        versioning.create_draft(world.admin, bundle, lead_department=world.lead, promised_limit_days=1, delivery_methods=["mail"], status="published")
    with pytest.raises(DomainError, match="可容缺材料"):
        versioning.create_draft(world.admin, bundle, lead_department=world.lead, promised_limit_days=1, delivery_methods=["mail"], deferrable_materials="x")
    assert not bundle.versions.exists()


def test_only_catalog_admins_of_the_bundles_region_may_change_it(world, staff_factory):
    v = world.bundle("a", "b")
    clerk, _ = staff_factory("clerk", "371327")
    elsewhere, _ = staff_factory("catalog_admin", "110000")
    for user in (clerk, elsewhere):
        with pytest.raises(PermissionDenied):
            versioning.create_bundle(user, world.region, f"N{user.pk}", "越权", "personal", "birth")
        with pytest.raises(PermissionDenied):
            versioning.update_draft(user, v, promised_limit_days=1)
        with pytest.raises(PermissionDenied):
            versioning.set_entries(user, v, [{"implementation": world.impl["a"]}])
        with pytest.raises(PermissionDenied):
            versioning.publish(user, v)
        with pytest.raises(PermissionDenied):
            versioning.create_draft(user, v.bundle, based_on=v)
    v.refresh_from_db()
    assert v.status == BundleVersion.DRAFT and v.promised_limit_days == 5 and v.bundle.versions.count() == 1
    # a province's administrator above the county may
    province, _ = staff_factory("catalog_admin", "370000")
    assert versioning.update_draft(province, v, promised_limit_days=4).promised_limit_days == 4


# --- admin -------------------------------------------------------------------------------------------

def _admin_post(version, entries, **overrides):
    data = {
        "change_note": "", "name": version.name, "description": "说明", "conditions": "情形", "promised_limit_days": "5",
        "delivery_methods": ["mail"], "lead_department": str(version.lead_department_id), "order": version.order,
        "refusal_policy": version.refusal_policy, "combined_permit_name": "", "deferrable_materials": "[]",
        "entries-TOTAL_FORMS": str(len(entries)), "entries-INITIAL_FORMS": "0", "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000",
        "market_services-TOTAL_FORMS": "0", "market_services-INITIAL_FORMS": "0", "market_services-MIN_NUM_FORMS": "0",
        "market_services-MAX_NUM_FORMS": "1000",
    }
    existing = list(version.entries.order_by("seq"))
    data["entries-TOTAL_FORMS"] = str(len(existing) + len(entries))
    data["entries-INITIAL_FORMS"] = str(len(existing))
    for n, e in enumerate(existing):
        data |= {f"entries-{n}-id": str(e.pk), f"entries-{n}-version": str(version.pk), f"entries-{n}-seq": str(e.seq),
                 f"entries-{n}-stage": str(e.stage), f"entries-{n}-implementation": str(e.implementation_id)}
    for n, impl in enumerate(entries, len(existing)):
        data |= {f"entries-{n}-version": str(version.pk), f"entries-{n}-seq": "", f"entries-{n}-stage": "1", f"entries-{n}-implementation": str(impl.pk)}
    data.update(overrides)
    return data


def test_admin_save_reports_conflicts_and_publishing_is_refused(world):
    v = world.bundle("a")
    url = f"/admin/bundles/bundleversion/{v.pk}/change/"
    page = world.client.get(url)
    assert page.status_code == 200 and "合并后的申请表" in page.content.decode()
    response = world.client.post(url, _admin_post(v, [world.impl["c"], world.impl["d"]]), follow=True)
    body = response.content.decode()
    assert response.status_code == 200, body[:3000]
    messages = [str(m) for m in response.context["messages"]]
    warning = next(m for m in messages if "冲突" in m)
    assert "2处冲突" in warning and "《甲事项》" in warning and "《丙事项》" in warning and "《丁事项》" in warning
    v.refresh_from_db()
    assert v.entries.count() == 3 and len(v.merge_problems) == 2 and v.description == "说明"
    assert "类型不一致" in body  # the version page lists the problems too
    refused = world.client.post(f"/admin/bundles/bundleversion/{v.pk}/publish/", follow=True)
    assert any("先处理后再发布" in str(m) and "联系电话" in str(m) for m in refused.context["messages"])
    v.refresh_from_db()
    assert v.status == BundleVersion.DRAFT


def test_admin_refuses_a_lead_department_outside_the_entries_before_saving(world):
    v = world.bundle("a")
    response = world.client.post(f"/admin/bundles/bundleversion/{v.pk}/change/", _admin_post(v, [], lead_department=str(world.other.pk),
                                                                                         description="改了"))
    assert response.status_code == 200 and "牵头部门应为本一件事所含事项的实施部门之一" in response.content.decode()
    v.refresh_from_db()
    assert v.lead_department == world.lead and v.description == ""  # nothing half-written


def test_admin_publish_without_conflicts_and_published_is_read_only(world):
    v = world.bundle("a", "b")
    response = world.client.post(f"/admin/bundles/bundleversion/{v.pk}/publish/", follow=True)
    assert any("已发布" in str(m) for m in response.context["messages"])
    v.refresh_from_db()
    assert v.status == BundleVersion.PUBLISHED
    post = world.client.post(f"/admin/bundles/bundleversion/{v.pk}/change/", _admin_post(v, [], description="偷改"))
    assert post.status_code == 403
    v.refresh_from_db()
    assert v.description == ""


def test_admin_is_scoped(world, staff_factory):
    v = world.bundle("a", "b")
    _, elsewhere = staff_factory("catalog_admin", "110000")
    listing = elsewhere.get("/admin/bundles/bundleversion/")
    assert listing.status_code == 200 and "测试一件事" not in listing.content.decode()
    assert elsewhere.post(f"/admin/bundles/bundleversion/{v.pk}/change/", _admin_post(v, [])).status_code in (302, 403, 404)
    refused = elsewhere.post(f"/admin/bundles/bundleversion/{v.pk}/publish/")
    assert refused.status_code == 302
    v.refresh_from_db()
    assert v.status == BundleVersion.DRAFT
    _, clerk = staff_factory("clerk", "371327")
    assert clerk.get("/admin/bundles/bundleversion/").status_code in (302, 403)
    assert "测试一件事" in world.client.get("/admin/bundles/bundleversion/").content.decode()


def test_admin_creates_a_bundle_through_the_service(world):
    response = world.client.post("/admin/bundles/bundle/add/", {
        "code": "371327YJS900", "name": "管理端新建", "theme": "enterprise", "stage": "close", "region": str(world.region.pk), "batch": "",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    bundle = Bundle.objects.get(code="371327YJS900")
    assert AuditEntry.objects.filter(action="bundle.create", object_id=str(bundle.pk)).exists()
    bad = world.client.post("/admin/bundles/bundle/add/", {
        "code": "371327YJS901", "name": "错阶段", "theme": "personal", "stage": "close", "region": str(world.region.pk),
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    })
    assert bad.status_code == 400 and not Bundle.objects.filter(code="371327YJS901").exists()


# --- portal pages ----------------------------------------------------------------------------------

def test_list_and_guide_pages_show_published_bundles_only(world, client):
    v = world.bundle("a", "b", code="371327T001")
    versioning.add_market_service(world.admin, v, "银行开户预约", "测试银行", "代为预约")
    assert client.get("/bundles/371327T001/").status_code == 404  # a draft is not public
    versioning.publish(world.admin, v)
    listing = client.get("/bundles/").content.decode()
    assert "个人全生命周期" in listing and "出生" in listing and "测试一件事" in listing and world.lead.name in listing
    assert "/bundles/371327T001/" in listing
    assert "测试一件事" not in client.get("/bundles/", {"q": "不存在"}).content.decode()
    assert "测试一件事" in client.get("/bundles/", {"q": "测试"}).content.decode()
    assert "测试一件事" in client.get("/bundles/", {"region": ["370000", "371300", "371327"]}).content.decode()
    assert "测试一件事" in client.get("/bundles/", {"region": ["370000"]}).content.decode()
    assert "测试一件事" not in client.get("/bundles/", {"region": ["110000"]}).content.decode()
    page = client.get("/bundles/371327T001/")
    body = page.content.decode()
    assert page.status_code == 200
    materials = body[body.index('id="sec-materials"'):body.index('id="sec-form"')]
    assert materials.count("<strong class=\"m-title\">申请人有效身份证件</strong>") == 1
    assert materials.count("<strong class=\"m-title\">授权委托书</strong>") == 1 and "甲事项、乙事项" in materials
    form = body[body.index('id="sec-form"'):body.index('id="sec-result"')]
    assert form.count("<strong>申请人姓名</strong>") == 1 and f"{world.lead.name}、{world.other.name}" in form
    assert "/bundles/371327T001/apply/" in body and "在线申请" in body and "银行开户预约" in body
    assert f"/guide/{world.impl['a'].implementation_code}/" in body and world.other.name in body
    assert client.get("/bundles/NOPE/").status_code == 404
    assert client.get("/bundles/%00x/").status_code == 404


# --- demo bundles (loaded once for the rest of this module, rolled back at its end) ------------------

@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from tongban.demo.loader import load_demo

    media = tmp_path_factory.mktemp("bundle_demo_media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield {"summary": load_demo(), "media": media}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _demo_version(name):
    return BundleVersion.objects.get(bundle__code__startswith="371327YJS", name=name, status=BundleVersion.PUBLISHED)


@pytest.mark.django_db
def test_demo_bundles_are_published_without_problems(demo):
    from tongban.demo.bundles import DEMO

    assert demo["summary"]["created"]["bundles"] == len(DEMO) >= 5
    for spec in DEMO:
        v = _demo_version(spec["name"])
        assert v.merge_problems == [], (spec["name"], v.merge_problems)
        assert v.bpmn_xml and workflow.parse_definition(v.bpmn_xml)
        impls = [e.implementation for e in v.entries.select_related("implementation__department")]
        assert v.promised_limit_days < sum(i.promised_limit_days for i in impls), spec["name"]
        assert v.lead_department_id in {i.department_id for i in impls}
        assert set(v.cooperating_departments.values_list("pk", flat=True)) == {i.department_id for i in impls} - {v.lead_department_id}
        assert all(i.region.code == "371327" for i in impls)
        for f in merging.validation_fields(v):
            assert f["type"] in ("text", "number", "date", "choice", "id_number", "credit_code", "phone", "address")
    newborn = _demo_version("新生儿出生")
    entries = list(newborn.entries.select_related("implementation__item", "implementation__department"))
    assert [e.implementation.item.name for e in entries][0] == "出生医学证明（首次签发）" and len(entries) == 5
    assert newborn.lead_department.name == "莒南县卫生健康局" and newborn.order == BundleVersion.STAGED
    assert newborn.bundle.theme == "personal" and newborn.bundle.stage == "birth"
    state = workflow.start(newborn.bpmn_xml, {})
    assert [s.name for s in workflow.ready_steps(newborn.bpmn_xml, state)] == [entries[0].key]
    labels = [f["label"] for f in newborn.form_fields]
    assert len(labels) == len(set(labels)) and "新生儿姓名" in labels and "新生儿性别" in labels
    names = [g["name"] for g in newborn.material_groups]
    assert names.count("出生医学证明") == 1
    assert len({g["name"]: g for g in newborn.material_groups}["出生医学证明"]["entry_ids"]) == 3
    food = _demo_version("开办餐饮店")
    assert food.order == BundleVersion.SEQUENTIAL and food.combined_permit_name == "食品经营（餐饮）行业综合许可证"
    assert list(food.market_services.values_list("name", flat=True)) == ["银行开户预约", "公章刻制"]
    assert [g["name"] for g in food.material_groups if g["deferrable"]] == ["营业执照", "与食品经营相适应的主要设备设施布局、操作流程等文件"]
    licence = {g["name"]: g for g in food.material_groups}["营业执照"]
    assert licence["produced_by"] == _entry_keys(food)[0]  # the first step issues it
    assert {f["key"]: f for f in food.form_fields}["business_address"]["entries"] == _entry_keys(food)  # 住所 = 经营场所
    closing = _demo_version("企业注销")
    assert closing.refusal_policy == BundleVersion.ALL_OR_NOTHING and closing.bundle.stage == "close"
    assert closing.cooperating_departments.get().name == "国家税务总局莒南县税务局"


@pytest.mark.django_db
def test_demo_items_of_bundles_get_their_own_forms_and_loading_again_changes_nothing(demo):
    from tongban.demo.bundles import DEMO, form_for
    from tongban.demo.cases import FORM
    from tongban.demo.items import ITEMS_BY_KEY
    from tongban.demo.loader import load_demo

    for key in {k for spec in DEMO for k, _ in spec["entries"]}:
        spec = ITEMS_BY_KEY[key]
        form = ApplicationForm.objects.get(version__item__basic_code=spec["basic_code"], version__status="published")
        assert form.fields == form_for(spec) and form.fields != FORM
        form.full_clean()
    birth = form_for(ITEMS_BY_KEY["birth_certificate"])
    assert [f["key"] for f in birth][:4] == ["baby_name", "baby_sex", "birth_time", "birth_place"]
    assert {f["key"]: f["type"] for f in birth}["mother_id_number"] == "id_number"
    assert {f["key"]: f["label"] for f in birth}["father_name"] == "父亲姓名"
    setup = form_for(ITEMS_BY_KEY["company_setup"])
    assert "credit_code" not in {f["key"] for f in setup} and [f["key"] for f in setup].count("company_name") == 1
    assert setup[0]["key"] == "company_name" and setup[0]["label"] == "企业名称"
    assert not any(f["label"] in ("结果领取方式", "邮寄地址") for f in setup)
    before = (list(BundleVersion.objects.order_by("pk").values_list("pk", "status", "merge_problems")), BundleEntry.objects.count(),
              MarketService.objects.count(), list(ApplicationForm.objects.order_by("pk").values_list("pk", "fields")))
    again = load_demo()
    assert "bundles" not in again["created"] and "bundle_forms" not in again["created"] and "accounts" not in again["created"]
    after = (list(BundleVersion.objects.order_by("pk").values_list("pk", "status", "merge_problems")), BundleEntry.objects.count(),
             MarketService.objects.count(), list(ApplicationForm.objects.order_by("pk").values_list("pk", "fields")))
    assert after == before
    assert "demo_approver_health" in {a["username"] for a in again["accounts"]}


@pytest.mark.django_db
def test_demo_generic_forms_still_serve_the_demo_cases(demo):
    from tongban.cases.models import Case
    from tongban.demo.cases import load_case_demo

    result = load_case_demo()
    assert result["cases"] >= 3
    assert Case.objects.filter(applicant=result["applicants"][0], mode="online").count() >= 3


@pytest.mark.django_db
def test_demo_guide_pages_render_the_merged_lists(demo, client):
    newborn = _demo_version("新生儿出生")
    listing = client.get("/bundles/", {"region": ["370000", "371300", "371327"]}).content.decode()
    for name in ("新生儿出生", "开办餐饮店", "企业注销", "开办运输企业", "残疾人服务"):
        assert name in listing
    enterprise, personal = listing.index('id="theme-enterprise"'), listing.index('id="theme-personal"')
    assert enterprise < listing.index("开办餐饮店</a>") < personal < listing.index("新生儿出生</a>")
    assert listing.index(">开办</h3>", enterprise) < listing.index(">注销</h3>", enterprise) < personal
    body = client.get(f"/bundles/{newborn.bundle.code}/").content.decode()
    materials = body[body.index('id="sec-materials"'):body.index('id="sec-form"')]
    titles = re.findall(r'<strong class="m-title">([^<]+)</strong>', materials)
    assert len(titles) == len(set(titles)) == len(newborn.material_groups) and titles.count("出生医学证明") == 1
    form = body[body.index('id="sec-form"'):body.index('id="sec-result"')]
    assert form.count("<strong>新生儿姓名</strong>") == 1 and "莒南县公安局" in form
    order = body[body.index('id="sec-order"'):body.index('id="sec-materials"')]
    assert "第1步" in order and "第2步" in order and order.index("出生医学证明") < order.index("新生儿出生户口登记")
    assert "莒南县卫生健康局" in body and "莒南县政务服务中心" in body
    food = _demo_version("开办餐饮店")
    page = client.get(f"/bundles/{food.bundle.code}/").content.decode()
    assert "食品经营（餐饮）行业综合许可证" in page and "营业执照" in page and "可容缺" in page and "公章刻制" in page
    assert "本一件事中《内资企业及分支机构设立登记》办结后即取得" in page
    elder = client.get(f"/bundles/{food.bundle.code}/", HTTP_COOKIE="tb_elder=1")
    assert elder.status_code == 200
    assert json.loads(json.dumps(food.form_fields))  # stored formats stay plain JSON


def test_bundle_cases_are_read_only_masked_and_scoped_in_the_admin(world, staff_factory):
    from tests.conftest import make_applicant
    from tongban.bundles.models import BundleCase

    v = versioning.publish(world.admin, world.bundle("a", "b"))
    applicant = make_applicant()
    case = BundleCase.objects.create(
        case_no="YJS-TEST-0001", status="submitted", bundle_version=v, applicant=applicant, applicant_name=applicant.name,
        applicant_code=applicant.id_number, contact_phone=applicant.phone, lead_region=world.region, lead_region_path=world.region.path,
        lead_department=world.lead, refusal_policy=v.refusal_policy,
    )
    _, here = staff_factory("platform_admin", "371300")
    _, elsewhere = staff_factory("platform_admin", "150000")
    listing = here.get("/admin/bundles/bundlecase/").content.decode()
    assert "YJS-TEST-0001" in listing and applicant.id_number not in listing and applicant.phone not in listing
    assert case.masked_code in listing
    assert "YJS-TEST-0001" not in elsewhere.get("/admin/bundles/bundlecase/").content.decode()
    assert elsewhere.get(f"/admin/bundles/bundlecase/{case.pk}/change/").status_code in (302, 404)
    detail = here.get(f"/admin/bundles/bundlecase/{case.pk}/change/")
    assert detail.status_code == 200 and applicant.id_number not in detail.content.decode()
    assert here.post(f"/admin/bundles/bundlecase/{case.pk}/change/", {"status": "delivered"}).status_code == 403


def test_admin_adds_a_new_draft_copying_the_published_version(world):
    v1 = versioning.publish(world.admin, world.bundle("a", "b"))
    data = _admin_post(v1, [], name="测试一件事（修订）", promised_limit_days="4")
    data = {k: val for k, val in data.items() if not k.startswith("entries-")} | {
        "bundle": str(v1.bundle_id), "entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0"}
    response = world.client.post("/admin/bundles/bundleversion/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    v2 = v1.bundle.versions.get(version_no=2)
    assert v2.status == BundleVersion.DRAFT and v2.promised_limit_days == 4 and v2.name == "测试一件事（修订）"
    assert [e.implementation_id for e in v2.entries.order_by("seq")] == [world.impl["a"].pk, world.impl["b"].pk]
    assert v2.merge_problems == [] and v2.form_fields
    fresh = versioning.create_bundle(world.admin, world.region, "371327T777", "空白", "project", "invest")
    empty = _admin_post(v1, [], name="空白") | {"bundle": str(fresh.pk), "entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0"}
    refused = world.client.post("/admin/bundles/bundleversion/add/", empty)
    assert refused.status_code == 200 and "至少应包含一个事项" in refused.content.decode() and not fresh.versions.exists()


def test_admin_list_actions_publish_draft_and_retire_through_the_service(world):
    from django.contrib.admin import helpers

    v = world.bundle("a", "b")
    url = "/admin/bundles/bundleversion/"
    act = lambda action, pk: world.client.post(url, {"action": action, helpers.ACTION_CHECKBOX_NAME: [pk]}, follow=True)  # noqa: E731
    assert any("已发布 1 个版本" in str(m) for m in act("publish_versions", v.pk).context["messages"])
    v.refresh_from_db()
    assert v.status == BundleVersion.PUBLISHED
    assert any("已新建草稿 1 个版本" in str(m) for m in act("make_draft", v.pk).context["messages"])
    assert v.bundle.versions.filter(status=BundleVersion.DRAFT, version_no=v.version_no + 1).exists()
    assert any("已废止 1 个版本" in str(m) for m in act("retire_versions", v.pk).context["messages"])
    v.refresh_from_db()
    assert v.status == BundleVersion.RETIRED
    # a rule of the service shows as the admin's message: a retired version cannot be published again
    assert any("：" in str(m) and m.level_tag == "error" for m in act("publish_versions", v.pk).context["messages"])
