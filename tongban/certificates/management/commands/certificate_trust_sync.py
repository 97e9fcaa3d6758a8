"""Fetch every peer node's signed trusted-issuer list now, or queue the periodic background re-sync
(`--schedule`, run by `manage.py db_worker`). Everything goes through peers.py."""

from django.core.management.base import BaseCommand
from django_tasks_db.models import DBTaskResult

from tongban.certificates import peers

TASK_PATH = f"{peers.sync_trust_lists.func.__module__}.{peers.sync_trust_lists.func.__qualname__}"


class Command(BaseCommand):
    help = "同步对端节点的可信发证机构名单（验证节点签名后保存）；--schedule 将定期同步任务加入后台队列"

    def add_arguments(self, parser):
        parser.add_argument("--schedule", action="store_true", help="加入后台队列并定期重复（由 db_worker 执行），已在队列中则不重复加入")
        parser.add_argument("--every", type=int, default=60, help="定期同步的间隔分钟数（与 --schedule 一起使用；0 表示只运行一次）")

    def handle(self, *args, schedule=False, every=60, **options):
        if schedule:
            waiting = DBTaskResult.objects.filter(task_path=TASK_PATH, status__in=["READY", "RUNNING"]).first()
            if waiting is not None:
                self.stdout.write(f"可信发证机构名单同步任务已在队列中（{waiting.id}），未重复加入")
                return
            result = peers.sync_trust_lists.enqueue(max(0, every))
            self.stdout.write(f"已排队：可信发证机构名单同步任务 {result.id}")
            return
        rows = peers.sync_all()
        if not rows:
            self.stdout.write("没有已登记的对端节点")
        for row in rows:
            keys = sum(len(i.get("keys") or []) for i in row.document.get("issuers") or [] if isinstance(i, dict)) if row.verified else 0
            state = f"已验证（版本 {row.version}，{keys} 个发证密钥）" if row.verified else "未采用"
            self.stdout.write(f"{row.node_id} {row.node_name}：{state}" + (f"；错误：{row.error}" if row.error else ""))
