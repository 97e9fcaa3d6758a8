"""Masking of personal data for lists and logs (ID numbers, credit codes of persons, phones)."""

import logging
import re

_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id_number(value):
    if not value or len(value) < 8:
        return value
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value):
    if not value or len(value) < 7:
        return value
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_text(text):
    text = _ID_RE.sub(lambda m: m.group(1) + "********" + m.group(2), text)
    return _PHONE_RE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class MaskPIIFilter(logging.Filter):
    """Rewrites every log record so that ID numbers and mobile numbers never reach a log sink."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
