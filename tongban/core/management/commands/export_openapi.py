import json

from django.conf import settings
from django.core.management.base import BaseCommand

OPENAPI_PATH = settings.BASE_DIR / "docs" / "openapi.json"


def generated_schema():
    from tongban.api import api

    return json.dumps(api.get_openapi_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "生成并写入 docs/openapi.json（CI 检查提交的文档与代码一致）"

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="只检查，不写入；不一致时退出码为1")

    def handle(self, *args, check=False, **options):
        text = generated_schema()
        if check:
            current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
            if current != text:
                self.stderr.write("docs/openapi.json 与代码不一致：请运行 python manage.py export_openapi")
                raise SystemExit(1)
            self.stdout.write("docs/openapi.json 与代码一致")
            return
        OPENAPI_PATH.parent.mkdir(exist_ok=True)
        OPENAPI_PATH.write_text(text, encoding="utf-8")
        self.stdout.write(f"已写入 {OPENAPI_PATH}")
