"""Benchmark: import a 10,000-row 通办 list (.xlsx with a title row and a merged two-row header).

Prints the time of the preview (parse + check every row) and of the all-or-nothing apply. Goal: ≤ 10 s
in total. Run:

    .venv/bin/python bench/list_import.py                       # throwaway SQLite file var/bench/lists.sqlite3
    DATABASE_URL=postgres://127.0.0.1:5432/bench_lists .venv/bin/python bench/list_import.py
    .venv/bin/python bench/list_import.py --rows 20000 --database-url sqlite:////tmp/x.sqlite3

The database is migrated and loaded with the divisions on first use (not timed); a PostgreSQL database
that does not exist yet is created. The list made by the run is deleted afterwards.
"""

import argparse
import datetime
import io
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
COUNTY = "371327"  # 莒南县
DEPARTMENTS = ["公安局", "民政局", "人力资源和社会保障局", "市场监督管理局", "卫生健康局", "医疗保障局", "自然资源局", "住房和城乡建设局",
               "交通运输局", "教育和体育局", "税务局", "退役军人事务局", "司法局", "农业农村局", "生态环境局", "行政审批服务局"]  # fmt: skip
MODES = ["全程网办", "异地代收代办", "多地联办", "全程网办、异地代收代办", "异地代收代办、多地联办"]


def ensure_postgres_database(url):
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def generate(rows, item_codes, revision=0):
    """A list as offices publish it: title, merged two-row header, section rows, mixed cell types.
    Another `revision` changes batch and status of every row (the re-import then updates all rows)."""
    from openpyxl import Workbook
    from openpyxl.worksheet.cell_range import CellRange

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("跨省通办")
    width = 10
    ws.append(["莒南县跨省通办事项清单（基准测试）"])
    ws.append(["序号", "事项名称", "基本编码", "责任分工", None, "办理模式", "批次", "完成时限", "实施状态", "备注"])
    ws.append([None, None, None, "主管部门", "责任单位", None, None, None, None, None])
    ws.merged_cells.add(CellRange(min_col=1, min_row=1, max_col=width, max_row=1))
    ws.merged_cells.add(CellRange(min_col=4, min_row=2, max_col=5, max_row=2))
    for col in (1, 2, 3, 6, 7, 8, 9, 10):
        ws.merged_cells.add(CellRange(min_col=col, min_row=2, max_col=col, max_row=3))
    line = 3
    for n in range(1, rows + 1):
        if n % 1000 == 1:  # a section title merged across the row
            ws.append([f"第{n // 1000 + 1}部分"])
            line += 1
            ws.merged_cells.add(CellRange(min_col=1, min_row=line, max_col=width, max_row=line))
        dept = DEPARTMENTS[n % len(DEPARTMENTS)]
        responsible = f"县{dept}" if n % 3 == 0 else f"莒南县{dept}"
        code = item_codes[n - 1] if n <= len(item_codes) else ""
        deadline = datetime.date(2021 + n % 3, 1 + n % 12, 28) if n % 2 else f"{2021 + n % 3}年{1 + n % 12}月底前"
        status = ["未开始", "推进中", "已实现"][(n + revision) % 3]
        ws.append(
            [
                n,
                f"基准事项{n:05d}（第{n % 7 + 1}类）",
                code,
                dept,
                responsible,
                MODES[n % len(MODES)],
                f"第{(n + revision) % 4 + 1}批",
                deadline,
                status,
                "",
            ]
        )
        line += 1
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def main():
    parser = argparse.ArgumentParser(description="通办清单导入基准测试")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    url = args.database_url
    if not url:
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{ROOT / 'var' / 'bench' / 'lists.sqlite3'}"
    if url.startswith(("postgres://", "postgresql://")):
        ensure_postgres_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from tongban.catalog import importing
    from tongban.catalog.models import Item, ListEntry, TongbanList
    from tongban.core.codes import make_uscc
    from tongban.directory.models import Department, Membership, Region
    from tongban.directory.services import load_divisions

    call_command("migrate", verbosity=0)
    if not Region.objects.filter(code=COUNTY).exists():
        print("loading divisions (first run only) …", flush=True)
        load_divisions()
    county, shandong = Region.objects.get(code=COUNTY), Region.objects.get(code="370000")
    for i, name in enumerate(DEPARTMENTS, 1):
        Department.objects.get_or_create(
            region=county, name=f"莒南县{name}", defaults={"credit_code": make_uscc("11", COUNTY, f"B{i:07d}")}
        )
    codes = [f"3720{n:05d}000" for n in range(1, 2001)]
    existing = set(Item.objects.filter(basic_code__in=codes).values_list("basic_code", flat=True))
    Item.objects.bulk_create(
        [Item(basic_code=c, name=f"基准事项{int(c[4:9]):05d}", item_type="20", region=shandong) for c in codes if c not in existing]
    )
    user, _ = get_user_model().objects.get_or_create(username="bench_lists", defaults={"first_name": "基准测试"})
    Membership.objects.get_or_create(user=user, role=Membership.CATALOG_ADMIN, region=county, department=None)

    files = {"new": generate(args.rows, codes), "update": generate(args.rows, codes, revision=1)}
    vendor = connection.vendor
    lst = TongbanList.objects.create(name=f"基准测试清单 {time.time():.0f}", scope="cross_province", region=county)
    try:
        for label, data in files.items():
            t0 = time.perf_counter()
            batch = importing.preview(user, "bench.xlsx", data, lst)
            t1 = time.perf_counter()
            if batch.problems:
                raise SystemExit(f"unexpected problems: {batch.problems[:5]}")
            batch = importing.apply(user, batch)
            t2 = time.perf_counter()
            assert batch.summary["created" if label == "new" else "updated"] == args.rows, batch.summary
            assert ListEntry.objects.filter(tongban_list=lst).count() == args.rows
            print(
                f"list_import ({label}): {args.rows} rows preview {t1 - t0:.2f} s, apply {t2 - t1:.2f} s, "
                f"total {t2 - t0:.2f} s (goal ≤ 10 s) [{vendor}]",
                flush=True,
            )
    finally:
        lst.delete()


if __name__ == "__main__":
    main()
