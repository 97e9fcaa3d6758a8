"""Check that a peer node is reachable and accepts this node's signed envelopes: queue a ping, deliver
it at once, and report the answer."""

import time

from django.core.management.base import BaseCommand, CommandError

from tongban.exchange import relay, service
from tongban.exchange.models import OutboxMessage


class Command(BaseCommand):
    help = "向已登记的节点发送探测消息（ping），检查连通与签名"

    def add_arguments(self, parser):
        parser.add_argument("node_id")
        parser.add_argument("--wait", type=float, default=10.0, help="等待确认的秒数")

    def handle(self, node_id, wait, **options):
        try:
            message_id = service.ping(node_id)
        except service.PermanentError as exc:
            raise CommandError(str(exc)) from None
        started, deadline = time.monotonic(), time.monotonic() + wait
        while time.monotonic() < deadline:
            relay.deliver_pending()
            row = OutboxMessage.objects.get(message_id=message_id)
            if row.status != OutboxMessage.PENDING:
                break
            time.sleep(0.2)
        if row.status == OutboxMessage.DELIVERED:
            self.stdout.write(f"节点 {node_id} 已确认（{(time.monotonic() - started) * 1000:.0f} ms）")
            return
        raise CommandError(f"节点 {node_id} 未确认：{row.get_status_display()}，{row.last_error or '等待中'}")
