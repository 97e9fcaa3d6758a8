import time

from django.core.management.base import BaseCommand

from tongban.directory import services


class Command(BaseCommand):
    help = "载入行政区划（民政部2024年县级以上、国家统计局2023年乡镇街道）及1981—2024年历史代码"

    def handle(self, *args, **options):
        t = time.monotonic()
        n = services.load_divisions()
        h = services.load_history()
        services.reset_caches()
        self.stdout.write(f"行政区划 {n} 条，历史代码 {h} 条，用时 {time.monotonic() - t:.1f} 秒")
