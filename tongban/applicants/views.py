"""Applicant pages: sign-in and registration with an SMS code (work without JavaScript: 获取验证码
posts the form with action=send and the page comes back with the values kept), sign-out, and the
developer mailbox (DEBUG only)."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from tongban.core.errors import Conflict, DomainError
from tongban.core.masking import mask_phone

from . import services
from .forms import LegalForm, LoginForm, NaturalForm
from .models import Applicant, OutboundSms, SmsCode

MY_URL = "/my/"  # 我的办件


def safe_next(request, default=MY_URL):
    """`next` only when it is a local path of this site; otherwise 我的办件."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


class _Outcome:
    """What a POST produced for the template: an error banner, a 'code sent' note, an HTTP status."""

    def __init__(self):
        self.error = None
        self.conflict = False
        self.sent_to = None
        self.status = 200

    def fail(self, form, exc):
        if isinstance(exc, services.InvalidInput) and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        else:
            self.error = exc.message
            self.conflict = isinstance(exc, Conflict)
        self.status = exc.status


def _send_code(form, outcome, purpose):
    try:
        services.request_code(form.cleaned_data["phone"], purpose)
    except DomainError as exc:
        outcome.fail(form, exc)
    else:
        outcome.sent_to = mask_phone(services.clean_mobile(form.cleaned_data["phone"]))


def _focus_code(form, context):
    if context["code_step"] and not form.errors:
        form.fields["sms_code"].widget.attrs["autofocus"] = True


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    next_url = safe_next(request)
    if request.method == "GET" and services.current_applicant(request) is not None:
        return redirect(next_url)
    form = LoginForm(request.POST or None)
    outcome = _Outcome()
    action = request.POST.get("action", "login")
    if request.method == "POST":
        if not form.is_valid():
            outcome.status = 400
        elif action == "send":
            _send_code(form, outcome, SmsCode.LOGIN)
        else:
            data = form.cleaned_data
            try:
                applicant = services.authenticate(data["code_number"], data["phone"], data["sms_code"])
            except DomainError as exc:
                outcome.fail(form, exc)
            else:
                services.login_applicant(request, applicant)
                return redirect(next_url)
    context = {
        "form": form, "outcome": outcome, "next": next_url, "minutes": settings.TONGBAN_SMS_CODE_MINUTES,
        # after a code was asked for, 登录 becomes the form's first (default) button: Enter signs in
        "code_step": request.method == "POST" and (outcome.sent_to is not None or action != "send"),
        "mailbox": settings.DEBUG,
    }
    _focus_code(form, context)
    return render(request, "applicants/login.html", context, status=outcome.status)


@never_cache
@require_http_methods(["GET", "POST"])
def register_view(request):
    next_url = safe_next(request)
    kind = request.POST.get("kind") or request.GET.get("kind") or Applicant.NATURAL
    if kind not in (Applicant.NATURAL, Applicant.LEGAL):
        kind = Applicant.NATURAL
    form_class = NaturalForm if kind == Applicant.NATURAL else LegalForm
    form = form_class(request.POST or None)
    outcome = _Outcome()
    action = request.POST.get("action", "register")
    if request.method == "POST":
        if not form.is_valid():
            outcome.status = 400
        elif action == "send":
            _send_code(form, outcome, SmsCode.REGISTER)
        else:
            data = form.cleaned_data
            try:
                if kind == Applicant.NATURAL:
                    applicant = services.register_natural(data["name"], data["id_number"], data["phone"], data["sms_code"])
                else:
                    applicant = services.register_legal(
                        data["org_name"], data["credit_code"], data["applicant_type"], data["agent_name"], data["agent_id_number"],
                        data["phone"], data["sms_code"],
                    )
            except DomainError as exc:
                outcome.fail(form, exc)
            else:
                services.login_applicant(request, applicant)
                return redirect(next_url)
    context = {
        "form": form, "outcome": outcome, "next": next_url, "kind": kind, "minutes": settings.TONGBAN_SMS_CODE_MINUTES,
        "code_step": request.method == "POST" and (outcome.sent_to is not None or action != "send"),
        "mailbox": settings.DEBUG,
    }
    _focus_code(form, context)
    return render(request, "applicants/register.html", context, status=outcome.status)


@require_POST
def logout_view(request):
    services.logout_applicant(request)
    return redirect("/")


@never_cache
def mailbox(request):
    """Developer mailbox: the texts the embedded sender 'sent'. Exists only while DEBUG is on."""
    if not settings.DEBUG:
        raise Http404
    texts = OutboundSms.objects.order_by("-created_at", "-pk")[:50]
    return render(request, "applicants/mailbox.html", {"texts": texts})
