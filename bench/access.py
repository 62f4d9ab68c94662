"""What access control costs: one decision on an object, and the row condition on a list query.

- **check:** ``Access.check("notes.note.read", note)`` for a member whose only grant carries a
  row condition, "department D and its sub-departments, or my own notes" (``any`` of
  ``in_department`` with children and ``owner``), over a tree of 200 departments. The subject is
  loaded and the decision compiled once, as within a request after its first check, so this is
  the cached decision every further object of the request pays. Timed one call at a time with
  ``perf_counter_ns`` on a transient ``Note`` (an ORM object: instrumented attribute reads), an
  allowed one and a refused one. Goal: p99 < 50 µs. Baseline (same run, same timer): the bare
  Python comparison the condition comes down to, ``note.department_id in subtree or
  note.owner_id == me``. 100,000 calls per variant × ATRIUM_BENCH_SCALE
  (ATRIUM_BENCH_ACCESS_CHECKS).
- **filter:** the notes list query on PostgreSQL with and without ``Access.filter``'s WHERE for
  that condition, on 100,000 notes of one tenant (× ATRIUM_BENCH_SCALE, ATRIUM_BENCH_ACCESS_ROWS)
  in the real ``notes`` table and its indexes (tenant_id, owner_id, department_id), ANALYZEd:
  1,000 owners, notes spread over the 200 departments (5 % in none). The condition's subtree
  holds 20 departments (about 10 % of the notes). Three shapes of the query, each timed end to
  end (building the statement, ``filter()`` included, executing, fetching):

  * ``page``: what ``GET /notes`` runs: ``WHERE tenant_id = … ORDER BY created_at DESC, id
    LIMIT 100`` (the service's query; ``created_at`` has no index, so both sides sort);
  * ``count``: ``SELECT count(*)`` of the tenant's notes;
  * ``ids``: every id of the tenant's notes (the whole visible list).

  The ratio filtered / unfiltered is reported for each (goal ≤ 1.2×, for ``page``): the filtered
  query returns fewer rows, so a ratio below 1 is possible and is reported as measured. 100 runs
  per query and side, alternating in blocks of 10 after 5 warm-ups (garbage collected between blocks).

  Two more sides separate the cost of the condition from that of ``filter()``: ``by hand``, the
  same rows with the WHERE written directly (``department_id IN (…) OR owner_id = me``; outside
  ``not`` ``filter()`` adds no guards, so the two differ only by the building of the clause), and
  a condition over all five root departments
  (95 % of the notes visible), against ``plain`` and its own hand-written twin: the WHERE's cost
  when it leaves almost nothing out (a 200-value IN list evaluated on every row).
"""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from sqlalchemy import Dialect, Select, Table, TextClause, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from atrium.api.deps import Principal, TenantContext
from atrium.apps.notes import auth as notes_auth
from atrium.apps.notes.models import Note
from atrium.apps.notes.repository import newest_first
from atrium.core.db import async_url
from atrium.platform.access import predicates
from atrium.platform.access.auth import Access
from atrium.platform.access.subject import Subject
from bench.common import Report, bench_database, percentile, progress, ratio, run_benchmark, scaled

NAME = "access"
GOAL_CHECK_P99_US = 50.0
GOAL_FILTER_RATIO = 1.2
WARMUP = 5_000
BLOCK = 5_000
DEPARTMENTS = 200
OWNERS = 1_000
PAGE = 100
RUNS, RUN_BLOCK, RUN_WARMUP = 100, 10, 5
TENANT = "bench-tenant"
ME = "user-0007"
PERMISSION = notes_auth.READ


def _tree() -> dict[str, str | None]:
    """200 departments: 5 roots, then each new one under a random earlier one (seeded)."""
    rng = random.Random(7)
    parents: dict[str, str | None] = {}
    for i in range(DEPARTMENTS):
        parents[f"dept-{i:03d}"] = None if i < 5 else f"dept-{rng.randrange(i):03d}"
    return parents


def _subtree(parents: dict[str, str | None], root: str) -> set[str]:
    found, todo = set(), [root]
    while todo:
        node = todo.pop()
        found.add(node)
        todo.extend(c for c, p in parents.items() if p == node)
    return found


