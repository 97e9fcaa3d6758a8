"""The JSON API under /api/v1/. Routers live in each app's api.py; this module only assembles them
and turns domain errors into clear Chinese 4xx answers."""

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import BaseRenderer

from tongban.core.authz import PermissionDenied
from tongban.core.codes import CodeError
from tongban.core.errors import DomainError, error_messages


class UTF8JSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status):
        from django.core.serializers.json import DjangoJSONEncoder

        return json.dumps(data, ensure_ascii=False, cls=DjangoJSONEncoder)


api = NinjaAPI(
    title="Tongban 通办 API",
    version="1",
    description="跨省通办、全省通办、全市通办与高效办成一件事平台接口。公开接口无需登录；管理接口需工作人员登录（密码+动态口令）。",
    renderer=UTF8JSONRenderer(),
    urls_namespace="api",
)


def _error(request, status, message, details=None):
    body = {"detail": message}
    if details:
        body["errors"] = details
    return api.create_response(request, body, status=status)


@api.exception_handler(NinjaValidationError)
def _validation(request, exc):
    details = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", []) if p not in ("body", "payload", "query"))
        details.append({"field": loc, "message": _translate_pydantic(err)})
    return _error(request, 422, "提交的数据不符合要求：" + "；".join(f"{d['field']} {d['message']}" for d in details), details)


def _translate_pydantic(err):
    kind = err.get("type", "")
    table = {
        "missing": "为必填项", "string_too_long": "过长", "string_too_short": "过短", "int_parsing": "应为整数",
        "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_parsing": "应为日期（YYYY-MM-DD）",
        "literal_error": "不是允许的取值", "enum": "不是允许的取值", "greater_than_equal": "过小", "less_than_equal": "过大",
        "decimal_parsing": "应为数字", "bool_parsing": "应为是或否", "list_type": "应为列表", "json_invalid": "不是有效的JSON",
    }
    return table.get(kind, "格式不正确")


@api.exception_handler(CodeError)
def _code_error(request, exc):
    return _error(request, 422, str(exc))


@api.exception_handler(DomainError)
def _domain_error(request, exc):
    return _error(request, exc.status, exc.message, exc.details)


@api.exception_handler(DjangoValidationError)
def _django_validation(request, exc):
    messages = error_messages(exc)
    return _error(request, 422, "；".join(messages), messages)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, exc.message)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, 401, "请先以工作人员身份登录（密码+动态口令）")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "未找到该记录，或您无权查看")


@api.exception_handler(IntegrityError)
def _conflict(request, exc):
    return _error(request, 409, "数据与已有记录冲突（可能重复提交或编码已存在），未作任何修改")


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return _error(request, exc.status_code, str(exc))


def _register_routers():
    from tongban.catalog.api import router as catalog_router
    from tongban.catalog.api_lists import router as lists_router
    from tongban.core.api import router as calendar_router
    from tongban.directory.api import router as directory_router

    api.add_router("/directory/", directory_router)
    api.add_router("/catalog/", catalog_router)
    api.add_router("/lists/", lists_router)
    api.add_router("/calendar/", calendar_router)


_register_routers()
