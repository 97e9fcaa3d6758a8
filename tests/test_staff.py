import pytest
from django.core.management import CommandError, call_command

from tongban.core.models import AuditEntry
from tongban.directory.models import Membership


@pytest.mark.django_db
def test_create_staff_command(capsys):
    call_command("create_staff", "li_clerk", "--name", "李明", "--role", "clerk", "--region", "371327")
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out and "初始密码" in out
    m = Membership.objects.get(user__username="li_clerk")
    assert m.role == "clerk" and m.region.code == "371327"
    assert AuditEntry.objects.filter(action="staff.create").exists()
    with pytest.raises(CommandError, match="已存在"):
        call_command("create_staff", "li_clerk", "--name", "李明", "--role", "clerk", "--region", "371327")
    with pytest.raises(CommandError, match="区划代码"):
        call_command("create_staff", "wang", "--name", "王", "--role", "clerk", "--region", "999999")
    with pytest.raises(CommandError, match="角色"):
        call_command("create_staff", "zhao", "--name", "赵", "--role", "king", "--region", "371327")


@pytest.mark.django_db
def test_admin_creates_staff_within_jurisdiction_only(staff_factory):
    from django.contrib.auth import get_user_model

    _admin, client = staff_factory("platform_admin", "371300")  # 临沂市 platform administrator
    assert "新建工作人员" in client.get("/admin/directory/membership/").content.decode()
    r = client.post("/admin/directory/membership/new-staff/", {"username": "zhang_clerk", "full_name": "张敏", "role": "clerk", "region_code": "371327"})
    assert r.status_code == 200
    body = r.content.decode()
    assert "初始密码" in body and "<svg" in body and "otpauth://totp/" in body
    assert "no-store" in r["Cache-Control"]
    assert Membership.objects.get(user__username="zhang_clerk").region.code == "371327"
    # outside 临沂: refused with a clear message, nothing created
    r = client.post("/admin/directory/membership/new-staff/", {"username": "out_of_area", "full_name": "王", "role": "clerk", "region_code": "150602"})
    assert r.status_code == 400 and "管辖区划" in r.content.decode()
    assert not get_user_model().objects.filter(username="out_of_area").exists()
    r = client.post("/admin/directory/membership/new-staff/", {"username": "bad_region", "full_name": "王", "role": "clerk", "region_code": "12"})
    assert r.status_code == 400 and "区划代码" in r.content.decode()


@pytest.mark.django_db
def test_catalog_admin_cannot_create_staff(staff_factory):
    _u, client = staff_factory("catalog_admin", "371327")
    assert client.get("/admin/directory/membership/new-staff/").status_code == 403


@pytest.mark.django_db
def test_reset_totp_only_inside_jurisdiction(staff_factory):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import make_staff

    _admin, client = staff_factory("platform_admin", "371300")
    local = make_staff("local_clerk", "clerk", "371327")
    remote = make_staff("remote_clerk", "clerk", "150602")
    old_key = TOTPDevice.objects.get(user=local).key
    m = Membership.objects.get(user=local)
    r = client.post("/admin/directory/membership/", {"action": "reset_totp", "_selected_action": [m.pk]})
    assert r.status_code == 200 and "<svg" in r.content.decode()
    assert TOTPDevice.objects.get(user=local).key != old_key
    remote_key = TOTPDevice.objects.get(user=remote).key
    from tongban.core.authz import PermissionDenied
    from tongban.directory.staff import reset_totp

    with pytest.raises(PermissionDenied):
        reset_totp(_admin, remote)
    assert TOTPDevice.objects.get(user=remote).key == remote_key


@pytest.mark.django_db
def test_hall_inline_windows_are_saved_through_the_service(staff_factory):
    from tongban.directory.models import Hall, Region, Window

    hall = Hall.objects.create(name="莒南县政务服务中心", kind="county_hall", region=Region.objects.get(code="371327"), address="演示地址")
    _u, client = staff_factory("platform_admin", "371327")
    data = {
        "name": hall.name, "kind": hall.kind, "region": hall.region_id, "department": "", "address": hall.address,
        "opening_hours": hall.opening_hours, "phone": "", "is_active": "on",
        "windows-TOTAL_FORMS": "1", "windows-INITIAL_FORMS": "0", "windows-MIN_NUM_FORMS": "0", "windows-MAX_NUM_FORMS": "1000",
        "windows-0-number": "18", "windows-0-name": "跨省通办专窗", "windows-0-kind": "cross_region", "windows-0-is_active": "on",
    }
    r = client.post(f"/admin/directory/hall/{hall.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    window = Window.objects.get(hall=hall, number="18")
    assert AuditEntry.objects.filter(action="window.create", object_id=str(window.pk)).exists()
