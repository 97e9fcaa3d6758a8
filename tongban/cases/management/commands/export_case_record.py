import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "按国家政务服务平台办件信息交换格式导出一个办件（JSON，含申请人完整证件号码）"

    def add_arguments(self, parser):
        parser.add_argument("case_no", help="办件编号")

    def handle(self, *args, case_no, **options):
        from tongban.cases.models import Case
        from tongban.cases.national_record import export_record

        case = (
            Case.objects.select_related("applicant", "department", "region", "implementation", "item_version__item")
            .filter(case_no=case_no.strip())
            .first()
        )
        if case is None:
            raise CommandError(f"办件编号“{case_no}”不存在")
        self.stdout.write(json.dumps(export_record(case), ensure_ascii=False, indent=2))
