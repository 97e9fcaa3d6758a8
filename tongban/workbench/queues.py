"""The staff queue (待办队列): which cases a signed-in staff member works on, per role and scope.

Every row comes through the cases' one authorisation filter (`authz.filter_queryset`); the role's
queue statuses are ANDed on per membership, so a clerk of one county never sees another county's
cases even when they also hold another role elsewhere. Deadlines are computed in Python from the
row (no query per row); the colour filter is translated into due-date ranges on the working-day
calendar, so it stays one indexed query on a million cases.
"""

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from tongban.cases.clock import deadline
from tongban.cases.models import Case
from tongban.cases.models import Status as S
from tongban.core import authz
from tongban.core.workdays import add_working_days

ALL_STATUSES = tuple(s for s in S.values if s != S.DRAFT)

# What each role works on (the supervisor and platform administrator read everything, read-only).
ROLE_STATUSES = {
    "clerk": (S.SUBMITTED, S.APPROVED, S.DENIED, S.CONCLUDED, S.SUPPLEMENT),
    "approver": (S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED, S.DENIED),
    "supervisor": ALL_STATUSES,
    "platform_admin": ALL_STATUSES,
}

# What the status means in a queue (待受理, 待办结…), next to the status name.
QUEUE_LABELS = {
    S.SUBMITTED: "待受理", S.SUPPLEMENT: "待补正", S.ACCEPTED: "待审查", S.UNDER_REVIEW: "审查中", S.SPECIAL: "特别程序",
    S.APPROVED: "待办结", S.DENIED: "待办结", S.CONCLUDED: "待送达",
}

# Statuses whose clock runs (red / yellow / green); special procedures and supplements after
# acceptance pause it (see cases.clock).
RUNNING = (S.ACCEPTED, S.UNDER_REVIEW, S.APPROVED, S.DENIED)
COLOURS = {"red": "已超期", "yellow": "即将到期", "green": "时限充足", "paused": "计时暂停"}

COUNT_CAP = 10_000  # counting a million rows is not worth it: "more than 10,000" is what a person needs
FILTER_KEYS = ("status", "colour", "item", "case_no", "applicant", "scope")
# Views of the queue besides the role's own work: hand-offs and joint parts arriving from other places,
# and what this place's windows received for other places (收受分离).
SCOPES = {"incoming": "转来待受理（异地代收、多地联办）", "received": "本地代收的外地办件"}
LIST_FIELDS = (
    "id", "case_no", "status", "applicant_name", "applicant_code", "submitted_at", "accepted_at", "updated_at",
    "due_date", "calendar_warning", "item_version__name",
)


def queue_statuses(user):
    """Statuses the user's roles work on, in the order of ALL_STATUSES."""
    mine = set()
    for role, _path, _dept in authz.grants(user):
        mine.update(ROLE_STATUSES.get(role, ()))
    return [s for s in ALL_STATUSES if s in mine]


def _role_q(user):
    """Per membership, the statuses its role works on, within the membership's region and department.
    The region and department repeat what the authorisation filter says on purpose: that filter ORs in
    the applicant's own cases (a join), so these ANDed conditions are the ones an index can use."""
    q = Q(pk__in=[])
    for role, path, dept in authz.grants(user):
        statuses = ROLE_STATUSES.get(role)
        if not statuses:
            continue
        part = Q(region_path__startswith=path, status__in=statuses) & _prefix_range(path)
        if dept is not None:
            part &= Q(department_id=dept)
        if role == "clerk":  # a bundle's children are received and delivered together on the bundle's page
            part &= ~Q(mode="bundle", status__in=(S.SUBMITTED, S.CONCLUDED))
        q |= part
    return q


def _scope_q(user, scope):
    if scope == "received":
        q = Q(pk__in=[])
        for role, path, _dept in authz.grants(user):
            if role in ROLE_STATUSES:
                q |= Q(receiving_region_path__startswith=path)
        return q & ~Q(receiving_region_path="")
    if scope == "incoming":
        from tongban.cases.models import CasePart
        from tongban.cases.scopes import parts_q

        handoffs = _role_q(user) & Q(mode__in=("proxy", "joint"), status=S.SUBMITTED)
        return handoffs | Q(pk__in=CasePart.objects.filter(parts_q(user, roles={"clerk", "approver"}), status=CasePart.ACTIVE).values("case_id"))
    return _role_q(user)


