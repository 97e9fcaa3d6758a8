"""Supervision cockpit (政务服务驾驶舱): every figure equals a direct query on the same data; the summary
table kept incrementally equals a rebuild; permissions; Excel export."""

import io
from datetime import datetime, time, timedelta

import pytest
from django.db.models import F, Q
from django.utils import timezone

from tests.conftest import make_applicant, make_department, make_implementation, make_item
from tongban.cases.models import Case
from tongban.core.workdays import working_days_between
from tongban.directory.models import Region
from tongban.evaluation.models import Evaluation, Rectification
from tongban.inquiries.models import Inquiry
from tongban.supervision import figures, summary
from tongban.supervision.models import (
    DailyCaseFigure,
    DailyFlowFigure,
    OpenCase,
    RankingFigure,
    RatingDayFigure,
    RegionDayFigure,
    RegionFlowFigure,
)

pytestmark = pytest.mark.django_db
COCKPIT = "/cockpit/"


def at(day, hour=10):
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


class World:
    """Cases in two Shandong counties (one city) and Beijing; several items, modes and scopes; on-time,
    late and open overdue cases; hand-offs both ways; ratings with rectifications; inquiries."""

    def __init__(self):
        self.today = timezone.localdate()
        self.start, self.end = self.today - timedelta(days=40), self.today
        r = {c: Region.objects.get(code=c) for c in ("370000", "371300", "371327", "371302", "110000", "110105")}
        self.regions = r
        self.d_jn = make_department("371327", "莒南县行政审批服务局")
        self.d_ls = make_department("371302", "兰山区行政审批服务局")
        self.d_bj = make_department("110105", "朝阳区政务服务局")
        self.item_a = make_item("驾驶舱测试事项甲", "000190001000")
        self.item_b = make_item("驾驶舱测试事项乙", "000190002000")
        self.impls = {
            ("a", "jn"): make_implementation(self.item_a, self.d_jn, modes=("online", "proxy"), scopes=("cross_province",)),
            ("b", "jn"): make_implementation(self.item_b, self.d_jn, scopes=("province_wide",)),
            ("a", "ls"): make_implementation(self.item_a, self.d_ls, scopes=("province_wide",)),
            ("a", "bj"): make_implementation(self.item_a, self.d_bj, modes=("online", "proxy"), scopes=("cross_province",)),
        }
        self.applicant = make_applicant()
        self.serial = 0
        self.cases = []
        d = self.start
        # A spread of life cycles across the period (and a few before it).
        plans = [
            # (impl key, mode, submitted offset, accepted after, concluded after, due after submit, receiving region)
            (("a", "jn"), "online", 1, 0, 3, 10, None),
            (("a", "jn"), "online", 2, 1, 15, 5, None),  # late
            (("a", "jn"), "proxy", 3, 1, 4, 10, "110105"),  # handed in from Beijing
            (("b", "jn"), "online", 5, 0, None, 3, None),  # open, overdue
            (("b", "jn"), "online", 38, 0, None, 30, None),  # open, not due
            (("a", "ls"), "online", 6, 2, 6, 10, None),
            (("a", "ls"), "online", 7, 0, 30, 8, None),  # late
            (("a", "ls"), "online", 12, None, None, None, None),  # received only
            (("a", "bj"), "proxy", 9, 1, 5, 10, "371327"),  # handed out from 莒南
            (("a", "bj"), "online", 10, 1, 2, 10, None),
            (("a", "jn"), "online", -5, 1, 8, 10, None),  # submitted before the period, concluded in it
        ]
        for key, mode, sub, acc, con, due, recv in plans:
            submitted = at(d + timedelta(days=sub), 9 + len(self.cases) % 6)
            self.cases.append(self.case(key, mode, submitted, acc, con, due, recv))
        self.ratings()
        self.inquiries()

    def case(self, key, mode, submitted, acc, con, due, recv):
        impl = self.impls[key]
        self.serial += 1
        accepted = submitted + timedelta(days=acc) if acc is not None else None
        concluded = accepted + timedelta(days=con) if (accepted and con is not None) else None
        status = "concluded" if concluded else ("accepted" if accepted else "submitted")
        receiving = Region.objects.get(code=recv) if recv else None
        return Case.objects.create(
            mode=mode, case_no=f"T{self.serial:06d}", status=status, applicant=self.applicant, implementation=impl,
            item_version=impl.item.versions.get(), region=impl.region, region_path=impl.region.path, department=impl.department,
            receiving_region=receiving, receiving_region_path=receiving.path if receiving else "",
            applicant_name="张三", applicant_code_type="111", applicant_code="110105199001010011", contact_phone="13800138000",
            submitted_at=submitted, accepted_at=accepted, concluded_at=concluded,
            due_date=(timezone.localtime(submitted).date() + timedelta(days=due)) if due is not None else None,
        )

    def ratings(self):
        levels = [5, 4, 3, 2, 1, 1, 5]
        self.evaluations = []
        for case, level in zip(self.cases, levels, strict=False):
            ev = Evaluation.objects.create(
                channel="online", level=level, case=case, applicant=self.applicant, region=case.region, region_path=case.region_path,
                department=case.department, implementation=case.implementation, item_name=case.implementation.item.name)
            self.evaluations.append(ev)
        statuses = iter([Rectification.DONE, Rectification.OPEN, Rectification.EXCLUDED])
        for ev in self.evaluations:
            if ev.level <= 2:
                status = next(statuses)
                Rectification.objects.create(evaluation=ev, status=status, region=ev.region, region_path=ev.region_path,
                                             department=ev.department, real_name=True)
                if status == Rectification.EXCLUDED:  # appeal upheld: the rating leaves the statistics
                    Evaluation.objects.filter(pk=ev.pk).update(status=Evaluation.EXCLUDED)

    def inquiries(self):
        rows = [
            (self.d_jn, 3, 2, 5, "satisfied"), (self.d_jn, 4, 9, 5, "unsatisfied"), (self.d_ls, 5, None, 3, ""),
            (self.d_ls, 20, 1, 5, "basic"), (self.d_bj, 6, 1, 5, "satisfied"), (self.d_jn, 39, None, 5, ""),
        ]
        for n, (dept, sub, reply, due, sat) in enumerate(rows):
            submitted = at(self.start + timedelta(days=sub))
            Inquiry.objects.create(
                kind="consult", title=f"咨询{n}", content="内容", inquirer_phone="13800138000", region=dept.region,
                region_path=dept.region.path, department=dept, submitted_at=submitted,
                due_date=timezone.localtime(submitted).date() + timedelta(days=due),
                replied_at=submitted + timedelta(days=reply) if reply is not None else None,
                status="replied" if reply is not None else "assigned", satisfaction=sat)

    def filter(self, code="370000", **kw):
        return figures.Filter(start=self.start, end=self.end, region_path=self.regions[code].path if code in self.regions else Region.objects.get(code=code).path, **kw)


