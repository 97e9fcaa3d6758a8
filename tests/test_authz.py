"""Authorisation: a county administrator works only inside their county, through every entry point."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_department, make_implementation, make_item
from tongban.catalog.models import Implementation, Item
from tongban.catalog.search import search_implementations


@pytest.fixture
def world(staff_factory):
    item = make_item("户口迁移", "002000100000")
    jn = make_department("371327", "莒南县行政审批服务局")
    ds = make_department("150602", "东胜区行政审批服务局")
    own = make_implementation(item, jn)
    other = make_implementation(item, ds)
    admin, client = staff_factory("catalog_admin", "371327")
    admin.is_staff = True
    admin.save()
    return {"item": item, "jn": jn, "ds": ds, "own": own, "other": other, "admin": admin, "client": client}


@pytest.mark.django_db
def test_api_county_admin_changes_own_but_not_other_county(world):
    c = world["client"]
    r = c.patch(f"/api/v1/catalog/implementations/{world['own'].implementation_code}", {"promised_limit_days": 5}, content_type="application/json")
    assert r.status_code == 200, r.content
    r = c.patch(f"/api/v1/catalog/implementations/{world['other'].implementation_code}", {"promised_limit_days": 5}, content_type="application/json")
    assert r.status_code == 403 and "权限" in r.json()["detail"]
    world["other"].refresh_from_db()
    assert world["other"].promised_limit_days == 10
    # nor move their own implementation into another county
    r = c.patch(f"/api/v1/catalog/implementations/{world['own'].implementation_code}", {"region_code": "150602"}, content_type="application/json")
    assert r.status_code == 403
    assert Implementation.objects.get(pk=world["own"].pk).region.code == "371327"


@pytest.mark.django_db
def test_api_county_admin_cannot_create_in_other_county(world):
    payload = {"item_code": "002000100000", "department_id": world["ds"].pk, "region_code": "150602", "level": "4",
               "statutory_limit_days": 20, "promised_limit_days": 10}
    r = world["client"].post("/api/v1/catalog/implementations", payload, content_type="application/json")
    assert r.status_code == 403


@pytest.mark.django_db
def test_admin_county_admin_cannot_change_other_county(world):
    c = world["client"]
    own_url = f"/admin/catalog/implementation/{world['own'].pk}/change/"
    other_url = f"/admin/catalog/implementation/{world['other'].pk}/change/"
    assert c.get(own_url).status_code == 200
    page = c.get(other_url)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only
    r = c.post(other_url, {"promised_limit_days": 1})
    assert r.status_code == 403
    world["other"].refresh_from_db()
    assert world["other"].promised_limit_days == 10


@pytest.mark.django_db
def test_admin_form_refuses_moving_into_other_county(world):
    c = world["client"]
    impl = world["own"]
    target = make_department("150603", "康巴什区行政审批服务局")
    url = f"/admin/catalog/implementation/{impl.pk}/change/"
    data = {
        "item": impl.item_id, "department": target.pk, "region": target.region_id, "level": "4",
        "implementation_code": f"{target.credit_code}4{impl.item.basic_code}", "business_code": "",
        "statutory_limit_days": 20, "promised_limit_days": 10, "fee_amount": "0", "fee_note": "", "delivery_methods": ["mail"],
        "visits_needed": 0, "presence_basis": "", "modes": ["online"], "is_active": "on",
    }
    r = c.post(url, data)
    assert r.status_code == 200 and "您没有权限" in r.content.decode()
    impl.refresh_from_db()
    assert impl.department_id == world["jn"].pk


@pytest.mark.django_db
def test_drafts_of_other_regions_are_invisible_on_every_read_path(world):
    draft_item = make_item("台州市级草稿事项", "332000900000", region_code="330000", publish=False)
    tz = make_department("331002", "椒江区行政审批服务局")
    make_implementation(draft_item, tz)
    c, anon = world["client"], Client()
    assert draft_item.basic_code not in c.get("/api/v1/catalog/items?limit=200").content.decode()
    assert c.get(f"/api/v1/catalog/items/{draft_item.basic_code}").status_code == 404
    assert anon.get(f"/api/v1/catalog/items/{draft_item.basic_code}").status_code == 404
    assert "台州市级草稿事项" not in c.get("/admin/catalog/item/").content.decode()
    assert "台州市级草稿事项" not in c.get("/admin/catalog/item/?jurisdiction=all").content.decode()
    assert c.get(f"/admin/catalog/item/{draft_item.pk}/change/").status_code in (302, 403, 404)
    assert not search_implementations("台州市级草稿").results
    assert anon.get("/api/v1/catalog/search", {"q": "草稿"}).json()["total"] == 0
    # a supervisor of Zhejiang sees it in the admin and API
    assert Item.objects.for_user(world["admin"]).filter(pk=draft_item.pk).count() == 0


@pytest.mark.django_db
def test_department_limited_membership(staff_factory):
    item = make_item("户口迁移", "002000100000")
    police = make_department("371327", "莒南县公安局")
    other = make_department("371327", "莒南县民政局")
    mine, theirs = make_implementation(item, police), make_implementation(item, other)
    _user, c = staff_factory("catalog_admin", "371327", department=police)
    assert c.patch(f"/api/v1/catalog/implementations/{mine.implementation_code}", {"visits_needed": 1}, content_type="application/json").status_code == 200
    assert c.patch(f"/api/v1/catalog/implementations/{theirs.implementation_code}", {"visits_needed": 1}, content_type="application/json").status_code == 403


@pytest.mark.django_db
def test_unverified_session_is_not_staff(db):
    from tests.conftest import make_staff

    user = make_staff("half_logged_in", "catalog_admin", "371327")
    c = Client()
    c.force_login(user, backend="django.contrib.auth.backends.ModelBackend")  # password only, no TOTP
    assert c.post("/api/v1/catalog/items", {}, content_type="application/json").status_code == 401
    assert c.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_login_needs_password_and_totp_and_locks_out(db, settings):
    from tests.conftest import make_staff

    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp otherwise refuses any token for a second after a wrong one

    user = make_staff("clerk_login", "catalog_admin", "371327")
    device = TOTPDevice.objects.get(user=user)
    c = Client()
    r = c.post("/staff/login/", {"username": "clerk_login", "password": "Tongban-test-2026", "token": "000000"})
    assert r.status_code == 400 and "动态口令错误" in r.content.decode()
    token = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    r = c.post("/staff/login/", {"username": "clerk_login", "password": "Tongban-test-2026", "token": token, "next": "/admin/"})
    assert r.status_code == 302 and r["Location"] == "/admin/"
    assert c.get("/admin/").status_code == 200
    # repeated failures lock the account, even with the right password afterwards
    bad = Client()
    for _ in range(5):
        bad.post("/staff/login/", {"username": "clerk_login", "password": "wrong-password-1", "token": "123456"})
    r = bad.post("/staff/login/", {"username": "clerk_login", "password": "Tongban-test-2026", "token": token})
    assert r.status_code == 429 and "锁定" in r.content.decode()
    assert get_user_model().objects.get(username="clerk_login").is_active


@pytest.mark.django_db
def test_admin_lists_own_jurisdiction_first(world):
    c = world["client"]
    mine = c.get("/admin/catalog/implementation/").content.decode()
    assert world["own"].implementation_code in mine and world["other"].implementation_code not in mine
    everything = c.get("/admin/catalog/implementation/?jurisdiction=all").content.decode()
    assert world["own"].implementation_code in everything and world["other"].implementation_code in everything  # published: public
