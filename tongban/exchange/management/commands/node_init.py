from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from tongban.core import audit
from tongban.exchange import service, signing
from tongban.exchange.signing import SignerError


class Command(BaseCommand):
    help = "配置本节点（新建或更新，可重复执行），密钥文件不存在时生成节点密钥对"

    def add_arguments(self, parser):
        parser.add_argument("--node-id", required=True, help="节点标识（字母、数字、下划线、连字符）")
        parser.add_argument("--name", required=True, help="节点名称")
        parser.add_argument("--base-url", default="", help="其他节点访问本节点的地址，如 http://127.0.0.1:8101")
        parser.add_argument("--regions", default="000000", help="服务的区划代码，逗号分隔（默认 000000 全国）")
        parser.add_argument("--signing", choices=signing.ALGORITHMS, default=None, help="新生成密钥时使用的签名算法（默认取 TONGBAN_NODE_SIGNING）")

    def handle(self, *args, node_id, name, base_url, regions, **options):
        algorithm = options.get("signing")
        try:
            validate_slug(node_id)
        except ValidationError:
            raise CommandError("节点标识只能包含字母、数字、下划线和连字符")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise CommandError("--base-url 应以 http:// 或 https:// 开头")
        codes = [c.strip() for c in regions.split(",") if c.strip()]
        if not codes:
            raise CommandError("请至少指定一个区划代码")
        try:
            node = service.configure_self(node_id, name, base_url.rstrip("/"), codes, algorithm=algorithm)
        except (ValueError, SignerError) as exc:
            raise CommandError(str(exc))
        audit.record(None, "exchange.node_init", node, f"配置本节点{node.node_id}（服务区划：{'、'.join(codes)}）")
        self.stdout.write(node.node_id)
