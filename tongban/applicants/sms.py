"""Sending text messages. The channel is a plugin: settings.TONGBAN_SMS_SENDER names a `Sender`
subclass by dotted path. Every caller goes through `send_text` (usually via `send_on_commit`), so a
failing channel is logged and never breaks the caller's work.

The embedded default `LogSender` stops at the server log (the log filter masks the phone; the text,
a verification code included, stays readable — that is the point of the embedded default) and the
developer mailbox page (/dev/mailbox/, DEBUG only)."""

import functools
import logging

from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.utils.module_loading import import_string

from tongban.core.masking import MaskPIIFilter, mask_phone

logger = logging.getLogger("tongban.sms")
# Also on the logger itself (not only the console handler of settings.LOGGING): any handler a
# deployment adds, and pytest's caplog, sees masked phones too.
logger.addFilter(MaskPIIFilter())


class Sender:
    """Base of SMS channels. `send` raises on failure; it must not swallow errors silently."""

    name = ""

    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class LogSender(Sender):
    name = "log"

    def send(self, phone: str, text: str) -> None:
        from .models import OutboundSms

        logger.info("短信 → %s: %s", phone, text)
        OutboundSms.objects.create(phone=phone, text=text[:500], sender=self.name)


@functools.cache
def get_sender() -> Sender:
    cls = import_string(settings.TONGBAN_SMS_SENDER)
    if not (isinstance(cls, type) and issubclass(cls, Sender)):
        raise TypeError(f"TONGBAN_SMS_SENDER 应指向 tongban.applicants.sms.Sender 的子类：{settings.TONGBAN_SMS_SENDER}")
    return cls()


def reset_sender():
    get_sender.cache_clear()


@receiver(setting_changed)
def _sender_setting_changed(setting, **kwargs):
    if setting == "TONGBAN_SMS_SENDER":
        reset_sender()


def send_text(phone: str, text: str) -> bool:
    """Hand one text to the configured channel. Returns False (and logs) when the channel failed."""
    name = "?"
    try:
        sender = get_sender()
        name = sender.name or type(sender).__name__
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():  # a savepoint: a channel's database error leaves the caller's transaction usable
                sender.send(phone, text)
        else:  # after commit: no transaction held open (and no write lock) while an external channel answers
            sender.send(phone, text)
        return True
    except Exception:
        logger.exception("短信发送失败（通道 %s）→ %s", name, mask_phone(phone))
        return False


def send_on_commit(phone: str, text: str) -> None:
    """Send once the caller's transaction commits (nothing is sent for work that rolled back)."""
    transaction.on_commit(lambda: send_text(phone, text))
