from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tongban.core.errors import DomainError
from tongban.supervision import report_documents as docs
from tongban.supervision import reports


class Command(BaseCommand):
    help = "生成监管报告文件（定时任务用）：季度工作进展报告（--quarter）或定期通报（--period），格式 PDF 或 Excel"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="区划代码，如 371327")
        parser.add_argument("--quarter", help="季度工作进展报告的季度，如 2026Q4")
        parser.add_argument("--period", help="定期通报的期间：月份 2026-10 或季度 2026Q4")
        parser.add_argument("--format", choices=["pdf", "xlsx"], default="pdf")
        parser.add_argument("--out", required=True, help="输出文件路径")

    def handle(self, *args, **o):
        if bool(o["quarter"]) == bool(o["period"]):
            raise CommandError("请指定 --quarter（季度报告）或 --period（定期通报）其中之一")
        user = reports.SystemReader()
        try:
            region = reports.readable_region(user, o["region"])
            if o["quarter"]:
                year, quarter = reports.parse_quarter(o["quarter"])
                report, data = reports.view(user, region, year, quarter)
                body = docs.quarterly_xlsx(data, report) if o["format"] == "xlsx" else docs.quarterly_pdf(data, report)
                what = f"{region.name}{year}年第{quarter}季度工作进展报告" + ("（已报送）" if report and report.submitted_at else "（草稿/实时数据）")
            else:
                period = reports.parse_period(o["period"])
                data = reports.bulletin(user, region, period)
                body = docs.bulletin_xlsx(data) if o["format"] == "xlsx" else docs.bulletin_pdf(data)
                what = f"{region.name}{period.label}定期通报"
        except DomainError as exc:
            raise CommandError(exc.message) from None
        out = Path(o["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        self.stdout.write(f"已生成{what}：{out}（{len(body)}字节）")