@pytest.fixture
def world():
    w = World()
    summary.rebuild()
    return w


def bounds(w):
    return at(w.start, 0), at(w.end + timedelta(days=1), 0)


def direct_cases(w, f):
    qs = Case.objects.filter(region_path__startswith=f.region_path)
    if f.department_id:
        qs = qs.filter(department_id=f.department_id)
    if f.item_id:
        qs = qs.filter(implementation__item_id=f.item_id)
    if f.mode:
        qs = qs.filter(mode=f.mode)
    if f.scope:
        qs = qs.filter(implementation__scopes__has=f.scope)
    return qs


def direct_counts(w, f):
    lo, hi = at(f.start, 0), at(f.end + timedelta(days=1), 0)
    qs = direct_cases(w, f)
    concluded = qs.filter(concluded_at__gte=lo, concluded_at__lt=hi)
    days = [max(0, working_days_between(timezone.localtime(a).date(), timezone.localtime(c).date()).value)
            if timezone.localtime(c).date() > timezone.localtime(a).date() else 0
            for a, c in concluded.values_list("accepted_at", "concluded_at")]
    n = concluded.count()
    on_time = concluded.filter(concluded_at__date__lte=F("due_date")).count()
    open_overdue = qs.filter(status__in=figures.OPEN_STATUSES, due_date__lt=timezone.localdate(), submitted_at__lt=hi).count()
    return {
        "received": qs.filter(submitted_at__gte=lo, submitted_at__lt=hi).count(),
        "accepted": qs.filter(accepted_at__gte=lo, accepted_at__lt=hi).count(),
        "concluded": n, "concluded_on_time": on_time, "concluded_late": n - on_time,
        "avg_work_days": round(sum(days) / n, 2) if n else None,
        "open_overdue": open_overdue, "overdue": open_overdue + n - on_time,
    }