def _root_of_size(parents: dict[str, str | None], size: int) -> str:
    """The department whose subtree is closest to ``size`` departments."""
    return min(parents, key=lambda d: (abs(len(_subtree(parents, d)) - size), d))


def _access(parents: dict[str, str | None], *roots: str) -> Access:
    """A member whose one grant reads the notes of the roots' subtrees, and their own."""
    departments = [{"op": "in_department", "department": r, "children": True} for r in roots]
    condition = predicates.parse({"op": "any", "of": [*departments, {"op": "owner"}]})
    subject = Subject(ME, TENANT, ("Bench role",), {PERMISSION: (condition,)}, parents=parents)
    principal = Principal(ME, "bench@example.com", tenant_ids=frozenset({TENANT}))
    # check() and filter() read the subject only; the tenant context is not used here
    return Access(cast(TenantContext, None), principal, subject)


def summary_us(ns: list[int]) -> dict[str, float]:
    us = [n / 1000 for n in ns]
    return {
        "n": len(us),
        "median_us": round(statistics.median(us), 3),
        "p95_us": round(percentile(us, 95), 3),
        "p99_us": round(percentile(us, 99), 3),
        "p999_us": round(percentile(us, 99.9), 3),
        "mean_us": round(statistics.fmean(us), 3),
        "max_us": round(max(us), 3),
    }


def _time_calls(calls: dict[str, Callable[[], object]], n: int) -> dict[str, list[int]]:
    clock = time.perf_counter_ns
    for call in calls.values():
        for _ in range(WARMUP):
            call()
    times: dict[str, list[int]] = {name: [] for name in calls}
    done = 0
    while done < n:
        block = min(BLOCK, n - done)
        for name, call in calls.items():
            out = times[name]
            for _ in range(block):
                started = clock()
                call()
                out.append(clock() - started)
        done += block
    return times


def bench_check(report: Report, n: int) -> dict[str, Any]:
    parents = _tree()
    root = _root_of_size(parents, 20)
    subtree = _subtree(parents, root)
    access = _access(parents, root)
    inside = Note(title="inside", owner_id="user-0500", department_id=sorted(subtree)[-1], tenant_id=TENANT)
    outside_department = next(d for d in sorted(parents) if d not in subtree)
    outside = Note(title="outside", owner_id="user-0500", department_id=outside_department, tenant_id=TENANT)
    assert access.check(PERMISSION, inside) and not access.check(PERMISSION, outside)
    frozen = frozenset(subtree)

    def bare() -> object:
        return inside.department_id in frozen or inside.owner_id == ME

    progress(f"{n:,} checks per variant (allowed, refused, bare comparison; +{WARMUP:,} warm-up)")
    started = time.perf_counter()
    times = _time_calls(
        {
            "allowed": lambda: access.check(PERMISSION, inside),
            "refused": lambda: access.check(PERMISSION, outside),
            "baseline": bare,
        },
        n,
    )
    elapsed = time.perf_counter() - started
    s = {name: summary_us(v) for name, v in times.items()}
    allowed, base = s["allowed"], s["baseline"]
    met = allowed["p99_us"] < GOAL_CHECK_P99_US and s["refused"]["p99_us"] < GOAL_CHECK_P99_US
    report.row(
        "check, cached conditional decision (allowed): p99",
        _us(allowed["p99_us"]),
        _us(base["p99_us"]),
        f"{ratio(allowed['p99_us'], base['p99_us'])}×",
        f"< {GOAL_CHECK_P99_US:.0f} µs",
        "yes" if met else "NO",
    )
    report.row(
        "check (allowed): p50",
        _us(allowed["median_us"]),
        _us(base["median_us"]),
        f"{ratio(allowed['median_us'], base['median_us'])}×",
    )
    refused = s["refused"]
    report.row("check (refused): p50 / p99", f"{_us(refused['median_us'])} / {_us(refused['p99_us'])}")
    return {
        "parameters": {"calls": n, "warmup": WARMUP, "departments": DEPARTMENTS, "subtree": len(subtree)},
        **s,
        "ratio_p50": ratio(allowed["median_us"], base["median_us"]),
        "ratio_p99": ratio(allowed["p99_us"], base["p99_us"]),
        "goal_p99_us": GOAL_CHECK_P99_US,
        "goal_met": met,
        "run_seconds": round(elapsed, 1),
    }


