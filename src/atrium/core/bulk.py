"""Writing many rows in one statement, inside the caller's unit of work.

On PostgreSQL the rows travel as one array per column, ``INSERT … SELECT … FROM unnest(:a, :b, …)``:
one statement whatever the number of rows, compiled and prepared once, and much cheaper to bind
than a VALUES list with a parameter per cell. Unlike COPY it works under row-level security, so
pooled tenants' tables take it too. Columns that hold one value for every row are bound once as
scalars: those the caller names (``tenant_id``, which lets the tenant session's write guard read
it) and those that turn out so (a batch's one date or currency, a column left empty), which the
driver then encodes and the server unnests once instead of per row. Elsewhere (SQLite) it is
SQLAlchemy's executemany insert.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Enum, Numeric, String, Table, Text, bindparam, cast, func, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.dml import Insert

Rows = Sequence[Mapping[str, Any]]
T = TypeVar("T")
Upsert = Callable[[Any], Insert]  # given the dialect's insert, add ON CONFLICT …


@functools.lru_cache(maxsize=1024)  # one per table and split of its columns between arrays and scalars
def _unnest_insert(table: Table, columns: tuple[str, ...], constants: tuple[str, ...]) -> postgresql.Insert:
    arrays = func.unnest(*[bindparam(name, type_=postgresql.ARRAY(_element(table.c[name].type))) for name in columns])
    source = arrays.table_valued(*columns).render_derived()
    picked = [
        cast(source.c[name], table.c[name].type) if _as_text(table.c[name].type) else source.c[name] for name in columns
    ]
    scalars = [bindparam(name, type_=table.c[name].type) for name in constants]
    return postgresql.insert(table).from_select(
        [*columns, *constants],
        select(*picked, *scalars),
        include_defaults=False,  # a Python default would run once for the statement, not per row
    )


def _as_text(column_type: Any) -> bool:
    """Numbers travel as text: the driver's binary NUMERIC encoding costs several times what
    ``str(Decimal)`` and a text array do, and the server's cast is exact."""
    return isinstance(column_type, Numeric) and column_type.asdecimal


def _element(column_type: Any) -> Any:
    """The array's element type. Text goes unbounded: an explicit ``::VARCHAR(n)[]`` cast would cut
    an over-long value silently, where the insert into the column refuses it."""
    if (isinstance(column_type, String) and not isinstance(column_type, Enum)) or _as_text(column_type):
        return Text()
    return column_type


# From this many rows a column with one value travels once. Fewer rows gain little, and every split
# of a table's columns between arrays and scalars is a statement of its own to prepare and cache.
UNIFORM_FROM = 16
_PLAIN = frozenset({str, int, bool, dt.date, dt.datetime, type(None)})  # equal means the same stored value


def _array(values: list[Any], column_type: Any) -> list[Any]:
    if _as_text(column_type):
        return [None if v is None else str(v) for v in values]
    return values


