"""Period-end revaluation of foreign-currency balances.

For every receivable, payable, bank and cash account, the foreign amount held in each currency is
valued at the rate of the closing date; the difference to its booked value is posted as an
adjustment against the exchange-difference account and reversed on the next day, so the next
period starts from booked values again and a later payment realises only what it really gains or
loses (see ``reconcile``). One revaluation per company and date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from atrium.apps.finance import charts, posting, trail
from atrium.apps.finance.models import Balance, Entry, Line
from atrium.apps.finance.money import ZERO, period_of, rounded
from atrium.core.errors import Conflict, ValidationFailed
from atrium.platform.access.auth import Access

MONETARY_KINDS = (
    charts.AccountKind.receivable,
    charts.AccountKind.payable,
    charts.AccountKind.bank,
    charts.AccountKind.cash,
)


@dataclass(frozen=True)
class Exposure:
    account_id: str
    currency: str
    amount_currency: Decimal  # held in the foreign currency
    booked: Decimal  # its value in the company's currency as posted
    rate: Decimal | None = None
    revalued: Decimal | None = None

    @property
    def difference(self) -> Decimal:
        return ZERO if self.revalued is None else self.revalued - self.booked


async def exposures(access: Access, company_id: str, as_of: dt.date) -> list[Exposure]:
    """Foreign amounts and their booked values on monetary accounts at the end of ``as_of``: whole
    months from the balances, the days of the last month from its lines."""
    book = await posting.books(access.session, company_id)
    base = book.company.base_currency
    monetary = [a.id for a in book.accounts.values() if a.kind in MONETARY_KINDS]
    if not monetary:
        return []
    sums: dict[tuple[str, str], list[Decimal]] = {}
    month = period_of(as_of)
    from_balances = await access.session.execute(
        select(
            Balance.account_id,
            Balance.currency,
            func.sum(Balance.amount_currency),
            func.sum(Balance.debit - Balance.credit),
        )
        .where(Balance.account_id.in_(monetary), Balance.currency != base, Balance.period < month)
        .group_by(Balance.account_id, Balance.currency)
    )
    from_lines = await access.session.execute(
        select(Line.account_id, Line.currency, func.sum(Line.amount_currency), func.sum(Line.debit - Line.credit))
        .where(Line.account_id.in_(monetary), Line.currency != base, Line.period == month, Line.date <= as_of)
        .group_by(Line.account_id, Line.currency)
    )
    for account_id, currency, amount_currency, booked in [*from_balances.all(), *from_lines.all()]:
        acc = sums.setdefault((account_id, currency), [ZERO, ZERO])
        acc[0] += Decimal(amount_currency or 0)
        acc[1] += Decimal(booked or 0)
    return [Exposure(a, c, rounded(v[0], c), rounded(v[1], base)) for (a, c), v in sorted(sums.items())]


async def revalue(access: Access, company_id: str, as_of: dt.date) -> Entry | None:
    """Post the revaluation at ``as_of`` and its reversal the day after; None when nothing moved."""
    book = await posting.books(access.session, company_id)
    base = book.company.base_currency
    key = f"{company_id}:{as_of.isoformat()}"
    done = await access.session.scalar(
        select(Entry.number).where(Entry.source == "fx_revaluation", Entry.source_id == key)
    )
    if done is not None:
        raise Conflict(f"{book.company.name} was already revalued at {as_of.isoformat()} ({done})", field="as_of")
    valued: list[Exposure] = []
    for exposure in await exposures(access, company_id, as_of):
        if exposure.amount_currency == 0 and exposure.booked == 0:
            continue
        rate = await posting.rate_on(access.session, company_id, exposure.currency, as_of)
        if rate is None:
            raise ValidationFailed(
                f"no {exposure.currency} rate for {as_of.isoformat()}; add one under exchange rates", field="as_of"
            )
        revalued = rounded(exposure.amount_currency * rate, base)
        valued.append(
            Exposure(exposure.account_id, exposure.currency, exposure.amount_currency, exposure.booked, rate, revalued)
        )
    moved = [e for e in valued if e.difference != 0]
    if not moved:
        return None
    fx_account = book.account_of_kind(charts.AccountKind.fx_gain_loss)
    lines: list[posting.LineIn] = []
    for e in moved:
        gain = e.difference
        lines.append(
            posting.LineIn(
                account=e.account_id,
                debit=max(gain, ZERO),
                credit=max(-gain, ZERO),
                currency=e.currency,
                adjustment=True,
                open=False,
                label=f"Revaluation of {e.currency} at {e.rate}",
            )
        )
        lines.append(
            posting.LineIn(
                account=fx_account.id,
                debit=max(-gain, ZERO),
                credit=max(gain, ZERO),
                currency=base,
                label=f"Unrealised exchange difference {e.currency}",
            )
        )
    fx_journal = next((j.id for j in book.journals.values() if j.kind == "fx"), "GEN")
    entry = await posting.post(
        access,
        posting.EntryIn(
            company_id=company_id,
            journal=fx_journal,
            date=as_of,
            lines=lines,
            reference=f"Revaluation at {as_of.isoformat()}",
            source="fx_revaluation",
            source_id=key,
        ),
    )
    await posting.reverse(access, entry.id, day=as_of + dt.timedelta(days=1), reason="revaluation reversed")
    await trail.record(
        access,
        "finance.fx.revalued",
        "company",
        company_id,
        {
            "as_of": as_of.isoformat(),
            "entry": entry.number,
            "accounts": [
                {
                    "account_id": e.account_id,
                    "currency": e.currency,
                    "rate": str(e.rate),
                    "difference": str(e.difference),
                }
                for e in moved
            ],
        },
    )
    return entry
