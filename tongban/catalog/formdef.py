"""Application form definitions (申请表) as data, and server-side validation of what was filled in.

A definition is a list of fields:
    {"key": "reason", "label": "申请事由", "type": "text", "required": true,
     "help": "…", "max_length": 200, "choices": ["…"], "min": 0, "max": 100, "meaning": "…"}
Types: text, number, date, choice, id_number, credit_code, region, phone, address, file.
A file field's value is the stored blob's reference {"sha256", "file_name", "content_type"}.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from tongban.core.codes import CodeError, validate_id_number, validate_phone, validate_uscc

TYPES = {
    "text": "文本", "number": "数字", "date": "日期", "choice": "选项", "id_number": "公民身份号码",
    "credit_code": "统一社会信用代码", "region": "行政区划", "phone": "手机号码", "address": "地址", "file": "附件",
}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# "meaning": the field's canonical meaning (e.g. applicant_name, id_number) — fields of one meaning in
# several items' forms appear once in a 一件事's merged form (bundles.merging).
_ALLOWED = {"key", "label", "type", "required", "help", "max_length", "choices", "min", "max", "meaning"}
MAX_FIELDS = 60


def definition_errors(fields):
    """Chinese problems of a definition (empty when it is usable)."""
    if not isinstance(fields, list):
        return ["表单字段应为列表"]
    if len(fields) > MAX_FIELDS:
        return [f"表单字段不能超过{MAX_FIELDS}个"]
    problems, seen = [], set()
    for n, f in enumerate(fields, 1):
        if not isinstance(f, dict):
            problems.append(f"第{n}个字段应为对象")
            continue
        extra = set(f) - _ALLOWED
        if extra:
            problems.append(f"第{n}个字段含有不可识别的属性：{'、'.join(sorted(extra))}")
        key, label, kind = f.get("key"), f.get("label"), f.get("type")
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"第{n}个字段的标识应为小写字母开头的英文字母、数字或下划线（不超过40个字符）")
        elif key in seen:
            problems.append(f"字段标识“{key}”重复")
        seen.add(key)
        if not isinstance(label, str) or not label.strip() or len(label) > 60:
            problems.append(f"第{n}个字段需要名称（不超过60个字符）")
        if kind not in TYPES:
            problems.append(f"第{n}个字段的类型应为：{'、'.join(f'{k}（{v}）' for k, v in TYPES.items())}")
        if kind == "choice":
            choices = f.get("choices")
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
                problems.append(f"第{n}个字段为选项类型，需要列出可选项")
        if "meaning" in f and (not isinstance(f["meaning"], str) or not _KEY.match(f["meaning"])):
            problems.append(f"第{n}个字段的含义标识（meaning）应为小写字母开头的英文字母、数字或下划线")
        if "required" in f and not isinstance(f["required"], bool):
            problems.append(f"第{n}个字段的“必填”应为 true 或 false")
        for bound in ("min", "max", "max_length"):
            if bound in f and (isinstance(f[bound], bool) or not isinstance(f[bound], (int, float))):
                problems.append(f"第{n}个字段的 {bound} 应为数字")
    return problems


def validate_data(fields, data, files=None, store_file=None, address_exists=None, region_exists=None):
    """(clean values, {label: message}) for submitted form data. `store_file(upload)` stores a file
    and returns its reference; `files` maps keys to uploads; earlier file values in `data` are kept."""
    files = files or {}
    clean, errors = {}, {}
    for f in fields:
        key, label, kind = f["key"], f["label"], f["type"]
        raw = data.get(key)
        if kind == "file":
            upload = files.get(key)
            if upload is not None and store_file is not None:
                try:
                    clean[key] = store_file(upload)
                except Exception as exc:  # a DomainError from the store: report it on this field
                    errors[label] = getattr(exc, "message", str(exc))
                continue
            if isinstance(raw, dict) and {"sha256", "file_name"} <= set(raw):
                clean[key] = raw
            elif f.get("required"):
                errors[label] = "请上传附件"
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if f.get("required"):
                errors[label] = "为必填项"
            continue
        try:
            clean[key] = _clean_value(f, raw, address_exists, region_exists)
        except ValueError as exc:
            errors[label] = str(exc)
    return clean, errors


def _clean_value(f, raw, address_exists, region_exists):
    kind = f["type"]
    if isinstance(raw, (list, dict)):
        raise ValueError("格式不正确")
    text = str(raw).strip()
    if "\x00" in text:
        raise ValueError("含有不允许的字符")
    if kind in ("text", "address"):
        limit = int(f.get("max_length") or (300 if kind == "address" else 500))
        if len(text) > limit:
            raise ValueError(f"不能超过{limit}个字符")
        return text
    if kind == "number":
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError("应为数字") from None
        if not value.is_finite():
            raise ValueError("应为数字")
        if "min" in f and value < Decimal(str(f["min"])):
            raise ValueError(f"不能小于{f['min']}")
        if "max" in f and value > Decimal(str(f["max"])):
            raise ValueError(f"不能大于{f['max']}")
        return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)
    if kind == "date":
        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("应为日期（如 2026-11-22）") from None
    if kind == "choice":
        if text not in f["choices"]:
            raise ValueError("不是可选的项")
        return text
    if kind == "id_number":
        try:
            return validate_id_number(text.upper(), address_exists=address_exists).number
        except CodeError as exc:
            raise ValueError(str(exc)) from None
    if kind == "credit_code":
        try:
            validate_uscc(text.upper())
        except CodeError as exc:
            raise ValueError(str(exc)) from None
        return text.upper()
    if kind == "phone":
        try:
            validate_phone(text)
        except CodeError as exc:
            raise ValueError(str(exc)) from None
        return text
    if kind == "region":
        if region_exists is not None and not region_exists(text):
            raise ValueError("不是有效的行政区划代码")
        return text
    raise ValueError("未知的字段类型")
