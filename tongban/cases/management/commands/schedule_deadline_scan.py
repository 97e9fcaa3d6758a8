from django.core.management.base import BaseCommand

from tongban.cases.tasks import scan_deadlines


class Command(BaseCommand):
    help = "将办件期限扫描任务加入后台队列（之后每隔一段时间自动再次排队；由 db_worker 执行）"

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=60, help="间隔分钟数（0 表示只运行一次）")

    def handle(self, *args, **options):
        result = scan_deadlines.enqueue(options["every"])
        self.stdout.write(f"已排队：期限扫描任务 {result.id}")
