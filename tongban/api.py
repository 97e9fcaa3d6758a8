"""The JSON API under /api/v1/. Routers live in each app's api.py; this module only assembles them
and turns domain errors into clear Chinese 4xx answers."""

import json

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import BaseRenderer

from tongban.core.api_input import StrictParser
from tongban.core.authz import PermissionDenied
from tongban.core.codes import CodeError
from tongban.core.errors import DomainError, error_messages
from tongban.core.middleware import RETRY_MESSAGE, retryable
from tongban.directory.api_auth import CSRF_FAILED


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
    parser=StrictParser(),
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
    if kind == "value_error":  # our own validators raise ValueError with a Chinese message
        return str(err.get("ctx", {}).get("error", "")) or err.get("msg", "格式不正确").removeprefix("Value error, ")
    table = {
        "missing": "为必填项", "string_too_long": "过长", "string_too_short": "过短", "int_parsing": "应为整数",
        "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_parsing": "应为日期（YYYY-MM-DD）",
        "literal_error": "不是允许的取值", "enum": "不是允许的取值", "greater_than_equal": "过小", "less_than_equal": "过大",
        "decimal_parsing": "应为数字", "bool_parsing": "应为是或否", "list_type": "应为列表", "json_invalid": "不是有效的JSON",
        "int_type": "应为整数", "int_from_float": "应为整数", "string_type": "应为文字（字符串）", "bool_type": "应为是或否（true/false）",
        "decimal_type": "应为数字", "decimal_max_digits": "位数过多", "decimal_max_places": "小数位数过多",
        "decimal_whole_digits": "整数位数过多", "date_type": "应为日期（YYYY-MM-DD）", "dict_type": "应为对象（JSON对象）",
        "model_type": "应为对象（JSON对象）", "model_attributes_type": "应为对象（JSON对象）", "too_short": "条目过少",
        "too_long": "条目过多", "greater_than": "过小", "less_than": "过大", "string_pattern_mismatch": "格式不正确",
        "finite_number": "应为有限的数字", "float_parsing": "应为数字", "float_type": "应为数字",
        "int_parsing_size": "数值过大", "extra_forbidden": "不是可识别的字段（请核对字段名）",
        "date_from_datetime_inexact": "应为日期（YYYY-MM-DD）", "string_unicode": "应为文字（字符串）",
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


@api.exception_handler(OperationalError)
def _database_busy(request, exc):
    if retryable(exc):  # deadlock / serialisation failure: rolled back whole, safe to send again
        return _error(request, 409, RETRY_MESSAGE)
    raise exc


@api.exception_handler(IntegrityError)
def _conflict(request, exc):
    return _error(request, 409, "数据与已有记录冲突（可能重复提交或编码已存在），未作任何修改")


# django-ninja's own messages (body parsing, default CSRF check) are English; answer them in Chinese.
_NINJA_MESSAGES = {
    "Cannot parse request body": "请求内容无法解析：请提交有效的JSON（Content-Type: application/json）",
    "CSRF check Failed": CSRF_FAILED,
}


@api.exception_handler(HttpError)
def _http_error(request, exc):
    message = str(exc)
    if isinstance(exc.__cause__, DomainError):  # ninja wraps any error of the body parser as "Cannot parse request body"
        return _domain_error(request, exc.__cause__)
    for english, chinese in _NINJA_MESSAGES.items():
        if message.startswith(english):
            message = chinese
            break
    return _error(request, exc.status_code, message)


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request, exc):
    return _error(request, 400, "上传内容格式不正确（multipart/form-data 缺少或带有无效的 boundary），请重新选择文件上传")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    if isinstance(exc, RequestDataTooBig):
        return _error(request, 413, "提交的数据过大，请拆分后再提交")
    return _error(request, 400, "请求格式不正确（字段或文件过多，或请求不合规），未作任何修改")


def _register_routers():
    from tongban.applicants.api import router as applicants_router
    from tongban.bundles.api import router as bundles_router
    from tongban.cases.api import router as cases_router
    from tongban.catalog.api import router as catalog_router
    from tongban.catalog.api_lists import router as lists_router
    from tongban.certificates.api_public import router as certificates_public_router
    from tongban.certificates.api_staff import router as certificates_staff_router
    from tongban.core.api import router as calendar_router
    from tongban.directory.api import router as directory_router
    from tongban.evaluation.api import router as evaluation_router
    from tongban.inquiries.api import router as inquiries_router
    from tongban.sharing.api import router as sharing_router

    api.add_router("/directory/", directory_router)
    api.add_router("/catalog/", catalog_router)
    api.add_router("/lists/", lists_router)
    api.add_router("/calendar/", calendar_router)
    api.add_router("/applicants/", applicants_router)
    api.add_router("/cases/", cases_router)
    api.add_router("/bundles/", bundles_router)
    api.add_router("/inquiries/", inquiries_router)
    api.add_router("/evaluations/", evaluation_router)
    api.add_router("/certificates/", certificates_public_router)
    api.add_router("/certificates/staff/", certificates_staff_router)
    api.add_router("/sharing/", sharing_router)


_register_routers()
