"""Payments: money received from customers and sent to vendors, and how it settles documents.

A payment is posted at once, bank against receivable (received) or payable (sent), with one
counterpart line per allocation and one for what is left unallocated. Each allocation then
reconciles its line with the document's open installments, earliest due first, through
``reconcile.reconcile`` (one reconciliation per allocation, so each can be undone alone);
realised exchange differences arise there. What is not allocated stays open as the party's
credit.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from atrium.apps.finance import posting, reconcile, trail
from atrium.apps.finance import service as ledger
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.models import Account, Journal
from atrium.apps.finance.money import ZERO, has_more_decimals
from atrium.apps.finance.receivables import repository as repo
from atrium.apps.finance.receivables.models import Allocation, Invoice, Party, Payment
from atrium.apps.finance.receivables.schemas import (
    AllocationRead,
    PaymentAllocate,
    PaymentCreate,
    PaymentDetail,
    PaymentRead,
    PaymentReverse,
    PaymentUnallocate,
)
from atrium.apps.finance.receivables.service import (
    PURCHASES,
    SALES,
    Figures,
    Side,
    figures,
    get_party,
    ledger_line,
    money_text,
    open_line_ids,
    party_for,
    posting_rate,
    settle,
)
from atrium.core.db import new_id, utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access

K = AccountKind


def _bank_account(book: posting.Books, journal: Journal, key: str | None) -> Account:
    if key is None:
        account = book.accounts.get(journal.default_account_id or "")
        if account is None:
            raise ValidationFailed(f"journal {journal.code} has no default account; name the account", field="account")
    else:
        found = book.account(key)
        if found is None:
            raise ValidationFailed(f"no account {key!r} in {book.company.name}", field="account")
        account = found
    if account.kind not in (K.bank, K.cash) or not account.active:
        raise ValidationFailed(f"account {account.code} is not an open bank or cash account", field="account")
    return account


def _bank_journal(book: posting.Books, key: str | None) -> Journal:
    if key is None:
        journals = sorted(book.journals.values(), key=lambda j: (j.code != "BNK", j.code))
        found = next((j for j in journals if j.kind == "bank"), None)
        if found is None:
            raise ValidationFailed(f"{book.company.name} has no bank journal", field="journal")
        return found
    journal = book.journal(key)
    if journal is None or journal.kind not in ("bank", "cash"):
        raise ValidationFailed(f"no bank or cash journal {key!r} in {book.company.name}", field="journal")
    return journal


def payable_document(
    document: Invoice | None, ref: str, party: Party, side: Side, currency: str, at: str, where: str
) -> Invoice:
    """A document a payment of this party, side and currency may settle; else why not."""
    if document is None or document.company_id != party.company_id or document.kind not in side.kinds:
        raise ValidationFailed(f"{where}: no {side.noun} {ref!r}", field=at)
    name = document.number or f"{side.noun} {ref}"
    if document.kind != side.kinds[0]:
        raise ValidationFailed(f"{where}: {name} is a {document.kind}; payments settle {side.noun}s", field=at)
    if document.state == "draft":
        raise ValidationFailed(f"{where}: {name} is a draft; post it before paying it", field=at)
    if document.state != "posted":
        raise ValidationFailed(f"{where}: {name} is {document.state}", field=at)
    if document.party_id != party.id:
        raise ValidationFailed(f"{where}: {name} is another party's {side.noun}", field=at)
    if document.currency != currency:
        raise ValidationFailed(
            f"{where}: {name} is in {document.currency}; pay it with a {document.currency} payment", field=at
        )
    return document


async def _plan(
    access: Access, data: PaymentCreate, party: Party, side: Side, currency: str
) -> list[tuple[Invoice, Decimal]]:
    """Which documents the payment settles and how much of each, checked before anything is posted."""
    if data.allocations is None:
        return await _oldest_first(access, party, side, currency, data.amount)
    ids = [a.invoice_id for a in data.allocations]
    found = await repo.documents_by_id(access.session, ids, for_update=True)
    open_figures = await figures(access, list(found.values()))
    plan: list[tuple[Invoice, Decimal]] = []
    seen: set[str] = set()
    for number, allocation in enumerate(data.allocations, start=1):
        at = f"allocations[{number}]"
        document = payable_document(
            found.get(allocation.invoice_id),
            allocation.invoice_id,
            party,
            side,
            currency,
            f"{at}.invoice_id",
            f"allocation {number}",
        )
        if document.id in seen:
            raise ValidationFailed(f"allocation {number}: {document.number} is named twice", field=f"{at}.invoice_id")
        seen.add(document.id)
        if has_more_decimals(allocation.amount, currency):
            raise ValidationFailed(
                f"allocation {number}: {allocation.amount} has more decimals than {currency} allows",
                field=f"{at}.amount",
            )
        residual = open_figures[document.id].residual
        if allocation.amount > residual:
            raise ValidationFailed(
                f"allocation {number}: {allocation.amount} is more than the {money_text(residual, currency)} open on "
                f"{document.number}",
                field=f"{at}.amount",
            )
        plan.append((document, allocation.amount))
    allocated = sum((amount for _, amount in plan), ZERO)
    if allocated > data.amount:
        raise ValidationFailed(
            f"the allocations add up to {money_text(allocated, currency)}, more than the payment's "
            f"{money_text(data.amount, currency)}",
            field="allocations",
        )
    return plan


async def _oldest_first(
    access: Access, party: Party, side: Side, currency: str, amount: Decimal
) -> list[tuple[Invoice, Decimal]]:
    """The party's open documents in this currency, earliest due first, as far as ``amount`` goes."""
    documents = list(await repo.open_documents(access.session, party.company_id, party.id, side.kinds[0], currency))
    if not documents:
        return []
    locked = await repo.documents_by_id(access.session, [d.id for d in documents], for_update=True)
    open_figures = await figures(access, list(locked.values()))
    ordered = sorted(locked.values(), key=lambda d: (open_figures[d.id].first_due(), d.date, d.number or ""))
    plan: list[tuple[Invoice, Decimal]] = []
    left = amount
    for document in ordered:
        if left <= 0:
            break
        take = min(open_figures[document.id].residual, left)
        if take > 0:
            plan.append((document, take))
            left -= take
    return plan


