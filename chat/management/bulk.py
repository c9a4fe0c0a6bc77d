"""Insert many new rows of reference data with one prepared statement.

``bulk_create`` compiles its SQL anew for every batch, and SQLite's limit
on parameters keeps its batches to about seventy rows: most of an import's
time went to building SQL. Here the INSERT is written once and the rows go
through the driver's ``executemany``; field values are prepared by the
fields themselves, as ``bulk_create`` does.
"""

from collections.abc import Sequence

from django.db import connection, models


def insert_rows(
    model: type[models.Model],
    objects: Sequence[models.Model],
    *,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
) -> int:
    """Insert ``objects`` (database-generated ids); return the count.

    With ``unique_fields``, a row that exists already has its
    ``update_fields`` updated instead, and keeps its id (an upsert, as
    ``bulk_create(update_conflicts=True)``; SQLite and PostgreSQL share the
    syntax).
    """
    if not objects:
        return 0
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and field.db_returning)
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - a model's table and columns.
        f"VALUES ({placeholders})"
    )
    if unique_fields:
        column = {field.name: field.column for field in fields}
        conflict = ", ".join(quote(column[name]) for name in unique_fields)
        updates = ", ".join(
            f"{quote(column[name])} = excluded.{quote(column[name])}"
            for name in update_fields
        )
        sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    rows = [
        [
            field.get_db_prep_save(field.pre_save(obj, add=True), connection)
            for field in fields
        ]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)
