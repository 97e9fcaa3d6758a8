import json
import sys

from django.core.management.base import BaseCommand, CommandError

from tongban.core import audit
from tongban.exchange import service


class Command(BaseCommand):
    help = "按对端节点的描述（node_descriptor 的输出）登记或更新对端节点；不能覆盖本节点"

    def add_arguments(self, parser):
        parser.add_argument("file", help="描述文件路径，- 表示从标准输入读取")

    def handle(self, *args, file, **options):
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
        except OSError as exc:
            raise CommandError(f"无法读取描述文件：{exc}")
        try:
            desc = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"描述文件不是有效的JSON：{exc}")
        try:
            node = service.register_peer(desc)
        except ValueError as exc:
            raise CommandError(str(exc))
        audit.record(None, "exchange.node_register", node, f"登记对端节点{node.node_id}")
        self.stdout.write(node.node_id)