async def create_payment(access: Access, data: PaymentCreate) -> Payment:
    """Post a payment (bank against receivable or payable, one line per allocation and one for
    the rest) and settle the documents it pays."""
    company = await ledger.get_company(access, data.company_id)
    side = SALES if data.direction == "received" else PURCHASES
    book = await posting.books(access.session, company.id)
    party = await party_for(access, company, data.party_id, side, "party_id")
    currency = data.currency or party.currency or company.base_currency
    if has_more_decimals(data.amount, currency):
        raise ValidationFailed(f"{data.amount} has more decimals than {currency} allows", field="amount")
    journal = _bank_journal(book, data.journal)
    bank = _bank_account(book, journal, data.account)
    counterpart = book.account_of_kind(side.counterpart)
    rate = await posting_rate(access, company, currency, data.date, data.rate)
    plan = await _plan(access, data, party, side, currency)
    payment_id = new_id()
    received = data.direction == "received"
    foreign = None if currency == company.base_currency else rate
    lines = [
        ledger_line(
            bank.id,
            data.amount,
            received,
            currency=currency,
            rate=foreign,
            label=(data.reference or party.name)[:200],
            party_id=party.id,
        )
    ]
    lines += [
        ledger_line(
            counterpart.id,
            amount,
            not received,
            currency=currency,
            rate=foreign,
            label=f"Payment of {document.number}"[:200],
            party_id=party.id,
        )
        for document, amount in plan
    ]
    rest = data.amount - sum((amount for _, amount in plan), ZERO)
    if rest:
        lines.append(
            ledger_line(
                counterpart.id,
                rest,
                not received,
                currency=currency,
                rate=foreign,
                label=f"Unallocated payment of {party.name}"[:200],
                party_id=party.id,
            )
        )
    entry = await posting.post(
        access,
        posting.EntryIn(
            company_id=company.id,
            journal=journal.id,
            date=data.date,
            lines=lines,
            reference=data.reference,
            memo=data.memo,
            source="payment",
            source_id=payment_id,
        ),
    )
    assert entry.number is not None
    payment = Payment(
        id=payment_id,
        company_id=company.id,
        party_id=party.id,
        direction=data.direction,
        state="posted",
        number=entry.number,
        date=data.date,
        amount=data.amount,
        currency=currency,
        rate=rate,
        journal_id=journal.id,
        account_id=bank.id,
        counterpart_account_id=counterpart.id,
        reference=data.reference,
        memo=data.memo,
        entry_id=entry.id,
        created_by=access.principal.id,
    )
    access.session.add(payment)
    await access.session.flush()
    posted = await posting.lines_of(access.session, entry.id)
    for (document, _), line in zip(plan, posted[1 : 1 + len(plan)], strict=True):
        await settle(access, document, [line.id], max(document.date, payment.date), payment=payment)
    await trail.record(
        access,
        "finance.payment.posted",
        "payment",
        payment.id,
        {
            "number": payment.number,
            "direction": payment.direction,
            "amount": str(payment.amount),
            "currency": currency,
            "party_id": party.id,
            "allocations": [{"invoice": d.number, "amount": str(a)} for d, a in plan],
        },
    )
    return payment


async def get_payment(access: Access, payment_id: str, *, for_update: bool = False) -> Payment:
    found = await repo.payment(access.session, payment_id, for_update=for_update)
    if found is None:
        raise NotFound(f"no payment {payment_id!r}", field="payment_id")
    return found


