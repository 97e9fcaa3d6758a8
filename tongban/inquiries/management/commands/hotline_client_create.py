from django.core.management.base import BaseCommand, CommandError

from tongban.core.errors import DomainError
from tongban.inquiries import services


class Command(BaseCommand):
    help = "新建12345热线接入：打印一次接口密钥（只保存其摘要，丢失后只能新建）。"

    def add_arguments(self, parser):
        parser.add_argument("name", help="名称，如“临沂市12345政务服务便民热线”")
        parser.add_argument("--region", required=True, help="热线受理范围的行政区划代码，如 371300")

    def handle(self, *args, name, region, **options):
        try:
            client, key = services.create_hotline_client(name, region)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"已新建12345热线接入：{client.name}（{client.region.name}，编号 {client.pk}）")
        self.stdout.write("接口密钥（只显示这一次，请妥善保存；调用时放在请求头 Authorization: Bearer <密钥>）：")
        self.stdout.write(key)
