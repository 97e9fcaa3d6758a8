"""What the JSON API accepts as input before any schema sees it: a body is one JSON object in
standard JSON, and no text anywhere (body, form field, URL) holds a NUL character or a lone UTF-16
surrogate. PostgreSQL rejects the first and neither database driver can encode the second, so
either used to reach the database and come back as a 500."""

import json

from ninja.parser import Parser

from .errors import DomainError

NUL_IN_URL = "请求地址或查询参数中不能含有空字符（%00）"


class RequestBodyError(DomainError):
    """A body that is not a JSON object (400); django-ninja reports it as `Cannot parse request body`."""

    status = 400


def bad_text(text):
    """True for text no database can store: a NUL character, or a lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bad_text_path(data):
    """The location ('guide.conditions', 'rows[3].item_name') of the first bad text in parsed JSON, or None."""
    stack = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if bad_text(value):
                return path or "（请求内容）"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and bad_text(key):
                    return path or "（字段名）"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _check_text(data):
    path = bad_text_path(data)
    if path is not None:
        raise DomainError(f"提交的数据不符合要求：{path} 含有空字符（\\u0000）或无效的Unicode字符，请删除后重新提交", status=422)


def _no_constants(name):
    raise RequestBodyError(f"请求内容不是标准JSON：不支持 {name}")


class StrictParser(Parser):
    """django-ninja read a list, a string or a number as an object without fields, so a PATCH with
    `[1]` or `"x"` answered 200 and changed nothing; and it passed NUL characters on to the database."""

    def parse_body(self, request):
        data = json.loads(request.body, parse_constant=_no_constants)
        if not isinstance(data, dict):
            raise RequestBodyError("请求内容应为JSON对象（形如 {\"字段\": 值}），不能是数组、字符串、数字或null")
        _check_text(data)
        return data

    def parse_querydict(self, data, list_fields, request):  # query parameters and form fields
        result = super().parse_querydict(data, list_fields, request)
        _check_text(result)
        return result
