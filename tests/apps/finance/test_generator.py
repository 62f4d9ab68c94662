"""The ledger generator: through the service and as a bulk load it writes the same ledger (numbers,
amounts, chain, balances, open items, reversal matches), which passes the chain check and whose
balances are the sums of its lines; the mix looks like a trading company's; a bulk load continues
an existing ledger; bad specs are refused naming the field."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from atrium.apps.finance import generator, integrity, posting, service
from atrium.apps.finance.generator import LedgerSpec
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import (
    Account,
    Balance,
    ChainHead,
    Entry,
    ExchangeRate,
    Journal,
    Line,
    Match,
    OpenItem,
    SequenceCounter,
)
from atrium.apps.finance.receivables.models import Party
from atrium.apps.finance.schemas import LockDates
from atrium.core.audit.models import AuditEvent
from atrium.core.errors import ValidationFailed
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.models import Isolation
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

SPEC = LedgerSpec(entries=240, months=3, seed=11, foreign_share=0.2, reversal_share=0.05)


async def _tenant(rt: Runtime, slug: str = "acme", isolation: Isolation = Isolation.pooled) -> None:
    await tenancy.create(rt, TenantCreate(slug=slug, isolation=isolation))


async def _snapshot(rt: Runtime, company_id: str, tenant: str = "acme") -> dict[str, Any]:
    """Everything a posting leaves behind, keyed by numbers and account codes (not ids)."""
    async with acting(rt, tenant) as access:
        s = access.session
        code = {a.id: a.code for a in (await s.scalars(select(Account).where(Account.company_id == company_id)))}
        party = {p.id: p.name for p in (await s.scalars(select(Party).where(Party.company_id == company_id)))}
        party[""] = ""
        journals = {j.id: j.code for j in (await s.scalars(select(Journal).where(Journal.company_id == company_id)))}
        entries = (
            await s.scalars(select(Entry).where(Entry.company_id == company_id).order_by(Entry.chain_index))
        ).all()
        number = {e.id: e.number for e in entries}
        lines = (
            await s.scalars(select(Line).where(Line.company_id == company_id).order_by(Line.entry_id, Line.line_no))
        ).all()
        where = {line.id: (number[line.entry_id], line.line_no) for line in lines}
        balances: dict[tuple[str, int, str], list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0), 0])
        for row in await s.scalars(select(Balance).where(Balance.company_id == company_id)):
            b = balances[(code[row.account_id], row.period, row.currency)]
            b[0], b[1], b[2], b[3] = b[0] + row.debit, b[1] + row.credit, b[2] + row.amount_currency, b[3] + row.lines
        sums: dict[tuple[str, int, str], list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0), 0])
        for line in lines:
            b = sums[(code[line.account_id], line.period, line.currency)]
            b[0], b[1], b[2], b[3] = b[0] + line.debit, b[1] + line.credit, b[2] + line.amount_currency, b[3] + 1
        items = (await s.scalars(select(OpenItem).where(OpenItem.company_id == company_id))).all()
        matches = (await s.scalars(select(Match).where(Match.company_id == company_id))).all()
        counters = (
            await s.scalars(select(SequenceCounter).where(SequenceCounter.journal_id.in_(list(journals))))
        ).all()
        head = await s.scalar(select(ChainHead).where(ChainHead.company_id == company_id))
        verification = await integrity.verify(s, company_id)
    return {
        "entries": [
            (
                *(e.number, e.date, e.state, e.reference, e.memo, e.currency, e.total, e.line_count, e.source),
                *(number.get(e.reversal_of_id or ""), number.get(e.reversed_by_id or ""), e.chain_index),
            )
            for e in entries
        ],
        "lines": sorted(
            (
                number[line.entry_id],
                line.line_no,
                code[line.account_id],
                line.debit,
                line.credit,
                line.currency,
                line.amount_currency,
                line.rate,
                line.label,
                party[line.party_id or ""],
                line.due_date,
                line.tax_rate,
                line.tax_base,
                line.date,
                line.period,
            )
            for line in lines
        ),
        "balances": {k: tuple(v) for k, v in balances.items()},
        "line_sums": {k: tuple(v) for k, v in sums.items()},
        "open_items": sorted(
            (
                *(where[i.line_id], code[i.account_id], party[i.party_id or ""], i.currency),
                *(i.residual, i.residual_currency, i.due_date),
            )
            for i in items
        ),
        "matches": sorted(
            (where[m.debit_line_id], where[m.credit_line_id], m.amount, m.amount_currency) for m in matches
        ),
        "sequences": {(journals[c.journal_id], c.fiscal_year): c.last for c in counters},
        "head": head.position if head else 0,
        "verification": verification,
    }


async def test_the_service_and_the_bulk_load_write_the_same_ledger(runtime: Runtime) -> None:
    await _tenant(runtime)
    posted = await generator.generate(runtime, "acme", SPEC, company="Posted Ltd", batch=50)
    loaded = await generator.generate(runtime, "acme", SPEC, company="Loaded Ltd", fast=True)
    assert (posted.fast, loaded.fast) == (False, True)
    assert (posted.entries, posted.lines, posted.kinds, posted.foreign) == (
        loaded.entries,
        loaded.lines,
        loaded.kinds,
        loaded.foreign,
    )
    assert posted.kinds["reversal"] >= 2 and posted.foreign >= 10, posted

    by_service = await _snapshot(runtime, posted.company_id)
    bulk = await _snapshot(runtime, loaded.company_id)
    for snapshot, made in ((by_service, posted), (bulk, loaded)):
        assert snapshot["verification"].intact, snapshot["verification"]
        assert snapshot["verification"].entries == snapshot["head"] == SPEC.entries
        assert len(snapshot["lines"]) == made.lines
        assert snapshot["balances"] == snapshot["line_sums"]
        assert snapshot["open_items"] and snapshot["matches"]
    for part in ("entries", "lines", "balances", "open_items", "matches", "sequences"):
        assert by_service[part] == bulk[part], part
    # a reversal settles every reconciled line of the invoice it reverses: none of them stays open
    reversed_numbers = {e[0] for e in bulk["entries"] if e[2] == "reversed"}
    assert len(reversed_numbers) == posted.kinds["reversal"]
    assert not [item for item in bulk["open_items"] if item[0][0] in reversed_numbers]


async def test_the_mix_looks_like_a_trading_company(runtime: Runtime) -> None:
    await _tenant(runtime)
    spec = LedgerSpec(entries=3_000, lines_per_entry=5.0, start=dt.date(2026, 1, 1), months=12, seed=3)
    made = await generator.generate(runtime, "acme", spec, fast=True)
    assert set(made.kinds) == {
        "opening", "sale", "purchase", "receipt", "payment", "salaries", "depreciation", "reversal",
    }  # fmt: skip
    assert made.kinds["salaries"] == made.kinds["depreciation"] == 11  # every month end but the last
    assert made.kinds["sale"] > made.kinds["purchase"] > made.kinds["receipt"] > made.kinds["reversal"]
    assert 4.7 <= made.lines / made.entries <= 5.3, made.lines / made.entries
    snapshot = await _snapshot(runtime, made.company_id)
    assert snapshot["verification"].intact and snapshot["balances"] == snapshot["line_sums"]
    dates = [e[1] for e in snapshot["entries"]]
    assert dates == sorted(dates) and dates[0] >= spec.start and dates[-1] <= dt.date(2026, 12, 31)
    assert all(day.weekday() < 5 for day in dates)
    assert all(2 <= e[7] <= 9 for e in snapshot["entries"])  # 2 to 8, plus a rounding line at times
    numbers = [e[0] for e in snapshot["entries"]]
    assert numbers[0] == "GEN/2026/00001" and any(n.startswith("SAL/2026/") for n in numbers)

    async with acting(runtime, "acme") as access:
        book = await posting.books(access.session, made.company_id)
        rates = {
            (r.currency, r.date): r.rate
            for r in await access.session.scalars(
                select(ExchangeRate).where(ExchangeRate.company_id == book.company.id)
            )
        }
        sale = await access.session.scalar(
            select(Entry).where(
                Entry.company_id == made.company_id, Entry.memo == "Sales invoice", Entry.currency == "USD"
            )
        )
        assert sale is not None
        lines = await posting.lines_of(access.session, sale.id)
    receivable, tax = lines[0], next(line for line in lines if line.tax_rate is not None)
    assert book.accounts[receivable.account_id].kind == "receivable" and receivable.debit > 0
    assert receivable.party_id and receivable.due_date and receivable.due_date > sale.date
    assert book.accounts[tax.account_id].kind == "tax_payable" and tax.credit > 0 and tax.tax_base
    assert receivable.rate == rates[("USD", sale.date)] != 1
    assert {c for c, _ in rates} == {"USD", "GBP"}  # the company's own currency is EUR

    # every party named on a line is a customer or vendor of the company
    async with acting(runtime, "acme") as access:
        parties = {
            p.id: p for p in await access.session.scalars(select(Party).where(Party.company_id == book.company.id))
        }
    named = {line[9] for line in snapshot["lines"] if line[9]}
    assert named and named <= {p.name for p in parties.values()}
    assert sum(p.is_customer for p in parties.values()) == 30 and sum(p.is_vendor for p in parties.values()) == 10


async def test_a_bulk_load_continues_an_existing_ledger_in_a_schema_tenant(runtime: Runtime) -> None:
    await _tenant(runtime, "globex", Isolation.schema)
    first = LedgerSpec(entries=60, months=2, start=dt.date(2025, 11, 1), seed=5, reversal_share=0.1)
    posted = await generator.generate(runtime, "globex", first, company="Globex", template="uk")
    second = LedgerSpec(entries=400, months=3, start=dt.date(2026, 1, 1), seed=6, reversal_share=0.05)
    loaded = await generator.generate(runtime, "globex", second, company="Globex", fast=True)
    assert loaded.company_id == posted.company_id
    snapshot = await _snapshot(runtime, posted.company_id, "globex")
    assert snapshot["verification"].intact, snapshot["verification"]
    assert snapshot["head"] == snapshot["verification"].entries == 460
    assert snapshot["balances"] == snapshot["line_sums"]
    assert len(snapshot["lines"]) == posted.lines + loaded.lines
    # numbers run on without a gap in each journal and fiscal year
    taken: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, *_ in snapshot["entries"]:
        journal, year, sequence = number.split("/")
        taken[(journal, year)].append(int(sequence))
    assert all(sorted(seq) == list(range(1, len(seq) + 1)) for seq in taken.values()), taken
    assert {k: len(v) for k, v in taken.items()} == {(j, str(y)): n for (j, y), n in snapshot["sequences"].items()}
    assert ("GEN", "2025") in taken and ("GEN", "2026") in taken
    # posting audits every entry; the bulk load is one audit event
    async with runtime.db.platform_session() as session:
        actions = dict(
            (await session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action))).all()
        )
    assert actions["finance.entry.posted"] == 60  # reversals included
    assert actions["finance.entry.reversed"] == posted.kinds["reversal"] >= 1
    assert actions["finance.ledger.generated"] == 1


async def test_bad_specs_are_refused_naming_the_field(runtime: Runtime) -> None:
    await _tenant(runtime)
    cases: list[tuple[LedgerSpec, dict[str, Any], str]] = [
        (LedgerSpec(entries=0), {}, "entries"),
        (LedgerSpec(lines_per_entry=1.5), {}, "lines_per_entry"),
        (LedgerSpec(lines_per_entry=8.5), {}, "lines_per_entry"),
        (LedgerSpec(months=0), {}, "months"),
        (LedgerSpec(reversal_share=2), {}, "reversal_share"),
        (LedgerSpec(), {"template": "atlantis"}, "template"),
        (LedgerSpec(), {"batch": 0}, "batch"),
    ]
    for spec, options, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            await generator.generate(runtime, "acme", spec, **options)
        assert refused.value.extra["field"] == field, (spec, options, refused.value.detail)
    made = await generator.generate(runtime, "acme", LedgerSpec(entries=20, months=1, start=dt.date(2026, 3, 1)))
    async with acting(runtime, "acme") as access:
        await service.set_lock_dates(access, made.company_id, LockDates(hard_lock_date=dt.date(2026, 3, 31)))
    for fast in (False, True):
        with pytest.raises(posting.PeriodLocked):
            await generator.generate(runtime, "acme", LedgerSpec(start=dt.date(2026, 3, 1)), fast=fast)
    assert (await _snapshot(runtime, made.company_id))["head"] == 20


def test_the_bulk_columns_are_the_tables_columns() -> None:
    """A column added to a ledger table must be written by the bulk load too."""
    for columns, model in (
        (generator.ENTRY_COLUMNS, Entry),
        (generator.LINE_COLUMNS, Line),
        (generator.OPEN_ITEM_COLUMNS, OpenItem),
    ):
        assert sorted(columns) == sorted(c.name for c in model.__table__.columns), model
