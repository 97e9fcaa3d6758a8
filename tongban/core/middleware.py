"""Every answer under /api/ is JSON with a Chinese message, also the two that Django and django-ninja
produce before any API code runs: a path that matches no operation (404, an HTML page otherwise) and
a method the path does not support (405, plain English text otherwise). A URL with a NUL character
(path or query) is refused here, before any lookup could hand it to PostgreSQL; bodies and form
fields are checked by the API's parser (tongban.core.api_input)."""

import json

from django.http import HttpResponse

from .api_input import NUL_IN_URL

API_PREFIX = "/api/"


def _json(status, message):
    return HttpResponse(json.dumps({"detail": message}, ensure_ascii=False), status=status, content_type="application/json")


class APIErrorBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX) and _nul_in_url(request):
            return _json(400, NUL_IN_URL)
        redirect = _slash_redirect(request)
        if redirect is not None:
            return redirect
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return _json(404, "接口地址不存在：请核对路径（路径中的编号应为正整数）")
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            new = _json(405, f"该接口不支持 {request.method} 方法" + (f"（可用：{'、'.join(sorted(allowed.split(', ')))}）" if allowed else ""))
            if allowed:
                new["Allow"] = allowed
            return new
        return response


def _nul_in_url(request):
    if "\x00" in request.path:
        return True
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists())


def _slash_redirect(request):
    """`POST /api/v1/lists` for `/api/v1/lists/`: Django's slash redirect is a 301 that drops the body (and
    an error page in DEBUG); a 308 keeps the method and body, so clients retry correctly."""
    from django.urls import Resolver404, resolve

    path = request.path
    if not path.startswith(API_PREFIX) or path.endswith("/") or request.method in ("GET", "HEAD"):
        return None
    try:
        resolve(path)
        return None
    except Resolver404:
        pass
    try:
        resolve(path + "/")
    except Resolver404:
        return None
    query = request.META.get("QUERY_STRING", "")
    response = HttpResponse(status=308)
    response["Location"] = path + "/" + (f"?{query}" if query else "")
    return response


# PostgreSQL's deadlock and serialisation failures: the transaction was rolled back whole, nothing was
# written, and the same request may simply be sent again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_MESSAGE = "该办件正被他人同时处理，本次操作未作任何修改，请稍后重试"


def retryable(exc):
    from django.db import OperationalError

    cause = getattr(exc, "__cause__", None)
    return isinstance(exc, OperationalError) and getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


class RetryableConflictMiddleware:
    """A step that lost a lock race inside the database (two departments acting on one bundle at the
    same moment) is answered 409 with a Chinese message instead of 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not retryable(exception):
            return None
        if request.path.startswith(API_PREFIX):
            return _json(409, RETRY_MESSAGE)
        from django.shortcuts import render

        return render(request, "409.html", {"message": RETRY_MESSAGE}, status=409)
