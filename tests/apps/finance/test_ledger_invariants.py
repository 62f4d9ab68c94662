"""Hypothesis streams of postings (in the company's currency and in USD, so rounding happens),
reversals and partial payments with their reconciliations keep every invariant of the ledger:
each entry balances, all lines of the company sum to zero, the per-period balances equal the
lines, the chain verifies, and every open item holds exactly its line minus what was matched."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from atrium.apps.finance import posting, reconcile, service
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.integrity import verify
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Balance, Entry, Line, Match, OpenItem
from atrium.apps.finance.receivables.models import Party
from atrium.apps.finance.schemas import CompanyCreate
from atrium.core.errors import AtriumError
from atrium.platform.access.auth import Access
from tests.platform.access.conftest import World

START = dt.date(2026, 1, 1)
KINDS = (AccountKind.receivable, AccountKind.income, AccountKind.expense, AccountKind.bank, AccountKind.payable)

amounts = st.integers(min_value=1, max_value=500_000).map(lambda cents: Decimal(cents) / 100)
line = st.tuples(st.sampled_from(range(len(KINDS))), amounts)
posting_op = st.tuples(
    st.just("post"), st.integers(0, 120), st.sampled_from(["EUR", "USD"]), st.lists(line, min_size=1, max_size=5)
)
reverse_op = st.tuples(st.just("reverse"), st.integers(0, 50))
pay_op = st.tuples(st.just("pay"), st.integers(0, 50), st.integers(1, 100))
streams = st.lists(st.one_of(posting_op, posting_op, reverse_op, pay_op), min_size=1, max_size=12)


async def _company(access: Access) -> tuple[str, dict[AccountKind, str]]:
    made = await service.create_company(
        access, CompanyCreate(name=f"Co {uuid.uuid4().hex[:8]}", base_currency="EUR", chart_template="ifrs")
    )
    await service.add_rates(
        access, made.id, [("USD", START + dt.timedelta(days=d), Decimal("0.9137")) for d in range(0, 121, 5)], "test"
    )
    book = await posting.books(access.session, made.id)
    access.session.add(Party(id=f"p-{made.id[:30]}", company_id=made.id, name="Customer", is_customer=True))
    await access.session.flush()
    return made.id, {kind: book.account_of_kind(kind).id for kind in KINDS}


async def _run(access: Access, company: str, accounts: dict[AccountKind, str], stream: list[Any]) -> None:
    posted: list[str] = []
    for op in stream:
        if op[0] == "post":
            _, offset, currency, lines = op
            proposed = [
                posting.LineIn(account=accounts[KINDS[k]], debit=a, currency=currency, party_id=f"p-{company[:30]}")
                if i % 2 == 0
                else posting.LineIn(
                    account=accounts[KINDS[k]], credit=a, currency=currency, party_id=f"p-{company[:30]}"
                )
                for i, (k, a) in enumerate(lines)
            ]
            net = sum((x.debit - x.credit for x in proposed), Decimal(0))
            if net == 0:
                continue
            balancing = accounts[AccountKind.receivable] if net < 0 else accounts[AccountKind.income]
            proposed.append(
                posting.LineIn(
                    account=balancing, debit=max(-net, Decimal(0)), credit=max(net, Decimal(0)), currency=currency
                )
            )
            day = START + dt.timedelta(days=offset - offset % 5)  # a day with a USD rate
            entry = await posting.post(
                access, posting.EntryIn(company_id=company, journal="GEN", date=day, lines=proposed)
            )
            posted.append(entry.id)
        elif op[0] == "reverse" and posted:
            try:
                await posting.reverse(access, posted[op[1] % len(posted)], reason="test")
            except AtriumError as refused:
                note(f"reverse refused: {refused.detail}")
        elif op[0] == "pay":
            items = (
                await access.session.scalars(
                    select(OpenItem)
                    .where(OpenItem.account_id == accounts[AccountKind.receivable], OpenItem.residual > 0)
                    .order_by(OpenItem.line_id)
                )
            ).all()
            if not items:
                continue
            item = items[op[1] % len(items)]
            amount = (item.residual_currency * op[2] / 100).quantize(Decimal("0.01")) or Decimal("0.01")
            if amount <= 0:
                continue
            payment = await posting.post(
                access,
                posting.EntryIn(
                    company_id=company,
                    journal="BNK",
                    date=item.date,
                    lines=[
                        posting.LineIn(account=accounts[AccountKind.bank], debit=amount, currency=item.currency),
                        posting.LineIn(account=accounts[AccountKind.receivable], credit=amount, currency=item.currency),
                    ],
                ),
            )
            credit_line = (await posting.lines_of(access.session, payment.id))[1]
            await reconcile.reconcile(access, [item.line_id, credit_line.id], day=item.date)


async def _check(access: Access, company: str) -> None:
    session = access.session
    lines = (await session.scalars(select(Line).where(Line.company_id == company))).all()
    assert sum((x.debit - x.credit for x in lines), Decimal(0)) == 0
    per_entry: dict[str, Decimal] = defaultdict(Decimal)
    sums: dict[tuple[str, int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for x in lines:
        per_entry[x.entry_id] += x.debit - x.credit
        acc = sums[(x.account_id, x.period, x.currency)]
        acc[0] += x.debit
        acc[1] += x.credit
        acc[2] += x.amount_currency
    assert all(v == 0 for v in per_entry.values())
    balances = await session.execute(
        select(
            Balance.account_id,
            Balance.period,
            Balance.currency,
            func.sum(Balance.debit),
            func.sum(Balance.credit),
            func.sum(Balance.amount_currency),
        )
        .where(Balance.company_id == company)
        .group_by(Balance.account_id, Balance.period, Balance.currency)
    )
    from_balances = {(a, p, c): [Decimal(d), Decimal(cr), Decimal(ac)] for a, p, c, d, cr, ac in balances.all()}
    assert from_balances == dict(sums)
    assert (await verify(session, company)).intact
    matched: dict[str, Decimal] = defaultdict(Decimal)
    for m in (await session.scalars(select(Match).where(Match.company_id == company))).all():
        matched[m.debit_line_id] -= m.amount
        matched[m.credit_line_id] += m.amount
    items = {i.line_id: i for i in (await session.scalars(select(OpenItem).where(OpenItem.company_id == company)))}
    for x in lines:
        expected = x.debit - x.credit + matched.get(x.id, Decimal(0))
        item = items.get(x.id)
        if item is not None:
            assert item.residual == expected, (x.id, item.residual, expected)
        elif x.id in matched:
            assert expected == 0, (x.id, expected)
    reversed_entries = (
        await session.scalars(select(Entry).where(Entry.company_id == company, Entry.state == "reversed"))
    ).all()
    for entry in reversed_entries:
        mirror = await session.scalar(select(Entry).where(Entry.reversal_of_id == entry.id))
        assert mirror is not None and mirror.id == entry.reversed_by_id and mirror.total == entry.total


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams)
async def test_streams_of_postings_reversals_and_payments_keep_every_invariant(world: World, stream: list[Any]) -> None:
    if not world.clients:  # the world fixture lives for the whole test: one tenant for every example
        world.client()
        await world.tenant("acme")
    async with acting(world.rt, "acme") as access:
        company, accounts = await _company(access)
        await _run(access, company, accounts, stream)
    async with acting(world.rt, "acme") as access:
        await _check(access, company)
