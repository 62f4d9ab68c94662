"""Bank reconciliation suggestions end to end on PostgreSQL: a 5,000-line statement against 50,000
open items (customer invoices and vendor bills posted through the ledger), as the statement page
asks for them: ``banking.service.suggestions`` loads the open items with their entry numbers and
party names from the database, then ranks every line. Goal: < 5 s.

- load: the open-item query alone (the database's share).
- suggestions: the whole call (load + ranking).
- Baseline (same run): an exact-amount dict lookup over the same items and lines, the least any
  matcher can do (it finds a candidate, explains nothing, and misses partial and grouped payments).

Sizes scale with ATRIUM_BENCH_SCALE (ATRIUM_BENCH_RECON_ITEMS, ATRIUM_BENCH_RECON_LINES).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from atrium.apps.finance import posting, service
from atrium.apps.finance.banking import service as banking
from atrium.apps.finance.banking.models import Statement, StatementLine
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.receivables.models import Party
from atrium.apps.finance.schemas import CompanyCreate
from atrium.cli.migrate import migrate_all
from atrium.core.db import new_id
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from bench.common import Report, bench_database, make_settings, progress, ratio, run_benchmark, scaled, temp_dir

NAME = "finance_reconciliation"
GOAL_S = 5.0
PARTIES = 2_000
BATCH = 500
START = dt.date(2026, 1, 1)


async def bench() -> Report:
    n_items = scaled(50_000, env="ATRIUM_BENCH_RECON_ITEMS", minimum=1_000)
    n_lines = scaled(5_000, env="ATRIUM_BENCH_RECON_LINES", minimum=100)
    report = Report(NAME, f"Reconciliation suggestions: {n_lines:,} statement lines × {n_items:,} open items")
    rnd = random.Random(7)
    async with bench_database("recon") as url:
        with temp_dir("recon") as tmp:
            rt = Runtime(make_settings(url, tmp / "var"))
            try:
                await migrate_all(rt, show_progress=False)
                await tenancy.create(rt, TenantCreate(slug="bench-recon"))
                async with acting(rt, "bench-recon", "bench") as access:
                    company = await service.create_company(
                        access, CompanyCreate(name="Bench GmbH", base_currency="EUR", chart_template="de_skr03")
                    )
                    book = await posting.books(access.session, company.id)
                    accounts = {k: book.account_of_kind(k).id for k in AccountKind if _has(book, k)}
                    parties = [
                        Party(
                            id=new_id(),
                            company_id=company.id,
                            name=f"Customer {i:04d} GmbH",
                            is_customer=True,
                            ibans=[f"DE{rnd.randrange(10, 99)}{rnd.randrange(10**17, 10**18)}"],
                        )
                        for i in range(PARTIES)
                    ]
                    access.session.add_all(parties)
                    bank = await banking.create_bank_account(
                        access, company.id, name="Bank", iban=None, currency=None, account=None, journal=None
                    )
                    company_id, bank_id = company.id, bank.id
                    people = [(p.id, p.name) for p in parties]
                progress(f"posting {n_items:,} invoices and bills")
                invoices: list[tuple[str, Decimal, str]] = []
                for start in range(0, n_items, BATCH):
                    batch = []
                    for i in range(start, min(start + BATCH, n_items)):
                        party_id, party_name = people[rnd.randrange(PARTIES)]
                        amount = Decimal(rnd.randrange(1_000, 500_000)) / 100
                        sale = rnd.random() < 0.8
                        control = accounts[AccountKind.receivable if sale else AccountKind.payable]
                        other = accounts[AccountKind.income if sale else AccountKind.expense]
                        day = START + dt.timedelta(days=rnd.randrange(0, 180))
                        number = f"INV-2026-{i:06d}"
                        lines = [
                            posting.LineIn(account=control, debit=amount, party_id=party_id, due_date=day),
                            posting.LineIn(account=other, credit=amount),
                        ]
                        if not sale:
                            lines = [
                                posting.LineIn(account=control, credit=amount, party_id=party_id, due_date=day),
                                posting.LineIn(account=other, debit=amount),
                            ]
                        batch.append(
                            posting.EntryIn(
                                company_id=company_id,
                                journal="SAL" if sale else "PUR",
                                date=day,
                                lines=lines,
                                reference=number,
                            )
                        )
                        invoices.append((party_name, amount if sale else -amount, number))
                    async with acting(rt, "bench-recon", "bench") as access:
                        await posting.post_many(access, batch)
                progress(f"importing a {n_lines:,}-line statement")
                rows = []
                statement_id = new_id()
                for i in range(n_lines):
                    name, amount, number = invoices[rnd.randrange(len(invoices))]
                    kind = rnd.random()
                    text = f"Rechnung {number}" if kind < 0.6 else "Zahlung"
                    if kind > 0.9:
                        amount = (amount * Decimal("0.5")).quantize(Decimal("0.01"))
                    rows.append(
                        {
                            "id": new_id(),
                            "statement_id": statement_id,
                            "bank_account_id": bank_id,
                            "company_id": company_id,
                            "row": i + 1,
                            "booked_on": START + dt.timedelta(days=rnd.randrange(0, 200)),
                            "amount": amount,
                            "currency": "EUR",
                            "counterparty_name": name,
                            "text": text,
                            "fingerprint": f"{i:064d}",
                            "state": "open",
                        }
                    )
                async with acting(rt, "bench-recon", "bench") as access:
                    access.session.add(
                        Statement(
                            id=statement_id,
                            company_id=company_id,
                            bank_account_id=bank_id,
                            format="camt053",
                            file_sha256="0" * 64,
                            currency="EUR",
                            lines_imported=n_lines,
                        )
                    )
                    await access.session.flush()
                    for start in range(0, n_lines, 1_000):
                        await access.session.execute(
                            insert(StatementLine),
                            [{**r, "tenant_id": access.tenant.id} for r in rows[start : start + 1_000]],
                        )
                progress("timing")
                timings: dict[str, list[float]] = {"load": [], "suggest": [], "baseline": []}
                suggested: dict[str, Any] = {}
                for _ in range(3):
                    async with acting(rt, "bench-recon", "bench") as access:
                        lines = (await banking.statement_lines(access, statement_id))[1]
                        began = time.perf_counter()
                        items = await banking.open_items_for(access, await banking.get_bank_account(access, bank_id))
                        timings["load"].append(time.perf_counter() - began)
                        began = time.perf_counter()
                        suggested = await banking.suggestions(access, lines)
                        timings["suggest"].append(time.perf_counter() - began)
                        began = time.perf_counter()
                        by_amount: dict[Decimal, list[str]] = {}
                        for item in items:
                            by_amount.setdefault(item.amount, []).append(item.id)
                        found = sum(1 for line in lines if by_amount.get(line.amount))
                        timings["baseline"].append(time.perf_counter() - began)
            finally:
                await rt.close()
    load, suggest, baseline = (min(timings[k]) for k in ("load", "suggest", "baseline"))
    with_suggestion = sum(1 for v in suggested.values() if v)
    report.row("open items loaded (SQL)", f"{load:.2f} s")
    report.row(
        "suggestions for every line (load + rank)",
        f"{suggest:.2f} s",
        f"{baseline:.3f} s",
        f"{ratio(suggest, baseline):,.0f}×",
        f"< {GOAL_S:.0f} s",
        "yes" if suggest < GOAL_S else "NO",
    )
    report.row("lines with at least one suggestion", f"{with_suggestion:,} of {n_lines:,}", f"{found:,} (exact amount)")
    report.data = {
        "items": n_items,
        "lines": n_lines,
        "load_s": load,
        "suggestions_s": suggest,
        "baseline_s": baseline,
        "goal_s": GOAL_S,
        "met": suggest < GOAL_S,
        "lines_with_suggestion": with_suggestion,
        "baseline_lines_with_candidate": found,
    }
    report.note("best of three runs; the baseline is an exact-amount dict over the same loaded items")
    return report


def _has(book: posting.Books, kind: AccountKind) -> bool:
    return any(a.kind == kind for a in book.accounts.values())


def run() -> dict[str, Any]:
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
