"""证照标识 (GB/T 36904): `1.2.156.3005.2.{type}.{issuer}.{serial}.{version:03d}.{check}`.

The check character is ISO 7064 MOD 37,36 (hybrid system over 0-9A-Z) of the concatenation of type
code, issuer code, serial and version: a mistyped identifier is refused before any lookup.
"""

import re

PREFIX = "1.2.156.3005.2."
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD = len(ALPHABET)  # 36; the hybrid system works modulo 36 and 37
_PATTERN = re.compile(
    r"1\.2\.156\.3005\.2\.(?P<type_code>[0-9A-Z]{21})\.(?P<issuer_code>[0-9A-Z]{18})\.(?P<serial>[0-9A-Z]{1,20})"
    r"\.(?P<version>[0-9]{3})\.(?P<check>[0-9A-Z])"
)
MAX_LENGTH = 120


class IdentifierError(ValueError):
    """A malformed identifier or a wrong check character (message in Chinese, fit for the user)."""


def check_char(s: str) -> str:
    """ISO 7064 MOD 37,36 check character of `s` (case-insensitive; only 0-9 and A-Z)."""
    s = (s or "").upper()
    p = _MOD
    for c in s:
        value = ALPHABET.find(c)
        if value < 0:
            raise IdentifierError(f"证照标识含有不允许的字符“{c}”（只能是数字和大写字母）")
        p = (((p + value) % _MOD) or _MOD) * 2 % (_MOD + 1)
    return ALPHABET[(_MOD + 1 - p) % _MOD]


def make(type_code, issuer_code, serial, version: int) -> str:
    type_code, issuer_code, serial = str(type_code).upper(), str(issuer_code).upper(), str(serial).upper()
    if not 1 <= int(version) <= 999:
        raise IdentifierError("证照版本号应为1至999")
    body = f"{type_code}.{issuer_code}.{serial}.{int(version):03d}"
    identifier = f"{PREFIX}{body}.{check_char(type_code + issuer_code + serial + f'{int(version):03d}')}"
    if not _PATTERN.fullmatch(identifier):
        raise IdentifierError("证照类型代码（21位）、发证机构代码（18位）或顺序号格式不正确，无法生成证照标识")
    return identifier


def normalize(identifier) -> str:
    return (identifier or "").strip().upper() if isinstance(identifier, str) else ""


def parse(identifier) -> dict:
    """{type_code, issuer_code, serial, version, check} of a well-formed identifier with a correct
    check character; IdentifierError otherwise."""
    text = normalize(identifier)
    if not text:
        raise IdentifierError("请输入证照标识")
    if len(text) > MAX_LENGTH:
        raise IdentifierError("证照标识过长，不是有效的证照标识")
    if not text.startswith(PREFIX):
        raise IdentifierError("证照标识应以“1.2.156.3005.2.”开头")
    m = _PATTERN.fullmatch(text)
    if m is None:
        raise IdentifierError("证照标识格式不正确：应为“1.2.156.3005.2.证照类型代码.发证机构代码.顺序号.版本号.校验位”")
    parts = m.groupdict()
    expected = check_char(parts["type_code"] + parts["issuer_code"] + parts["serial"] + parts["version"])
    if expected != parts["check"]:
        raise IdentifierError("证照标识校验位不正确，请核对是否输入有误")
    parts["version"] = int(parts["version"])
    if parts["version"] < 1:
        raise IdentifierError("证照标识的版本号不正确")
    return parts


def is_valid(identifier) -> bool:
    try:
        parse(identifier)
    except IdentifierError:
        return False
    return True
