"""Fees through a payment provider behind a small interface. The embedded default is a sandbox page,
labelled as such, that confirms the payment; a real provider (e.g. the province's 统一公共支付平台)
replaces it through the TONGBAN_PAYMENT_PROVIDER setting."""

import secrets
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tongban.core.errors import Conflict, DomainError

from . import handling
from .events import Actor
from .models import Case, Payment
from .models import Status as S


class Provider:
    name = ""
    label = ""

    def checkout_url(self, payment) -> str:
        raise NotImplementedError


class SandboxProvider(Provider):
    name, label = "sandbox", "支付沙箱（演示，不产生真实扣款）"

    def checkout_url(self, payment):
        return f"/pay/sandbox/{payment.reference}/"


@lru_cache(maxsize=1)
def provider():
    return import_string(settings.TONGBAN_PAYMENT_PROVIDER)()


PAYABLE = (S.SUBMITTED, S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED)


def start(user, case_id):
    """A pending payment of the case's fee (the pending one again if it exists)."""
    from .intake import own_case

    case = own_case(user, case_id)
    if case.fee_amount <= 0:
        raise DomainError("该办件无需缴费", status=409)
    if case.status not in PAYABLE:
        raise Conflict("办件当前状态无需缴费")
    with transaction.atomic():
        Case.objects.select_for_update().get(pk=case.pk)
        if case.fee_settled():
            raise Conflict("该办件已缴费，无需重复缴纳")
        payment = case.payments.filter(status=Payment.PENDING).first()
        if payment is None:
            p = provider()
            payment = Payment.objects.create(case=case, amount=case.fee_amount, provider=p.name, reference=f"PAY{timezone.now():%Y%m%d}{secrets.token_hex(8).upper()}")
    return payment


def confirm(reference):
    """The provider's confirmation: idempotent (a repeated callback records one payment)."""
    payment = Payment.objects.filter(reference=reference).select_related("case").first()
    if payment is None:
        raise DomainError("支付流水号不存在", status=404)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == Payment.PAID:
            return payment
        payment.status, payment.paid_at = Payment.PAID, timezone.now()
        payment.save(update_fields=["status", "paid_at"])
        handling.perform(payment.case_id, "pay", params={"payment": payment}, actor=Actor(name=provider().label, role="system"))
    return payment

