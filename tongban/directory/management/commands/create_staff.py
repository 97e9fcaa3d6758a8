import io

import segno
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tongban.core.errors import DomainError
from tongban.directory.staff import create_staff


class Command(BaseCommand):
    help = "新建工作人员账号（角色、辖区、部门）并生成动态口令密钥（打印二维码，用身份验证器扫描）"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="姓名")
        parser.add_argument("--role", required=True, help="clerk / approver / catalog_admin / supervisor / platform_admin")
        parser.add_argument("--region", required=True, help="辖区区划代码，如 371327")
        parser.add_argument("--department", type=int, help="部门ID（可选）")
        parser.add_argument("--password", help="初始密码（省略则随机生成并只显示一次）")

    def handle(self, *args, **o):
        try:
            user, device, password = create_staff(None, username=o["username"], full_name=o["name"], role=o["role"],
                                                  region_code=o["region"], department=o["department"], password=o["password"])
        except (DomainError, ValidationError) as exc:
            raise CommandError(getattr(exc, "message", None) or "；".join(exc.messages)) from None
        out = io.StringIO()
        segno.make(device.config_url, error="m").terminal(out=out, compact=True)
        self.stdout.write(out.getvalue())
        self.stdout.write(f"已创建 {user.username}（{user.first_name}）\n初始密码：{password}\n动态口令地址：{device.config_url}\n请用身份验证器扫描上方二维码。")