def platform_admin(staff_factory, code="000000"):
    user, client = staff_factory("platform_admin", code)
    return user, client


FILTERS = [
    {}, {"mode": "proxy"}, {"mode": "online"}, {"scope": "province_wide"}, {"scope": "cross_province"},
]


@pytest.mark.parametrize("extra", FILTERS)
@pytest.mark.parametrize("code", ["000000", "370000", "371300", "371327", "110105"])
def test_case_counts_equal_direct_queries(world, staff_factory, code, extra):
    user, _ = platform_admin(staff_factory)
    f = world.filter(code, **extra)
    got = figures.case_counts(user, f)
    want = direct_counts(world, f)
    assert {k: got[k] for k in want} == want
    assert got["received"] > 0 or code == "110105" and extra.get("scope") == "province_wide" or extra


def test_the_data_covers_every_figure(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    c = figures.case_counts(user, world.filter("000000"))
    assert c["concluded_on_time"] and c["concluded_late"] and c["open_overdue"] and c["avg_work_days"]
    assert c["received"] == 10  # the case submitted before the period is not received in it
    assert c["concluded"] == 8


def test_department_item_and_region_filters_equal_direct_queries(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    for f in (world.filter("370000", department_id=world.d_jn.pk), world.filter("000000", item_id=world.item_b.pk),
              world.filter("371300", item_id=world.item_a.pk, mode="online")):
        got = figures.case_counts(user, f)
        assert {k: got[k] for k in direct_counts(world, f)} == direct_counts(world, f)


def test_grouped_figures_equal_direct_queries(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    f = world.filter("370000")
    regions = {r["path"]: r for r in figures.region_ranking(user, f)}
    city = world.regions["371300"].path
    assert set(regions) == {city}
    assert regions[city]["received"] == direct_counts(world, world.filter("371300"))["received"]
    # Drill-down: the city's children are the two counties.
    counties = {r["path"]: r for r in figures.region_ranking(user, world.filter("371300"))}
    assert set(counties) == {world.regions["371327"].path, world.regions["371302"].path}
    for code in ("371327", "371302"):
        want = direct_counts(world, world.filter(code))
        got = counties[world.regions[code].path]
        assert (got["received"], got["accepted"], got["concluded"], got["concluded_on_time"], got["avg_work_days"]) == (
            want["received"], want["accepted"], want["concluded"], want["concluded_on_time"], want["avg_work_days"])
    for dept in figures.department_ranking(user, world.filter("000000")):
        want = direct_counts(world, world.filter("000000", department_id=dept["id"]))
        assert (dept["received"], dept["concluded"], dept["concluded_on_time"]) == (want["received"], want["concluded"], want["concluded_on_time"])
    items = {i["id"]: i for i in figures.item_ranking(user, world.filter("000000", scope="province_wide"))}
    for item_id, got in items.items():
        want = direct_counts(world, world.filter("000000", item_id=item_id, scope="province_wide"))
        assert (got["received"], got["concluded"]) == (want["received"], want["concluded"])
    trend = figures.trend(user, world.filter("000000"))
    assert len(trend) == (world.end - world.start).days + 1
    lo, _hi = bounds(world)
    for row in trend:
        day = datetime.fromisoformat(row["day"]).date()
        assert row["received"] == Case.objects.filter(submitted_at__date=day).count()
        assert row["concluded"] == Case.objects.filter(concluded_at__date=day).count()


def test_handoffs_equal_direct_queries(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    lo, hi = bounds(world)
    for code in ("371327", "370000", "110105", "110000"):
        f = world.filter(code)
        p = f.region_path
        qs = Case.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi).exclude(receiving_region_path="")
        got = figures.handoffs(user, f)
        assert got["out"] == qs.filter(receiving_region_path__startswith=p).exclude(region_path__startswith=p).count()
        assert got["in"] == qs.filter(region_path__startswith=p).exclude(receiving_region_path__startswith=p).count()
    jn = figures.handoffs(user, world.filter("371327"))
    assert jn["in_by_partner"] == {world.regions["110000"].path: 1}
    assert jn["out_by_partner"] == {world.regions["110000"].path: 1}


def test_ratings_and_inquiries_equal_direct_queries(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    lo, hi = bounds(world)
    for code in ("000000", "370000", "371327", "110105"):
        f = world.filter(code)
        ev = Evaluation.objects.filter(region_path__startswith=f.region_path, created_at__gte=lo, created_at__lt=hi, kind="initial")
        counted = ev.filter(status="counted")
        got = figures.ratings(user, f)
        good = counted.filter(level__gte=3).count()
        assert got["ratings"] == counted.count() and got["satisfied"] == good
        assert got["satisfaction_rate"] == (round(good / counted.count(), 4) if counted.count() else None)
        assert got["bad"] == counted.filter(level__lte=2).count()
        rect = Rectification.objects.filter(region_path__startswith=f.region_path, evaluation__in=ev)
        due = rect.exclude(status="excluded").count()
        assert got["rectifications"] == rect.count()
        assert got["rectification_rate"] == (round(rect.filter(status="done").count() / due, 4) if due else None)

        inq = Inquiry.objects.filter(region_path__startswith=f.region_path, submitted_at__gte=lo, submitted_at__lt=hi)
        gi = figures.inquiries(user, f)
        assert gi["received"] == inq.count()
        assert gi["replied"] == inq.filter(replied_at__isnull=False).count()
        assert gi["replied_on_time"] == inq.filter(replied_at__date__lte=F("due_date")).count()
        assert gi["overdue"] == inq.filter(Q(replied_at__isnull=True, due_date__lt=timezone.localdate()) | Q(status="escalated")).count()
        rated = inq.exclude(satisfaction="")
        assert gi["satisfied"] == rated.filter(satisfaction__in=("satisfied", "basic")).count()
    whole = figures.ratings(user, world.filter("000000"))
    assert whole["appeals_upheld"] == 1 and whole["rectification_rate"] == 0.5  # one done, one open, one upheld appeal
    assert whole["ratings"] == 6  # the rating upheld on appeal is excluded


SUMMARY_MODELS = (DailyCaseFigure, RegionDayFigure, RankingFigure, DailyFlowFigure, OpenCase, RegionFlowFigure, RatingDayFigure)


def summary_rows():
    out = {}
    for model in SUMMARY_MODELS:
        fields = [f.attname for f in model._meta.concrete_fields if not (f.primary_key and model is not OpenCase)]
        out[model.__name__] = sorted(tuple(r[k] for k in fields) for r in model.objects.values(*fields))
    return out


def test_incremental_summary_equals_rebuild(case_world):
    w = case_world()
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    summary.rebuild()
    before = DailyCaseFigure.objects.count()
    one, two = w.submitted_case(), w.submitted_case()
    w.act(one, "accept")
    w.act(one, "approve", who=w.approver, opinion="符合条件")
    w.act(one, "conclude", who=w.approver)
    w.act(two, "accept")
    rows = list(DailyCaseFigure.objects.order_by("day", "region_path", "department_id", "item_id", "mode").values())
    assert sum(r["received"] for r in rows) == 2 and sum(r["concluded"] for r in rows) == 1 and before == 0
    assert all(r["scopes"] for r in rows)  # the implementation's 通办范围 is in the key
    assert sum(RegionDayFigure.objects.filter(level=4).values_list("received", flat=True)) == 2
    assert set(RegionDayFigure.objects.values_list("level", flat=True)) == {2, 3, 4}
    two.refresh_from_db()
    if two.due_date:  # accepted and open with a deadline: listed for the overdue count; the concluded one is not
        assert list(OpenCase.objects.values_list("case_id", flat=True)) == [two.pk]
    fresh = summary.freshness()
    assert fresh.updated_at is not None
    incremental = summary_rows()
    summary.rebuild()
    assert summary_rows() == incremental
    # A partial rebuild of the recent days gives the same rows (month rows included).
    summary.rebuild(since=timezone.localdate() - timedelta(days=2))
    assert summary_rows() == incremental
    assert RankingFigure.objects.filter(grain="m").exists() and RankingFigure.objects.filter(grain="d", kind="i").exists()


def test_rating_figures_kept_by_the_rating_services_equal_a_rebuild(case_world, staff_factory):
    from tongban.evaluation import services as rating

    w = case_world()
    summary.rebuild()

    def concluded():
        case = w.act(w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver), "conclude", w.approver)
        return case

    good = rating.rate_case(w.applicant.user, concluded().pk, 5, ["办事效率"], "很快")
    rating.add_rating(w.applicant.user, good.pk, 1, [], "后来又不满意")  # an addition is not counted again
    done = rating.rate_case(w.applicant.user, concluded().pk, 2, [], "材料反复")
    rect = Rectification.objects.get(evaluation=done)
    rating.record_callback(w.clerk, rect.pk, True, "属实")
    rating.decide(w.clerk, rect.pk, "immediate", "已当场更正")
    mistaken = rating.rate_case(w.applicant.user, concluded().pk, 1, [], "点错了")
    rect2 = Rectification.objects.get(evaluation=mistaken)
    rating.record_callback(w.clerk, rect2.pk, True, "申请人表示误点")
    rating.appeal(w.clerk, rect2.pk, "申请人确认误评")
    sup, _ = staff_factory("supervisor", "371300")
    rating.review(sup, rect2.pk, True, "误评")
    rating.rate_case(w.applicant.user, concluded().pk, 1, [], "太慢", anonymous=True)  # its rectification still open

    county = RatingDayFigure.objects.filter(level=4)
    totals = {k: sum(county.values_list(k, flat=True)) for k in summary.RATING_FIELDS}
    assert totals == {"rated": 4, "ratings": 3, "satisfied": 1, "bad": 2, "rectifications": 3, "rectified": 1, "appeals_upheld": 1}
    assert set(RatingDayFigure.objects.values_list("level", flat=True)) == {2, 3, 4}
    incremental = summary_rows()
    summary.rebuild()
    assert summary_rows() == incremental
    summary.rebuild(since=timezone.localdate())
    assert summary_rows() == incremental


def test_split_period_into_whole_months_and_edge_days():
    from datetime import date

    assert figures.split_period(date(2026, 1, 15), date(2026, 4, 10)) == (
        date(2026, 2, 1), date(2026, 3, 1), [(date(2026, 1, 15), date(2026, 1, 31)), (date(2026, 4, 1), date(2026, 4, 10))])
    assert figures.split_period(date(2026, 1, 1), date(2026, 3, 31)) == (date(2026, 1, 1), date(2026, 3, 1), [])
    assert figures.split_period(date(2026, 1, 5), date(2026, 1, 20)) == (None, None, [(date(2026, 1, 5), date(2026, 1, 20))])
    assert figures.split_period(date(2025, 12, 20), date(2026, 1, 31)) == (date(2026, 1, 1), date(2026, 1, 1), [(date(2025, 12, 20), date(2025, 12, 31))])


def test_rankings_from_month_rows_equal_direct_queries_over_long_periods(world, staff_factory):
    user, _ = platform_admin(staff_factory)
    for code, start in [(c, s) for c in ("370000", "371300") for s in (world.start - timedelta(days=70), world.start.replace(day=1),
                                                                        world.start + timedelta(days=3))]:
        f = figures.Filter(start=start, end=world.end, region_path=world.regions[code].path)
        assert figures._ranking(user, f, "department") is not None
        for dept in figures.department_ranking(user, f):
            want = direct_counts(world, figures.Filter(start=start, end=world.end, region_path=f.region_path, department_id=dept["id"]))
            assert (dept["received"], dept["accepted"], dept["concluded"], dept["concluded_on_time"], dept["avg_work_days"]) == (
                want["received"], want["accepted"], want["concluded"], want["concluded_on_time"], want["avg_work_days"])
        for item in figures.item_ranking(user, f):
            want = direct_counts(world, figures.Filter(start=start, end=world.end, region_path=f.region_path, item_id=item["id"]))
            assert (item["received"], item["concluded"], item["concluded_on_time"]) == (want["received"], want["concluded"], want["concluded_on_time"])
    # With a mode filter the department-level daily table answers.
    assert figures._ranking(user, world.filter("370000", mode="online"), "department") is None


def test_periodic_refresh_picks_up_changes_made_without_a_step(world, staff_factory):
    from django.core.management import call_command

    from tongban.supervision import tasks

    user, _ = platform_admin(staff_factory)
    f = world.filter("000000")
    before = figures.case_counts(user, f)
    # A conclusion replicated from another node: the row changes without a step on this node.
    late = Case.objects.filter(status="accepted").first()
    Case.objects.filter(pk=late.pk).update(status="concluded", concluded_at=timezone.now())
    assert figures.case_counts(user, f)["concluded"] == before["concluded"]
    tasks.run_refresh(days=3)
    after = figures.case_counts(user, f)
    assert after["concluded"] == before["concluded"] + 1
    assert {k: after[k] for k in direct_counts(world, f)} == direct_counts(world, f)
    old = DailyCaseFigure.objects.filter(day__lt=timezone.localdate() - timedelta(days=2)).count()
    assert old  # rows before the window are kept as they were
    # Right after the migration that added the rollups, the first refresh builds them from all the cases.
    from tongban.supervision.models import FigureFreshness

    FigureFreshness.objects.filter(name=summary.FULL_REBUILD).delete()
    RegionDayFigure.objects.all().delete()
    tasks.run_refresh(days=1)
    assert {k: figures.case_counts(user, f)[k] for k in direct_counts(world, f)} == direct_counts(world, f)
    assert FigureFreshness.objects.filter(name=summary.FULL_REBUILD).exists()
    call_command("schedule_figures_refresh", "--every", "0")
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path__endswith="refresh_figures").count() == 1


def test_department_limited_supervisor_reads_the_department_table(world, staff_factory):
    user, _ = staff_factory("supervisor", "371327", world.d_jn)
    f = world.filter("370000")
    got = figures.case_counts(user, f)
    want = direct_counts(world, world.filter("371327", department_id=world.d_jn.pk))
    assert {k: got[k] for k in want} == want
    assert figures._rollup(user, f, None) is None
    city_user, _ = staff_factory("supervisor", "371300")
    assert figures._rollup(city_user, world.filter("000000"), "region") is not None
    regions = {r["path"]: r["received"] for r in figures.region_ranking(city_user, world.filter("000000"))}
    assert regions == {world.regions["370000"].path: direct_counts(world, world.filter("371300"))["received"]}


def test_county_supervisor_sees_only_their_county(world, staff_factory, client):
    user, c = staff_factory("supervisor", "371327")
    r = c.get(COCKPIT)
    assert r.status_code == 200
    html = r.content.decode()
    want = direct_counts(world, figures.Filter(start=timezone.localdate() - timedelta(days=29), end=timezone.localdate(),
                                               region_path=world.regions["371327"].path))
    assert f'data-figure="received">{want["received"]}<' in html
    assert "兰山区行政审批服务局" not in html
    # Another county, the city or the province: refused.
    for code in ("371302", "371300", "370000"):
        assert c.get(COCKPIT, {"region": world.regions[code].path}).status_code == 403
        assert c.get(COCKPIT + "export.xlsx", {"region": world.regions[code].path}).status_code == 403
    # Figures computed for the county supervisor over the whole country are still only the county's.
    got = figures.case_counts(user, world.filter("000000"))
    assert got["received"] == direct_counts(world, world.filter("371327"))["received"]


def test_clerk_gets_403_and_anonymous_is_sent_to_sign_in(world, staff_factory, client):
    _u, c = staff_factory("clerk", "371327", world.d_jn)
    assert c.get(COCKPIT).status_code == 403
    queue = c.get("/workbench/queue/")
    assert queue.status_code == 200 and ">驾驶舱</a>" not in queue.content.decode()
    assert c.get(COCKPIT + "export.xlsx").status_code == 403
    r = client.get(COCKPIT)
    assert r.status_code == 302 and "next=" in r["Location"]


@pytest.mark.parametrize("params, message", [
    ({"from": "2026-13-01"}, "起始日期格式不正确"), ({"from": "2026-05-01", "to": "2026-04-01"}, "起始日期不能晚于截止日期"),
    ({"mode": "teleport"}, "业务模式参数不正确"), ({"department": "abc"}, "部门参数不正确"),
    ({"from": "2000-01-01", "to": "2026-01-01"}, "统计期间最长三年"), ({"scope": "galaxy"}, "通办范围参数不正确"),
])
def test_bad_filters_are_400_in_chinese(world, staff_factory, params, message):
    _u, c = staff_factory("supervisor", "370000")
    r = c.get(COCKPIT, params)
    assert r.status_code == 400 and message in r.content.decode()
    r = c.get(COCKPIT + "export.xlsx", params)
    assert r.status_code == 400 and message in r.content.decode()


def test_cockpit_page_figures_drilldown_and_freshness(world, staff_factory):
    _u, c = staff_factory("supervisor", "370000")
    params = {"from": world.start.isoformat(), "to": world.end.isoformat()}
    html = c.get(COCKPIT, params).content.decode()
    want = direct_counts(world, world.filter("370000"))
    assert f'data-figure="received">{want["received"]}<' in html
    assert f'data-figure="overdue">{want["overdue"]}<' in html
    assert "临沂市" in html and "region=" + world.regions["371300"].path.replace("/", "%2F") in html
    assert "echarts.min.js" in html and "cockpit-data" in html and "最近重建" in html
    assert 'aria-current="page">驾驶舱</a>' in html and "/cockpit/map/?" in html
    drilled = c.get(COCKPIT, {**params, "region": world.regions["371300"].path}).content.decode()
    assert "莒南县" in drilled and "兰山区" in drilled


def test_export_contains_the_same_figures(world, staff_factory):
    from openpyxl import load_workbook

    _u, c = staff_factory("supervisor", "370000")
    params = {"from": world.start.isoformat(), "to": world.end.isoformat(), "region": world.regions["371300"].path}
    r = c.get(COCKPIT + "export.xlsx", params)
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    overview = {row[0]: row[1] for row in wb["总体"].iter_rows(values_only=True)}
    want = direct_counts(world, world.filter("371300"))
    assert overview["收件数"] == want["received"] and overview["办结数"] == want["concluded"]
    assert overview["按时办结数"] == want["concluded_on_time"] and overview["超期数"] == want["overdue"]
    assert overview["平均办理工作日"] == want["avg_work_days"]
    regions = {row[0]: row[1] for row in list(wb["地区"].iter_rows(values_only=True))[1:]}
    assert regions == {"莒南县": direct_counts(world, world.filter("371327"))["received"],
                       "兰山区": direct_counts(world, world.filter("371302"))["received"]}
    flows = list(wb["跨域流转"].iter_rows(values_only=True))[1:]
    assert ("转入", "北京市", 1) in flows and ("转出", "北京市", 1) in flows
    trend = list(wb["趋势"].iter_rows(values_only=True))[1:]
    assert sum(row[1] for row in trend) == want["received"]


def test_rebuild_command(world, capsys):
    from django.core.management import call_command

    DailyCaseFigure.objects.all().delete()
    call_command("rebuild_figures")
    assert "已重建驾驶舱日统计" in capsys.readouterr().out
    assert sum(DailyCaseFigure.objects.values_list("received", flat=True)) == Case.objects.exclude(submitted_at=None).count()


@pytest.mark.parametrize("extra", [{"mode": "proxy"}, {"mode": "online"}, {"scope": "cross_province"}, {"scope": "province_wide"},
                                   {"mode": "online", "scope": "province_wide"}])
def test_mode_and_scope_filters_apply_to_handoffs_ratings_and_inquiries(world, staff_factory, extra):
    user, c = platform_admin(staff_factory)
    # A window rating without a case (no mode; its implementation has a scope) and an inquiry about a case.
    jn_case = world.cases[0]
    Evaluation.objects.create(channel="window", level=1, region=jn_case.region, region_path=jn_case.region_path, department=jn_case.department,
                              implementation=jn_case.implementation, item_name="窗口评价")
    Inquiry.objects.create(kind="complaint", title="办件投诉", content="内容", inquirer_phone="13800138000", region=jn_case.region,
                           region_path=jn_case.region_path, department=jn_case.department, case=jn_case, submitted_at=at(world.start + timedelta(days=2)),
                           due_date=world.start + timedelta(days=9), status="assigned")
    summary.rebuild()  # the rating was written directly, not through the rating service that keeps the figures
    lo, hi = bounds(world)
    f = world.filter("000000", **extra)

    def dims(qs, case_prefix, scope_lookup):
        if f.mode:
            qs = qs.filter(**{f"{case_prefix}mode": f.mode})
        if f.scope:
            qs = qs.filter(**{f"{scope_lookup}__has": f.scope})
        return qs

    h = figures.handoffs(user, world.filter("371327", **extra))
    p = world.regions["371327"].path
    cases = dims(Case.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi).exclude(receiving_region_path=""), "", "implementation__scopes")
    assert h["out"] == cases.filter(receiving_region_path__startswith=p).exclude(region_path__startswith=p).count()
    assert h["in"] == cases.filter(region_path__startswith=p).exclude(receiving_region_path__startswith=p).count()

    ev_all = Evaluation.objects.filter(created_at__gte=lo, created_at__lt=hi, kind="initial")
    ev = dims(ev_all, "case__", "implementation__scopes")
    got = figures.ratings(user, f)
    counted = ev.filter(status="counted")
    assert got["ratings"] == counted.count() and got["bad"] == counted.filter(level__lte=2).count()
    assert got["rectifications"] == Rectification.objects.filter(evaluation__in=ev).count()
    missing = Q(case__isnull=True) if f.mode else Q()
    if f.scope:
        missing |= Q(implementation__isnull=True)
    assert got["unattributed"] == ev_all.filter(missing).count()
    assert (got["unattributed"] == 1) == bool(f.mode)  # the window rating has no mode

    inq_all = Inquiry.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi)
    inq = dims(inq_all, "case__", "case__implementation__scopes")
    gi = figures.inquiries(user, f)
    assert gi["received"] == inq.count() and gi["unattributed"] == inq_all.filter(case__isnull=True).count() > 0
    assert gi["overdue"] == inq.filter(Q(replied_at__isnull=True, due_date__lt=timezone.localdate()) | Q(status="escalated")).count()

    html = c.get(COCKPIT, {"from": world.start.isoformat(), "to": world.end.isoformat(), **extra}).content.decode()
    assert "不区分通办范围/业务模式" in html and f"另有 {gi['unattributed']} 件咨询投诉建议未关联办件" in html
    assert "不区分通办范围" not in c.get(COCKPIT, {"from": world.start.isoformat(), "to": world.end.isoformat()}).content.decode()