_CODEPOINT_COLLATIONS = {"c", "posix", "c.utf-8", "c.utf8", "ucs_basic"}
_collation_cache = {}


def _orders_by_code_point():
    """Whether the database compares text by code point (SQLite's BINARY; PostgreSQL's C, POSIX or
    C.UTF-8). Asked once per database."""
    key = (connection.vendor, connection.settings_dict.get("NAME"))
    if key not in _collation_cache:
        answer = connection.vendor == "sqlite"
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
                row = cursor.fetchone()
            answer = bool(row) and str(row[0]).lower() in _CODEPOINT_COLLATIONS
        _collation_cache[key] = answer
    return _collation_cache[key]


def _prefix_range(path):
    """The region prefix also as a range, when the database orders text by code point (then it selects
    exactly the same rows). PostgreSQL does not turn LIKE 'prefix%' into an index range unless the
    collation is exactly "C" (C.UTF-8 is not), while a range it always can: the region queue index is
    then used instead of reading every case in the role's statuses nationwide."""
    if not path or not _orders_by_code_point():
        return Q()
    return Q(region_path__gte=path, region_path__lt=path[:-1] + chr(ord(path[-1]) + 1))


def colour_q(colour, today=None):
    """The due-date range whose deadline (cases.clock.deadline) has this colour."""
    today = today or timezone.localdate()
    if colour == "paused":
        return Q(status=S.SPECIAL, due_date__isnull=False) | Q(status=S.SUPPLEMENT, due_date__isnull=False)
    # clock.deadline: n = working days in (today, due]; red n < 0, yellow 0 <= n <= YELLOW, else green.
    last_workday = add_working_days(today, 0).value  # the last working day on or before today
    yellow_end = add_working_days(today, settings.TONGBAN_DEADLINE_YELLOW_DAYS + 1).value
    running = Q(status__in=RUNNING, due_date__isnull=False)
    if colour == "red":
        return running & Q(due_date__lt=last_workday)
    if colour == "yellow":
        return running & Q(due_date__gte=last_workday, due_date__lt=yellow_end)
    if colour == "green":
        return running & Q(due_date__gte=yellow_end)
    return Q()


def clean_filters(filters):
    """The recognised, non-empty filters as strings (anything else is dropped)."""
    clean = {}
    for key in FILTER_KEYS:
        value = filters.get(key)
        if isinstance(value, (list, tuple)):
            value = value[-1] if value else ""
        value = str(value or "").strip()[:100]
        if not value or "\x00" in value:
            continue
        if key == "status" and value not in ALL_STATUSES:
            continue
        if key == "colour" and value not in COLOURS:
            continue
        if key == "scope" and value not in SCOPES:
            continue
        clean[key] = value
    return clean


def queue_queryset(user, filters=None):
    """The user's queue, filtered and ordered (due date first, cases not yet timed last, then by
    submission). One query for a page: the item name comes in the same row, nothing is fetched per row."""
    filters = clean_filters(filters or {})
    qs = authz.filter_queryset(Case.objects.all(), user).filter(_scope_q(user, filters.get("scope")))
    if "status" in filters:
        qs = qs.filter(status=filters["status"])
    if "colour" in filters:
        qs = qs.filter(colour_q(filters["colour"]))
    if "item" in filters:
        qs = qs.filter(item_version__name__icontains=filters["item"])
    if "case_no" in filters:
        qs = qs.filter(case_no=filters["case_no"])
    if "applicant" in filters:
        qs = qs.filter(applicant_name__icontains=filters["applicant"])
    return (qs.select_related("item_version").only(*LIST_FIELDS)
            .order_by(F("due_date").asc(nulls_last=True), F("submitted_at").asc(nulls_last=True), "id"))


def row_deadline(case, today=None):
    """clock.deadline without a query: a paused case's pause started at its last change."""
    return deadline(case, today=today, paused_since=timezone.localdate(case.updated_at))


def capped_count(qs, cap=COUNT_CAP):
    """At most cap + 1 (more than `cap` means "more than cap")."""
    return qs.order_by()[: cap + 1].count()
