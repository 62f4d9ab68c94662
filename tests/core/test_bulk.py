"""Bulk writes (``core.bulk``) and ids (``core.db.new_id``) on both backends."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Numeric, Table, Text, select
from sqlalchemy.exc import DBAPIError

from atrium.core import bulk
from atrium.core.audit.models import AuditChainHead, AuditCheckpoint
from atrium.core.db import new_id
from atrium.runtime import Runtime


def test_new_id_is_a_random_version_4_uuid() -> None:
    ids = [new_id() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    # every hex digit that is random takes many values: nothing is fixed by mistake
    for position in (0, 9, 15, 20, 35):
        assert len({text[position] for text in ids}) > 8


def _add_seq(ins: Any) -> Any:
    return ins.on_conflict_do_update(index_elements=["chain"], set_={"seq": AuditChainHead.seq + ins.excluded.seq})


async def test_insert_rows_inserts_and_upserts_with_constants(runtime: Runtime) -> None:
    rows = [{"chain": f"bulk-{n}", "seq": n} for n in range(1, 4)]
    async with runtime.db.platform_session() as session, session.begin():
        await bulk.insert_rows(session, AuditChainHead, rows, constants={"hash": "h" * 64})
        await bulk.insert_rows(session, AuditChainHead, [], constants={"hash": "never"})  # nothing to do
    async with runtime.db.platform_session() as session, session.begin():
        again = [{"chain": "bulk-2", "seq": 10}, {"chain": "bulk-9", "seq": 9}]
        await bulk.insert_rows(session, AuditChainHead, again, constants={"hash": "x" * 64}, upsert=_add_seq)
    async with runtime.db.platform_session() as session:
        found = (await session.execute(select(AuditChainHead).where(AuditChainHead.chain.like("bulk-%")))).scalars()
        heads = {h.chain: (h.seq, h.hash[0]) for h in found}
    # the upsert added to the row that was there and left its other columns alone
    assert heads == {"bulk-1": (1, "h"), "bulk-2": (12, "h"), "bulk-3": (3, "h"), "bulk-9": (9, "x")}


async def test_insert_rows_refuses_text_longer_than_its_column(runtime: Runtime, backend: str) -> None:
    too_long = [{"chain": "x" * 37, "seq": 1}]  # the column holds 36
    async with runtime.db.platform_session() as session, session.begin():
        if backend == "postgresql":  # SQLite does not enforce lengths
            with pytest.raises(DBAPIError, match="too long"):
                await bulk.insert_rows(session, AuditChainHead, too_long, constants={"hash": "h"})


async def test_add_rows_inserts_objects_the_session_then_owns(runtime: Runtime) -> None:
    async with runtime.db.platform_session() as session, session.begin():
        heads = await bulk.add_rows(
            session, AuditChainHead, [{"chain": f"owned-{n}", "hash": "h" * 64} for n in (1, 2)]
        )
        assert all(h in session for h in heads) and heads[0].seq == 0  # the column's Python default
        heads[1].seq = 7  # a change after add_rows is an UPDATE at the next flush
        assert await bulk.add_rows(session, AuditChainHead, []) == []
    async with runtime.db.platform_session() as session:
        found = (await session.scalars(select(AuditChainHead).where(AuditChainHead.chain.like("owned-%")))).all()
    assert sorted((h.chain, h.seq) for h in found) == [("owned-1", 0), ("owned-2", 7)]


async def test_add_rows_refuses_rows_without_their_key(runtime: Runtime) -> None:
    checkpoint = {"chain": "c", "seq": 1, "hash": "h" * 64, "key_id": "k", "signature": "s"}
    async with runtime.db.platform_session() as session, session.begin():
        with pytest.raises(ValueError, match="primary key"):
            await bulk.add_rows(session, AuditCheckpoint, [checkpoint])


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_insert_rows_keeps_numbers_exact(runtime: Runtime) -> None:
    """Numbers travel as text on PostgreSQL: every digit arrives, and the column's scale rounds as
    it would for any insert. (SQLite keeps NUMERIC as floating point whatever the driver sends.)"""
    numbers = Table(
        "bulk_numbers",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("amount", Numeric(20, 4)),
        Column("rate", Numeric(24, 10)),
    )
    given = [
        (Decimal("9999999999999999.9999"), Decimal("0.0000000001")),
        (Decimal("-0.0001"), Decimal("1E+3")),
        (Decimal("12.34565"), None),  # rounded half away from zero by the column
        (Decimal(0), Decimal("1.2345678901")),
    ]
    async with runtime.db.platform_session() as session, session.begin():
        await session.run_sync(lambda s: numbers.create(s.connection()))
        try:
            await bulk.insert_rows(
                session, numbers, [{"id": n, "amount": a, "rate": r} for n, (a, r) in enumerate(given)]
            )
            stored = (await session.execute(select(numbers.c.amount, numbers.c.rate).order_by(numbers.c.id))).all()
        finally:
            await session.run_sync(lambda s: numbers.drop(s.connection()))
    assert [(Decimal(a), None if r is None else Decimal(r)) for a, r in stored] == [
        (Decimal("9999999999999999.9999"), Decimal("0.0000000001")),
        (Decimal("-0.0001"), Decimal("1000")),
        (Decimal("12.3457"), None),
        (Decimal(0), Decimal("1.2345678901")),
    ]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_insert_rows_sends_a_column_with_one_value_once(runtime: Runtime) -> None:
    """A column that holds the same value in every row is bound as one scalar; what lands in the
    table is the same as if every row had carried it, and rows that are wholly alike still insert."""
    marks = Table("bulk_marks", MetaData(), Column("n", Integer), Column("amount", Numeric(20, 4)), Column("tag", Text))
    async with runtime.db.platform_session() as session, session.begin():
        await session.run_sync(lambda s: marks.create(s.connection()))
        try:
            many = bulk.UNIFORM_FROM
            await bulk.insert_rows(
                session, marks, [{"n": n, "amount": Decimal("1.5"), "tag": None} for n in range(many)]
            )
            await bulk.insert_rows(session, marks, [{"n": 99, "amount": Decimal("2.25"), "tag": "same"}] * many)
            stored = (await session.execute(select(marks).order_by(marks.c.n))).all()
        finally:
            await session.run_sync(lambda s: marks.drop(s.connection()))
    assert [(n, Decimal(a), t) for n, a, t in stored] == [
        (n, Decimal("1.5"), None) for n in range(bulk.UNIFORM_FROM)
    ] + [(99, Decimal("2.25"), "same")] * bulk.UNIFORM_FROM
