"""The audit trail on PostgreSQL: append rate of ``audit.service.record`` and ``verify_chain`` speed.

- append: ``record()`` N events into one tenant chain, 100 per transaction and one per
  transaction. Baseline: a bare INSERT of equivalent rows (hashes computed beforehand) with
  asyncpg, executemany of 100 per transaction and one INSERT per transaction.
- verify: a chain of 1,000,000 events is generated in Python with ``event_hash`` and loaded with
  COPY, its ``audit_chain_heads`` row written, then ``verify_chain`` is timed (goal < 10 s).
  Baselines: streaming the same rows with a bare asyncpg cursor, and the same plus recomputing
  every hash (the least any verifier must do).

Counts: append N = 5,000 batched and 2,000 single, and 1,000,000 chain events, all times
ATRIUM_BENCH_SCALE; ATRIUM_BENCH_AUDIT_EVENTS sets the chain length directly.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg

from atrium.cli.migrate import migrate_all
from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.audit.service import GENESIS_HASH, event_hash
from atrium.core.db import canonical_json
from atrium.runtime import Runtime
from bench.common import (
    Report,
    Stopwatch,
    bench_database,
    fmt_rate,
    make_settings,
    met,
    progress,
    ratio,
    run_benchmark,
    scaled,
    temp_dir,
)

NAME = "audit"
BATCH = 100
VERIFY_GOAL_S = 10.0
COPY_CHUNK = 50_000
COLUMNS = (
    "chain",
    "seq",
    "occurred_at",
    "tenant_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "data",
    "request_id",
    "correlation_id",
    "prev_hash",
    "hash",
)
INSERT_SQL = f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join(f'${i}' for i in range(1, 14))})"


def _chain_records(chain: str, n: int, start: dt.datetime) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a valid chain, hashed exactly as ``record`` hashes them, in chunks."""
    prev = GENESIS_HASH
    chunk: list[tuple[Any, ...]] = []
    for seq in range(1, n + 1):
        occurred = start + dt.timedelta(microseconds=seq * 997)
        data = {"field": "status", "from": "draft", "to": "posted", "n": seq}
        fields = [
            chain,
            seq,
            occurred,
            chain,
            "bench@example.com",
            "bench.object.changed",
            "note",
            f"note-{seq % 1000}",
            data,
            uuid.UUID(int=seq).hex,
            uuid.UUID(int=seq // 10).hex,
        ]
        digest = event_hash(prev, fields)
        fields[8] = canonical_json(data)
        chunk.append((*fields, prev, digest))
        prev = digest
        if len(chunk) == COPY_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _append(rt: Runtime, n: int, per_tx: int) -> float:
    tenant_id = str(uuid.uuid4())
    started = time.perf_counter()
    for first in range(0, n, per_tx):
        async with rt.db.platform_session() as session, session.begin():
            for i in range(first, min(first + per_tx, n)):
                await audit.record(
                    session,
                    action="bench.object.changed",
                    tenant_id=tenant_id,
                    object_type="note",
                    object_id=f"note-{i % 1000}",
                    data={"field": "status", "from": "draft", "to": "posted", "n": i},
                )
    return time.perf_counter() - started


async def _bare_append(conn: asyncpg.Connection, n: int, per_tx: int) -> float:
    chain = str(uuid.uuid4())
    rows = [r for chunk in _chain_records(chain, n, dt.datetime.now(dt.UTC)) for r in chunk]
    started = time.perf_counter()
    for first in range(0, n, per_tx):
        async with conn.transaction():
            if per_tx == 1:
                await conn.execute(INSERT_SQL, *rows[first])
            else:
                await conn.executemany(INSERT_SQL, rows[first : first + per_tx])
    return time.perf_counter() - started


async def _load_chain(conn: asyncpg.Connection, chain: str, n: int) -> tuple[float, float]:
    """Generate and COPY the chain; returns (seconds hashing, seconds copying)."""
    hashing = copying = 0.0
    last_seq, last_hash = 0, GENESIS_HASH
    records = _chain_records(chain, n, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    while True:
        started = time.perf_counter()
        chunk = next(records, None)
        hashing += time.perf_counter() - started
        if chunk is None:
            break
        started = time.perf_counter()
        await conn.copy_records_to_table("audit_events", records=chunk, columns=list(COLUMNS))
        copying += time.perf_counter() - started
        last_seq, last_hash = chunk[-1][1], chunk[-1][-1]
        if last_seq % 200_000 == 0:
            progress(f"{last_seq:,} of {n:,} chain events loaded")
    await conn.execute(
        "INSERT INTO audit_chain_heads (chain, seq, hash) VALUES ($1, $2, $3)", chain, last_seq, last_hash
    )
    await conn.execute("ANALYZE audit_events")
    return hashing, copying


async def _bare_read(conn: asyncpg.Connection, chain: str, rehash: bool) -> tuple[float, int]:
    cols = "id, prev_hash, hash, " + ", ".join(COLUMNS[:11])
    prev, count = GENESIS_HASH, 0
    started = time.perf_counter()
    async with conn.transaction():
        cursor = conn.cursor(f"SELECT {cols} FROM audit_events WHERE chain = $1 ORDER BY seq", chain, prefetch=20_000)
        async for row in cursor:
            if rehash:
                fields = list(row[3:])
                if fields[1] != count + 1 or row[1] != prev or event_hash(prev, fields) != row[2]:
                    raise AssertionError(f"bare verification broke at seq {fields[1]}")
                prev = row[2]
            count += 1
    return time.perf_counter() - started, count


async def bench() -> Report:
    n_batched = scaled(5_000, env="ATRIUM_BENCH_AUDIT_APPENDS", minimum=BATCH)
    n_single = max(100, n_batched * 2 // 5)
    n_chain = scaled(1_000_000, env="ATRIUM_BENCH_AUDIT_EVENTS", minimum=1_000)
    report = Report(NAME, f"Audit trail on PostgreSQL (append {n_batched:,}/{n_single:,}, verify {n_chain:,} events)")
    results: dict[str, Any] = {
        "parameters": {"append_batched": n_batched, "append_single": n_single, "batch": BATCH, "chain": n_chain}
    }
    context.actor.set("bench@example.com")
    async with bench_database("audit") as url:
        with temp_dir(NAME) as tmp:
            rt = Runtime(make_settings(url, tmp / "var"))
            conn = await asyncpg.connect(url)
            try:
                await migrate_all(rt, show_progress=False)
                await _append(rt, 300, BATCH)  # warm-up
                await _bare_append(conn, 300, BATCH)
                progress(f"append: record() × {n_batched:,}, {BATCH} per transaction, and bare executemany")
                rec_batched = await _append(rt, n_batched, BATCH)
                bare_batched = await _bare_append(conn, n_batched, BATCH)
                progress(f"append: record() × {n_single:,}, one per transaction, and bare INSERT")
                rec_single = await _append(rt, n_single, 1)
                bare_single = await _bare_append(conn, n_single, 1)
                results["append"] = {
                    "record_batched_per_second": round(n_batched / rec_batched),
                    "bare_executemany_per_second": round(n_batched / bare_batched),
                    "batched_ratio": ratio(bare_batched, rec_batched),
                    "record_single_per_second": round(n_single / rec_single),
                    "bare_single_insert_per_second": round(n_single / bare_single),
                    "single_ratio": ratio(bare_single, rec_single),
                }

                chain = str(uuid.uuid4())
                progress(f"generating and COPYing a chain of {n_chain:,} events")
                hashing, copying = await _load_chain(conn, chain, n_chain)
                results["chain_load"] = {"hashing_seconds": round(hashing, 2), "copy_seconds": round(copying, 2)}

                progress("bare cursor read of the chain")
                read_s, read_n = await _bare_read(conn, chain, rehash=False)
                progress("bare cursor read + recompute every hash")
                rehash_s, rehash_n = await _bare_read(conn, chain, rehash=True)
                assert read_n == rehash_n == n_chain
                progress("verify_chain")
                async with rt.db.platform_session() as session:
                    with Stopwatch() as sw:
                        chain_report = await audit.verify_chain(session, chain, rt.signer)
                if not chain_report.ok or chain_report.checked != n_chain:
                    raise RuntimeError(f"verify_chain did not accept the generated chain: {chain_report}")
                results["verify"] = {
                    "events": n_chain,
                    "seconds": round(sw.seconds, 3),
                    "events_per_second": round(n_chain / sw.seconds),
                    "goal_seconds": VERIFY_GOAL_S,
                    "goal_met": sw.seconds < VERIFY_GOAL_S,
                    "projected_seconds_per_million": round(sw.seconds / n_chain * 1_000_000, 2),
                    "bare_read_seconds": round(read_s, 3),
                    "bare_read_and_rehash_seconds": round(rehash_s, 3),
                    "ratio_to_bare_read": ratio(sw.seconds, read_s),
                    "ratio_to_bare_read_and_rehash": ratio(sw.seconds, rehash_s),
                }
            finally:
                await conn.close()
                await rt.close()

    a, v = results["append"], results["verify"]
    report.row(
        f"record(), {BATCH} per transaction",
        fmt_rate(a["record_batched_per_second"]),
        fmt_rate(a["bare_executemany_per_second"]),
        f"{a['batched_ratio']}×",
    )
    report.row(
        "record(), one per transaction",
        fmt_rate(a["record_single_per_second"]),
        fmt_rate(a["bare_single_insert_per_second"]),
        f"{a['single_ratio']}×",
    )
    report.row(
        f"verify_chain, {n_chain:,} events",
        f"{v['seconds']:,.2f} s",
        f"{v['bare_read_and_rehash_seconds']:,.2f} s",
        f"{v['ratio_to_bare_read_and_rehash']}×",
        f"< {VERIFY_GOAL_S:.0f} s" + ("" if n_chain == 1_000_000 else " (at 1M)"),
        met(v["projected_seconds_per_million"], VERIFY_GOAL_S) + ("" if n_chain == 1_000_000 else " (projected)"),
    )
    report.row("  bare cursor read only", f"{v['bare_read_seconds']:,.2f} s", "", f"{v['ratio_to_bare_read']}×")
    report.row("  verify rate", fmt_rate(v["events_per_second"]))
    load = results["chain_load"]
    report.note(
        f"chain generated with event_hash in {load['hashing_seconds']:,.1f} s and loaded with COPY in "
        f"{load['copy_seconds']:,.1f} s"
    )
    report.note(
        "append ratio = record() rate / bare INSERT rate (1.0 = as fast); verify ratio = verify_chain time / "
        "asyncpg cursor read + recomputing every hash (1.0 = as fast)"
    )
    report.data = results
    return report


def run() -> dict[str, Any]:
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
