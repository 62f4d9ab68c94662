"""The ledger on PostgreSQL: posting throughput, one big entry, and reports on a big ledger.

- **posting throughput:** balanced 5-line entries (four expense debits, one bank credit) posted
  through ``posting.post_many``, 100 per unit of work (``jobs.acting``: tenant session, commit),
  from one worker one unit at a time, from one worker process STREAMS units at a time (as one
  API worker serves concurrent requests), from STREAMS worker processes at once (one per core,
  as ``atrium serve --workers`` runs them; PostgreSQL shares the same cores), and one per unit of
  work; and through the API, ``POST /api/v1/tenants/{t}/finance/journal-entries`` with an
  ``httpx`` ASGI client, one request after the other. Every posting process first settles its
  heap as ``atrium serve`` and ``atrium worker`` do (``core.process.settle_heap``). Goal: ≥ 2,000
  entries/s through the service (batched). Baseline: bare multi-row INSERTs of the same entries,
  pre-built (numbers and hashes included), into ``finance_entries`` and ``finance_lines`` with
  asyncpg, the same number of entries per transaction (an entry row is needed for its lines'
  foreign key).
  Counts: ATRIUM_BENCH_FINANCE_POSTINGS (5,000 batched; 1,000 single and through the API).
- **one 1,000-line entry** (999 debits, one credit) posted through the service in its own unit of
  work: median of 5 after a warm-up. Goal: < 0.5 s. Baseline: the same entry as bare INSERTs.
- **reports on a big ledger:** ``reports.trial_balance`` for a fiscal year (whole months, and
  mid-month to mid-month, which also reads the lines of the two partial months) and
  ``reports.balance_sheet`` at its end, on a ledger of ATRIUM_BENCH_LEDGER_LINES lines (default
  10,000,000) over 24 months, one company of a pooled tenant. Goal: < 1 s each (median of 5 after
  a warm-up). Baseline: the naive design, a full-scan ``SUM`` over ``finance_lines`` grouped by
  account for the same range. The ledger is made once with ``generator.generate(fast=True)`` into
  its own database ``atrium_bench_ledger_<lines>``, VACUUM ANALYZEd, and kept for later runs (drop
  it by hand to start over).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import multiprocessing
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select

from atrium.api.app import create_app
from atrium.apps.finance import charts, generator, posting, service
from atrium.apps.finance import repository as repo
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Balance
from atrium.apps.finance.schemas import CompanyCreate
from atrium.cli.migrate import migrate_all
from atrium.core.db import execute_autocommit, new_id, utcnow
from atrium.core.process import settle_heap
from atrium.platform.identity import service as identity
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from bench.common import (
    POSTGRES_URL,
    Report,
    bench_database,
    console,
    fmt_rate,
    make_settings,
    progress,
    ratio,
    run_benchmark,
    scaled,
    server_url,
    temp_dir,
)

NAME = "finance"
TENANT = "bench"
LEDGER_TENANT = "ledger"
LEDGER_COMPANY = "Bench Ledger"
LEDGER_START = dt.date(2025, 1, 1)
LEDGER_MONTHS = 24
BATCH = 100
STREAMS = 2  # posting worker processes: one per core of the machine the figures come from
BIG_ENTRY_LINES = 1_000
REPEATS = 5
GOAL_POSTING_PER_S = 2_000
GOAL_BIG_ENTRY_S = 0.5
GOAL_REPORT_S = 1.0
DAY = dt.date(2026, 6, 15)

ENTRY_COLUMNS = (
    "id", "tenant_id", "company_id", "journal_id", "state", "date", "fiscal_year", "sequence", "number",
    "currency", "total", "line_count", "source", "chain_index", "previous_hash", "hash", "posted_at",
    "created_at", "updated_at",
)  # fmt: skip
LINE_COLUMNS = (
    "id", "tenant_id", "entry_id", "company_id", "journal_id", "account_id", "line_no", "date", "period",
    "debit", "credit", "currency", "amount_currency", "rate",
)  # fmt: skip


# -- posting ----------------------------------------------------------------------------------------


def _amounts(n: int, lines: int, seed: int = 5) -> list[list[Decimal]]:
    """Debit amounts of ``n`` entries of ``lines`` lines (the last line credits their sum)."""
    rng = random.Random(seed)
    return [[Decimal(rng.randint(100, 500_000)).scaleb(-2) for _ in range(lines - 1)] for _ in range(n)]


def _entry(company_id: str, debits: list[str], credit: str, amounts: list[Decimal]) -> posting.EntryIn:
    lines = [posting.LineIn(debits[i % len(debits)], debit=a) for i, a in enumerate(amounts)]
    lines.append(posting.LineIn(credit, credit=sum(amounts, Decimal(0))))
    return posting.EntryIn(company_id=company_id, journal="GEN", date=DAY, lines=lines, memo="bench")


async def _timed_units(rt: Runtime, entries: list[posting.EntryIn], per_unit: int) -> float:
    """Post ``entries``, ``per_unit`` per unit of work; seconds taken."""
    started = time.perf_counter()
    for start in range(0, len(entries), per_unit):
        async with acting(rt, TENANT) as access:
            await posting.post_many(access, entries[start : start + per_unit])
    return time.perf_counter() - started


async def _timed_concurrent(rt: Runtime, entries: list[posting.EntryIn], per_unit: int, streams: int) -> float:
    """Post ``entries`` from ``streams`` concurrent units of work in this one process (as one API
    worker serves concurrent requests: one computes while another waits on the database); each
    posts its share ``per_unit`` per unit of work, one after the other. Seconds taken."""
    units = [entries[i : i + per_unit] for i in range(0, len(entries), per_unit)]

    async def stream(mine: list[list[posting.EntryIn]]) -> None:
        for unit in mine:
            async with acting(rt, TENANT) as access:
                await posting.post_many(access, unit)

    started = time.perf_counter()
    await asyncio.gather(*(stream(units[i::streams]) for i in range(streams)))
    return time.perf_counter() - started


def _stream_worker(
    url: str, data_dir: str, company: _Company, seed: int, count: int, barrier: Any
) -> tuple[float, float]:
    """One posting worker process (as ``atrium serve --workers`` or ``atrium worker`` runs them): warm
    up, wait for the others, post ``count`` entries BATCH per unit of work; its start and end
    (wall clock)."""

    async def work() -> tuple[float, float]:
        rt = Runtime(make_settings(url, Path(data_dir)))
        settle_heap()  # as each worker process of atrium serve does
        try:
            await _timed_units(rt, _entries(company, _amounts(BATCH, 5, seed + 1_000)), BATCH)
            entries = _entries(company, _amounts(count, 5, seed))
            barrier.wait()
            started = time.time()
            await _timed_units(rt, entries, BATCH)
            return started, time.time()
        finally:
            await rt.close()

    return asyncio.run(work())


async def _posted(conn: asyncpg.Connection, company_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM finance_entries WHERE company_id = $1", company_id))


def _timed_processes(url: str, data_dir: Path, company: _Company, count: int, streams: int) -> float:
    """Post ``count`` entries from ``streams`` worker processes at once; seconds from the common
    start to the last one done."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(streams, mp_context=context) as pool:
        barrier = manager.Barrier(streams)
        share = count // streams
        spans = list(
            pool.map(
                _stream_worker,
                *zip(*[(url, str(data_dir), company, 50 + n, share, barrier) for n in range(streams)], strict=True),
            )
        )
    return max(end for _, end in spans) - min(start for start, _ in spans)