Where = Callable[[Select[Any]], Select[Any]]
Query = Callable[[AsyncSession, Where], Awaitable[object]]


async def _page(session: AsyncSession, where: Where) -> object:
    return (await session.scalars(where(newest_first().where(Note.tenant_id == TENANT)).limit(PAGE))).all()


async def _count(session: AsyncSession, where: Where) -> object:
    return await session.scalar(where(select(func.count()).select_from(Note).where(Note.tenant_id == TENANT)))


async def _ids(session: AsyncSession, where: Where) -> object:
    return (await session.scalars(where(select(Note.id).where(Note.tenant_id == TENANT)))).all()


QUERIES: dict[str, Query] = {"page": _page, "count": _count, "ids": _ids}


async def _load(session: AsyncSession, rows: int, parents: dict[str, str | None]) -> None:
    """The tenant's notes, made by one INSERT … SELECT: owner and department spread by a
    multiplicative hash of the row number (5 % without a department), one minute apart."""
    departments = "ARRAY[" + ",".join(f"'{d}'" for d in sorted(parents)) + "]"
    await session.execute(
        text(
            f"""
            INSERT INTO notes (id, tenant_id, title, body, author, owner_id, department_id, created_at, updated_at)
            SELECT 'note-' || i, :tenant, 'Note ' || i, '', 'bench',
                   'user-' || lpad(((i * 7919) % {OWNERS})::text, 4, '0'),
                   CASE WHEN i % 20 = 0 THEN NULL ELSE ({departments})[1 + (i * 104729) % {DEPARTMENTS}] END,
                   now() - i * interval '1 minute', now() - i * interval '1 minute'
            FROM generate_series(1::bigint, :rows) AS i
            """
        ),
        {"tenant": TENANT, "rows": rows},
    )


