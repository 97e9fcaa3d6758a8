"""Check the access log's hash chain (用证日志): exit status 1 and the first broken row when it does not hold."""

from django.core.management.base import BaseCommand, CommandError

from tongban.sharing import access_log
from tongban.sharing.models import AccessLog


class Command(BaseCommand):
    help = "校验用证日志哈希链：发现被修改、删除或重排的记录时以非零状态退出"

    def handle(self, *args, **options):
        total = AccessLog.objects.count()
        broken = access_log.verify()
        if broken is not None:
            raise CommandError(f"用证日志链在第{broken.seq}条记录处断裂（共{total}条）：该条或其之前的记录被修改、删除或重排")
        self.stdout.write(f"用证日志链完整：共{total}条记录")
