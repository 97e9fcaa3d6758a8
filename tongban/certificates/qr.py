"""The compact signed payload a certificate's QR code carries, verifiable offline.

Text form: `TBC1.<base64url(head bytes)>.<base64url(signature)>`, inside the public verification URL
`{TONGBAN_PUBLIC_URL}/verify/?c=<text>`. The head is the certificate's signed head (see
`canonical.head`): identifier, type, holder, issuer, dates, jurisdiction, data digest, key id and
algorithm. Its bytes are exactly what the issuer signed, so the same signature verifies online and,
with the published trusted-issuer list, offline.
"""

import base64
import json
from urllib.parse import quote

from django.conf import settings

PREFIX = "TBC1"
MAX_TEXT = 2000  # a QR code holds less; longer input is refused before decoding


class QRError(ValueError):
    """The text is not a Tongban certificate payload (message in Chinese)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(head_bytes: bytes, signature: bytes) -> str:
    return f"{PREFIX}.{_b64(head_bytes)}.{_b64(signature)}"


def decode(text: str):
    """(head dict, head bytes, signature bytes); QRError for anything else."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        raise QRError("二维码内容为空或过长，不是电子证照二维码")
    parts = text.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise QRError("二维码不是本平台签发的电子证照二维码")
    try:
        head_bytes, signature = _unb64(parts[1]), _unb64(parts[2])
        head = json.loads(head_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise QRError("二维码内容已损坏，无法识别") from None
    if not isinstance(head, dict) or not isinstance(head.get("id"), str) or not signature:
        raise QRError("二维码内容不完整，无法识别")
    return head, head_bytes, signature


def verify_url(text: str) -> str:
    return f"{settings.TONGBAN_PUBLIC_URL}/verify/?c={quote(text, safe='')}"


def qr_text(certificate) -> str:
    """What the certificate's QR code holds: the verification URL with the compact signed payload."""
    from . import canonical

    return verify_url(encode(canonical.head_bytes(canonical.head(certificate)), bytes.fromhex(certificate.signature)))
