import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tongban.supervision import summary


class Command(BaseCommand):
    help = "从办件数据重新计算驾驶舱统计表（日统计、地区日统计、跨域流转、在办期限）"

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="只重算最近若干天（默认全部）")

    def handle(self, *args, **options):
        days = options.get("days")
        if days is not None and days < 1:
            raise CommandError("--days 应为正整数")
        since = timezone.localdate() - datetime.timedelta(days=days - 1) if days else None
        n = summary.rebuild(since=since)
        self.stdout.write(f"已重建驾驶舱日统计：{n}行" + (f"（{since} 起）" if since else ""))
