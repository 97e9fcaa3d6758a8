"""证照标识 (GB/T 36904): the ISO 7064 MOD 37,36 check character against python-stdnum as an oracle,
the identifier's structure, and refusal of malformed identifiers with Chinese messages."""

import random

import pytest
from stdnum.iso7064 import mod_37_36

from tongban.certificates import canonical, identifiers
from tongban.certificates.identifiers import IdentifierError, check_char, make, parse
from tongban.core.codes import make_uscc

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TYPE = make_uscc("11", "100000", "MB000001") + "001"
ISSUER = make_uscc("11", "371327", "MB123456")


def test_check_char_matches_stdnum_on_random_inputs():
    rng = random.Random(36)
    for _ in range(5000):
        s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 70)))
        assert check_char(s) == mod_37_36.calc_check_digit(s), s
        assert mod_37_36.is_valid(s + check_char(s))


def test_check_char_is_case_insensitive_and_refuses_other_characters():
    assert check_char("abc123") == check_char("ABC123")
    with pytest.raises(IdentifierError, match="不允许的字符"):
        check_char("AB-1")


def test_make_and_parse_round_trip_on_random_identifiers():
    rng = random.Random(7)
    for _ in range(500):
        serial = f"{rng.randint(2000, 2099)}{rng.randint(0, 99_999_999):08d}"
        version = rng.randint(1, 999)
        identifier = make(TYPE, ISSUER, serial, version)
        assert identifier.startswith("1.2.156.3005.2.")
        body = TYPE + ISSUER + serial + f"{version:03d}"
        assert identifier.endswith("." + mod_37_36.calc_check_digit(body))
        assert parse(identifier) == {"type_code": TYPE, "issuer_code": ISSUER, "serial": serial, "version": version,
                                     "check": identifier[-1]}
        assert parse("  " + identifier.lower() + " ")["serial"] == serial  # pasted with spaces, lower case


def test_every_single_character_substitution_is_caught():
    identifier = make(TYPE, ISSUER, "202600000001", 1)
    head, check = identifier[:-1], identifier[-1]
    start = len("1.2.156.3005.2.")
    caught = 0
    for i in range(start, len(head)):
        if head[i] == ".":
            continue
        for c in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if c == head[i]:
                continue
            wrong = head[:i] + c + head[i + 1:] + check
            with pytest.raises(IdentifierError):
                parse(wrong)
            caught += 1
    assert caught > 1000


@pytest.mark.parametrize("text, message", [
    ("", "请输入证照标识"),
    (None, "请输入证照标识"),
    (12345, "请输入证照标识"),
    ("2.2.156.3005.2.x", "应以"),
    ("1.2.156.3005.2." + TYPE + "." + ISSUER + ".2026000001.001", "格式不正确"),
    ("1.2.156.3005.2." + TYPE[:-1] + "." + ISSUER + ".2026000001.001.X", "格式不正确"),
    ("1.2.156.3005.2." + TYPE + "." + ISSUER + ".2026000001.01.X", "格式不正确"),
    ("1.2.156.3005.2." + TYPE + "." + ISSUER + ".20260-0001.001.X", "格式不正确"),
    ("1.2.156.3005.2." + TYPE + "." + ISSUER + ".2026000001.001.X\x00", "格式不正确"),
    ("1.2.156.3005.2." + "9" * 200, "过长"),
])
def test_malformed_identifiers_are_refused_in_chinese(text, message):
    with pytest.raises(IdentifierError, match=message):
        parse(text)


def test_wrong_check_character_and_version_zero():
    good = make(TYPE, ISSUER, "202600000001", 1)
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
    with pytest.raises(IdentifierError, match="校验位不正确"):
        parse(wrong)
    assert not identifiers.is_valid(wrong) and identifiers.is_valid(good)
    zero = f"1.2.156.3005.2.{TYPE}.{ISSUER}.202600000001.000."
    zero += check_char(TYPE + ISSUER + "202600000001000")
    with pytest.raises(IdentifierError, match="版本号"):
        parse(zero)
    with pytest.raises(IdentifierError, match="版本号"):
        make(TYPE, ISSUER, "202600000001", 1000)
    with pytest.raises(IdentifierError, match="格式不正确"):
        make(TYPE[:-1], ISSUER, "202600000001", 1)


def test_head_bytes_are_canonical_json_and_data_digest_depends_on_algorithm():
    head = {"v": 1, "id": "x", "h": "张三", "a": "sm2"}
    assert canonical.head_bytes(head) == '{"a":"sm2","h":"张三","id":"x","v":1}'.encode()
    data = {"b": "二", "a": 1}
    assert canonical.data_digest("sm2", data) == canonical.data_digest("sm2", {"a": 1, "b": "二"})
    assert canonical.data_digest("sm2", data) != canonical.data_digest("ed25519", data)
    assert len(canonical.data_digest("ed25519", data)) == 64
    import hashlib

    assert canonical.data_digest("ed25519", data) == hashlib.sha256('{"a":1,"b":"二"}'.encode()).hexdigest()
