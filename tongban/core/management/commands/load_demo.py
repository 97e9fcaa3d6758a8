import time

from django.core.management.base import BaseCommand

from tongban.core import workdays
from tongban.core.services import seed_holidays_from_chinesecalendar
from tongban.directory import services
from tongban.directory.models import Region, RegionHistory


class Command(BaseCommand):
    help = "载入演示数据（演示数据，切勿用于生产）：行政区划、节假日、演示事项、部门、大厅、实施清单、通办清单和演示账号；可重复运行"

    def handle(self, *args, **options):
        from tongban.demo.loader import load_demo

        t = time.monotonic()
        if Region.objects.filter(level=Region.TOWNSHIP).exists() and RegionHistory.objects.exists():
            self.stdout.write("行政区划已载入，跳过")
        else:
            n, h = services.load_divisions(), services.load_history()
            services.reset_caches()
            self.stdout.write(f"行政区划 {n} 条，历史代码 {h} 条")
        years = seed_holidays_from_chinesecalendar()
        workdays.invalidate()
        self.stdout.write(f"节假日安排 {years} 个年度（chinesecalendar）")

        s = load_demo()
        from tongban.demo.cases import load_case_demo

        c = load_case_demo()
        created = s["created"]
        self.stdout.write(self.style.SUCCESS(f"演示数据载入完成，用时 {time.monotonic() - t:.1f} 秒（其中演示数据 {s['seconds']} 秒）"))
        rows = [
            ("政务服务事项", s["items"], created.get("items", 0)),
            ("已发布办事指南", s["versions"], created.get("versions", 0)),
            ("申请材料", s["materials"], created.get("materials", 0)),
            ("部门（含统一社会信用代码）", s["departments"], created.get("departments", 0)),
            ("政务服务大厅", s["halls"], created.get("halls", 0)),
            ("窗口", s["windows"], created.get("windows", 0)),
            ("实施清单", s["implementations"], created.get("implementations", 0)),
            ("通办清单", s["lists"], created.get("lists", 0)),
            ("清单条目", s["list_entries"], created.get("list_entries", 0)),
        ]
        self.stdout.write("")
        self.stdout.write(f"{_pad('类别', 28)}{_pad('合计', 8)}本次新建")
        for label, total, new in rows:
            self.stdout.write(f"{_pad(label, 28)}{total:<8}{new}")
        self.stdout.write(f"申报模板与示例样表文件 {s['template_files']} 个（位于 MEDIA_ROOT/catalog/）；演示地点 {s['places']} 处")
        self.stdout.write("")
        self.stdout.write("演示账号（仅供演示，密码公开，切勿用于生产环境）：")
        header = f"{_pad('用户名', 18)}{_pad('角色', 16)}{_pad('姓名', 20)}{_pad('管辖区划', 26)}密码"
        self.stdout.write(header)
        for a in s["accounts"]:
            self.stdout.write(
                f"{_pad(a['username'], 18)}{_pad(a['role_label'], 16)}{_pad(a['name'], 20)}{_pad(a['region'], 26)}{a['password']}"
            )
            extra = "；".join(x for x in (a["department"] and f"部门：{a['department']}", a["window"] and f"窗口：{a['window']}") if x)
            if extra:
                self.stdout.write(f"{'':18}{extra}")
        self.stdout.write(
            "登录地址 /staff/login/ ：需要密码和6位动态口令（TOTP）；调试模式（TONGBAN_DEBUG=1）下登录页显示演示账号的当前口令。"
        )
        self.stdout.write("")
        self.stdout.write(f"演示申请人（短信验证码登录 /applicant/login/ ；验证码见 /dev/mailbox/ ，仅调试模式）；本次新建申请表单 {c['forms']} 个、审查流程 {c['processes']} 个、演示办件 {c['cases']} 件：")
        for a in c["applicants"]:
            self.stdout.write(f"  {a.get_kind_display()}  {a.name}  证件号码 {a.code}  手机 {a.phone}")


def _pad(text, width):
    """Left-align mixed Chinese/ASCII text: CJK characters take two columns."""
    used = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return text + " " * max(1, width - used)
