"""The demo data set (tongban.demo): loaded once for this module inside a transaction that is rolled
back at the end, with MEDIA_ROOT in a temporary directory."""

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from openpyxl import load_workbook

from tongban.catalog.models import Implementation, Item, ItemVersion, ListEntry, Material, TongbanList
from tongban.catalog.versioning import GUIDE_FIELDS
from tongban.core.codes import validate_basic_code, validate_implementation_code, validate_uscc
from tongban.demo.items import BUNDLES, ITEMS, ITEMS_BY_KEY
from tongban.demo.lists import LISTS
from tongban.demo.places import HALLS, PASSWORD, STAFF, UNITS
from tongban.directory.models import Department, Hall, Membership, Region, Window

CSV = Path(__file__).resolve().parent.parent / "tongban" / "catalog" / "data" / "kuasheng_tongban_items.csv"
CODES = [s["basic_code"] for s in ITEMS]
ROLES = [r for r, _ in Membership.ROLE_CHOICES]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from tongban.demo.loader import load_demo

    media = tmp_path_factory.mktemp("demo_media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield {"summary": load_demo(), "media": media}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def demo_departments():
    return Department.objects.filter(name__in=[d["name"] for u in UNITS for d in u["departments"]]).select_related("region")


def demo_implementations():
    return Implementation.objects.filter(item__basic_code__in=CODES).select_related("item", "department__region", "region")


def state():
    """Everything the loader writes, as comparable values."""
    User = get_user_model()
    return {
        "items": list(Item.objects.order_by("id").values_list("id", "basic_code", "name")),
        "versions": list(ItemVersion.objects.order_by("id").values_list("id", "status", "published_at", "result_sample")),
        "materials": list(Material.objects.order_by("id").values_list("id", "name", "blank_form", "sample")),
        "departments": list(Department.objects.order_by("id").values_list("id", "credit_code")),
        "halls": list(Hall.objects.order_by("id").values_list("id", "name")),
        "windows": list(Window.objects.order_by("id").values_list("id", "number")),
        "implementations": list(Implementation.objects.order_by("id").values_list("id", "implementation_code", "updated_at")),
        "impl_halls": Implementation.halls.through.objects.count(),
        "impl_partners": Implementation.partner_regions.through.objects.count(),
        "lists": list(TongbanList.objects.order_by("id").values_list("id", "name")),
        "entries": list(ListEntry.objects.order_by("id").values_list("id", "item_name", "status")),
        "users": list(User.objects.order_by("id").values_list("id", "username", "password")),
        "memberships": list(Membership.objects.order_by("id").values_list("id", "role", "window_id")),
        "devices": list(TOTPDevice.objects.order_by("id").values_list("id", "key")),
    }


@pytest.mark.django_db
def test_first_run_created_everything(demo):
    s = demo["summary"]
    assert s["created"]["items"] == s["items"] == len(ITEMS)
    assert s["created"]["implementations"] == s["implementations"] > 200
    assert s["departments"] == sum(len(u["departments"]) for u in UNITS)
    assert s["halls"] == len(HALLS)
    assert {a["role"] for a in s["accounts"]} == set(ROLES)
    print(f"load_demo: {s['seconds']} s")  # reported, not asserted: timings on a shared machine are noise


@pytest.mark.django_db
def test_second_run_changes_nothing(demo):
    from tongban.demo.loader import load_demo

    before = state()
    files_before = sorted(p.name for p in demo["media"].rglob("*") if p.is_file())
    again = load_demo()
    assert again["created"] == {}
    assert state() == before
    assert sorted(p.name for p in demo["media"].rglob("*") if p.is_file()) == files_before
    assert again["implementations"] == demo["summary"]["implementations"]


@pytest.mark.django_db
def test_department_credit_codes(demo):
    departments = list(demo_departments())
    assert len(departments) == demo["summary"]["departments"]
    for d in departments:
        assert validate_uscc(d.credit_code) == d.credit_code, d.name
        assert d.credit_code[2:8] == d.region.code[:6], d.name
        assert d.credit_code[:2] in {"11", "12", "13", "91"}, d.name
        d.full_clean()
    for d in departments:
        if "公证处" in d.name or "公积金" in d.name:
            expected = "12"  # 事业单位
        elif "残疾人联合会" in d.name:
            expected = "13"  # 群团组织
        elif "公司" in d.name:
            expected = "91"  # 企业（公用事业）
        else:
            expected = "11"  # 机关
        assert d.credit_code[:2] == expected, d.name
    assert sum(d.credit_code.startswith("11") for d in departments) > 80


@pytest.mark.django_db
def test_every_implementation_is_valid(demo):
    impls = list(demo_implementations())
    assert len(impls) == demo["summary"]["implementations"]
    for impl in impls:
        impl.full_clean()
        code = validate_implementation_code(impl.implementation_code)
        assert code == f"{impl.department.credit_code}{impl.level}{impl.item.basic_code}"
        assert impl.level == {"county": "4", "prefecture": "3"}[impl.region.level], impl
        assert impl.promised_limit_days <= impl.statutory_limit_days
        assert impl.modes and impl.delivery_methods
        assert impl.halls.exists(), impl
    kuasheng = {s["basic_code"] for s in ITEMS if s["kuasheng"]}
    for impl in impls:
        scopes = impl._meta.get_field("scopes").to_names(impl.scopes)
        assert ("cross_province" in scopes) == (impl.item.basic_code in kuasheng)
        if impl.region.path.startswith(Region.objects.get(code="370000").path):
            assert "province_wide" in scopes
        if impl.region.code.startswith("3310"):
            assert "city_wide" in scopes
        partners = set(impl.partner_regions.values_list("code", flat=True))
        assert ("regional" in scopes) == bool(partners)
        if impl.region.code.startswith(("4419", "4404")) and partners:
            assert partners == {"810000", "820000"}
    places = {code[:4] for code in Implementation.objects.filter(item__basic_code__in=CODES).values_list("region__code", flat=True)}
    assert {"3713", "1506", "3701", "3310", "4419", "4404"} <= places


@pytest.mark.django_db
def test_items_have_one_published_version_with_full_guide(demo):
    items = Item.objects.filter(basic_code__in=CODES)
    assert items.count() == len(ITEMS)
    for item in items:
        validate_basic_code(item.basic_code)
        assert item.basic_code.startswith("00") and item.basic_code.endswith("000")
        assert item.competent_authority and item.category and item.name_initials
        published = list(item.versions.filter(status=ItemVersion.PUBLISHED))
        assert len(published) == 1, item
        version = published[0]
        version.full_clean()
        assert version.change_note == "演示数据"
        for name in GUIDE_FIELDS:
            if name == "certificate_type":  # only items whose result is an electronic certificate name one
                continue
            value = getattr(version, name)
            if not isinstance(value, bool):
                assert value not in ("", None), f"{item.name}: {name} is empty"
        assert "演示" in version.consult_method
        assert version.promised_limit_days <= version.statutory_limit_days
        materials = list(version.materials.all())
        assert 2 <= len(materials) <= 6, item
        for m in materials:
            m.full_clean()
            assert m.acceptance_standard and m.basis and m.spec
        assert sum(1 for m in materials if m.blank_form) == 1


@pytest.mark.django_db
def test_items_cover_the_national_list_and_the_bundles(demo):
    with open(CSV, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_seq = {s["kuasheng"]: s for s in ITEMS if s["kuasheng"]}
    assert sorted(by_seq) == sorted(int(r["seq"]) for r in rows)
    for r in rows:
        spec = by_seq[int(r["seq"])]
        assert spec["name"].replace("（", " (").replace("）", ")") == r["name"]
    wanted = {
        "营业执照": "company_setup",
        "食品经营许可": "food_business_licence",
        "道路货物运输经营许可": "freight_licence",
        "供水报装": "water_connection",
        "供电报装": "power_connection",
        "供气报装": "gas_connection",
        "出生医学证明": "birth_certificate",
        "户口登记": "birth_registration",
        "社会保障卡申领": "social_security_card",
        "医保参保登记": "resident_medical_insurance",
        "不动产转移登记": "property_transfer",
        "税务注销": "tax_deregistration",
    }
    for need, key in wanted.items():
        assert Item.objects.filter(basic_code=ITEMS_BY_KEY[key]["basic_code"]).exists(), need
    for bundle in BUNDLES:
        assert all(k in ITEMS_BY_KEY for k in bundle["items"]), bundle["name"]


@pytest.mark.django_db
def test_hukou_item_is_implemented_in_junan_and_searchable(demo):
    from tongban.catalog.search import search_implementations

    junan = Region.objects.get(code="371327")
    items = Item.objects.filter(name__contains="户口", versions__status=ItemVersion.PUBLISHED)
    assert items.filter(name="户口迁移").exists()
    impl = Implementation.objects.get(item__name="户口迁移", region=junan)
    assert impl.department.name == "莒南县公安局" and impl.level == "4" and impl.is_active
    assert impl.halls.filter(name="莒南县政务服务中心").exists()
    found = search_implementations("户口", region=junan, limit=50)
    assert impl in found.results
    assert all("户口" in i.item.name for i in found.results)


@pytest.mark.django_db
def test_halls_at_every_level_with_windows(demo):
    halls = {h.name: h for h in Hall.objects.filter(name__in=[h["name"] for h in HALLS]).select_related("region", "department")}
    assert len(halls) == len(HALLS)
    kinds = {h.kind for h in halls.values()}
    assert {Hall.CITY_HALL, Hall.COUNTY_HALL, Hall.SUB_HALL, Hall.TOWNSHIP_CENTRE, Hall.VILLAGE_STATION} <= kinds
    assert halls["十字路街道便民服务中心"].region.code == "371327001"
    assert halls["十字路街道演示社区便民服务站"].region.code == "371327001"
    for h in halls.values():
        h.full_clean()
        assert "演示" in h.address
        if h.kind == Hall.SUB_HALL:
            assert h.department is not None
        if h.kind in (Hall.TOWNSHIP_CENTRE, Hall.VILLAGE_STATION):
            assert h.region.level == Region.TOWNSHIP
        window_kinds = set(h.windows.values_list("kind", flat=True))
        assert Window.GENERAL in window_kinds
        if h.kind != Hall.VILLAGE_STATION:
            assert Window.CROSS_REGION in window_kinds, h.name
        if h.kind in (Hall.CITY_HALL, Hall.COUNTY_HALL):
            assert Window.HELP_DESK in window_kinds, h.name


@pytest.mark.django_db
def test_tongban_lists(demo):
    lists = {lst.name: lst for lst in TongbanList.objects.filter(name__in=[d["name"] for d in LISTS]).select_related("region")}
    assert len(lists) == len(LISTS)
    national = next(lst for lst in lists.values() if lst.scope == "cross_province" and lst.region.code == "000000")
    assert national.document_no == "国办发〔2020〕35号"
    assert national.entries.count() == 23
    assert {lst.scope for lst in lists.values()} == {"cross_province", "province_wide", "city_wide", "regional"}
    bay = next(lst for lst in lists.values() if "湾区" in lst.name)
    assert {"810000", "820000"} <= set(bay.partner_regions.values_list("code", flat=True))
    for lst in lists.values():
        assert lst.entries.exists(), lst.name
        for entry in lst.entries.all():
            entry.full_clean()
            assert entry.item_id and entry.responsible_department_name
            if entry.responsible_department_id:
                assert entry.responsible_department.region.is_within(lst.region)
    junan = lists["莒南县“全省通办”事项清单及责任分工（演示）"]
    assert junan.entries.filter(item_name="户口迁移", responsible_department__name="莒南县公安局").exists()


@pytest.mark.django_db
def test_one_demo_account_per_role_with_totp(demo):
    User = get_user_model()
    accounts = {a["username"]: a for a in demo["summary"]["accounts"]}
    for spec in STAFF:
        user = User.objects.get(username=spec["username"])
        assert user.username.startswith("demo_") and user.is_staff and user.is_active and not user.is_superuser
        assert "演示" in user.get_full_name()
        assert user.password == User.objects.get(username="demo_platform").password  # one shared hash of PASSWORD
        assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
        membership = Membership.objects.get(user=user, region__code=spec["region"])
        membership.full_clean()
        assert membership.role == spec["role"] and membership.region.code == spec["region"]
        assert accounts[user.username]["password"] == PASSWORD
    assert set(Membership.objects.filter(user__username__startswith="demo_").values_list("role", flat=True)) == set(ROLES)
    assert User.objects.get(username="demo_platform").check_password(PASSWORD)
    clerk = Membership.objects.get(user__username="demo_clerk")
    assert clerk.window.kind == Window.CROSS_REGION and clerk.window.hall.region.code == "371327"
    approver = Membership.objects.get(user__username="demo_approver", region__code="150600")
    assert approver.department.name == "鄂尔多斯市公安局"
    assert Implementation.objects.filter(department=approver.department, item__name="户口迁移").exists()


@pytest.mark.django_db
def test_template_and_sample_files_exist(demo):
    materials = Material.objects.filter(version__item__basic_code__in=CODES).exclude(blank_form="")
    assert materials.count() == len(ITEMS)
    for m in materials:
        for f in (m.blank_form, m.sample):
            assert f.name.endswith(".xlsx") and default_storage.exists(f.name)
            with default_storage.open(f.name) as fh:
                wb = load_workbook(fh, read_only=True)
                first = wb.worksheets[0]
                assert m.version.item.basic_code in str(next(first.iter_rows(min_row=2, max_row=2, values_only=True))[0])
        assert m.blank_form.name != m.sample.name
    for v in ItemVersion.objects.filter(item__basic_code__in=CODES):
        with default_storage.open(v.result_sample.name) as fh:
            data = fh.read()
        assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")


@pytest.mark.django_db
def test_management_command_prints_summary_and_accounts(demo):
    out = io.StringIO()
    with override_settings(MEDIA_ROOT=str(demo["media"])):
        call_command("load_demo", stdout=out)
    text = out.getvalue()
    assert "演示数据载入完成" in text and "实施清单" in text
    for spec in STAFF:
        assert spec["username"] in text
    assert PASSWORD in text and "窗口受理人员" in text and "平台管理员" in text
