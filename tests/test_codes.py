"""Checksum vectors and structure rules of STANDARDS.md."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.core import codes
from tongban.core.codes import CodeError


@pytest.mark.parametrize("number", ["11010519491231002X", "110105194912310029"[:17] + codes.id_check_char("11010519491231002")])
def test_id_number_valid(number):
    parsed = codes.validate_id_number(number)
    assert parsed.birth_date.isoformat() == "1949-12-31"
    assert parsed.sex == "女"


@pytest.mark.parametrize(
    "number, message",
    [
        ("110105194912310021", "校验位"),
        ("11010519491231002", "18位"),
        ("11010519491331002X", "出生日期"),
        ("1101051949123100AX", "18位"),
        ("11010529991231002X", "合理范围"),
    ],
)
def test_id_number_invalid(number, message):
    with pytest.raises(CodeError, match=message):
        codes.validate_id_number(number)


@pytest.mark.django_db
def test_id_number_address_code_includes_history():
    from tongban.directory.services import address_code_exists

    assert address_code_exists("110105")
    # 370827 was an old code (鱼台县 moved); retired codes stay valid for old cards
    retired = __import__("tongban.directory.models", fromlist=["RegionHistory"]).RegionHistory.objects.filter(status="弃用").first()
    assert address_code_exists(retired.code)
    first17 = retired.code + "19800101001"
    codes.validate_id_number(first17 + codes.id_check_char(first17), address_exists=address_code_exists)
    bogus = "990000" + "19800101001"
    with pytest.raises(CodeError, match="地址码"):
        codes.validate_id_number(bogus + codes.id_check_char(bogus), address_exists=address_code_exists)


@pytest.mark.parametrize("code", ["11370800MB28559184", "91350100M000100Y43", "91110000600037341L"])
def test_uscc_valid(code):
    assert codes.validate_uscc(code.lower()) == code


@pytest.mark.parametrize(
    "code, message",
    [("11370800MB28559185", "校验位"), ("11370800MB2855918", "18位"), ("11370800MB2855918O", "不允许"), ("1137A800MB28559184", "区划码")],
)
def test_uscc_invalid(code, message):
    with pytest.raises(CodeError, match=message):
        codes.validate_uscc(code)


def test_uscc_weights_are_powers_of_three():
    assert codes.USCC_WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@given(st.text(alphabet=codes.USCC_ALPHABET, min_size=2, max_size=2), st.from_regex(r"[0-9]{6}", fullmatch=True),
       st.text(alphabet=codes.USCC_ALPHABET, min_size=8, max_size=8))
def test_made_uscc_always_validates(head, region, serial):
    code = codes.make_uscc(head, region, serial)
    assert codes.validate_uscc(code) == code
    # any single-character change is detected
    wrong = code[:17] + codes.USCC_ALPHABET[(codes.USCC_ALPHABET.index(code[17]) + 1) % 31]
    with pytest.raises(CodeError):
        codes.validate_uscc(wrong)


def test_basic_code_structure():
    assert codes.validate_basic_code("370117002011") == "370117002011"
    for bad, msg in [("37011700201", "12位"), ("375517002011", "事项类型"), ("370100000011", "主项"), ("37011700201A", "12位")]:
        with pytest.raises(CodeError, match=msg):
            codes.validate_basic_code(bad)


def test_implementation_code_structure():
    assert codes.validate_implementation_code("11370800MB285591843370117002011")
    for bad, msg in [
        ("11370800MB285591853370117002011", "前18位"),
        ("11370800MB285591847370117002011", "行使层级"),
        ("11370800MB285591843375517002011", "后12位"),
        ("11370800MB28559184337011700201", "31位"),
    ]:
        with pytest.raises(CodeError, match=msg):
            codes.validate_implementation_code(bad)


def test_phone():
    assert codes.validate_phone("138 0013 8000") == "13800138000"
    with pytest.raises(CodeError):
        codes.validate_phone("12345")


def test_masking():
    from tongban.core.masking import mask_id_number, mask_phone, mask_text

    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_text("申请人11010519491231002X电话13800138000") == "申请人110105********002X电话138****8000"
