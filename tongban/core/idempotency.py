"""Idempotency keys for creating API calls: the first answer is stored with the key (in the same
transaction as the change) and replayed for retries; the same key with a different body is a 422."""

import functools
import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException
from ninja import Status

from .errors import DomainError
from .models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def idempotent(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        key = request.META.get(HEADER, "").strip()
        if not key:
            return view(request, *args, **kwargs)
        if len(key) > 100:
            raise DomainError("Idempotency-Key 不能超过100个字符", status=422)
        if _CONTROL.search(key):  # a NUL would reach PostgreSQL in the lookup below
            raise DomainError("Idempotency-Key 不能含有控制字符（如空字符），建议使用UUID", status=422)
        user = request.user if request.user.is_authenticated else None
        method_path = f"{request.method} {request.path}"
        digest = _digest(request)
        found = IdempotencyRecord.objects.filter(key=key, user=user, method_path=method_path).first()
        if found is not None:
            return _replay(found, digest)
        try:
            with transaction.atomic():
                result = view(request, *args, **kwargs)
                status, body = (result.status_code, result.value) if isinstance(result, Status) else (200, result)
                payload = json.loads(json.dumps(_dump(body), default=str))
                IdempotencyRecord.objects.create(key=key, user=user, method_path=method_path, request_hash=digest, status=status, body=payload)
        except IntegrityError:
            # Two identical requests raced: the other one committed first; answer as it did.
            found = IdempotencyRecord.objects.filter(key=key, user=user, method_path=method_path).first()
            if found is None:
                raise
            return _replay(found, digest)
        return result

    return wrapper


def _digest(request):
    """What the request carried. A multipart body has usually been parsed already (the CSRF check
    reads request.POST), after which Django refuses to give the raw bytes: hash the parsed fields and
    the files' contents instead."""
    try:
        return hashlib.sha256(request.body or b"").hexdigest()
    except RawPostDataException:
        h = hashlib.sha256()
        for key in sorted(request.POST):
            for value in request.POST.getlist(key):
                h.update(f"{key}\x00{value}\x00".encode())
        for key in sorted(request.FILES):
            for upload in request.FILES.getlist(key):
                h.update(f"{key}\x00{upload.name}\x00".encode())
                upload.seek(0)
                for chunk in upload.chunks():
                    h.update(chunk)
                upload.seek(0)
        return h.hexdigest()


def _replay(record, digest):
    if record.request_hash != digest:
        raise DomainError("同一个 Idempotency-Key 已用于内容不同的请求，请更换新的键", status=422)
    return HttpResponse(json.dumps(record.body, ensure_ascii=False), status=record.status, content_type="application/json")


def _dump(body):
    if hasattr(body, "model_dump"):
        return body.model_dump(mode="json")
    return body
