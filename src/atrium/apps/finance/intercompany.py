"""Inter-company entries: one transaction between two companies of the tenant, booked in both
ledgers at once. The sender books the amount as due from the receiver (its receivable account),
the receiver as due to the sender (its payable account); both entries share a pair id and are
posted, and reversed, together, so the two ledgers never disagree about what they owe each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from atrium.apps.finance import charts, posting, trail
from atrium.apps.finance.models import Entry
from atrium.core.db import new_id
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access

SOURCE = "intercompany"


@dataclass(frozen=True)
class Side:
    company_id: str
    account: str  # the account this company books against (code or id)


@dataclass(frozen=True)
class Pair:
    id: str
    sender: Entry
    receiver: Entry


async def post_pair(
    access: Access,
    *,
    sender: Side,
    receiver: Side,
    day: dt.date,
    amount: Decimal,
    currency: str | None = None,
    memo: str | None = None,
) -> Pair:
    """``sender`` pays or charges ``amount`` to ``receiver``: the sender credits its account and
    debits what the receiver now owes it; the receiver debits its account and credits what it owes."""
    if sender.company_id == receiver.company_id:
        raise ValidationFailed("an inter-company entry joins two different companies", field="receiver.company_id")
    if amount <= 0:
        raise ValidationFailed("the amount must be positive", field="amount")
    send_book = await posting.books(access.session, sender.company_id)
    receive_book = await posting.books(access.session, receiver.company_id)
    pair_id = new_id()
    label_to = f"Due from {receive_book.company.name}"
    label_from = f"Due to {send_book.company.name}"
    currency = currency or send_book.company.base_currency
    entries = await posting.post_many(
        access,
        [
            posting.EntryIn(
                company_id=sender.company_id,
                journal="GEN",
                date=day,
                lines=[
                    posting.LineIn(
                        account=send_book.account_of_kind(charts.AccountKind.receivable).id,
                        debit=amount,
                        currency=currency,
                        label=label_to,
                    ),
                    posting.LineIn(account=sender.account, credit=amount, currency=currency, label=memo),
                ],
                reference=f"Inter-company with {receive_book.company.name}",
                memo=memo,
                source=SOURCE,
                source_id=pair_id,
            ),
            posting.EntryIn(
                company_id=receiver.company_id,
                journal="GEN",
                date=day,
                lines=[
                    posting.LineIn(account=receiver.account, debit=amount, currency=currency, label=memo),
                    posting.LineIn(
                        account=receive_book.account_of_kind(charts.AccountKind.payable).id,
                        credit=amount,
                        currency=currency,
                        label=label_from,
                    ),
                ],
                reference=f"Inter-company with {send_book.company.name}",
                memo=memo,
                source=SOURCE,
                source_id=pair_id,
            ),
        ],
    )
    sent, received = entries
    sent.reference = f"{sent.reference} ({received.number})"
    received.reference = f"{received.reference} ({sent.number})"
    await access.session.flush()
    await trail.record(
        access,
        "finance.intercompany.posted",
        "intercompany",
        pair_id,
        {"sender": sent.number, "receiver": received.number, "amount": str(amount), "currency": currency},
    )
    return Pair(pair_id, sent, received)


async def partners(access: Access, entry: Entry) -> list[Entry]:
    if entry.source != SOURCE or entry.source_id is None:
        return []
    return list(
        (
            await access.session.scalars(
                select(Entry).where(Entry.source == SOURCE, Entry.source_id == entry.source_id, Entry.id != entry.id)
            )
        ).all()
    )


async def reverse_pair(access: Access, entry_id: str, *, day: dt.date | None, reason: str) -> list[Entry]:
    """Reverse both sides of an inter-company pair."""
    entry = await access.session.scalar(select(Entry).where(Entry.id == entry_id))
    if entry is None:
        raise NotFound(f"no journal entry {entry_id!r}", field="entry_id")
    others = await partners(access, entry)
    if not others:
        raise Conflict("this entry is not one side of an inter-company pair", field="entry_id")
    return [await posting.reverse(access, e.id, day=day, reason=reason, owner=SOURCE) for e in (entry, *others)]
