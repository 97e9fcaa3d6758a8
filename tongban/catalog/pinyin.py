"""Pinyin keys of item names, so that `hkqy` or `hukou` finds 户口迁移."""

import re

from pypinyin import Style, lazy_pinyin

_NON_HAN = re.compile(r"[^\u4e00-\u9fff]")


def initials(text):
    return "".join(p[0] for p in lazy_pinyin(_NON_HAN.sub("", text or ""), style=Style.FIRST_LETTER) if p)


def full_pinyin(text):
    return "".join(lazy_pinyin(_NON_HAN.sub("", text or "")))
