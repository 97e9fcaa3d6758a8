"""Page forms: they only carry and render the fields (labels tied to inputs); every rule is checked
by the services, whose messages are shown beside the field they concern."""

from django import forms

from .models import Applicant


def _text(label, max_length, required=False, **attrs):
    return forms.CharField(label=label, max_length=max_length, required=required, widget=forms.TextInput(attrs=attrs))


def _phone():
    return _text("手机号", 20, inputmode="tel", autocomplete="tel", placeholder="11位手机号")


def _sms_code():
    return _text("短信验证码", 10, inputmode="numeric", autocomplete="one-time-code", placeholder="6位数字")


class LoginForm(forms.Form):
    code_number = _text("身份号码或统一社会信用代码", 40, autocomplete="username", autocapitalize="characters", spellcheck="false")
    phone = _phone()
    sms_code = _sms_code()


class NaturalForm(forms.Form):
    name = _text("姓名", 60, autocomplete="name")
    id_number = _text("公民身份号码", 40, autocapitalize="characters", spellcheck="false", placeholder="18位，末位可能为X")
    phone = _phone()
    sms_code = _sms_code()


class LegalForm(forms.Form):
    org_name = _text("单位名称", 200, autocomplete="organization")
    credit_code = _text("统一社会信用代码", 40, autocapitalize="characters", spellcheck="false", placeholder="18位")
    applicant_type = forms.ChoiceField(
        label="申请人类型", required=False, choices=[("", "请选择")] + [c for c in Applicant.TYPE_CHOICES if c[0] != "1"],
    )
    agent_name = _text("经办人姓名", 60, autocomplete="name")
    agent_id_number = _text("经办人身份号码", 40, autocapitalize="characters", spellcheck="false", placeholder="18位，末位可能为X")
    phone = _phone()
    sms_code = _sms_code()
