"""Checks for national identifiers (STANDARDS.md). Each returns None or raises CodeError with a Chinese message.

Our own code rather than python-stdnum: stdnum rejects credit codes starting with a letter and ID
numbers whose address code is missing from its own (current-only) table.
"""

import datetime
import re
from dataclasses import dataclass

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"

ITEM_TYPES = {
    "01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收", "05": "行政给付",
    "06": "行政检查", "07": "行政确认", "08": "行政奖励", "09": "行政裁决", "10": "其他行政权力",
    "20": "公共服务", "99": "其他",
}
LEVELS = {"1": "国家级", "2": "省级", "3": "地市级", "4": "区县级", "5": "乡镇级", "6": "村级"}


class CodeError(ValueError):
    """A code failed validation; str() is a Chinese message fit for the user."""


def normalize(code):
    return (code or "").strip().upper()


# --- 统一社会信用代码 GB 32100-2015 -------------------------------------------------------------

def uscc_check_char(first17):
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code):
    code = normalize(code)
    if len(code) != 18:
        raise CodeError(f"统一社会信用代码应为18位，当前为{len(code)}位")
    bad = [c for c in code if c not in USCC_ALPHABET]
    if bad:
        raise CodeError(f"统一社会信用代码含有不允许的字符“{bad[0]}”（不使用I、O、S、V、Z）")
    if not re.fullmatch(r"[0-9]{6}", code[2:8]):
        raise CodeError("统一社会信用代码第3至8位应为登记管理机关行政区划码")
    if uscc_check_char(code[:17]) != code[17]:
        raise CodeError("统一社会信用代码校验位不正确")
    return code


def org_code_check_char(first8):
    """GB 11714 check character of the 9-character organisation code inside a credit code."""
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first8, weights))
    c = 11 - total % 11
    return "X" if c == 10 else ("0" if c == 11 else str(c))


def make_uscc(authority_kind, region_code, org_serial):
    """Build a valid credit code: 2 chars authority+kind, 6 region digits, 8-char serial (+ GB 11714 check)."""
    org = org_serial + org_code_check_char(org_serial)
    first17 = authority_kind + region_code + org
    return first17 + uscc_check_char(first17)


# --- 公民身份号码 GB 11643-1999 ------------------------------------------------------------------

@dataclass(frozen=True)
class IdNumber:
    number: str
    address_code: str
    birth_date: datetime.date
    sex: str  # "男" / "女"


def id_check_char(first17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def validate_id_number(number, address_exists=None, today=None):
    """Validate structure, birth date and check character. `address_exists(code)` checks the
    address code against current and historical divisions (directory.services.address_code_exists)."""
    number = normalize(number)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        raise CodeError("公民身份号码应为18位，前17位为数字，末位为数字或X")
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise CodeError("公民身份号码中的出生日期不存在") from None
    today = today or datetime.date.today()
    if birth > today or birth.year < 1850:
        raise CodeError("公民身份号码中的出生日期不在合理范围内")
    if id_check_char(number[:17]) != number[17]:
        raise CodeError("公民身份号码校验位不正确")
    if address_exists is not None and not address_exists(number[:6]):
        raise CodeError(f"公民身份号码的地址码{number[:6]}不是有效的行政区划代码（含历史代码）")
    return IdNumber(number, number[:6], birth, "男" if int(number[16]) % 2 else "女")


# --- 基本编码 and 实施编码 GB/T 39554.1 -----------------------------------------------------------

def validate_basic_code(code):
    """12 chars: 2 province code ('00' national) + 2 item type + 5 main item + 3 sub-item."""
    code = normalize(code)
    if not re.fullmatch(r"[0-9]{12}", code):
        raise CodeError("事项基本编码应为12位数字")
    if code[2:4] not in ITEM_TYPES:
        raise CodeError(f"事项基本编码第3至4位“{code[2:4]}”不是有效的事项类型代码")
    if code[4:9] == "00000":
        raise CodeError("事项基本编码第5至9位（主项编码）不能全为0")
    return code


def validate_implementation_code(code):
    """31 chars: implementing body's credit code (18) + level (1) + basic code (12)."""
    code = normalize(code)
    if len(code) != 31:
        raise CodeError(f"实施编码应为31位，当前为{len(code)}位")
    try:
        validate_uscc(code[:18])
    except CodeError as exc:
        raise CodeError(f"实施编码前18位：{exc}") from None
    if code[18] not in LEVELS:
        raise CodeError(f"实施编码第19位“{code[18]}”不是有效的行使层级代码（1-6）")
    try:
        validate_basic_code(code[19:])
    except CodeError as exc:
        raise CodeError(f"实施编码后12位：{exc}") from None
    return code


def make_implementation_code(credit_code, level, basic_code):
    return validate_implementation_code(f"{credit_code}{level}{basic_code}")


# --- 手机号码 ------------------------------------------------------------------------------------

def validate_phone(phone):
    phone = (phone or "").strip().replace(" ", "").replace("-", "")
    if re.fullmatch(r"1[3-9][0-9]{9}", phone) or re.fullmatch(r"0[0-9]{9,11}", phone):
        return phone
    raise CodeError("电话号码格式不正确（手机号为11位，固话含区号）")
