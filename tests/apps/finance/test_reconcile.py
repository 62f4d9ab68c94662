"""Reconciliation by hand-computed examples: partial and over-payment, many invoices to one
payment, a realised exchange loss posted and settled, and undo restoring exactly what was open."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from atrium.apps.finance import posting, reconcile, service
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.integrity import verify
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Balance, Line, OpenItem
from atrium.apps.finance.receivables.models import Party
from atrium.apps.finance.schemas import CompanyCreate
from atrium.core.errors import AtriumError
from atrium.platform.access.auth import Access
from tests.platform.access.conftest import World

D = Decimal
DAY = dt.date(2026, 6, 1)


async def _company(access: Access) -> tuple[str, dict[str, str]]:
    company = await service.create_company(
        access, CompanyCreate(name="Acme", base_currency="EUR", chart_template="ifrs")
    )
    book = await posting.books(access.session, company.id)
    kinds = {kind: book.account_of_kind(kind).id for kind in AccountKind if _has(book, kind)}
    access.session.add_all(
        Party(id=key, company_id=company.id, name=f"Party {key}", is_customer=True) for key in ("p1", "p2", "c")
    )
    await access.session.flush()
    return company.id, kinds


def _has(book: posting.Books, kind: AccountKind) -> bool:
    return any(a.kind == kind for a in book.accounts.values())


async def _post(access: Access, company: str, *lines: posting.LineIn, day: dt.date = DAY) -> list[Line]:
    entry = await posting.post(access, posting.EntryIn(company_id=company, journal="GEN", date=day, lines=lines))
    return list(await posting.lines_of(access.session, entry.id))


def _l(account: str, debit: str = "0", credit: str = "0", **extra: object) -> posting.LineIn:
    return posting.LineIn(account=account, debit=D(debit), credit=D(credit), **extra)  # type: ignore[arg-type]


async def _open(access: Access, line: Line) -> tuple[Decimal, Decimal] | None:
    item = await access.session.get(OpenItem, line.id, populate_existing=True)
    return None if item is None else (item.residual, item.residual_currency)


async def test_partial_over_and_many_to_one_payments(world: World) -> None:
    await world.tenant("acme")
    async with acting(world.rt, "acme") as access:
        company, k = await _company(access)
        rec, inc, bank = k[AccountKind.receivable], k[AccountKind.income], k[AccountKind.bank]
        invoice = (await _post(access, company, _l(rec, "100", party_id="p1"), _l(inc, credit="100")))[0]
        pay1 = (await _post(access, company, _l(bank, "60"), _l(rec, credit="60", party_id="p1")))[1]
        first = await reconcile.reconcile(access, [invoice.id, pay1.id])
        assert first.residuals == {invoice.id: D("40"), pay1.id: D("0")}
        assert await _open(access, invoice) == (D("40"), D("40")) and await _open(access, pay1) is None
        pay2 = (await _post(access, company, _l(bank, "50"), _l(rec, credit="50", party_id="p1")))[1]
        await reconcile.reconcile(access, [invoice.id, pay2.id])
        assert await _open(access, invoice) is None
        assert await _open(access, pay2) == (D("-10"), D("-10"))  # over-paid: a credit the customer has

        a = (await _post(access, company, _l(rec, "100", party_id="p2"), _l(inc, credit="100")))[0]
        b = (await _post(access, company, _l(rec, "200", party_id="p2"), _l(inc, credit="200")))[0]
        pay = (await _post(access, company, _l(bank, "300"), _l(rec, credit="300", party_id="p2")))[1]
        both = await reconcile.reconcile(access, [a.id, b.id, pay.id])
        assert sorted(m.amount for m in both.matches) == [D("100"), D("200")]
        assert [await _open(access, x) for x in (a, b, pay)] == [None, None, None]

        with pytest.raises(AtriumError):  # settled lines are not open any more
            await reconcile.reconcile(access, [a.id, pay.id])
        await reconcile.undo(access, both.id)
        assert [await _open(access, x) for x in (a, b, pay)] == [(D(100), D(100)), (D(200), D(200)), (D(-300), D(-300))]


async def test_a_realised_exchange_loss_is_posted_settled_and_undone(world: World) -> None:
    await world.tenant("acme")
    async with acting(world.rt, "acme") as access:
        company, k = await _company(access)
        await service.add_rates(
            access, company, [("USD", DAY, D("1.10")), ("USD", DAY.replace(day=20), D("1.05"))], "manual"
        )
        rec, inc, bank, fx = (
            k[x] for x in (AccountKind.receivable, AccountKind.income, AccountKind.bank, AccountKind.fx_gain_loss)
        )
        invoice = (
            await _post(
                access, company, _l(rec, "100", currency="USD", party_id="c"), _l(inc, credit="100", currency="USD")
            )
        )[0]
        assert invoice.debit == D("110")
        payment = (
            await _post(
                access,
                company,
                _l(bank, "100", currency="USD"),
                _l(rec, credit="100", currency="USD", party_id="c"),
                day=DAY.replace(day=20),
            )
        )[1]
        assert payment.credit == D("105")
        done = await reconcile.reconcile(access, [invoice.id, payment.id], day=DAY.replace(day=20))
        # 100 USD settle both; 110 − 105 = 5 EUR is the realised loss
        assert done.exchange_entry is not None and done.exchange_entry.total == D("5")
        assert await _open(access, invoice) is None and await _open(access, payment) is None
        fx_lines = (await access.session.scalars(select(Line).where(Line.account_id == fx))).all()
        assert [(line.debit, line.credit) for line in fx_lines] == [(D("5"), D("0"))]

        await reconcile.undo(access, done.id)
        assert await _open(access, invoice) == (D("110"), D("100"))
        assert await _open(access, payment) == (D("-105"), D("-100"))
        fx_total = sum(
            (
                b.debit - b.credit
                for b in (await access.session.scalars(select(Balance).where(Balance.account_id == fx))).all()
            ),
            D(0),
        )
        assert fx_total == 0  # the exchange entry was reversed
        assert (await verify(access.session, company)).intact


async def test_period_end_revaluation_is_posted_and_reversed_the_next_day(world: World) -> None:
    from atrium.apps.finance import fx

    await world.tenant("acme")
    async with acting(world.rt, "acme") as access:
        company, k = await _company(access)
        month_end = dt.date(2026, 6, 30)
        await service.add_rates(access, company, [("USD", DAY, D("1.10")), ("USD", month_end, D("1.15"))], "manual")
        rec, inc, pay, exp, fx_account = (
            k[x]
            for x in (
                AccountKind.receivable,
                AccountKind.income,
                AccountKind.payable,
                AccountKind.expense,
                AccountKind.fx_gain_loss,
            )
        )
        await _post(access, company, _l(rec, "100", currency="USD"), _l(inc, credit="100", currency="USD"))
        await _post(access, company, _l(exp, "40", currency="USD"), _l(pay, credit="40", currency="USD"))
        # receivable 100 USD booked 110 → 115: +5 gain; payable −40 USD booked −44 → −46: −2 loss
        entry = await fx.revalue(access, company, month_end)
        assert entry is not None and entry.date == month_end and entry.total == D("7")
        lines = await posting.lines_of(access.session, entry.id)
        fx_net = sum((x.credit - x.debit for x in lines if x.account_id == fx_account), D(0))
        assert fx_net == D("3")  # net unrealised gain
        assert {(x.account_id, x.debit, x.credit, x.amount_currency) for x in lines if x.account_id != fx_account} == {
            (rec, D("5"), D("0"), D("0")),
            (pay, D("0"), D("2"), D("0")),
        }
        reversal = (
            await access.session.scalars(select(posting.Entry).where(posting.Entry.reversal_of_id == entry.id))
        ).one()
        assert reversal.date == dt.date(2026, 7, 1)
        with pytest.raises(AtriumError):
            await fx.revalue(access, company, month_end)
        exposure = {(e.account_id, e.currency): e for e in await fx.exposures(access, company, dt.date(2026, 7, 1))}
        assert exposure[(rec, "USD")].booked == D("110")  # back to booked values after the reversal
