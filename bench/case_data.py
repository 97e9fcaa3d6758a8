"""Shared helpers of the case benchmarks (bench/case_intake.py, bench/workbench_queue.py): a PostgreSQL
database created on demand, Django set up against it, a marker row recording which generator built
the data (so a later run can reuse it), and latency summaries."""

import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER_TABLE = "bench_marker"


def log(message):
    print(message, file=sys.stderr, flush=True)


def pg_parts(url):
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"these benchmarks need PostgreSQL, not {cfg['ENGINE']}")
    return cfg


def admin_connection(url):
    import psycopg

    cfg = pg_parts(url)
    return psycopg.connect(
        dbname="postgres", host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None,
        password=cfg["PASSWORD"] or None, autocommit=True,
    )  # fmt: skip


def ensure_database(url, drop=False):
    """Create the database behind `url` (dropping it first with `drop`); True when it already existed."""
    from psycopg import sql

    name = pg_parts(url)["NAME"]
    if name in ("test", "postgres", "bench_search") or name.startswith("test_h"):
        raise SystemExit(f"refusing to use the database {name!r}: it belongs to someone else")
    with admin_connection(url) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and drop:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = False
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    return exists


def bench_environment(url):
    """The environment of the application under test (also of the gunicorn workers): production
    settings (DEBUG off, so no query log), no SMS log line per submission."""
    return {
        "DJANGO_SETTINGS_MODULE": "tongban.settings",
        "DATABASE_URL": url,
        "TONGBAN_DEBUG": "false",
        "TONGBAN_SECRET_KEY": "bench",
        "TONGBAN_HTTPS": "false",
        "TONGBAN_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "TONGBAN_LOG_LEVEL": "WARNING",
    }


def setup_django(url, **extra_env):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(bench_environment(url))
    os.environ.update(extra_env)
    import django

    django.setup()


def marker(cursor):
    """The generator marker: {key: value} (empty when the data was never generated)."""
    cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
    if cursor.fetchone()[0] is None:
        return {}
    cursor.execute(f"SELECT key, value FROM {MARKER_TABLE}")
    return dict(cursor.fetchall())


def set_marker(cursor, **values):
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
    for key, value in values.items():
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, str(value)],
        )


def machine_load():
    """Load average and CPU pressure: this benchmark shares 2 cores with whatever else runs."""
    text = f"load average {os.getloadavg()[0]:.1f}"
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        text += f", CPU pressure {some[1].split('=')[1]}% (10 s)"
    except (OSError, IndexError):
        pass
    return text


def cpu_speed():
    """This machine's Python speed, to compare runs across machines: CPU time of a 10^7-step loop
    (about 0.4–0.5 s on a current desktop core with CPython 3.12)."""
    t = time.process_time()
    n = 0
    for i in range(10**7):
        n += i
    return f"Python speed: 10^7-step loop in {time.process_time() - t:.2f} s CPU"


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def summary(ms):
    ms = sorted(ms)
    if not ms:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"n": len(ms), "p50": statistics.median(ms), "p95": percentile(ms, 95), "p99": percentile(ms, 99), "max": ms[-1]}


def id_number(serial, address="371327", birth="19900101"):
    """A valid 公民身份号码 (GB 11643 check character), distinct per serial below 10^6."""
    from tongban.core.codes import id_check_char

    # birth date varies with the serial so that 1,000 people per day of birth suffice
    year, rest = 1950 + (serial // 1000) % 50, serial % 1000
    first17 = f"{address}{year}{birth[4:]}{rest:03d}"
    return first17 + id_check_char(first17)


# The catalogue the generated cases point at (workbench_queue, cockpit_gen).
ITEMS = [  # basic code, name
    ("000199801000", "食品经营许可（新办）"),
    ("000799802000", "不动产转移登记"),
    ("002099803000", "企业设立登记"),
    ("000199804000", "道路货物运输经营许可"),
    ("002099805000", "医保关系转移接续"),
]
DEPARTMENT_KINDS = ["市场监督管理局", "行政审批服务局"]


def seed_catalogue(code_letter):
    """Published ITEMS at the national root and one department of each DEPARTMENT_KINDS in every county-level
    region (credit codes made distinct per bench by `code_letter`). Returns (items, counties)."""
    from django.db import transaction
    from django.utils import timezone

    from tongban.catalog.models import Item, ItemVersion
    from tongban.core.codes import make_uscc
    from tongban.directory.models import Department, Region

    root = Region.objects.get(parent__isnull=True)
    counties = list(Region.objects.filter(level=Region.COUNTY).order_by("code"))
    with transaction.atomic():
        now = timezone.now()
        items = Item.objects.bulk_create([Item(basic_code=code, name=name, item_type=code[2:4], region=root) for code, name in ITEMS])
        ItemVersion.objects.bulk_create(
            [
                ItemVersion(item=item, version_no=1, name=item.name, status=ItemVersion.PUBLISHED, published_at=now,
                            conditions="申请人符合法定条件", application_methods="网上申报；窗口申报", review_procedure="受理—审核—审批—办结",
                            statutory_limit_days=20, promised_limit_days=10, legal_basis="相关法律法规")
                for item in items
            ]
        )  # fmt: skip
        Department.objects.bulk_create(
            [
                Department(name=f"{county.name}{kind}", region=county,
                           credit_code=make_uscc("11", county.code[:6], f"{code_letter}{n * 2 + k:07d}"))
                for n, county in enumerate(counties)
                for k, kind in enumerate(DEPARTMENT_KINDS)
            ],
            batch_size=5000,
        )  # fmt: skip
    return items, counties


def seed_implementations(cur, modes, scopes):
    """Two implementations per generated department (items k and k+1 of ITEMS), PostgreSQL; returns how many."""
    cur.execute(
        """
        INSERT INTO catalog_implementation (item_id, department_id, region_id, level, implementation_code, business_code,
            statutory_limit_days, promised_limit_days, fee_amount, fee_note, delivery_methods, visits_needed, presence_required,
            presence_basis, modes, scopes, is_active, updated_at)
        SELECT i.id, d.id, d.region_id, '4', d.credit_code || '4' || i.basic_code, '', 20, 10, 0, '', 3, 0, false, '', %s, %s, true, now()
        FROM (SELECT d.*, row_number() OVER (ORDER BY d.id) - 1 AS n FROM directory_department d) d
        JOIN (SELECT it.*, row_number() OVER (ORDER BY it.id) - 1 AS n FROM catalog_item it) i
          ON i.n IN (d.n %% 5, (d.n + 1) %% 5)
        """,
        [modes, scopes],
    )
    return cur.rowcount


def seed_applicant_users(cur, prefix, n):
    """`n` sign-in-less accounts `<prefix><n>` for generated applicants (PostgreSQL)."""
    cur.execute(
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
        SELECT '!', false, %s || g, '申请人' || g, '', '', false, true, now() FROM generate_series(1, %s) g
        """,
        [prefix, n],
    )
