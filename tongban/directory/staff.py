"""Creating staff accounts with their role and TOTP device (the one way, used by the command and demo)."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core import audit
from tongban.core.authz import WRITE, PermissionDenied, ensure_can, filter_queryset
from tongban.core.errors import DomainError, validate

from .models import Department, Membership
from .services import require_region


@transaction.atomic
def create_staff(actor, *, username, full_name, role, region_code, department=None, window=None, password=None, email=""):
    """Returns (user, device, password). A generated password is returned once and never stored in clear."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise DomainError(f"用户名“{username}”已存在", status=409)
    if role not in dict(Membership.ROLE_CHOICES):
        raise DomainError(f"角色“{role}”无效，可选：{'、'.join(dict(Membership.ROLE_CHOICES))}", status=422)
    region = require_region(region_code)
    if department is not None and not isinstance(department, Department):
        department = Department.objects.filter(pk=department).first()
        if department is None:
            raise DomainError("部门不存在", status=422)
    membership = Membership(role=role, region=region, department=department, window=window)
    if actor is not None:  # the command line runs as the deployment itself
        ensure_can(actor, membership, message="只能在本人管辖区划（及部门）内新建工作人员")
    if window is not None and not window.hall.region.is_within(region):
        raise DomainError("窗口应位于管辖区划之内", status=422)
    password = password or secrets.token_urlsafe(12)
    user = User(username=username, first_name=full_name, email=email, is_staff=True)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    membership.user = user
    validate(membership)
    membership.save()
    device = TOTPDevice.objects.create(user=user, name="身份验证器", confirmed=True)
    audit.record(actor, "staff.create", user, f"新建工作人员 {full_name}（{membership.get_role_display()}，{region.name}）")
    return user, device, password


@transaction.atomic
def reset_totp(actor, user):
    """A staff member lost their authenticator: replace the device. The actor must be allowed to change
    every one of the user's memberships (no resetting a colleague outside one's jurisdiction)."""
    memberships = Membership.objects.filter(user=user)
    if not memberships.exists() or memberships.exclude(pk__in=filter_queryset(memberships, actor, WRITE).values("pk")).exists():
        raise PermissionDenied("只能为本人管辖范围内的工作人员重置动态口令")
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="身份验证器", confirmed=True)
    audit.record(actor, "staff.reset_totp", user, f"重置动态口令：{user.get_full_name() or user.username}")
    return device


def totp_qr_svg(device):
    import segno

    return segno.make(device.config_url, error="m").svg_inline(scale=4)