async def allocate(access: Access, payment_id: str, data: PaymentAllocate) -> Payment:
    """Apply what is still open of a payment to documents, in the order given (or oldest due
    first), each as far as it goes."""
    payment = await get_payment(access, payment_id, for_update=True)
    if payment.state != "posted":
        raise Conflict(f"{payment.number} is {payment.state}", field="state")
    side = SALES if payment.direction == "received" else PURCHASES
    party = await get_party(access, payment.party_id)
    if not await open_line_ids(access, payment):
        raise Conflict(f"nothing of {payment.number} is left to allocate", field="payment_id")
    if data.invoice_ids is None:
        documents = [d for d, _ in await _oldest_first(access, party, side, payment.currency, payment.amount)]
    else:
        found = await repo.documents_by_id(access.session, data.invoice_ids, for_update=True)
        documents = [
            payable_document(
                found.get(ref), ref, party, side, payment.currency, f"invoice_ids[{number}]", f"document {number}"
            )
            for number, ref in enumerate(data.invoice_ids, start=1)
        ]
    made: list[Allocation] = []
    for document in documents:
        left = await open_line_ids(access, payment)
        if not left:
            break
        allocation = await settle(access, document, left, max(document.date, payment.date), payment=payment)
        if allocation is not None:
            made.append(allocation)
    if not made:
        raise ValidationFailed(f"none of these {side.noun}s has anything open", field="invoice_ids")
    await trail.record(
        access,
        "finance.payment.allocated",
        "payment",
        payment.id,
        {"allocations": [{"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in made]},
    )
    return payment


async def unallocate(access: Access, payment_id: str, data: PaymentUnallocate) -> Payment:
    """Undo a payment's settlements (of one document, or all): the documents reopen and the
    payment's money is the party's open credit again; exchange differences are reversed."""
    payment = await get_payment(access, payment_id, for_update=True)
    if payment.state != "posted":
        raise Conflict(f"{payment.number} is {payment.state}", field="state")
    undone = await _undo_allocations(access, payment, data.invoice_id)
    if not undone:
        raise ValidationFailed(
            f"{payment.number} has no allocation{' to that document' if data.invoice_id else ''} to undo",
            field="invoice_id",
        )
    return payment


async def _undo_allocations(access: Access, payment: Payment, invoice_id: str | None) -> list[Allocation]:
    allocations = [
        a
        for a in await repo.allocations_of(access.session, payment_id=payment.id, active=True)
        if invoice_id is None or a.invoice_id == invoice_id
    ]
    for allocation in reversed(allocations):  # the latest first, so each undo finds what it settled
        await reconcile.undo(access, allocation.reconciliation_id, reason=f"payment {payment.number} unallocated")
        allocation.undone_at = utcnow()
    await access.session.flush()
    if allocations:
        await trail.record(
            access,
            "finance.payment.unallocated",
            "payment",
            payment.id,
            {"allocations": [{"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in allocations]},
        )
    return allocations


async def reverse_payment(access: Access, payment_id: str, data: PaymentReverse) -> Payment:
    """Undo every allocation, then post the payment's mirror image (the bank line included)."""
    payment = await get_payment(access, payment_id, for_update=True)
    if payment.state != "posted":
        raise Conflict(f"{payment.number} is already {payment.state}", field="state")
    await _undo_allocations(access, payment, None)
    reversal = await posting.reverse(
        access, payment.entry_id, day=data.date or payment.date, reason=data.reason, owner="payment"
    )
    payment.state = "reversed"
    payment.reversal_entry_id = reversal.id
    await access.session.flush()
    await trail.record(
        access,
        "finance.payment.reversed",
        "payment",
        payment.id,
        {"number": payment.number, "reversal": reversal.number, "reason": data.reason},
    )
    return payment


# -- read models ------------------------------------------------------------------------------


def _payment_read(payment: Payment, figures: Figures, allocated: Decimal, cls: type[PaymentRead], **extra: Any) -> Any:
    return cls.model_validate(
        {
            **{name: getattr(payment, name) for name in PaymentRead.model_fields if hasattr(payment, name)},
            "allocated": allocated,
            "unallocated": figures.residual if payment.state == "posted" else ZERO,
            **extra,
        }
    )


async def payment_reads(access: Access, payments: Sequence[Payment]) -> list[PaymentRead]:
    found = await figures(access, payments)
    allocated = await repo.allocated(access.session, [p.id for p in payments])
    return [_payment_read(p, found[p.id], allocated.get(p.id, ZERO), PaymentRead) for p in payments]


async def payment_detail(access: Access, payment: Payment) -> PaymentDetail:
    found = (await figures(access, [payment]))[payment.id]
    allocations = await repo.allocations_of(access.session, payment_id=payment.id)
    allocated = sum((a.amount for a in allocations if a.undone_at is None), ZERO)
    detail: PaymentDetail = _payment_read(
        payment,
        found,
        allocated,
        PaymentDetail,
        allocations=[AllocationRead.model_validate(a) for a in allocations],
    )
    return detail
