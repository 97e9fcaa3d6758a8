"""Generator of the cockpit benchmark's data (bench/cockpit.py) on PostgreSQL, all in SQL
(generate_series), with the case table's secondary indexes dropped during the load and rebuilt after.

Spread: 5 items, two departments in every county-level region (two implementations each), traffic
skewed towards a few departments (as in bench/workbench_queue.py); cases submitted over the last 730
days; modes 全程网办 70 %, 异地代收代办 15 %, 多地联办 10 %, 一件事 5 %; the proxy and joint cases (25 %)
received in another county anywhere in the country (hand-offs); statuses as in a running system (~88 %
finished); one rating for every third finished case (5 levels, ~4 % bad, a rectification per bad
rating, most done); one inquiry per 20 cases (portal / 12345, ~90 % replied). The cockpit's summary
tables (daily, per region level, flows, open cases: tongban/supervision/summary.py) are filled by GROUP BYs
over the cases; their working
days are weekdays (no holiday calendar: the benchmark times queries, it does not check figures —
tests/test_supervision_*.py do)."""

import time

from case_data import (  # the bench folder is on the path (cockpit.py puts it there)
    seed_applicant_users,
    seed_catalogue,
    seed_implementations,
)

GENERATOR = "cockpit/2"  # the cases, ratings and inquiries
SUMMARIES = "3"  # the summary tables filled from them (fill_summaries)
ADDED_IN = {"3": ("RegionFlowFigure", "RatingDayFigure")}  # tables a summaries version added: filled alone on data of an older one
STATUS_SHARES = [
    ("draft", 0.005), ("submitted", 0.020), ("supplement", 0.005), ("accepted", 0.020), ("under_review", 0.030),
    ("special", 0.005), ("approved", 0.015), ("denied", 0.005), ("refused", 0.010), ("withdrawn", 0.010),
    ("concluded", 0.375), ("delivered", 0.500),
]  # fmt: skip
TIMED = ("accepted", "under_review", "special", "approved", "denied")


def log(message):
    import sys

    print(message, file=sys.stderr, flush=True)


def _default_sql(field):
    """A literal for a column the generator does not set: NULL, the field's default, or empty."""
    from django.db import models

    if field.null:
        return "NULL"
    default = field.get_default() if field.has_default() else None
    if isinstance(field, models.JSONField):
        return "'[]'" if default == [] else "'{}'"
    if isinstance(field, models.BooleanField):
        return "true" if default else "false"
    if isinstance(field, (models.IntegerField, models.DecimalField, models.FloatField)):
        return str(default or 0)
    if isinstance(field, (models.CharField, models.TextField)):
        return "'" + str(default or "").replace("'", "''") + "'"
    if isinstance(field, models.DateTimeField):
        return "now()"
    if isinstance(field, models.DateField):
        return "current_date"
    if field.get_internal_type() in ("BigIntegerField", "PositiveBigIntegerField", "PositiveIntegerField", "SmallIntegerField"):
        return str(default or 0)
    raise SystemExit(f"no default for {field.model.__name__}.{field.name}: set it in the generator")


