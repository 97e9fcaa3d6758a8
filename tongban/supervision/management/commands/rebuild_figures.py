from django.core.management.base import BaseCommand

from tongban.supervision import summary


class Command(BaseCommand):
    help = "从办件数据重新计算驾驶舱日统计表"

    def handle(self, *args, **options):
        n = summary.rebuild()
        self.stdout.write(f"已重建驾驶舱日统计：{n}行")
