"""Indexes for the applicant search (tongban/catalog/search.py), in raw SQL per database vendor.

PostgreSQL: pg_trgm GIN indexes on the item name and its pinyin keys serve substring queries of three
or more characters; partial covering indexes on active implementations serve "implementations of these
items" (by item, then by region) without touching the heap. Directory region paths already have a
varchar_pattern_ops index (Django's db_index on a CharField), so subtree filters by prefix are indexed.

SQLite: an FTS5 trigram table over the item name and pinyin keys, kept in sync by triggers. FTS5 trigram
returns nothing for queries shorter than three characters, so the search uses LIKE for those.

No model Meta changes: makemigrations stays clean.
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS catalog_item_name_trgm ON catalog_item USING gin (name gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_item_initials_trgm ON catalog_item USING gin (name_initials gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_item_pinyin_trgm ON catalog_item USING gin (name_pinyin gin_trgm_ops)",
    # Walking ranked items: "active implementations of item X (in these regions)", index-only.
    "CREATE INDEX IF NOT EXISTS catalog_impl_search_item ON catalog_implementation (item_id, region_id) "
    "INCLUDE (id, department_id, modes, scopes) WHERE is_active",
    # Narrow region filters (a county, a city): drive from the region side.
    "CREATE INDEX IF NOT EXISTS catalog_impl_search_region ON catalog_implementation (region_id, item_id) "
    "INCLUDE (id, department_id, modes, scopes) WHERE is_active",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_impl_search_region",
    "DROP INDEX IF EXISTS catalog_impl_search_item",
    "DROP INDEX IF EXISTS catalog_item_pinyin_trgm",
    "DROP INDEX IF EXISTS catalog_item_initials_trgm",
    "DROP INDEX IF EXISTS catalog_item_name_trgm",
]

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS catalog_item_fts USING fts5(name, name_initials, name_pinyin, tokenize='trigram')",
    "INSERT INTO catalog_item_fts (rowid, name, name_initials, name_pinyin) SELECT id, name, name_initials, name_pinyin FROM catalog_item",
    """CREATE TRIGGER IF NOT EXISTS catalog_item_fts_insert AFTER INSERT ON catalog_item BEGIN
        INSERT INTO catalog_item_fts (rowid, name, name_initials, name_pinyin) VALUES (new.id, new.name, new.name_initials, new.name_pinyin);
    END""",
    """CREATE TRIGGER IF NOT EXISTS catalog_item_fts_update AFTER UPDATE OF id, name, name_initials, name_pinyin ON catalog_item BEGIN
        DELETE FROM catalog_item_fts WHERE rowid = old.id;
        INSERT INTO catalog_item_fts (rowid, name, name_initials, name_pinyin) VALUES (new.id, new.name, new.name_initials, new.name_pinyin);
    END""",
    """CREATE TRIGGER IF NOT EXISTS catalog_item_fts_delete AFTER DELETE ON catalog_item BEGIN
        DELETE FROM catalog_item_fts WHERE rowid = old.id;
    END""",
    # SQLite has no partial-index implication for `is_active = 1` vs `is_active`, so plain covering indexes.
    "CREATE INDEX IF NOT EXISTS catalog_impl_search_item ON catalog_implementation (item_id, is_active, region_id, department_id, modes, scopes)",
    "CREATE INDEX IF NOT EXISTS catalog_impl_search_region ON catalog_implementation (region_id, is_active, item_id, department_id, modes, scopes)",
]
SQLITE_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_impl_search_region",
    "DROP INDEX IF EXISTS catalog_impl_search_item",
    "DROP TRIGGER IF EXISTS catalog_item_fts_delete",
    "DROP TRIGGER IF EXISTS catalog_item_fts_update",
    "DROP TRIGGER IF EXISTS catalog_item_fts_insert",
    "DROP TABLE IF EXISTS catalog_item_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_import_batch")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
