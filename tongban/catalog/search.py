"""Applicant search over published implementations.

Item names are few (thousands) while implementations are many (a million), so the search runs in two steps:

1. Match item names: a Chinese substring of any length, or pinyin initials / full pinyin for ASCII input.
   PostgreSQL uses pg_trgm GIN indexes (ILIKE); SQLite uses an FTS5 trigram table for three characters
   or more and LIKE below that (FTS5 trigram silently returns nothing for one or two characters). The
   candidates are then checked and ranked in Python — exact > prefix > substring, then name, then id —
   so the ranking and the case rules (ASCII case-insensitive) are the same on both databases.
2. Fetch the implementations in the order item rank, region code, id, with the filters:
   - a narrow filter (a prefecture, a county, a department) bounds the rows to a few thousand: fetch
     them all (driven by the region / department index) and sort them here; the count comes free;
   - otherwise walk the ranked items in growing chunks and stop as soon as the page is full, so
     hundreds of thousands of matching rows are never sorted; the count is
     `SELECT count(*) FROM (… LIMIT 1000)`.

Migration catalog/0003_search creates the indexes both steps rely on.
"""

import re
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import F, Func, IntegerField, Lookup

from tongban.core.authz import filter_queryset
from tongban.core.i18n import to_simplified
from tongban.directory.models import Region

from .models import Implementation, ItemVersion

COUNT_CAP = 1000
FTS_MIN_CHARS = 3  # FTS5 trigram (and pg_trgm's index) need three characters
# Items in the first chunk of the walk, then four times more each time the page is not yet full. With a
# filter most items contribute few rows, so the walk starts wider: round trips cost more than index rows.
FIRST_CHUNK, FIRST_CHUNK_FILTERED, CHUNK_GROWTH = 2, 16, 4

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ASCII_LETTERS_AND_SPACES = re.compile(r"[A-Za-z ]+")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class SearchResult:
    results: list  # Implementation objects with item, department, region loaded
    total: int  # capped at COUNT_CAP
    total_capped: bool


def normalize_query(q):
    """Simplified script, trimmed; `hu kou` → `hukou` since pinyin keys are stored without spaces."""
    q = to_simplified((q or "").strip())
    if _ASCII_LETTERS_AND_SPACES.fullmatch(q):
        q = q.replace(" ", "")
    return q


def _fold(text):
    # ASCII-only case folding: what SQLite's LIKE does, so both databases agree on what matches.
    return (text or "").translate(_ASCII_UPPER)


def _rank(q, name, initials, pinyin):
    """0 exact, 1 prefix, 2 substring, None no match. `q` is already folded."""
    name = _fold(name)
    if q == name or q == initials or q == pinyin:
        return 0
    if name.startswith(q) or initials.startswith(q) or pinyin.startswith(q):
        return 1
    if q in name or q in initials or q in pinyin:
        return 2
    return None


def _like_pattern(text):
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_PUBLISHED = f"EXISTS (SELECT 1 FROM catalog_itemversion v WHERE v.item_id = i.id AND v.status = '{ItemVersion.PUBLISHED}')"


def _candidate_items(q):
    """(id, name, initials, pinyin) of published items that may match `q` (a superset; `_rank` decides)."""
    pinyin_too = not _HAN.search(q)  # pinyin keys hold only ASCII letters
    if connection.vendor == "sqlite" and len(q) >= FTS_MIN_CHARS:
        match = '"' + q.replace('"', '""') + '"'  # one FTS5 phrase: a plain substring for the trigram tokenizer
        sql = f"SELECT i.id, i.name, i.name_initials, i.name_pinyin FROM catalog_item i WHERE i.id IN (SELECT rowid FROM catalog_item_fts WHERE catalog_item_fts MATCH %s) AND {_PUBLISHED}"
        params = [match]
    else:
        # ILIKE on PostgreSQL when case matters (the trigram indexes serve both from three characters);
        # LIKE on SQLite is already ASCII case-insensitive.
        like = "ILIKE" if connection.vendor == "postgresql" and re.search("[A-Za-z]", q) else "LIKE"
        conditions, params = [f"i.name {like} %s ESCAPE '\\'"], [_like_pattern(q)]
        if pinyin_too:
            conditions += ["i.name_initials LIKE %s ESCAPE '\\'", "i.name_pinyin LIKE %s ESCAPE '\\'"]
            params += [_like_pattern(_fold(q))] * 2
        sql = f"SELECT i.id, i.name, i.name_initials, i.name_pinyin FROM catalog_item i WHERE ({' OR '.join(conditions)}) AND {_PUBLISHED}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def ranked_item_ids(q):
    """Ids of published items matching the normalised query, best first (exact > prefix > substring, name, id)."""
    if not q:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT i.id, i.name FROM catalog_item i WHERE {_PUBLISHED}")
            rows = cursor.fetchall()
        return [item_id for item_id, _name in sorted(rows, key=lambda r: (r[1], r[0]))]
    qf = _fold(q)
    ranked = []
    for item_id, name, initials, pinyin in _candidate_items(q):
        rank = _rank(qf, name, initials, pinyin)
        if rank is not None:
            ranked.append((rank, name, item_id))
    ranked.sort()
    return [item_id for _rank_, _name, item_id in ranked]