async def insert_rows(
    session: AsyncSession,
    target: Table | type[Any],
    rows: Rows,
    *,
    constants: Mapping[str, Any] | None = None,
    upsert: Upsert | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys) into a table or mapped class, each row with
    ``constants`` added. Columns left out get no Python-side default (``add_rows`` applies those).

    ``upsert``, when given, turns the dialect's INSERT into an upsert; it is built once per
    table and column set (the ON CONFLICT clause must not depend on the rows).
    """
    if rows:
        await session.execute(*_insert(session.get_bind().dialect.name, target, rows, constants, upsert))


def insert_rows_now(
    session: Session, target: Table | type[Any], rows: Rows, *, constants: Mapping[str, Any] | None = None
) -> None:
    """``insert_rows`` for the synchronous session an ORM event hook is given."""
    if rows:
        session.execute(*_insert(session.get_bind().dialect.name, target, rows, constants, None))


def _insert(
    dialect: str, target: Table | type[Any], rows: Rows, constants: Mapping[str, Any] | None, upsert: Upsert | None
) -> tuple[Any, Any]:
    """The statement and its parameters."""
    table: Table = target if isinstance(target, Table) else target.__table__
    constants = dict(constants or {})
    if dialect == "postgresql":
        arrays: dict[str, list[Any]] = {}
        for name in rows[0]:
            values = _array([row[name] for row in rows], table.c[name].type)
            first = values[0]
            if len(values) >= UNIFORM_FROM and type(first) in _PLAIN and all(v == first for v in values):
                constants.setdefault(name, rows[0][name])  # one value for every row travels once
            else:
                arrays[name] = values
        if not arrays:  # unnest needs one array to give the rows
            name = next(iter(rows[0]))
            arrays[name] = _array([row[name] for row in rows], table.c[name].type)
            del constants[name]
        stmt = _statement(table, tuple(arrays), tuple(constants), upsert)
        return stmt, arrays | constants
    stmt = upsert(sqlite.insert(table)) if upsert is not None else insert(table)
    return stmt, [{**row, **constants} for row in rows]


@functools.lru_cache(maxsize=1024)
def _statement(table: Table, columns: tuple[str, ...], constants: tuple[str, ...], upsert: Upsert | None) -> Insert:
    stmt = _unnest_insert(table, columns, constants)
    return upsert(stmt) if upsert is not None else stmt


async def add_rows(
    session: AsyncSession, model: type[T], rows: Sequence[dict[str, Any]], *, constants: Mapping[str, Any] | None = None
) -> list[T]:
    """Insert rows of a mapped class with ``insert_rows`` and hand back the session's own objects for
    them, as if they had been added and flushed: later changes to them are UPDATEs, and reading
    them needs no query.

    A batch of postings writes hundreds of entries; built as ORM objects and flushed, each would
    cost more than the database spends on its row. Each column a row leaves out takes its
    Python-side default; ``constants`` (``tenant_id``) are added to every row. Keys made by the
    database (autoincrement) would stay unknown, so rows need their primary key.
    """
    if not rows:
        return []
    mapper = inspect(model)
    manager = mapper.class_manager
    keys, fixed, made = _defaults(mapper)
    constants = dict(constants or {})
    given = [*rows[0]]
    missing_fixed = {k: v for k, v in fixed.items() if k not in rows[0] and k not in constants}
    missing_made = [(k, make) for k, make in made if k not in rows[0] and k not in constants]
    full: list[dict[str, Any]] = []
    for row in rows:
        values = {k: row[k] for k in given if k not in constants} | missing_fixed
        for key, make in missing_made:
            values[key] = make(None)
        if any(values.get(key) is None and constants.get(key) is None for key in keys):
            raise ValueError(f"{mapper.class_.__name__}: add_rows needs the primary key set (no database-made keys)")
        full.append(values)
    await insert_rows(session, mapper.local_table, full, constants=constants)
    objects = []
    for values in full:
        obj = manager.new_instance()
        # Straight into the instance's dict: it is transient, and make_transient_to_detached takes
        # whatever it holds as its loaded state, so there is no history to keep.
        obj.__dict__.update(values, **constants)
        make_transient_to_detached(obj)
        session.add(obj)
        objects.append(obj)
    return objects


@functools.cache
def _defaults(mapper: Any) -> tuple[list[str], dict[str, Any], list[tuple[str, Callable[[Any], Any]]]]:
    """A mapped class's primary key attributes, its columns' fixed Python-side defaults (None where
    there is none) and the columns whose default is made per row."""
    keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    fixed: dict[str, Any] = {}
    made: list[tuple[str, Callable[[Any], Any]]] = []
    for attr in mapper.column_attrs:
        default = attr.columns[0].default
        if default is not None and default.is_callable:
            made.append((attr.key, default.arg))
        else:
            fixed[attr.key] = None if default is None else default.arg
    return keys, fixed, made