def insert_select(cur, model, exprs, from_sql, params=()):
    """INSERT INTO model's table (every concrete column but the key) SELECT exprs (by column name) or
    each other column's default FROM from_sql; returns the row count. The model's own field list keeps
    the generator working when an app adds a column."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(exprs) - {f.column for f in fields}
    if unknown:
        raise SystemExit(f"{model.__name__} has no column {sorted(unknown)}")
    columns = ", ".join(f'"{f.column}"' for f in fields)
    values = ", ".join(exprs.get(f.column) or _default_sql(f) for f in fields)
    cur.execute(f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {values} FROM {from_sql}", params)
    return cur.rowcount


def _without_indexes(cur, table):
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes]


def generate(n_cases, n_applicants=10_000, skew=3.0, seed=0.42):
    from django.db import connection, transaction

    from tongban.applicants.models import Applicant
    from tongban.cases.models import Case
    from tongban.demo.loader import ensure_reference_data
    from tongban.evaluation.models import Evaluation, Rectification
    from tongban.inquiries.models import Inquiry

    t0 = time.perf_counter()

    def step(text):
        log(f"{text} ({time.perf_counter() - t0:.1f} s)")

    loaded = ensure_reference_data()
    if loaded:
        step(f"reference data loaded: {', '.join(loaded)}")
    items, counties = seed_catalogue("K")
    step(f"{len(items)} items, {len(counties) * 2} departments in {len(counties)} county-level regions")

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed])
        n_impl = seed_implementations(cur, 7, 15)
        step(f"{n_impl} implementations")
        seed_applicant_users(cur, "bench-cockpit-applicant-", n_applicants)
        insert_select(
            cur, Applicant,
            {"user_id": "u.id", "kind": "'natural'", "applicant_type": "'1'", "name": "'基准申请人' || u.id",
             "id_number": "'3713271990' || lpad(u.id::text, 8, '0')", "phone": "'139' || lpad(u.id::text, 8, '0')", "created_at": "now()"},
            "auth_user u WHERE u.username LIKE 'bench-cockpit-applicant-%%'",
        )  # fmt: skip
        cur.execute(
            """
            CREATE TEMP TABLE bench_dept AS
            SELECT row_number() OVER (ORDER BY random()) - 1 AS k, d.id AS dept_id, d.region_id, r.path, r.code,
                   (array_agg(im.id ORDER BY im.id))[1] AS impl1, (array_agg(im.id ORDER BY im.id))[2] AS impl2,
                   (array_agg(v.id ORDER BY im.id))[1] AS ver1, (array_agg(v.id ORDER BY im.id))[2] AS ver2
            FROM directory_department d JOIN directory_region r ON r.id = d.region_id
            JOIN catalog_implementation im ON im.department_id = d.id
            JOIN catalog_itemversion v ON v.item_id = im.item_id AND v.status = 'published'
            GROUP BY d.id, d.region_id, r.path, r.code
            """
        )
        cur.execute("CREATE UNIQUE INDEX ON bench_dept (k)")
        cur.execute("SELECT count(*) FROM bench_dept")
        n_depts = cur.fetchone()[0]
        cur.execute("SELECT min(id) FROM applicants_applicant")
        first_applicant = cur.fetchone()[0]
        acc, thresholds = 0.0, []
        for status, share in STATUS_SHARES:
            acc += share
            thresholds.append((status, acc))
        status_case = "CASE " + " ".join(f"WHEN s.r2 < {a:.4f} THEN '{st}'" for st, a in thresholds[:-1]) + f" ELSE '{thresholds[-1][0]}' END"
        timed = ", ".join(f"'{s}'" for s in TIMED)
        indexes = _without_indexes(cur, "cases_case")
        n = insert_select(
            cur, Case,
            {
                "uid": "md5(c.g::text || 'cockpit')::uuid",
                "mode": "c.mode",
                "case_no": "CASE WHEN c.status = 'draft' THEN NULL ELSE left(d.code, 6) || '-' || to_char(c.submitted, 'YYYYMMDD') || '-' || lpad(c.g::text, 8, '0') END",
                "status": "c.status", "channel": "CASE WHEN c.mode = 'online' THEN 'online' ELSE 'window' END",
                "applicant_id": "a.id",
                "implementation_id": "CASE WHEN c.r3 * 10 - floor(c.r3 * 10) < 0.5 THEN d.impl1 ELSE d.impl2 END",
                "item_version_id": "CASE WHEN c.r3 * 10 - floor(c.r3 * 10) < 0.5 THEN d.ver1 ELSE d.ver2 END",
                "region_id": "d.region_id", "region_path": "d.path", "department_id": "d.dept_id",
                "receiving_region_id": "CASE WHEN c.mode IN ('proxy', 'joint') THEN p.region_id END",
                "receiving_region_path": "CASE WHEN c.mode IN ('proxy', 'joint') THEN p.path ELSE '' END",
                "receiving_department_id": "CASE WHEN c.mode IN ('proxy', 'joint') THEN p.dept_id END",
                "applicant_name": "a.name", "applicant_type": "'1'", "applicant_code_type": "'公民身份号码'",
                "applicant_code": "a.id_number", "contact_phone": "a.phone", "case_kind": "'2'", "delivery_method": "'mail'",
                "promised_days": "10", "statutory_days": "20",
                "due_date": f"CASE WHEN c.status IN ({timed}) OR c.status = 'supplement' THEN current_date + (c.r3 * 60 - 30)::int "
                            "WHEN c.status IN ('concluded', 'delivered', 'withdrawn') THEN (c.submitted + interval '14 days')::date END",
                "statutory_due_date": f"CASE WHEN c.status IN ({timed}) THEN current_date + (c.r3 * 60 - 20)::int END",
                "created_at": "c.submitted", "updated_at": "c.submitted + interval '1 day'",
                "submitted_at": "CASE WHEN c.status = 'draft' THEN NULL ELSE c.submitted END",
                "accepted_at": f"CASE WHEN c.status IN ({timed}, 'concluded', 'delivered') THEN c.submitted + interval '1 day' END",
                "decided_at": "CASE WHEN c.status IN ('approved', 'denied', 'refused', 'concluded', 'delivered') THEN c.submitted + interval '7 days' END",
                # a tenth concluded late (after the due date)
                "concluded_at": "CASE WHEN c.status IN ('concluded', 'delivered') THEN c.submitted + CASE WHEN c.r4 < 0.1 THEN interval '20 days' ELSE interval '10 days' END END",
                "delivered_at": "CASE WHEN c.status = 'delivered' THEN c.submitted + interval '22 days' END",
            },
            f"""(
                SELECT s.g, s.r1, s.r3, s.r4, s.r5, {status_case} AS status,
                       CASE WHEN s.r6 < 0.70 THEN 'online' WHEN s.r6 < 0.85 THEN 'proxy' WHEN s.r6 < 0.95 THEN 'joint' ELSE 'bundle' END AS mode,
                       now() - s.r4 * interval '730 days' AS submitted
                FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
                      FROM generate_series(1, %s) g) s
            ) c
            JOIN bench_dept d ON d.k = least(%s - 1, floor(%s * power(c.r1, %s)))::int
            JOIN bench_dept p ON p.k = least(%s - 1, floor(%s * c.r5))::int
            JOIN applicants_applicant a ON a.id = %s + (c.g::bigint * 7919) %% %s""",
            [n_cases, n_depts, n_depts, skew, n_depts, n_depts, first_applicant, n_applicants],
        )  # fmt: skip
        step(f"{n} cases inserted")
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for definition in indexes:
            cur.execute(definition)
        step(f"{len(indexes)} case indexes rebuilt")

        # Ratings: every third finished case; levels 5/4/3/2/1 at 70/18/8/2.5/1.5 %.
        n = insert_select(
            cur, Evaluation,
            {"channel": "CASE WHEN c.channel = 'online' THEN 'online' ELSE 'window' END", "kind": "'initial'",
             "status": "CASE WHEN c.r < 0.002 THEN 'excluded' ELSE 'counted' END",
             "level": "CASE WHEN c.r < 0.015 THEN 1 WHEN c.r < 0.04 THEN 2 WHEN c.r < 0.12 THEN 3 WHEN c.r < 0.30 THEN 4 ELSE 5 END",
             "tags": "'[]'", "anonymous": "c.r > 0.9", "case_id": "c.id", "applicant_id": "c.applicant_id", "region_id": "c.region_id",
             "region_path": "c.region_path", "department_id": "c.department_id", "implementation_id": "c.implementation_id",
             "item_name": "'基准事项'", "created_at": "c.concluded_at + interval '1 day'"},
            "(SELECT cc.*, random() AS r FROM cases_case cc WHERE cc.id %% 3 = 0 AND cc.status IN ('concluded', 'delivered')) c",
        )  # fmt: skip
        step(f"{n} ratings")
        n = insert_select(
            cur, Rectification,
            {"evaluation_id": "e.id", "status": "CASE WHEN e.status = 'excluded' THEN 'excluded' WHEN e.id %% 10 = 0 THEN 'open' ELSE 'done' END",
             "region_id": "e.region_id", "region_path": "e.region_path", "department_id": "e.department_id", "real_name": "NOT e.anonymous",
             "outcome": "CASE WHEN e.id %% 10 = 0 THEN '' ELSE 'immediate' END", "deadline": "(e.created_at + interval '10 days')::date",
             "completed_at": "CASE WHEN e.id %% 10 = 0 THEN NULL ELSE e.created_at + interval '3 days' END", "created_at": "e.created_at"},
            "evaluation_evaluation e WHERE e.level <= 2",
        )  # fmt: skip
        step(f"{n} rectifications")
        n = insert_select(
            cur, Inquiry,
            {"inquiry_no": "'Q' || lpad(s.g::text, 10, '0')",
             "kind": "CASE WHEN s.r < 0.6 THEN 'consult' WHEN s.r < 0.85 THEN 'complaint' ELSE 'suggestion' END",
             "source": "CASE WHEN s.r2 < 0.5 THEN 'hotline' ELSE 'portal' END",
             "status": "CASE WHEN s.r3 < 0.05 THEN 'assigned' WHEN s.r3 < 0.07 THEN 'escalated' WHEN s.r3 < 0.3 THEN 'replied' ELSE 'closed' END",
             "title": "'基准咨询'", "content": "'基准内容'", "inquirer_phone": "'13900000000'", "region_id": "d.region_id",
             "region_path": "d.path", "department_id": "d.dept_id", "routed_by": "'region'",
             "hotline_ticket_no": "CASE WHEN s.r2 < 0.5 THEN 'T' || s.g ELSE '' END",
             "submitted_at": "now() - s.r4 * interval '730 days'", "due_date": "(now() - s.r4 * interval '730 days' + interval '7 days')::date",
             "assigned_at": "now() - s.r4 * interval '730 days'",
             "replied_at": "CASE WHEN s.r3 >= 0.07 THEN now() - s.r4 * interval '730 days' + interval '3 days' END",
             "closed_at": "CASE WHEN s.r3 >= 0.3 THEN now() - s.r4 * interval '730 days' + interval '5 days' END",
             "satisfaction": "CASE WHEN s.r3 < 0.3 THEN '' WHEN s.r < 0.8 THEN 'satisfied' WHEN s.r < 0.95 THEN 'basic' ELSE 'unsatisfied' END"},
            """(SELECT g, random() AS r, random() AS r1, random() AS r2, random() AS r3, random() AS r4 FROM generate_series(1, %s) g) s
               JOIN bench_dept d ON d.k = least(%s - 1, floor(%s * power(s.r1, %s)))::int""",
            [max(1, n_cases // 20), n_depts, n_depts, skew],
        )  # fmt: skip
        step(f"{n} inquiries")
    fill_summaries(t0)


def added_since(version):
    """Names of the summary tables added after summaries `version` (None: unknown, fill all)."""
    later = [v for v in ADDED_IN if int(v) > int(version or 0)]
    if not version or any(v not in ADDED_IN for v in map(str, range(int(version) + 1, int(SUMMARIES) + 1))):
        return None
    return {name for v in later for name in ADDED_IN[v]}


def fill_summaries(t0=None, only=None):
    """The cockpit's summary tables from the generated cases, ratings and inquiries, as summary.rebuild()
    computes them (working days: weekdays here); run again by bench/cockpit.py when SUMMARIES changes
    without regenerating the data. only: names of the tables to fill (None: all)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from tongban.supervision.models import (
        DailyCaseFigure,
        DailyFlowFigure,
        OpenCase,
        RankingFigure,
        RatingDayFigure,
        RegionDayFigure,
        RegionFlowFigure,
    )

    t0 = t0 or time.perf_counter()

    def step(text):
        log(f"{text} ({time.perf_counter() - t0:.1f} s)")

    def local_day(col):
        return f"({col} AT TIME ZONE 'Asia/Shanghai')::date"

    ALL = (DailyCaseFigure, RegionDayFigure, RankingFigure, DailyFlowFigure, OpenCase, RegionFlowFigure, RatingDayFigure)
    wanted = (lambda model: True) if only is None else (lambda model: model.__name__ in only)  # flow levels read the daily flows

    with transaction.atomic(), connection.cursor() as cur:
        for model in ALL:
            if wanted(model):
                cur.execute(f"DELETE FROM {model._meta.db_table}")
        if wanted(DailyCaseFigure):
            cur.execute(
                f"""
                INSERT INTO {DailyCaseFigure._meta.db_table} (day, region_path, region_code, department_id, item_id, mode, scopes, received,
                    accepted, concluded, concluded_on_time, work_days)
                SELECT day, c.region_path, r.code, c.department_id, im.item_id, c.mode, im.scopes, sum(received), sum(accepted), sum(concluded),
                       sum(on_time), sum(wd)
                FROM (
                    SELECT {local_day('submitted_at')} AS day, region_path, region_id, department_id, implementation_id, mode,
                           1 AS received, 0 AS accepted, 0 AS concluded, 0 AS on_time, 0 AS wd
                    FROM cases_case WHERE submitted_at IS NOT NULL
                    UNION ALL
                    SELECT {local_day('accepted_at')}, region_path, region_id, department_id, implementation_id, mode, 0, 1, 0, 0, 0
                    FROM cases_case WHERE submitted_at IS NOT NULL AND accepted_at IS NOT NULL
                    UNION ALL
                    SELECT {local_day('concluded_at')}, region_path, region_id, department_id, implementation_id, mode, 0, 0, 1,
                           CASE WHEN due_date IS NOT NULL AND {local_day('concluded_at')} <= due_date THEN 1 ELSE 0 END,
                           CASE WHEN accepted_at IS NULL THEN 0 ELSE (SELECT count(*) FROM generate_series({local_day('accepted_at')} + 1,
                                {local_day('concluded_at')}, interval '1 day') d WHERE extract(isodow FROM d) < 6) END
                    FROM cases_case WHERE submitted_at IS NOT NULL AND concluded_at IS NOT NULL
                ) c
                JOIN directory_region r ON r.id = c.region_id JOIN catalog_implementation im ON im.id = c.implementation_id
                GROUP BY day, c.region_path, r.code, c.department_id, im.item_id, c.mode, im.scopes
                """
            )
            step(f"{cur.rowcount} daily summary rows")
        if wanted(RegionDayFigure):
            # Per level of the region tree (summary.at_level: every path segment is 7 characters).
            cur.execute(
                f"""
                INSERT INTO {RegionDayFigure._meta.db_table} (day, level, region_path, mode, scopes, received, accepted, concluded,
                    concluded_on_time, work_days)
                SELECT day, lv, CASE WHEN length(region_path) > lv * 7 THEN left(region_path, lv * 7) ELSE region_path END, mode, scopes,
                       sum(received), sum(accepted), sum(concluded), sum(concluded_on_time), sum(work_days)
                FROM {DailyCaseFigure._meta.db_table} CROSS JOIN (VALUES (2), (3), (4)) AS l(lv)
                GROUP BY 1, 2, 3, 4, 5
                """
            )
            step(f"{cur.rowcount} region-level daily rows")
        if wanted(RankingFigure):
            # Per department (its place) and per item (the county or higher place; the province), by day and by month.
            cur.execute(
                f"""
                INSERT INTO {RankingFigure._meta.db_table} (grain, period, kind, key_id, region_path, received, accepted, concluded,
                    concluded_on_time, work_days)
                SELECT g.grain, CASE WHEN g.grain = 'd' THEN day ELSE date_trunc('month', day)::date END,
                       k.kind, CASE WHEN k.kind = 'd' THEN department_id ELSE item_id END,
                       CASE WHEN k.kind = 'd' THEN region_path
                            WHEN k.kind = 'i' AND length(region_path) > 28 THEN left(region_path, 28)
                            WHEN k.kind = 'p' AND length(region_path) > 14 THEN left(region_path, 14) ELSE region_path END,
                       sum(received), sum(accepted), sum(concluded), sum(concluded_on_time), sum(work_days)
                FROM {DailyCaseFigure._meta.db_table} CROSS JOIN (VALUES ('d'), ('m')) AS g(grain) CROSS JOIN (VALUES ('d'), ('i'), ('p')) AS k(kind)
                GROUP BY 1, 2, 3, 4, 5
                """
            )
            step(f"{cur.rowcount} ranking rows")
        if wanted(DailyFlowFigure):
            cur.execute(
                f"""
                INSERT INTO {DailyFlowFigure._meta.db_table} (day, region_path, receiving_region_path, department_id, receiving_department_id,
                    item_id, mode, scopes, cases)
                SELECT {local_day('c.submitted_at')}, c.region_path, c.receiving_region_path, c.department_id, coalesce(c.receiving_department_id, 0),
                       im.item_id, c.mode, im.scopes, count(*)
                FROM cases_case c JOIN catalog_implementation im ON im.id = c.implementation_id
                WHERE c.submitted_at IS NOT NULL AND c.receiving_region_path <> '' AND c.receiving_region_path <> c.region_path
                GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                """
            )
            step(f"{cur.rowcount} daily flow rows")
        if wanted(RegionFlowFigure):
            # The flows cut to province and prefecture (summary.FLOW_LEVELS), by day and by month.
            cur.execute(
                f"""
                INSERT INTO {RegionFlowFigure._meta.db_table} (grain, period, level, region_path, receiving_region_path, mode, scopes, cases)
                SELECT g.grain, CASE WHEN g.grain = 'd' THEN day ELSE date_trunc('month', day)::date END, lv,
                       CASE WHEN length(region_path) > lv * 7 THEN left(region_path, lv * 7) ELSE region_path END,
                       CASE WHEN length(receiving_region_path) > lv * 7 THEN left(receiving_region_path, lv * 7) ELSE receiving_region_path END,
                       mode, scopes, sum(cases)
                FROM {DailyFlowFigure._meta.db_table} CROSS JOIN (VALUES ('d'), ('m')) AS g(grain) CROSS JOIN (VALUES (2), (3)) AS l(lv)
                GROUP BY 1, 2, 3, 4, 5, 6, 7
                """
            )
            step(f"{cur.rowcount} flow rows per level")
        if wanted(RatingDayFigure):
            # Ratings per rating day and level (summary._rating_rows): initial ones, with their rectifications.
            cur.execute(
                f"""
                INSERT INTO {RatingDayFigure._meta.db_table} (day, level, region_path, mode, scopes, scoped, rated, ratings, satisfied, bad,
                    rectifications, rectified, appeals_upheld)
                SELECT {local_day('e.created_at')}, lv,
                       CASE WHEN length(e.region_path) > lv * 7 THEN left(e.region_path, lv * 7) ELSE e.region_path END,
                       coalesce(c.mode, ''), coalesce(im.scopes, 0), e.implementation_id IS NOT NULL,
                       count(*), count(*) FILTER (WHERE e.status = 'counted'),
                       count(*) FILTER (WHERE e.status = 'counted' AND e.level >= 3),
                       count(*) FILTER (WHERE e.status = 'counted' AND e.level <= 2),
                       count(r.id), count(r.id) FILTER (WHERE r.status = 'done'), count(r.id) FILTER (WHERE r.status = 'excluded')
                FROM evaluation_evaluation e LEFT JOIN cases_case c ON c.id = e.case_id
                LEFT JOIN catalog_implementation im ON im.id = e.implementation_id
                LEFT JOIN evaluation_rectification r ON r.evaluation_id = e.id
                CROSS JOIN (VALUES (2), (3), (4)) AS l(lv)
                WHERE e.kind = 'initial'
                GROUP BY 1, 2, 3, 4, 5, 6
                """
            )
            step(f"{cur.rowcount} rating rows per level")
        if wanted(OpenCase):
            cur.execute(
                f"""
                INSERT INTO {OpenCase._meta.db_table} (case_id, region_path, department_id, item_id, mode, scopes, due_date, submitted_at)
                SELECT c.id, c.region_path, c.department_id, im.item_id, c.mode, im.scopes, c.due_date, c.submitted_at
                FROM cases_case c JOIN catalog_implementation im ON im.id = c.implementation_id
                WHERE c.status IN ('submitted', 'supplement', 'accepted', 'under_review', 'special', 'approved', 'denied')
                  AND c.due_date IS NOT NULL AND c.submitted_at IS NOT NULL
                """
            )
            step(f"{cur.rowcount} open cases with a due date")
    from tongban.supervision.models import FigureFreshness
    from tongban.supervision.summary import FRESHNESS, FULL_REBUILD

    FigureFreshness.objects.update_or_create(name=FRESHNESS, defaults={"rebuilt_at": timezone.now(), "updated_at": timezone.now()})
    FigureFreshness.objects.update_or_create(name=FULL_REBUILD, defaults={"rebuilt_at": timezone.now()})
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    step("vacuumed and analyzed")