# Item and region ids come from the database as integers and are written into the SQL as literals: an
# ORM `__in` or Case(When()) over a thousand ids costs more Python time than the query itself.
class _IdIn(Lookup):
    """`column IN (1,2,3)` with the integers inlined (an array on PostgreSQL); a Lookup, so SQLite takes
    it as a WHERE condition as is (no `= 1`). `drives=False` keeps SQLite from probing an index with the
    list (`+column`): probing (region × item) pairs costs more than checking the list on the rows that
    the other condition finds."""

    lookup_name = "search_id_in"
    prepare_rhs = False
    drives = True

    def get_prep_lookup(self):
        return [int(i) for i in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        ids = ",".join(map(str, self.rhs))
        if connection.vendor == "postgresql":
            # One array constant plans several times faster than an IN list of a thousand constants.
            return f"{lhs} = ANY('{{{ids}}}'::bigint[])", params
        if not self.drives:
            lhs = f"+{lhs}"
        return f"{lhs} IN ({ids or 'NULL'})", params


def _id_in(column, ids, drives=True):
    lookup = _IdIn(F(column), ids)
    lookup.drives = drives
    return lookup


def _item_position(item_ids):
    whens = " ".join(f"WHEN {int(item_id)} THEN {i}" for i, item_id in enumerate(item_ids))
    return Func(F("item_id"), template=f"CASE %(expressions)s {whens} END", output_field=IntegerField())


def _subtree_ids(region):
    """Ids of the region and everything under it, by path prefix on an index: LIKE on PostgreSQL (the
    varchar_pattern_ops index Django adds), a range on SQLite (its LIKE is case-insensitive and skips
    the BINARY index). Paths are ASCII digits and slashes."""
    regions = Region.objects.order_by()
    if connection.vendor == "sqlite":
        regions = regions.filter(path__gte=region.path, path__lt=region.path[:-1] + chr(ord(region.path[-1]) + 1))
    else:
        regions = regions.filter(path__startswith=region.path)
    return list(regions.values_list("id", flat=True))


def _filtered_queryset(user, region, department, scope, mode, narrow):
    # Every caller goes through the authorisation filter; anonymous callers get its public rows.
    qs = filter_queryset(Implementation.objects.filter(is_active=True), user or AnonymousUser(), "read")
    if region is not None and region.parent_id is not None:  # the national root covers everything
        # The subtree's region ids first, then a plain id filter: a join or a subquery on path makes
        # PostgreSQL walk the region primary key and test every path.
        qs = qs.filter(_id_in("region_id", _subtree_ids(region), drives=narrow))
    if department is not None:
        qs = qs.filter(department=department)
    if scope:
        qs = qs.filter(scopes__has=scope)
    if mode:
        qs = qs.filter(modes__has=mode)
    return qs


def _narrow(region, department):
    """A county (or smaller) region, a prefecture, or one department: at most a few thousand rows."""
    return department is not None or (region is not None and region.level not in (Region.NATIONAL, Region.PROVINCE))


def _ordered_rows_of_narrow_filter(qs, item_ids):
    """All (id) rows of a narrow filter in search order, sorted here: the filter bounds them, and a
    CASE over a thousand items per row would cost more than the sort."""
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    rows = list(qs.filter(_id_in("item_id", item_ids, drives=False)).order_by().values_list("id", "item_id", "region__code"))
    rows.sort(key=lambda r: (position[r[1]], r[2], r[0]))
    return [r[0] for r in rows]


def _loaded(ids_query):
    return Implementation.objects.select_related("item", "department", "region").filter(id__in=ids_query).order_by()


def _walk_ranked_items(qs, item_ids, wanted, first_chunk):
    """The first `wanted` rows in search order, loaded, fetched chunk by chunk of ranked items.
    Returns (rows, exhausted): exhausted means every matching row is in `rows`."""
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    rows, start, size = [], 0, first_chunk
    while len(rows) < wanted and start < len(item_ids):
        chunk = item_ids[start : start + size]
        ids = (
            qs.filter(_id_in("item_id", chunk))
            .annotate(search_position=_item_position(chunk))
            .order_by("search_position", "region__code", "id")
        )
        # One round trip per chunk: the ordered, limited ids as a subquery, the objects around it; the
        # order is restored here from what was loaded.
        found = list(_loaded(ids.values("id")[: wanted - len(rows)]))
        found.sort(key=lambda i: (position[i.item_id], i.region.code, i.id))
        rows += found
        start, size = start + len(chunk), size * CHUNK_GROWTH
    return rows, start >= len(item_ids) and len(rows) < wanted


def search_implementations(q="", *, user=None, region=None, department=None, scope=None, mode=None, limit=20, offset=0):
    """Published implementations whose item name contains `q` (any length, Traditional accepted) or whose
    pinyin initials / full pinyin start with or contain `q`; ranked exact > prefix > substring, then item
    name, region code, id. Anonymous callers see public rows; `user` goes through the authorisation filter.
    Paging stops at COUNT_CAP rows, like the count."""
    q = normalize_query(q)
    item_ids = ranked_item_ids(q)
    if not item_ids:
        return SearchResult([], 0, False)
    narrow = _narrow(region, department)
    qs = _filtered_queryset(user, region, department, scope, mode, narrow)
    wanted = min(offset + limit, COUNT_CAP) if offset < COUNT_CAP and limit > 0 else 0  # pages stop where the count does

    if narrow:
        ids = _ordered_rows_of_narrow_filter(qs, item_ids)
        total, page_ids = min(len(ids), COUNT_CAP), ids[offset:wanted]
        loaded = _loaded(page_ids).in_bulk()
        page = [loaded[i] for i in page_ids if i in loaded]
    else:
        filtered = scope or mode or (region is not None and region.parent_id is not None)
        rows, exhausted = _walk_ranked_items(qs, item_ids, wanted, FIRST_CHUNK_FILTERED if filtered else FIRST_CHUNK)
        if exhausted:
            total = len(rows)
        else:  # order_by(): no Meta ordering (joins and a sort) inside the capped count
            total = qs.filter(_id_in("item_id", item_ids)).order_by().values("id")[:COUNT_CAP].count()
        page = rows[offset:wanted]
    return SearchResult(page, total, total >= COUNT_CAP)
