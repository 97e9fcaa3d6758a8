"""Staff sign-in: password plus TOTP (django-otp), locked after repeated failures (django-axes)."""

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice


class StaffLoginForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=150)
    password = forms.CharField(label="密码", widget=forms.PasswordInput)
    token = forms.CharField(label="动态口令（6位）", max_length=6, min_length=6,
                            widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}))


def lockout_response(request, credentials=None, *args, **kwargs):
    html = render_to_string("directory/locked.html", {"hours": settings.AXES_COOLOFF_TIME}, request=request)
    return HttpResponse(html, status=429)


def demo_token(user):
    """Only on a DEBUG demo: show the current TOTP of demo accounts so testers can sign in."""
    if not settings.DEBUG or not user.username.startswith("demo_"):
        return None
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return None
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def _landing(user):
    """Without a `next`: case handlers start at their queue, administrators in the admin."""
    from tongban.core.authz import roles_of

    return "/workbench/" if roles_of(user) & {"clerk", "approver"} else "/admin/"


@require_http_methods(["GET", "POST"])
def staff_login(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = StaffLoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
        if isinstance(user, HttpResponse):  # axes lock-out
            return user
        if user is None:
            error = "用户名或密码错误；连续多次错误将锁定账号"
        else:
            device = match_token(user, form.cleaned_data["token"])
            if device is None:
                error = "动态口令错误或已过期，请使用身份验证器中的最新口令"
                from axes.handlers.proxy import AxesProxyHandler

                AxesProxyHandler.user_login_failed(sender=None, credentials={"username": user.username}, request=request)
                if AxesProxyHandler.is_locked(request, credentials={"username": user.username}):
                    return lockout_response(request)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                otp_login(request, device)
                return redirect(next_url or _landing(user))
    status = 400 if request.method == "POST" else 200
    demo = demo_accounts() if settings.DEBUG else []
    context = {"form": form, "error": error, "next": next_url, "demo": demo, "demo_password": _demo_password() if demo else ""}
    return render(request, "directory/login.html", context, status=status)


def demo_accounts():
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(username__startswith="demo_", is_active=True).order_by("username").prefetch_related("memberships__region")
    return [
        {
            "username": u.username, "name": u.get_full_name(), "token": demo_token(u),
            "roles": "；".join(f"{m.get_role_display()}·{m.region.name}" for m in u.memberships.all() if m.is_active),
        }
        for u in users
    ]


def _demo_password():
    from tongban.demo.places import PASSWORD  # the demo loader's published password, shown only on a DEBUG demo

    return PASSWORD


def staff_logout(request):
    logout(request)
    return redirect("/")


def admin_login_redirect(request, extra_context=None):
    from urllib.parse import urlencode

    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': request.GET.get('next', '/admin/')})}")
