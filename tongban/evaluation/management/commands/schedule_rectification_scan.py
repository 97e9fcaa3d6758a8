from django.core.management.base import BaseCommand
from django_tasks_db.models import DBTaskResult

from tongban.evaluation.tasks import scan_rectifications

TASK_PATH = f"{scan_rectifications.func.__module__}.{scan_rectifications.func.__qualname__}"


class Command(BaseCommand):
    help = "将差评整改超期扫描任务加入后台队列（之后每隔一段时间自动再次排队；由 db_worker 执行）。已在队列中则不重复加入。"

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=60, help="间隔分钟数（0 表示只运行一次）")

    def handle(self, *args, **options):
        waiting = DBTaskResult.objects.filter(task_path=TASK_PATH, status__in=["READY", "RUNNING"]).first()
        if waiting is not None:
            self.stdout.write(f"整改超期扫描任务已在队列中（{waiting.id}），未重复加入")
            return
        result = scan_rectifications.enqueue(options["every"])
        self.stdout.write(f"已排队：整改超期扫描任务 {result.id}")
