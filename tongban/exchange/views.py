"""The node-to-node inbox endpoint and the operators' page.

The inbox takes no session and no CSRF token: a request is trusted only through the signatures of
its envelopes. It never answers 500 for what a peer sends: a bad body is 400, a bad envelope is
"rejected" in its result, an unavailable database is 503 (the sender retries).
"""

import json
import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tongban.core import authz
from tongban.workbench.views import nav_context, staff_required

from . import inbox, relay
from .models import Node, OutboxMessage, Rejection

log = logging.getLogger("tongban.exchange")

JSON_DUMPS = {"ensure_ascii": False}


def _detail(status, message):
    return JsonResponse({"detail": message}, status=status, json_dumps_params=JSON_DUMPS)


@csrf_exempt
def inbox_view(request):
    if request.method != "POST":
        response = _detail(405, "仅支持 POST 方法")
        response["Allow"] = "POST"
        return response
    try:
        try:
            raw = request.body
        except RequestDataTooBig:
            return _detail(400, "请求过大，请减少每批的信封或材料数量")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _detail(400, "请求内容不是有效的UTF-8 JSON")
        try:
            results = inbox.receive(body, request.META.get("REMOTE_ADDR"))
        except ValueError as exc:
            return _detail(400, str(exc))
        return JsonResponse({"results": results}, json_dumps_params=JSON_DUMPS)
    except DatabaseError:
        log.exception("exchange: inbox database unavailable")
        return _detail(503, "接收节点数据库暂不可用，请稍后重试")
    except Exception:
        log.exception("exchange: inbox failed")
        return _detail(503, "接收节点暂时无法处理，请稍后重试")


def _platform_admin_required(view):
    @staff_required
    def wrapper(request, *args, **kwargs):
        if "platform_admin" not in authz.roles_of(request.user):
            raise PermissionDenied("仅平台管理员可以查看节点交换运行情况")
        return view(request, *args, **kwargs)

    return wrapper


@_platform_admin_required
def ops(request):
    counts = {}
    for row in OutboxMessage.objects.values("receiver", "status").annotate(n=Count("id")).order_by():
        counts.setdefault(row["receiver"], {s: 0 for s, _ in OutboxMessage.STATUS_CHOICES})[row["status"]] = row["n"]
    nodes = list(Node.objects.prefetch_related("regions").order_by("-is_self", "node_id"))
    names = {n.node_id: n.name for n in nodes}
    # (status label, count) per status: the table's columns come from STATUS_CHOICES, not the template
    peers = [{"node_id": r, "name": names.get(r, ""), "counts": [(label, c[s]) for s, label in OutboxMessage.STATUS_CHOICES]}
             for r, c in sorted(counts.items())]
    context = {
        **nav_context(request),
        "nav": "exchange",
        "nodes": nodes,
        "statuses": [label for _, label in OutboxMessage.STATUS_CHOICES],
        "peers": peers,
        "dead": OutboxMessage.objects.filter(status=OutboxMessage.DEAD).order_by("-created_at")[:100],
        "rejections": Rejection.objects.order_by("-at")[:50],
    }
    return render(request, "exchange/ops.html", context)


@require_POST
@_platform_admin_required
def ops_resend(request):
    n = relay.resend(request.POST.getlist("message_id"), request.user)
    if n:
        messages.success(request, f"已将{n}条死信消息重新加入发送队列")
    else:
        messages.warning(request, "没有可重新发送的死信消息（可能已被其他管理员处理）")
    return redirect("exchange:ops")
