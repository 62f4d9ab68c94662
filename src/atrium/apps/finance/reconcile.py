"""Reconciliation: settling open debit lines against open credit lines of one account (an invoice
against its payments, a bank line against an outstanding receipt), and undoing it.

Lines are matched in the order given (callers put the oldest invoice first), each match taking
as much as both sides still have open. Lines in the same foreign currency are settled in that
currency; when the two sides were posted at different rates, what is left in the company's
currency is the realised exchange difference, posted at once to the exchange-difference account
and settled with the rest, so nothing stays open by a few cents. Undoing deletes the matches,
reopens what they settled and reverses that exchange entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, select

from atrium.apps.finance import charts, posting, trail
from atrium.apps.finance.models import Entry, Line, Match, OpenItem
from atrium.apps.finance.money import ZERO, rounded
from atrium.core.db import new_id
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access


@dataclass
class Reconciliation:
    id: str
    matches: list[Match] = field(default_factory=list)
    exchange_entry: Entry | None = None
    # what stays open afterwards, per line id (company currency); 0 means settled
    residuals: dict[str, Decimal] = field(default_factory=dict)


async def _open_items(access: Access, line_ids: list[str]) -> list[OpenItem]:
    rows = (
        await access.session.scalars(select(OpenItem).where(OpenItem.line_id.in_(line_ids)).with_for_update())
    ).all()
    found = {row.line_id: row for row in rows}
    missing = [line_id for line_id in line_ids if line_id not in found]
    if missing:
        raise Conflict(
            f"line {missing[0]} is not open (already settled, or not on a reconciled account)", field="lines"
        )
    return [found[line_id] for line_id in line_ids]


async def reconcile(access: Access, line_ids: list[str], *, day: dt.date | None = None) -> Reconciliation:
    """Settle the given open lines against each other; all must be on one account of one company."""
    if len(set(line_ids)) != len(line_ids) or len(line_ids) < 2:
        raise ValidationFailed("give at least two different lines to reconcile", field="lines")
    items = await _open_items(access, line_ids)
    company_id, account_id = items[0].company_id, items[0].account_id
    if any(i.company_id != company_id or i.account_id != account_id for i in items):
        raise ValidationFailed("only lines of one account of one company reconcile together", field="lines")
    parties = {i.party_id for i in items}
    if len(parties) > 1 and None not in parties:
        # one customer's payment never settles another customer's invoice
        raise ValidationFailed("only lines of one party reconcile together", field="lines")
    debits = [i for i in items if i.residual > 0 or (i.residual == 0 and i.residual_currency > 0)]
    credits = [i for i in items if i not in debits]
    if not debits or not credits:
        raise ValidationFailed("a reconciliation needs at least one debit and one credit line", field="lines")
    book = await posting.books(access.session, company_id)
    base = book.company.base_currency
    result = Reconciliation(id=new_id())
    for debit in debits:
        for credit in credits:
            if debit.residual <= 0 and debit.residual_currency <= 0:
                break
            if credit.residual >= 0 and credit.residual_currency >= 0:
                continue
            if debit.currency == credit.currency:
                # settled in the lines' own currency; each side gives up its share at its own rate,
                # and the match moves the smaller of the two (the rest is the exchange difference)
                take = min(debit.residual_currency, -credit.residual_currency)
                if take <= 0:
                    continue
                amount = min(
                    _share(debit.residual, debit.residual_currency, take, base),
                    _share(-credit.residual, -credit.residual_currency, take, base),
                )
                debit.residual_currency -= take
                credit.residual_currency += take
            else:  # different currencies: settled in the company's currency
                take = ZERO
                amount = min(debit.residual, -credit.residual)
                if amount <= 0:
                    continue
                debit.residual_currency = _scaled(
                    debit.residual_currency, debit.residual, debit.residual - amount, debit.currency
                )
                credit.residual_currency = _scaled(
                    credit.residual_currency, credit.residual, credit.residual + amount, credit.currency
                )
            debit.residual -= amount
            credit.residual += amount
            result.matches.append(
                Match(
                    reconciliation_id=result.id,
                    company_id=company_id,
                    debit_line_id=debit.line_id,
                    credit_line_id=credit.line_id,
                    amount=amount,
                    amount_currency=take,
                    created_by=access.principal.id,
                )
            )
    result.matches = [m for m in result.matches if m.amount > 0 or m.amount_currency > 0]
    if not result.matches:
        raise ValidationFailed("nothing to settle between these lines", field="lines")
    access.session.add_all(result.matches)
    await access.session.flush()

    # Realised exchange differences: a side fully settled in its currency with company-currency
    # residual left over.
    differences = [i for i in items if i.residual_currency == 0 and i.residual != 0 and i.currency != base]
    if differences:
        result.exchange_entry = await _post_exchange_difference(access, book, differences, result, day)
    for item in items:
        result.residuals[item.line_id] = item.residual
        if item.residual == 0 and item.residual_currency == 0:
            await access.session.delete(item)
    await access.session.flush()
    await trail.record(
        access,
        "finance.reconciled",
        "reconciliation",
        result.id,
        {
            "company_id": company_id,
            "lines": line_ids,
            "matches": len(result.matches),
            "exchange_entry": result.exchange_entry.number if result.exchange_entry else None,
        },
    )
    return result


def _share(residual: Decimal, residual_currency: Decimal, take: Decimal, base: str) -> Decimal:
    """The company-currency part of an open line that ``take`` units of its currency settle."""
    if take >= residual_currency:
        return residual
    return rounded(residual * take / residual_currency, base) if residual_currency else ZERO


def _scaled(residual_currency: Decimal, before: Decimal, after: Decimal, currency: str) -> Decimal:
    """A foreign residual shrinks in proportion when its line is settled in the company's currency,
    rounded to its currency so what is left can still be paid exactly."""
    if before == 0 or after == 0:
        return ZERO
    return rounded(residual_currency * after / before, currency)


async def _post_exchange_difference(
    access: Access, book: posting.Books, items: list[OpenItem], rec: Reconciliation, day: dt.date | None
) -> Entry:
    fx_account = book.account_of_kind(charts.AccountKind.fx_gain_loss)
    base = book.company.base_currency
    fx_journal = next((j for j in book.journals.values() if j.kind == "fx"), None)
    lines: list[posting.LineIn] = []
    for item in items:
        # bring the line's company-currency residual to zero, in its currency with no foreign amount
        amount = item.residual
        lines.append(
            posting.LineIn(
                account=item.account_id,
                debit=-amount if amount < 0 else ZERO,
                credit=amount if amount > 0 else ZERO,
                currency=item.currency,
                adjustment=True,
                label="Realised exchange difference",
                party_id=item.party_id,
                open=True,
            )
        )
        lines.append(
            posting.LineIn(
                account=fx_account.id,
                debit=amount if amount > 0 else ZERO,
                credit=-amount if amount < 0 else ZERO,
                currency=base,
                label="Realised exchange difference",
            )
        )
    entry = await posting.post(
        access,
        posting.EntryIn(
            company_id=book.company.id,
            journal=fx_journal.id if fx_journal else "GEN",
            date=day or dt.date.today(),
            lines=lines,
            reference="Realised exchange difference",
            source="fx_realised",
            source_id=rec.id,
        ),
    )
    new_lines = (
        await access.session.scalars(
            select(Line).where(Line.entry_id == entry.id, Line.account_id == items[0].account_id).order_by(Line.line_no)
        )
    ).all()
    for item, line in zip(items, new_lines, strict=True):
        new_item = await access.session.get(OpenItem, line.id)
        assert new_item is not None
        debit_side = item.residual > 0
        rec.matches.append(
            Match(
                reconciliation_id=rec.id,
                company_id=book.company.id,
                debit_line_id=item.line_id if debit_side else line.id,
                credit_line_id=line.id if debit_side else item.line_id,
                amount=abs(item.residual),
                amount_currency=ZERO,
                created_by=access.principal.id,
            )
        )
        access.session.add(rec.matches[-1])
        item.residual = ZERO
        await access.session.delete(new_item)
    await access.session.flush()
    return entry


async def undo(access: Access, reconciliation_id: str, *, reason: str = "reconciliation undone") -> int:
    """Delete the reconciliation's matches and reopen what they settled; reverse its exchange entry."""
    session = access.session
    matches = (
        await session.scalars(select(Match).where(Match.reconciliation_id == reconciliation_id).with_for_update())
    ).all()
    if not matches:
        raise NotFound(f"no reconciliation {reconciliation_id!r}", field="reconciliation_id")
    line_ids = {m.debit_line_id for m in matches} | {m.credit_line_id for m in matches}
    lines = {line.id: line for line in (await session.scalars(select(Line).where(Line.id.in_(line_ids)))).all()}
    items = {
        i.line_id: i for i in (await session.scalars(select(OpenItem).where(OpenItem.line_id.in_(line_ids)))).all()
    }
    for match in matches:
        for line_id, sign in ((match.debit_line_id, 1), (match.credit_line_id, -1)):
            line = lines[line_id]
            item = items.get(line_id)
            if item is None:
                item = items[line_id] = OpenItem(
                    line_id=line.id,
                    company_id=line.company_id,
                    account_id=line.account_id,
                    party_id=line.party_id,
                    currency=line.currency,
                    residual=ZERO,
                    residual_currency=ZERO,
                    date=line.date,
                    due_date=line.due_date,
                )
                session.add(item)
            item.residual += sign * match.amount
            if match.amount_currency:
                item.residual_currency += sign * match.amount_currency
            else:
                item.residual_currency = _reopened_currency(line, item.residual)
    await session.execute(delete(Match).where(Match.reconciliation_id == reconciliation_id))
    await session.flush()
    fx_entry = await session.scalar(
        select(Entry).where(
            Entry.source == "fx_realised", Entry.source_id == reconciliation_id, Entry.state == "posted"
        )
    )
    if fx_entry is not None:
        await posting.reverse(access, fx_entry.id, day=fx_entry.date, reason=reason, owner="fx_realised")
    await trail.record(
        access, "finance.reconciliation.undone", "reconciliation", reconciliation_id, {"matches": len(matches)}
    )
    return len(matches)


def _reopened_currency(line: Line, residual: Decimal) -> Decimal:
    """A line settled in the company's currency reopens its own currency in proportion."""
    total = line.debit - line.credit
    if total == 0:
        return ZERO
    return rounded(line.amount_currency * residual / total, line.currency)
