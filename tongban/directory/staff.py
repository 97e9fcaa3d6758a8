"""Creating staff accounts with their role and TOTP device (the one way, used by the command and demo)."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core import audit
from tongban.core.errors import DomainError

from .models import Department, Membership, Region


@transaction.atomic
def create_staff(actor, *, username, full_name, role, region_code, department=None, password=None, email=""):
    """Returns (user, device, password). A generated password is returned once and never stored in clear."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise DomainError(f"用户名“{username}”已存在", status=409)
    if role not in dict(Membership.ROLE_CHOICES):
        raise DomainError(f"角色“{role}”无效，可选：{'、'.join(dict(Membership.ROLE_CHOICES))}", status=422)
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise DomainError(f"区划代码“{region_code}”不存在", status=422)
    if department is not None and not isinstance(department, Department):
        department = Department.objects.filter(pk=department).first()
        if department is None:
            raise DomainError("部门不存在", status=422)
    password = password or secrets.token_urlsafe(12)
    user = User(username=username, first_name=full_name, email=email, is_staff=True)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    membership = Membership(user=user, role=role, region=region, department=department)
    membership.full_clean()
    membership.save()
    device = TOTPDevice.objects.create(user=user, name="身份验证器", confirmed=True)
    audit.record(actor, "staff.create", user, f"新建工作人员 {full_name}（{membership.get_role_display()}，{region.name}）")
    return user, device, password