async def _timed_api(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> float:
    path = f"/api/v1/tenants/{TENANT}/finance/journal-entries"
    started = time.perf_counter()
    for body in bodies:
        response = await client.post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    return time.perf_counter() - started


def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    width = len(columns)
    groups = ", ".join(
        "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(rows)
    )  # fmt: skip
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {groups}"


class _Bare:
    """Pre-built rows of posted entries for a company, inserted with plain multi-row INSERTs."""

    def __init__(self, tenant_id: str, company: _Company) -> None:
        self.tenant_id, self.company_id, self.journal_id = tenant_id, company.id, company.journal_id
        self.debits, self.credit = company.debits, company.bank
        self.sequence = 0

    def rows(self, amounts: list[list[Decimal]]) -> list[tuple[list[Any], list[Any]]]:
        """(entry row, its line rows) for each entry, flattened for the INSERT parameters."""
        out = []
        now = utcnow()
        for debits in amounts:
            self.sequence += 1
            entry_id = new_id()
            total = sum(debits, Decimal(0))
            entry = [
                entry_id, self.tenant_id, self.company_id, self.journal_id, "posted", DAY, 2026, self.sequence,
                f"GEN/2026/{self.sequence:05d}", "EUR", total, len(debits) + 1, "bench", self.sequence,
                uuid.uuid4().hex * 2, uuid.uuid4().hex * 2, now, now, now,
            ]  # fmt: skip
            lines: list[Any] = []
            sides = [(self.debits[i % len(self.debits)], a, Decimal(0), a) for i, a in enumerate(debits)]
            sides.append((self.credit, Decimal(0), total, -total))
            for line_no, (account, debit, credit, signed) in enumerate(sides, start=1):
                lines += [
                    new_id(), self.tenant_id, entry_id, self.company_id, self.journal_id, account, line_no, DAY,
                    202606, debit, credit, "EUR", signed, Decimal(1),
                ]  # fmt: skip
            out.append((entry, lines))
        return out

    async def timed(self, conn: asyncpg.Connection, amounts: list[list[Decimal]], per_tx: int) -> float:
        """Insert the entries ``per_tx`` per transaction; seconds taken (building excluded)."""
        prepared = self.rows(amounts)
        batches = [prepared[i : i + per_tx] for i in range(0, len(prepared), per_tx)]
        lines_per_entry = len(amounts[0]) + 1
        statements: dict[int, tuple[str, str]] = {}
        started = time.perf_counter()
        for batch in batches:
            size = len(batch)
            if size not in statements:
                statements[size] = (
                    _insert_sql("finance_entries", ENTRY_COLUMNS, size),
                    _insert_sql("finance_lines", LINE_COLUMNS, size * lines_per_entry),
                )
            entries_sql, lines_sql = statements[size]
            async with conn.transaction():
                await conn.execute(entries_sql, *[v for entry, _ in batch for v in entry])
                await conn.execute(lines_sql, *[v for _, lines in batch for v in lines])
        return time.perf_counter() - started


@dataclass(frozen=True)
class _Company:
    id: str
    journal_id: str  # GEN
    debits: list[str]  # four expense accounts
    bank: str


async def _company(rt: Runtime, name: str) -> _Company:
    """A company set up from the IFRS chart, with the accounts the bench entries post to."""
    async with acting(rt, TENANT) as access:
        company = await service.create_company(
            access, CompanyCreate(name=name, base_currency="EUR", chart_template="ifrs")
        )
        book = await posting.books(access.session, company.id)
    template = charts.TEMPLATES["ifrs"]
    return _Company(
        company.id,
        next(j.id for j in book.journals.values() if j.code == "GEN"),
        [book.by_code[a.code].id for a in template.by_kind(charts.AccountKind.expense)[:4]],
        book.by_code[template.by_kind(charts.AccountKind.bank)[0].code].id,
    )


def _entries(company: _Company, amounts: list[list[Decimal]]) -> list[posting.EntryIn]:
    return [_entry(company.id, company.debits, company.bank, a) for a in amounts]


async def _api_client(rt: Runtime) -> httpx.AsyncClient:
    """An ASGI client of the full app, carrying a platform administrator's API key."""
    async with rt.db.platform_session() as session, session.begin():
        _, _, token = await identity.bootstrap_platform_admin(
            session, "bench-finance@atrium.example", password=None, terms_version="bench"
        )
    transport = httpx.ASGITransport(app=create_app(runtime=rt, embedded_worker=False))
    return httpx.AsyncClient(transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {token}"})


def _bodies(company: _Company, amounts: list[list[Decimal]]) -> list[dict[str, Any]]:
    """The API's JSON for the same entries, accounts by code as a client sends them."""
    template = charts.TEMPLATES["ifrs"]
    codes = [a.code for a in template.by_kind(charts.AccountKind.expense)[:4]]
    bank = template.by_kind(charts.AccountKind.bank)[0].code
    bodies = []
    for debits in amounts:
        lines = [{"account": codes[i % len(codes)], "debit": str(a)} for i, a in enumerate(debits)]
        lines.append({"account": bank, "credit": str(sum(debits, Decimal(0)))})
        bodies.append({"company_id": company.id, "date": DAY.isoformat(), "lines": lines})
    return bodies


async def bench_posting(rt: Runtime, url: str, data_dir: Path) -> dict[str, Any]:
    settle_heap()  # this process posts as a server or worker process would, tuned as they are
    n_batched = scaled(5_000, env="ATRIUM_BENCH_FINANCE_POSTINGS", minimum=BATCH)
    n_single = max(100, n_batched // 5)
    tenant = await tenancy.create(rt, TenantCreate(slug=TENANT))
    posted = await _company(rt, "Posting Ltd")
    big = await _company(rt, "Big Entry Ltd")
    baseline = await _company(rt, "Baseline Ltd")
    bare = _Bare(tenant.id, baseline)
    conn = await asyncpg.connect(url)
    try:
        progress("warm-up: 300 entries through the service, 300 bare")
        await _timed_units(rt, _entries(posted, _amounts(300, 5, 1)), BATCH)
        await bare.timed(conn, _amounts(300, 5, 1), BATCH)
        progress(f"post_many: {n_batched:,} entries, {BATCH} per unit of work; bare INSERTs alike")
        batched = await _timed_units(rt, _entries(posted, _amounts(n_batched, 5, 2)), BATCH)
        bare_batched = await bare.timed(conn, _amounts(n_batched, 5, 2), BATCH)
        progress(f"post_many: {n_batched:,} entries, {BATCH} per unit of work, from {STREAMS} worker processes")
        progress(f"post_many: {n_batched:,} entries, {BATCH} per unit of work, {STREAMS} at a time in one process")
        concurrent = await _timed_concurrent(rt, _entries(posted, _amounts(n_batched, 5, 8)), BATCH, STREAMS)
        before = await _posted(conn, posted.id)
        streamed = await asyncio.to_thread(_timed_processes, url, data_dir, posted, n_batched, STREAMS)
        if (made := await _posted(conn, posted.id) - before) != (n_batched // STREAMS + BATCH) * STREAMS:
            raise RuntimeError(f"the worker processes posted {made:,} entries, not {n_batched:,} and their warm-ups")
        progress(f"post_many: {n_single:,} entries, one per unit of work; bare INSERTs alike")
        single = await _timed_units(rt, _entries(posted, _amounts(n_single, 5, 3)), 1)
        bare_single = await bare.timed(conn, _amounts(n_single, 5, 3), 1)

        progress(f"API: {n_single:,} entries, POST /journal-entries one after the other")
        bodies = _bodies(posted, _amounts(n_single + 50, 5, 4))
        async with await _api_client(rt) as client:
            await _timed_api(client, bodies[:50])
            api = await _timed_api(client, bodies[50:])

        progress(f"one {BIG_ENTRY_LINES:,}-line entry, {REPEATS} times after a warm-up, through the service and bare")
        big_times = [await _timed_units(rt, _entries(big, [a]), 1) for a in _amounts(REPEATS + 1, BIG_ENTRY_LINES, 6)]
        bare_times = [await bare.timed(conn, [a], 1) for a in _amounts(REPEATS + 1, BIG_ENTRY_LINES, 7)]
    finally:
        await conn.close()
    big_s, bare_s = statistics.median(big_times[1:]), statistics.median(bare_times[1:])
    return {
        "posting": {
            "entry_lines": 5,
            "batch": BATCH,
            "batched_entries": n_batched,
            "single_entries": n_single,
            "service_batched_per_second": round(n_batched / batched),
            "bare_batched_per_second": round(n_batched / bare_batched),
            "batched_ratio": ratio(bare_batched, batched),
            "streams": STREAMS,
            "service_concurrent_per_second": round(n_batched / concurrent),
            "concurrent_ratio": ratio(bare_batched, concurrent),
            "goal_met_concurrent": n_batched / concurrent >= GOAL_POSTING_PER_S,
            "service_streams_per_second": round(n_batched / streamed),
            "streams_ratio": ratio(bare_batched, streamed),
            "service_single_per_second": round(n_single / single),
            "bare_single_per_second": round(n_single / bare_single),
            "single_ratio": ratio(bare_single, single),
            "api_per_second": round(n_single / api),
            "api_ms_per_entry": round(1000 * api / n_single, 2),
            "api_ratio_to_bare_single": ratio(bare_single, api),
            "goal_per_second": GOAL_POSTING_PER_S,
            "goal_met": n_batched / batched >= GOAL_POSTING_PER_S,
            "goal_met_with_streams": n_batched / streamed >= GOAL_POSTING_PER_S,
        },
        "big_entry": {
            "lines": BIG_ENTRY_LINES,
            "seconds": [round(t, 4) for t in big_times[1:]],
            "median_s": round(big_s, 4),
            "bare_median_s": round(bare_s, 4),
            "ratio": ratio(big_s, bare_s),
            "goal_s": GOAL_BIG_ENTRY_S,
            "goal_met": big_s < GOAL_BIG_ENTRY_S,
        },
    }


# -- reports on a big ledger ------------------------------------------------------------------------


async def _ledger(lines: int, data_dir: Path) -> tuple[Runtime, str, dict[str, Any]]:
    """The big ledger's runtime, company id and facts; generated on the first run, reused after."""
    name = f"atrium_bench_ledger_{lines}"
    url = server_url(name)
    [found] = await execute_autocommit(POSTGRES_URL, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if not found:
        await execute_autocommit(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    rt = Runtime(make_settings(url, data_dir))
    await migrate_all(rt, show_progress=False)
    if await rt.tenants.resolve(LEDGER_TENANT) is None:
        await tenancy.create(rt, TenantCreate(slug=LEDGER_TENANT))
    facts: dict[str, Any] = {"database": name, "reused": True}
    async with acting(rt, LEDGER_TENANT) as access:
        company = await repo.company_named(access.session, LEDGER_COMPANY)
    if company is None:
        progress(f"generating a ledger of about {lines:,} lines into {name} (bulk load; kept for later runs)")
        spec = generator.LedgerSpec(
            entries=round(lines / 5), lines_per_entry=5.0, start=LEDGER_START, months=LEDGER_MONTHS, seed=1
        )
        made = await generator.generate(
            rt, LEDGER_TENANT, spec, company=LEDGER_COMPANY, fast=True, progress=_every_tenth()
        )
        progress("VACUUM ANALYZE")
        started = time.perf_counter()
        await execute_autocommit(
            url, *(f"VACUUM ANALYZE {t}" for t in ("finance_entries", "finance_lines", "finance_balances"))
        )
        facts.update(
            reused=False,
            generate_seconds=round(made.seconds, 1),
            lines_per_second=round(made.lines / made.seconds),
            vacuum_analyze_seconds=round(time.perf_counter() - started, 1),
        )
        company_id = made.company_id
    else:
        company_id = company.id
    async with acting(rt, LEDGER_TENANT) as access:
        facts["lines"] = int(
            await access.session.scalar(select(func.sum(Balance.lines)).where(Balance.company_id == company_id)) or 0
        )
    [rows] = await execute_autocommit(url, "SELECT pg_total_relation_size('finance_lines')")
    facts["finance_lines_gb"] = round(int(rows[0][0]) / 1024**3, 2) if rows else None
    return rt, company_id, facts


def _every_tenth() -> Callable[[int, int], None]:
    started, shown = time.perf_counter(), [0]

    def show(done: int, total: int) -> None:
        tenth = done * 10 // total
        if tenth > shown[0]:
            shown[0] = tenth
            console.print(f"    {done:,} of {total:,} entries, {time.perf_counter() - started:,.0f} s")

    return show


async def _timed_report(rt: Runtime, call: Callable[[Any], Awaitable[Any] | Any]) -> list[float]:
    """The report's time in its own unit of work, REPEATS + 1 times (the first is the warm-up)."""
    times = []
    for _ in range(REPEATS + 1):
        async with acting(rt, LEDGER_TENANT) as access:
            started = time.perf_counter()
            result = call(access)
            if inspect.isawaitable(result):
                await result
            times.append(time.perf_counter() - started)
    return times


async def _timed_sql(url: str, sql: str, *args: Any) -> list[float]:
    conn = await asyncpg.connect(url)
    try:
        times = []
        for _ in range(REPEATS + 1):
            started = time.perf_counter()
            await conn.fetch(sql, *args)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await conn.close()


NAIVE_RANGE = (
    "SELECT account_id, sum(debit), sum(credit) FROM finance_lines"
    " WHERE company_id = $1 AND date BETWEEN $2 AND $3 GROUP BY account_id"
)
NAIVE_AS_OF = (
    "SELECT account_id, sum(debit) - sum(credit) FROM finance_lines WHERE company_id = $1 AND date <= $2"
    " GROUP BY account_id"
)


async def bench_reports(data_dir: Path) -> dict[str, Any]:
    from atrium.apps.finance import reports

    lines = scaled(10_000_000, env="ATRIUM_BENCH_LEDGER_LINES", minimum=10_000)
    rt, company_id, facts = await _ledger(lines, data_dir)
    url = rt.settings.platform_database_url
    year_end = dt.date(2026, 12, 31)
    cases: list[tuple[str, tuple[dt.date, dt.date] | None, dt.date]] = [
        ("trial balance, fiscal year 2026 (whole months)", (dt.date(2026, 1, 1), year_end), year_end),
        (
            "trial balance, 2025-07-15 to 2026-07-14 (two partial months)",
            (dt.date(2025, 7, 15), dt.date(2026, 7, 14)),
            year_end,
        ),
        ("balance sheet at 2026-12-31", None, year_end),
    ]
    out: dict[str, Any] = {"ledger": facts, "reports": []}
    try:
        for label, span, as_of in cases:
            progress(f"{label}: report and naive SUM, {REPEATS} times after a warm-up")
            if span is not None:
                timed = await _timed_report(rt, lambda a, s=span: reports.trial_balance(a, company_id, *s))
                naive = await _timed_sql(url, NAIVE_RANGE, company_id, *span)
            else:
                timed = await _timed_report(rt, lambda a, d=as_of: reports.balance_sheet(a, company_id, d))
                naive = await _timed_sql(url, NAIVE_AS_OF, company_id, as_of)
            median, naive_median = statistics.median(timed[1:]), statistics.median(naive[1:])
            out["reports"].append(
                {
                    "report": label,
                    "first_s": round(timed[0], 4),
                    "seconds": [round(t, 4) for t in timed[1:]],
                    "median_s": round(median, 4),
                    "naive_first_s": round(naive[0], 4),
                    "naive_median_s": round(naive_median, 4),
                    "ratio": round(median / naive_median, 4),
                    "times_faster_than_naive": round(naive_median / median, 1),
                    "goal_s": GOAL_REPORT_S,
                    "goal_met": median < GOAL_REPORT_S,
                }
            )
    finally:
        await rt.close()
    return out


# -- the run ----------------------------------------------------------------------------------------


async def bench() -> Report:
    ledger_lines = scaled(10_000_000, env="ATRIUM_BENCH_LEDGER_LINES", minimum=10_000)
    report = Report(NAME, f"Finance ledger on PostgreSQL (reports on {ledger_lines:,} lines)")
    results: dict[str, Any] = {}
    async with bench_database("finance") as url:
        with temp_dir(NAME) as tmp:
            rt = Runtime(make_settings(url, tmp / "var"))
            try:
                await migrate_all(rt, show_progress=False)
                results.update(await bench_posting(rt, url, tmp / "var"))
            finally:
                await rt.close()
    with temp_dir(f"{NAME}-ledger") as tmp:
        results.update(await bench_reports(tmp / "var"))

    p, b = results["posting"], results["big_entry"]
    for label, rate, ratio_key, met in (
        ("one unit at a time", "service_batched_per_second", "batched_ratio", "goal_met"),
        (
            f"{p['streams']} at a time in one process",
            "service_concurrent_per_second",
            "concurrent_ratio",
            "goal_met_concurrent",
        ),
        (f"{p['streams']} worker processes", "service_streams_per_second", "streams_ratio", "goal_met_with_streams"),
    ):
        report.row(
            f"post_many, {BATCH} per unit of work, {label}",
            fmt_rate(p[rate]),
            fmt_rate(p["bare_batched_per_second"]),
            f"{p[ratio_key]}×",
            f"≥ {GOAL_POSTING_PER_S:,}/s",
            "yes" if p[met] else "NO",
        )
    report.row(
        "post_many, one per unit of work",
        fmt_rate(p["service_single_per_second"]),
        fmt_rate(p["bare_single_per_second"]),
        f"{p['single_ratio']}×",
    )
    report.row(
        "POST /journal-entries, one after the other",
        fmt_rate(p["api_per_second"]),
        fmt_rate(p["bare_single_per_second"]),
        f"{p['api_ratio_to_bare_single']}×",
    )
    report.row(
        f"one {BIG_ENTRY_LINES:,}-line entry (median)",
        f"{b['median_s']:.3f} s",
        f"{b['bare_median_s']:.3f} s",
        f"{b['ratio']}×",
        f"< {GOAL_BIG_ENTRY_S} s",
        "yes" if b["goal_met"] else "NO",
    )
    for r in results["reports"]:
        report.row(
            r["report"],
            f"{r['median_s'] * 1000:,.1f} ms",
            f"{r['naive_median_s'] * 1000:,.0f} ms",
            f"{r['ratio']:.2g}×",
            f"< {GOAL_REPORT_S:.0f} s",
            "yes" if r["goal_met"] else "NO",
        )
    ledger = results["ledger"]
    made = (
        "reused from an earlier run"
        if ledger["reused"]
        else f"generated in {ledger['generate_seconds']:,.0f} s ({ledger['lines_per_second']:,} lines/s), "
        f"VACUUM ANALYZE {ledger['vacuum_analyze_seconds']:,.0f} s"
    )
    report.note(
        f"ledger {ledger['database']}: {ledger['lines']:,} lines ({ledger['finance_lines_gb']} GB with indexes) "
        f"over {LEDGER_MONTHS} months, one company of a pooled tenant; {made}"
    )
    report.note(
        "posting ratio = service rate / bare INSERT rate (1.0 = as fast); the bare baseline inserts pre-built "
        "entry and line rows only (no checks, numbering, chain, balances, open items or audit event)"
    )
    report.note(
        "report ratio = report time / naive SUM over finance_lines for the same range (below 1 = faster); "
        "first runs (cold) are in the JSON"
    )
    results["parameters"] = {
        "batch": BATCH,
        "entry_lines": 5,
        "big_entry_lines": BIG_ENTRY_LINES,
        "ledger_lines": ledger_lines,
        "ledger_months": LEDGER_MONTHS,
        "repeats": REPEATS,
    }
    report.data = results
    return report


def run() -> dict[str, Any]:
    try:
        asyncio.run(execute_autocommit(POSTGRES_URL, "SELECT 1"))
    except Exception as exc:  # whatever stops the connection, there is no server to measure
        console.print(f"[yellow]skipped:[/yellow] bench.finance needs PostgreSQL at {POSTGRES_URL} ({exc})")
        return {}
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
