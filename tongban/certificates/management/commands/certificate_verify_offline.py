"""Verify a certificate QR code with a downloaded trusted-issuer list, without the database:
`manage.py certificate_verify_offline --trust-list trust-list.json --node-key <hex> '<QR text or URL>'`.
Exit status 0 when the signature is valid, 1 otherwise."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tongban.certificates.offline import TrustListError, verify_offline, verify_trust_list


class Command(BaseCommand):
    help = "离线核验电子证照二维码（使用已下载并经节点公钥验签的可信发证机构名单，无需联网、无需数据库）"
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("qr_text", help="二维码内容（TBC1.… 或验真网址）")
        parser.add_argument("--trust-list", required=True, help="可信发证机构名单文件（/certificates/trust-list.json 下载所得）")
        parser.add_argument("--node-key", required=True, help="发布名单的平台节点公钥（十六进制，须另行可靠获取）")

    def handle(self, *args, **options):
        try:
            signed = json.loads(Path(options["trust_list"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"无法读取可信发证机构名单文件：{exc}") from None
        try:
            doc = verify_trust_list(signed, options["node_key"])
        except TrustListError as exc:
            raise CommandError(str(exc)) from None
        result = verify_offline(options["qr_text"], doc)
        head = result["head"]
        self.stdout.write(f"核验结果：{result['label']}（{result['status']}）")
        self.stdout.write(result["message"])
        for label, key in (("证照名称", "tn"), ("证照编号", "n"), ("发证机构", "in"), ("颁发日期", "d"), ("有效期至", "u"), ("证照标识", "id")):
            if head.get(key) is not None:
                self.stdout.write(f"{label}：{head.get(key) or ('长期' if key == 'u' else '')}")
        self.stdout.write(f"名单版本：{doc.get('version')}（发布于 {doc.get('issued_at', '')}）")
        if result["status"] != "valid":
            sys.exit(1)