async def bench_filter(report: Report, rows: int) -> dict[str, Any]:
    parents = _tree()
    root = _root_of_size(parents, 20)
    subtree = sorted(_subtree(parents, root))
    narrow = _access(parents, root)
    roots = [d for d, p in parents.items() if p is None]
    wide = _access(parents, *roots)  # every department's notes: nearly nothing left out
    everywhere = sorted(parents)
    sides: dict[str, Where] = {
        "plain": lambda stmt: stmt,
        "filtered": lambda stmt: narrow.filter(PERMISSION, stmt),
        "by_hand": lambda stmt: stmt.where(or_(Note.department_id.in_(subtree), Note.owner_id == ME)),
        "filtered_wide": lambda stmt: wide.filter(PERMISSION, stmt),
        "by_hand_wide": lambda stmt: stmt.where(or_(Note.department_id.in_(everywhere), Note.owner_id == ME)),
    }
    async with bench_database("access") as url:
        engine = create_async_engine(async_url(url), pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: Note.metadata.create_all(c, tables=[cast(Table, Note.__table__)]))
            progress(f"loading {rows:,} notes into PostgreSQL")
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            async with sessions() as session, session.begin():
                await _load(session, rows, parents)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE notes"))
            async with sessions() as session:
                visible = {side: await _count(session, where) for side, where in sides.items()}
                assert visible["filtered"] == visible["by_hand"], visible
                assert visible["filtered_wide"] == visible["by_hand_wide"], visible
                page = newest_first().where(Note.tenant_id == TENANT).limit(PAGE)
                plans = {
                    side: [str(r[0]) for r in await session.execute(_explain(sides[side](page), engine.dialect))]
                    for side in ("plain", "filtered")
                }
            progress(f"{RUNS} runs per query and side ({', '.join(sides)}), alternating in blocks of {RUN_BLOCK}")
            times: dict[str, dict[str, list[float]]] = {q: {side: [] for side in sides} for q in QUERIES}
            async with sessions() as session:
                for name, query in QUERIES.items():
                    for where in sides.values():
                        for _ in range(RUN_WARMUP):
                            await query(session, where)
                    done = 0
                    while done < RUNS:
                        for side, where in sides.items():
                            out = times[name][side]
                            gc.collect()  # the 100,000-row fetches leave garbage; collect it outside the timing
                            for _ in range(RUN_BLOCK):
                                started = time.perf_counter()
                                await query(session, where)
                                out.append(time.perf_counter() - started)
                        done += RUN_BLOCK
                    await session.rollback()
        finally:
            await engine.dispose()
    results: dict[str, Any] = {}
    for name, measured in times.items():
        s = {side: _summary_ms(v) for side, v in measured.items()}
        p50 = {side: v["median_ms"] for side, v in s.items()}
        results[name] = {
            **s,
            "ratio_filtered_to_plain": ratio(p50["filtered"], p50["plain"]),
            "ratio_filtered_to_by_hand": ratio(p50["filtered"], p50["by_hand"]),
            "ratio_wide_to_plain": ratio(p50["filtered_wide"], p50["plain"]),
            "ratio_wide_to_by_hand": ratio(p50["filtered_wide"], p50["by_hand_wide"]),
        }
        for label, side, base, key in (
            ("filtered vs plain", "filtered", "plain", "ratio_filtered_to_plain"),
            ("filtered vs the same WHERE by hand", "filtered", "by_hand", "ratio_filtered_to_by_hand"),
            ("filtered (all departments) vs plain", "filtered_wide", "plain", "ratio_wide_to_plain"),
            ("filtered (all departments) vs by hand", "filtered_wide", "by_hand_wide", "ratio_wide_to_by_hand"),
        ):
            r = results[name][key]
            goal = name == "page" and base == "plain"
            report.row(
                f"filter, {name}: {label}, p50 (p99)",
                f"{s[side]['median_ms']:.2f} ({s[side]['p99_ms']:.2f}) ms",
                f"{s[base]['median_ms']:.2f} ({s[base]['p99_ms']:.2f}) ms",
                f"{r}×",
                f"≤ {GOAL_FILTER_RATIO}×" if goal else "",
                ("yes" if r <= GOAL_FILTER_RATIO else "NO") if goal else "",
            )
    return {
        "parameters": {
            "rows": rows,
            "visible_rows": visible,
            "departments": DEPARTMENTS,
            "subtree": len(subtree),
            "owners": OWNERS,
            "page": PAGE,
            "runs": RUNS,
        },
        "page_plans": plans,
        **results,
        "goal_ratio": GOAL_FILTER_RATIO,
        "goal_met": results["page"]["ratio_filtered_to_plain"] <= GOAL_FILTER_RATIO,
        "goal_met_all_departments": results["page"]["ratio_wide_to_plain"] <= GOAL_FILTER_RATIO,
    }


def _explain(stmt: Select[Any], dialect: Dialect) -> TextClause:
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return text(f"EXPLAIN {compiled}")


def _summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


async def bench() -> Report:
    n = scaled(100_000, env="ATRIUM_BENCH_ACCESS_CHECKS", minimum=1_000)
    rows = scaled(100_000, env="ATRIUM_BENCH_ACCESS_ROWS", minimum=1_000)
    report = Report(NAME, f"Access control: check() on an object ({n:,} calls), filter() on {rows:,} notes")
    report.data = {"check": bench_check(report, n), "filter": await bench_filter(report, rows)}
    f = report.data["filter"]["parameters"]
    report.note(
        "check baseline = `note.department_id in subtree or note.owner_id == me` on the same ORM object, "
        "timed the same way"
    )
    report.note("timer overhead (perf_counter_ns twice) is in every check figure, baseline included")
    v = f["visible_rows"]
    report.note(
        f"filter: condition = department subtree ({f['subtree']} of {f['departments']} departments) or own notes: "
        f"{v['filtered']:,} of {v['plain']:,} notes visible; 'all departments' (5 root subtrees or own): "
        f"{v['filtered_wide']:,} visible, the WHERE's cost with nearly nothing left out"
    )
    report.note(
        "by hand = `department_id IN (the same departments) OR owner_id = me`: the same rows and SQL, "
        "without filter(); 'plain' = no condition at all (what a role without one runs)"
    )
    report.note("filter figures include building the statement and fetching the rows; the filtered side returns fewer")
    return report


def _us(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.2f} µs" if value < 100 else f"{value:,.0f} µs"


def run() -> dict[str, Any]:
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
