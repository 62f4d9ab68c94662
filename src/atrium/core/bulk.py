"""Writing many rows in one statement, inside the caller's unit of work.

On PostgreSQL the rows travel as one array per column, ``INSERT … SELECT … FROM unnest(:a, :b, …)``:
one statement whatever the number of rows, compiled and prepared once, and much cheaper to bind
than a VALUES list with a parameter per cell. Unlike COPY it works under row-level security, so
pooled tenants' tables take it too. Columns that hold one value for every row (``tenant_id``) are
bound once as scalars, which also lets the tenant session's write guard read them. Elsewhere
(SQLite) it is SQLAlchemy's executemany insert.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Enum, String, Table, bindparam, func, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.dml import Insert

Rows = Sequence[Mapping[str, Any]]
Upsert = Callable[[Any], Insert]  # given the dialect's insert, add ON CONFLICT …


@functools.cache
def _unnest_insert(table: Table, columns: tuple[str, ...], constants: tuple[str, ...]) -> postgresql.Insert:
    arrays = func.unnest(*[bindparam(name, type_=postgresql.ARRAY(_element(table.c[name].type))) for name in columns])
    source = arrays.table_valued(*columns).render_derived()
    scalars = [bindparam(name, type_=table.c[name].type) for name in constants]
    return postgresql.insert(table).from_select(
        [*columns, *constants],
        select(*[source.c[name] for name in columns], *scalars),
        include_defaults=False,  # a Python default would run once for the statement, not per row
    )


def _element(column_type: Any) -> Any:
    """The array's element type. Text goes unbounded: an explicit ``::VARCHAR(n)[]`` cast would cut
    an over-long value silently, where the insert into the column refuses it."""
    if isinstance(column_type, String) and not isinstance(column_type, Enum):
        return String()
    return column_type


async def insert_rows(
    session: AsyncSession,
    target: Table | type[Any],
    rows: Rows,
    *,
    constants: Mapping[str, Any] | None = None,
    upsert: Upsert | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys) into a table or mapped class, each row with
    ``constants`` added. Columns left out get no Python-side default (``add_all`` applies those).

    ``upsert``, when given, turns the dialect's INSERT into an upsert; it is built once per
    table and column set (the ON CONFLICT clause must not depend on the rows).
    """
    if not rows:
        return
    table: Table = target if isinstance(target, Table) else target.__table__
    constants = dict(constants or {})
    columns = tuple(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        stmt = _statement(table, columns, tuple(constants), upsert)
        params = {name: [row[name] for row in rows] for name in columns} | constants
        await session.execute(stmt, params)
        return
    stmt = upsert(sqlite.insert(table)) if upsert is not None else insert(table)
    await session.execute(stmt, [{**row, **constants} for row in rows])


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], constants: tuple[str, ...], upsert: Upsert | None) -> Insert:
    stmt = _unnest_insert(table, columns, constants)
    return upsert(stmt) if upsert is not None else stmt


async def add_all(session: AsyncSession, objects: Sequence[Any], *, constants: Mapping[str, Any] | None = None) -> None:
    """Insert new ORM objects of one class with ``insert_rows`` and make them the session's own,
    as if flushed: later changes to them are UPDATEs, and reading them needs no query.

    The unit of work's flush spends more time per object than the database does per row; a batch
    of postings writes hundreds of entries. Each column the object does not hold takes its
    Python-side default; ``constants`` (``tenant_id``) override them. Keys made by the database
    (autoincrement) would stay unknown, so objects need their primary key set.
    """
    if not objects:
        return
    mapper = inspect(type(objects[0]))
    columns = [(attr.key, attr.columns[0]) for attr in mapper.column_attrs]
    keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    constants = dict(constants or {})
    rows = []
    for obj in objects:
        # Straight into the instance's dict: the object is transient, and make_transient_to_detached
        # below takes whatever it holds as its loaded state, so there is no history to keep.
        state = obj.__dict__
        for key, column in columns:
            if key not in state:
                default = column.default
                state[key] = None if default is None else (default.arg(None) if default.is_callable else default.arg)
        state.update(constants)
        if any(state[key] is None for key in keys):
            raise ValueError(f"{mapper.class_.__name__}: add_all needs the primary key set (no database-made keys)")
        rows.append({key: state[key] for key, _ in columns if key not in constants})
    await insert_rows(session, mapper.local_table, rows, constants=constants)
    for obj in objects:
        make_transient_to_detached(obj)
        session.add(obj)
