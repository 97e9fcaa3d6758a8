from django.core.management.base import BaseCommand
from django_tasks_db.models import DBTaskResult

from tongban.supervision.tasks import refresh_figures

TASK_PATH = f"{refresh_figures.func.__module__}.{refresh_figures.func.__qualname__}"


class Command(BaseCommand):
    help = "将驾驶舱统计定期重算任务加入后台队列（重算最近若干天的统计，之后每隔一段时间自动再次排队；由 db_worker 执行）。已在队列中则不重复加入。"

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=60, help="间隔分钟数（0 表示只运行一次）")

    def handle(self, *args, **options):
        waiting = DBTaskResult.objects.filter(task_path=TASK_PATH, status__in=["READY", "RUNNING"]).first()
        if waiting is not None:
            self.stdout.write(f"驾驶舱统计重算任务已在队列中（{waiting.id}），未重复加入")
            return
        result = refresh_figures.enqueue(options["every"])
        self.stdout.write(f"已排队：驾驶舱统计重算任务 {result.id}")
