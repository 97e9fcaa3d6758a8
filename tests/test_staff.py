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
