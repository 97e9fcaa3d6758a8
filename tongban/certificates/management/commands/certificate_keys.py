"""Issuing departments' signing keys from the command line (operations: scheduled rotation, a
compromised key): list, rotate a department's key, revoke a key. Everything goes through keys.py."""

from django.core.management.base import BaseCommand, CommandError

from tongban.certificates import keys
from tongban.certificates.models import IssuerKey
from tongban.core.errors import DomainError
from tongban.directory.models import Department


class Command(BaseCommand):
    help = "列出、轮换或吊销发证部门的证照签名密钥"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "rotate", "revoke"])
        parser.add_argument("--department", help="发证部门的统一社会信用代码（list、rotate）")
        parser.add_argument("--key-id", help="密钥标识（revoke）")
        parser.add_argument("--reason", default="", help="吊销原因（revoke 必填）")

    def handle(self, action, department=None, key_id=None, reason="", **options):
        dept = None
        if department:
            dept = Department.objects.filter(credit_code=department.strip().upper()).first()
            if dept is None:
                raise CommandError(f"未找到统一社会信用代码为 {department} 的部门")
        try:
            if action == "list":
                rows = IssuerKey.objects.select_related("department").order_by("department_id", "-created_at")
                if dept is not None:
                    rows = rows.filter(department=dept)
                for k in rows:
                    self.stdout.write(f"{k.key_id}\t{k.algorithm}\t{k.get_status_display()}\t{k.department.name}\t{k.created_at:%Y-%m-%d}")
            elif action == "rotate":
                if dept is None:
                    raise CommandError("请用 --department 指定发证部门")
                new = keys.rotate(dept, None)
                self.stdout.write(f"{dept.name} 的新签名密钥：{new.key_id}（原密钥已轮换，仍可验签）")
            else:
                if not key_id:
                    raise CommandError("请用 --key-id 指定要吊销的密钥")
                key = keys.revoke_key(key_id, None, reason)
                self.stdout.write(f"已吊销签名密钥 {key.key_id}：其签发的证照今后验证为“签名密钥不可信”")
        except DomainError as exc:
            raise CommandError(exc.message) from None
