from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tongban.evaluation import exporting


class Command(BaseCommand):
    help = "按全国好差评数据格式导出评价记录（CSV 或 XLSX），只导出指定用户有权查看的评价。"

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="以该工作人员的权限导出（用户名）")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--output", help="输出文件（默认输出到标准输出，仅 CSV）")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"用户 {options['user']} 不存在或已停用")
        data = exporting.to_xlsx(user) if options["format"] == "xlsx" else exporting.to_csv(user)
        if options["output"]:
            with open(options["output"], "wb") as fh:
                fh.write(data)
            self.stdout.write(f"已导出到 {options['output']}")
        elif options["format"] == "xlsx":
            raise CommandError("XLSX 格式请用 --output 指定文件")
        else:
            self.stdout.write(data.decode("utf-8"), ending="")
