"""Reads whose SQL Django builds once per database connection.

Django builds a queryset's SQL again every time it runs. For the reads
that opening a conversation makes (the access rule, the staff view, the
queue place, the routing of a postal code), building took longer than the
database took to answer: a profile of a set-up of 1,000 found a sixth of
the servers' CPU in Django's compiler (docs/decisions.md, "Reads built
once per connection").

A ``Prepared`` read keeps the query written with the ORM. The first time
a connection runs it, the query is built with a stand-in value for each
named value and compiled; the stand-ins' places among the statement's
parameters are remembered. Each later run only puts the real values in
those places, runs the statement and turns the rows into what the
queryset would have returned (model instances, with their
``select_related`` rows and annotations; or tuples for ``values_list``).

A named value must stay a parameter of the same SQL whatever it is (an
id, a number, a time; it may be used more than once), not a list
(``__in=[...]`` changes the SQL's shape): the query is built twice with
different stand-ins, and anything else than the same SQL with only those
parameters changed is refused when the read is first run.
"""

import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)


def stand_in(field: Field) -> Any:
    """A value for ``field`` that no real parameter of a query equals."""
    kind = field.get_internal_type()
    if kind == "UUIDField":
        return uuid.uuid4()
    if kind in ("AutoField", "BigAutoField", "IntegerField", "BigIntegerField"):
        return random.getrandbits(52) + 2**52
    if kind in ("ForeignKey", "OneToOneField"):
        return stand_in(field.target_field)
    if kind in ("CharField", "SlugField"):
        return f"stand-in {uuid.uuid4()}"
    if kind == "DateTimeField":
        return datetime(1901, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=random.getrandbits(48)
        )
    raise ImproperlyConfigured(f"No stand-in value for a {kind}.")


def row_lock(model: type[Model], column: str) -> "Prepared":
    """Lock ``model``'s row of the primary key ``key``; read its ``column``.

    ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the transaction
    holds the database's write lock instead.
    """
    return Prepared(
        lambda key: (
            model.objects.select_for_update()
            .filter(pk=key)
            .values_list(column, flat=True)[:1]
        ),
        key=model._meta.pk,
    )


class Plan:
    """One connection's compiled statement and how to read its rows."""

    def __init__(self, read: "Prepared", wrapper: Any) -> None:
        self.connection = wrapper
        self.fields = read.values
        queryset, self.compiler, self.sql, params, marks = read.compile_once()
        if queryset.db != wrapper.alias:
            raise ImproperlyConfigured(f"{read.name}: not a read of {wrapper.alias}.")
        self.places = [
            (index, name)
            for name, mark in marks.items()
            for index, param in enumerate(params)
            if param == mark
        ]
        if {name for _, name in self.places} != set(read.values):
            raise ImproperlyConfigured(f"{read.name}: a value is not one parameter.")
        # Built again with other stand-ins: the same SQL, and only the
        # parameters found above changed.
        _, _, sql, other, _ = read.compile_once()
        changed = {
            i
            for i, pair in enumerate(zip(params, other, strict=True))
            if pair[0] != pair[1]
        }
        if sql != self.sql or changed != {index for index, _ in self.places}:
            raise ImproperlyConfigured(f"{read.name}: not a read of a fixed shape.")
        self.params = list(params)
        self.iterable = queryset._iterable_class
        if self.iterable is ModelIterable:
            self.model_rows(queryset)
        elif self.iterable not in (ValuesListIterable, FlatValuesListIterable):
            raise ImproperlyConfigured(f"{read.name}: models or values_list only.")

    def model_rows(self, queryset: QuerySet) -> None:
        """What ``ModelIterable`` works out from the compiler, kept."""
        compiler = self.compiler
        klass_info = compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        columns = compiler.select[self.start : self.end]
        self.init_list = [column[0].target.attname for column in columns]
        self.populators = get_related_populators(
            klass_info, compiler.select, queryset.db
        )
        self.annotations = list(compiler.annotation_col_map.items())

    def run(self, values: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for index, name in self.places:
            params[index] = self.fields[name].get_db_prep_value(
                values[name], self.connection, prepared=False
            )
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        rows = self.compiler.results_iter([rows], tuple_expected=True)
        if self.iterable is FlatValuesListIterable:
            return [row[0] for row in rows]
        if self.iterable is ValuesListIterable:
            return list(rows)
        objects = []
        db = self.connection.alias
        for row in rows:
            obj = self.model.from_db(db, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class Prepared:
    """A read written with the ORM whose SQL each connection builds once.

    ``build(**values)`` returns the queryset; ``values`` names each value
    it takes and the model field that turns it into a parameter.
    """

    def __init__(self, build: Callable[..., QuerySet], **values: Field) -> None:
        self.build = build
        self.values = values
        self.name = getattr(build, "__qualname__", repr(build))
        self.local = threading.local()

    def compile_once(self) -> tuple[QuerySet, Any, str, tuple, dict[str, Any]]:
        """Build and compile with stand-ins; return them as parameters too."""
        values = {name: stand_in(field) for name, field in self.values.items()}
        queryset = self.build(**values)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        wrapper = connections[queryset.db]
        marks = {
            name: self.values[name].get_db_prep_value(value, wrapper, prepared=False)
            for name, value in values.items()
        }
        return queryset, compiler, sql, tuple(params), marks

    def plan(self) -> Plan:
        # Each thread has its own connection: each builds its own plan.
        wrapper = connections[DEFAULT_DB_ALIAS]
        plan = getattr(self.local, "plan", None)
        if plan is None or plan.connection is not wrapper:
            plan = self.local.plan = Plan(self, wrapper)
        return plan

    def all(self, **values: Any) -> list[Any]:
        return self.plan().run(values)

    def first(self, **values: Any) -> Any:
        rows = self.plan().run(values)
        return rows[0] if rows else None
