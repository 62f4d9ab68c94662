"""Bank accounts, statement import and reconciliation of statement lines.

Import parses the file (``parsers``), finds the bank account (given, or by the IBAN in the file),
and stores lines whose fingerprint the account has not seen before: re-importing a file, or an
overlapping one, adds nothing twice. Suggestions rank open ledger items (customer invoices, vendor
bills, outstanding receipts and payments on the bank account) for each line with ``matching``.

Reconciling a line names its counterparts: open items (settled in full or in part) and accounts
(a split, a fee, a line with no document yet), which together must add up to the line. Open items
on the bank account itself (a payment already entered by hand) are settled directly; everything
else goes through one entry in the bank journal, whose receivable and payable lines are then
reconciled with the items they pay. Undo reverses exactly that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from atrium.apps.finance import charts, closing, posting, reconcile, trail
from atrium.apps.finance.banking import matching, parsers
from atrium.apps.finance.banking.models import BankAccount, BankMatch, Statement, StatementLine
from atrium.apps.finance.models import Account, Company, Entry, Journal, Line, Match, OpenItem
from atrium.apps.finance.money import ZERO, has_more_decimals, rounded
from atrium.core.db import new_id, utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access

# -- bank accounts -----------------------------------------------------------------------------


async def create_bank_account(
    access: Access,
    company_id: str,
    *,
    name: str,
    iban: str | None,
    currency: str | None,
    account: str | None,
    journal: str | None,
) -> BankAccount:
    """A bank account posts through a bank journal of its own: the company's ``BNK`` journal for
    the first one, a new ``BNK2``, ``BNK3`` … for the next."""
    book = await posting.books(access.session, company_id)
    company = book.company
    if await access.session.scalar(
        select(BankAccount.id).where(BankAccount.company_id == company.id, func.lower(BankAccount.name) == name.lower())
    ):
        raise Conflict(f"{company.name} has a bank account named {name!r}", field="name")
    iban = parsers.normalise_iban(iban) if iban else None
    if iban is not None and not parsers.is_iban(iban):
        raise ValidationFailed(f"{iban!r} is not an IBAN", field="iban")
    gl: Account | None = book.account(account) if account else None
    if account and gl is None:
        raise ValidationFailed(f"no account {account!r} in {company.name}", field="account")
    if gl is None:
        gl = book.account_of_kind(charts.AccountKind.bank)
    if gl.kind not in (charts.AccountKind.bank, charts.AccountKind.cash):
        raise ValidationFailed(f"account {gl.code} is not a bank or cash account", field="account")
    used = set(
        (await access.session.scalars(select(BankAccount.journal_id).where(BankAccount.company_id == company.id))).all()
    )
    chosen: Journal | None = book.journal(journal) if journal else None
    if journal and chosen is None:
        raise ValidationFailed(f"no journal {journal!r} in {company.name}", field="journal")
    if chosen is None:
        banks = sorted((j for j in book.journals.values() if j.kind == "bank"), key=lambda j: j.code)
        chosen = next((j for j in banks if j.id not in used), None)
    if chosen is None:
        if not access.check("finance.account.manage"):
            raise ValidationFailed(
                "every bank journal has a bank account; name a journal, or ask someone who may maintain the "
                "chart of accounts to add this bank account",
                field="journal",
            )
        codes = {j.code for j in book.journals.values()}
        code = next(f"BNK{n}" for n in range(2, 1000) if f"BNK{n}" not in codes)
        chosen = Journal(company_id=company.id, code=code, name=name[:200], kind="bank", default_account_id=gl.id)
        access.session.add(chosen)
        await access.session.flush()
    elif chosen.id in used:
        raise Conflict(f"journal {chosen.code} already belongs to another bank account", field="journal")
    if chosen.kind not in ("bank", "cash"):
        raise ValidationFailed(f"journal {chosen.code} is not a bank journal", field="journal")
    bank = BankAccount(
        company_id=company.id,
        name=name,
        iban=iban,
        currency=currency or company.base_currency,
        account_id=gl.id,
        journal_id=chosen.id,
    )
    access.session.add(bank)
    await access.session.flush()
    await trail.record(
        access,
        "finance.bank_account.created",
        "bank_account",
        bank.id,
        {"company_id": company.id, "name": name, "iban": iban, "journal": chosen.code},
    )
    return bank


async def get_bank_account(access: Access, bank_account_id: str) -> BankAccount:
    found = await access.session.scalar(select(BankAccount).where(BankAccount.id == bank_account_id))
    if found is None:
        raise NotFound(f"no bank account {bank_account_id!r}", field="bank_account_id")
    return found


async def save_csv_mapping(access: Access, bank_account_id: str, mapping: dict[str, Any]) -> BankAccount:
    bank = await get_bank_account(access, bank_account_id)
    try:
        parsed = parsers.CsvMapping.from_dict(mapping)
    except (TypeError, KeyError, ValueError) as error:
        raise ValidationFailed(f"the mapping is not valid: {error}", field="mapping") from None
    parsed.validate()
    bank.csv_mapping = parsed.as_dict()
    await access.session.flush()
    await trail.record(
        access, "finance.bank_account.mapping_saved", "bank_account", bank.id, {"mapping": bank.csv_mapping}
    )
    return bank


# -- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    statement: Statement
    lines: list[StatementLine]
    duplicates: int


async def import_statement(
    access: Access,
    company_id: str,
    data: bytes,
    *,
    filename: str | None,
    fmt: str | None = None,
    bank_account_id: str | None = None,
) -> Imported:
    banks = (await access.session.scalars(select(BankAccount).where(BankAccount.company_id == company_id))).all()
    if not banks:
        await posting.books(access.session, company_id)  # 404 for an unknown company
        raise Conflict("add a bank account before importing statements", field="bank_account_id")
    bank: BankAccount | None = None
    if bank_account_id is not None:
        bank = next((b for b in banks if b.id == bank_account_id), None)
        if bank is None:
            raise NotFound(f"no bank account {bank_account_id!r}", field="bank_account_id")
    fmt = fmt or parsers.detect_format(data)
    mapping = None
    if fmt == "csv":
        if bank is None:
            raise ValidationFailed(
                "a CSV statement needs the bank account whose mapping reads it", field="bank_account_id"
            )
        if not bank.csv_mapping:
            raise ValidationFailed(f"save a CSV column mapping for {bank.name} first", field="bank_account_id")
        mapping = parsers.CsvMapping.from_dict(bank.csv_mapping)
    parsed = parsers.parse(data, fmt, mapping)
    if bank is None:
        iban = parsers.normalise_iban(parsed.account_iban) if parsed.account_iban else None
        bank = next((b for b in banks if iban and b.iban == iban), None)
        if bank is None:
            raise ValidationFailed(
                f"no bank account of this company has the statement's IBAN {iban or '(none in the file)'}; "
                "choose the bank account",
                field="bank_account_id",
            )
    elif parsed.account_iban and bank.iban and parsers.normalise_iban(parsed.account_iban) != bank.iban:
        raise ValidationFailed(
            f"the statement is for {parsed.account_iban}, not {bank.name} ({bank.iban})", field="bank_account_id"
        )
    if parsed.currency != bank.currency:
        raise ValidationFailed(f"the statement is in {parsed.currency}, {bank.name} in {bank.currency}", field="file")
    key = bank.iban or bank.id
    prints = {line.fingerprint(key): line for line in parsed.lines}
    seen = set(
        (
            await access.session.scalars(
                select(StatementLine.fingerprint).where(
                    StatementLine.bank_account_id == bank.id, StatementLine.fingerprint.in_(list(prints))
                )
            )
        ).all()
    )
    statement = Statement(
        company_id=bank.company_id,
        bank_account_id=bank.id,
        format=parsed.format,
        filename=(filename or "")[:255] or None,
        file_sha256=hashlib.sha256(data).hexdigest(),
        reference=(parsed.statement_id or "")[:100] or None,
        currency=parsed.currency,
        start_date=parsed.start_date,
        end_date=parsed.end_date,
        opening_balance=parsed.opening_balance,
        closing_balance=parsed.closing_balance,
        duplicates=len(seen),
        lines_imported=len(prints) - len(seen),
        imported_by=access.principal.id,
    )
    access.session.add(statement)
    await access.session.flush()
    lines = [
        StatementLine(
            statement_id=statement.id,
            bank_account_id=bank.id,
            company_id=bank.company_id,
            row=line.row,
            booked_on=line.booked_on,
            value_on=line.value_on,
            amount=line.amount,
            currency=line.currency,
            counterparty_name=(line.counterparty_name or "")[:200] or None,
            counterparty_iban=line.counterparty_iban,
            text=line.text[:1000],
            bank_reference=(line.bank_reference or "")[:100] or None,
            fingerprint=fingerprint,
        )
        for fingerprint, line in prints.items()
        if fingerprint not in seen
    ]
    access.session.add_all(lines)
    await access.session.flush()
    await trail.record(
        access,
        "finance.statement.imported",
        "bank_statement",
        statement.id,
        {
            "bank_account_id": bank.id,
            "format": parsed.format,
            "lines": len(lines),
            "duplicates": len(seen),
            "sha256": statement.file_sha256,
        },
    )
    return Imported(statement, lines, len(seen))


# -- suggestions -------------------------------------------------------------------------------


async def _party_facts(access: Access, party_ids: set[str]) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """Names and IBANs of the parties behind open items (receivables keeps the parties)."""
    if not party_ids:
        return {}
    from atrium.apps.finance.receivables.models import Party

    rows = await access.session.execute(select(Party.id, Party.name, Party.ibans).where(Party.id.in_(party_ids)))
    return {pid: (name, tuple(parsers.normalise_iban(i) or i for i in (ibans or []))) for pid, name, ibans in rows}


async def open_items_for(access: Access, bank: BankAccount) -> list[matching.OpenItem]:
    """What a line of this bank account may settle: open receivable and payable lines of the
    company, and open lines on the bank account itself; amounts as the bank would see them."""
    book = await posting.books(access.session, bank.company_id)
    base = book.company.base_currency
    accounts = [
        a.id for a in book.accounts.values() if a.kind in (charts.AccountKind.receivable, charts.AccountKind.payable)
    ] + [bank.account_id]
    rows = (
        await access.session.execute(
            select(
                OpenItem.line_id,
                OpenItem.party_id,
                OpenItem.currency,
                OpenItem.residual,
                OpenItem.residual_currency,
                OpenItem.date,
                OpenItem.due_date,
                Entry.number,
                Entry.reference,
            )
            .join(Line, Line.id == OpenItem.line_id)
            .join(Entry, Entry.id == Line.entry_id)
            .where(OpenItem.company_id == bank.company_id, OpenItem.account_id.in_(accounts))
        )
    ).all()
    parties = await _party_facts(access, {row.party_id for row in rows if row.party_id})
    items = []
    for line_id, party_id, currency, residual, residual_currency, day, due, number, reference in rows:
        same_currency = currency == bank.currency
        amount = residual_currency if same_currency else residual
        if amount == 0 or (not same_currency and bank.currency != base):
            continue
        name, ibans = parties.get(party_id or "", (None, ()))
        items.append(
            matching.OpenItem(
                id=line_id,
                amount=amount,
                currency=bank.currency,
                date=due or day,
                references=tuple(r for r in (number, reference) if r),
                party_id=party_id,
                party_name=name,
                party_ibans=ibans,
            )
        )
    return items


def _as_parsed(line: StatementLine) -> parsers.StatementLine:
    return parsers.StatementLine(
        row=line.row,
        booked_on=line.booked_on,
        value_on=line.value_on,
        amount=line.amount,
        currency=line.currency,
        counterparty_name=line.counterparty_name,
        counterparty_iban=line.counterparty_iban,
        text=line.text,
        bank_reference=line.bank_reference,
    )


async def suggestions(
    access: Access, lines: Sequence[StatementLine], *, limit: int = 5
) -> dict[str, list[matching.Suggestion]]:
    """Ranked suggestions for open statement lines, grouped per bank account."""
    result: dict[str, list[matching.Suggestion]] = {}
    by_bank: dict[str, list[StatementLine]] = {}
    for line in lines:
        if line.state == "open":
            by_bank.setdefault(line.bank_account_id, []).append(line)
    for bank_id, group in by_bank.items():
        bank = await get_bank_account(access, bank_id)
        items = await open_items_for(access, bank)
        result.update(matching.suggest([(line.id, _as_parsed(line)) for line in group], items, limit=limit))
    return result


# -- reconciliation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Counterpart:
    """An open ledger line to settle (``line_id``), or an account to post to (``account``)."""

    amount: Decimal | None = None  # as the bank sees it (+ in, - out); default: what is open
    line_id: str | None = None
    account: str | None = None
    label: str | None = None
    party_id: str | None = None


async def _line_for_update(access: Access, bank_line_id: str) -> StatementLine:
    line = await access.session.scalar(select(StatementLine).where(StatementLine.id == bank_line_id).with_for_update())
    if line is None:
        raise NotFound(f"no statement line {bank_line_id!r}", field="bank_line_id")
    return line


async def reconcile_line(access: Access, bank_line_id: str, counterparts: Sequence[Counterpart]) -> StatementLine:
    line = await _line_for_update(access, bank_line_id)
    if line.state != "open":
        raise Conflict("this statement line is already reconciled; undo that first", field="bank_line_id")
    if not counterparts:
        raise ValidationFailed("name at least one open item or account", field="counterparts")
    bank = await get_bank_account(access, line.bank_account_id)
    book = await posting.books(access.session, bank.company_id)
    posting.check_lock(access, book.company, line.booked_on)
    remaining = line.amount
    planned: list[tuple[Counterpart, Decimal, OpenItem | None]] = []
    named = [part.line_id for part in counterparts if part.line_id is not None]
    if len(named) != len(set(named)):
        raise ValidationFailed("each open line may be named once", field="counterparts")
    for number, part in enumerate(counterparts, start=1):
        field = f"counterparts[{number}]"
        if (part.line_id is None) == (part.account is None):
            raise ValidationFailed(f"{field}: name either an open line or an account", field=field)
        if part.amount is not None and has_more_decimals(part.amount, line.currency):
            raise ValidationFailed(
                f"{field}: {part.amount} has more decimals than {line.currency} allows", field=f"{field}.amount"
            )
        item: OpenItem | None = None
        if part.line_id is not None:
            item = await access.session.scalar(
                select(OpenItem).where(OpenItem.line_id == part.line_id).with_for_update()
            )
            if item is None or item.company_id != bank.company_id:
                raise ValidationFailed(f"{field}: line {part.line_id} is not open", field=field)
            if item.account_id not in (bank.account_id,) and book.accounts[item.account_id].kind not in (
                charts.AccountKind.receivable,
                charts.AccountKind.payable,
            ):
                raise ValidationFailed(f"{field}: that line is not a receivable, payable or bank item", field=field)
            open_amount = item.residual_currency if item.currency == line.currency else item.residual
            amount = part.amount if part.amount is not None else _capped(open_amount, remaining)
            if amount == 0 or (amount > 0) != (open_amount > 0) or abs(amount) > abs(open_amount):
                raise ValidationFailed(
                    f"{field}: {amount} does not fit the open amount {open_amount}", field=f"{field}.amount"
                )
        else:
            amount = remaining if part.amount is None else part.amount
            if book.account(part.account or "") is None:
                raise ValidationFailed(f"{field}: no account {part.account!r}", field=f"{field}.account")
            if amount == 0:
                raise ValidationFailed(f"{field}: the amount is zero", field=f"{field}.amount")
        planned.append((part, amount, item))
        remaining -= amount
    if remaining != 0:
        raise ValidationFailed(
            f"the counterparts add up to {line.amount - remaining}, the line is {line.amount}: "
            f"{remaining} left; add an account for the rest",
            field="counterparts",
        )

    rec_id = new_id()
    matches: list[BankMatch] = []
    posted_lines: list[posting.LineIn] = []
    settle_after: list[tuple[int, OpenItem]] = []
    for part, amount, item in planned:
        if item is not None and item.account_id == bank.account_id:
            # a receipt or payment already in the books: the statement confirms it
            if item.currency != line.currency:
                raise ValidationFailed(
                    f"the bank item is in {item.currency}, the statement line in {line.currency}", field="counterparts"
                )
            before = item.residual_currency
            item.residual_currency -= amount
            base = book.company.base_currency
            item.residual = rounded(item.residual * item.residual_currency / before, base) if before else ZERO
            matches.append(
                BankMatch(
                    reconciliation_id=rec_id,
                    bank_line_id=line.id,
                    line_id=item.line_id,
                    amount=amount,
                    amount_currency=amount,
                )
            )
            if item.residual == 0 and item.residual_currency == 0:
                await access.session.delete(item)
            continue
        counter_account = item.account_id if item is not None else book.account(part.account or "").id  # type: ignore[union-attr]
        posted_lines.append(
            posting.LineIn(
                account=counter_account,
                debit=-amount if amount < 0 else ZERO,
                credit=amount if amount > 0 else ZERO,
                currency=line.currency,
                label=part.label or line.text[:200] or None,
                party_id=item.party_id if item is not None else part.party_id,
            )
        )
        if item is not None:
            settle_after.append((len(posted_lines), item))
    entry: Entry | None = None
    if posted_lines:
        total = sum((-_signed(p) for p in posted_lines), ZERO)
        bank_line = posting.LineIn(
            account=bank.account_id,
            debit=total if total > 0 else ZERO,
            credit=-total if total < 0 else ZERO,
            currency=line.currency,
            label=(line.counterparty_name or line.text or "Bank")[:200],
            open=False,  # the statement line is the proof: nothing left to match on the bank side
        )
        entry = await posting.post(
            access,
            posting.EntryIn(
                company_id=bank.company_id,
                journal=bank.journal_id,
                date=line.booked_on,
                lines=[bank_line, *posted_lines],
                reference=(line.bank_reference or line.text or "")[:200] or None,
                source="bank_line",
                source_id=line.id,
            ),
        )
        new_lines = await posting.lines_of(access.session, entry.id)
        for position, item in settle_after:
            new_line = new_lines[position]  # the bank line is line 1
            ledger = await reconcile.reconcile(access, [item.line_id, new_line.id], day=line.booked_on)
            matches.append(
                BankMatch(
                    reconciliation_id=rec_id,
                    bank_line_id=line.id,
                    line_id=item.line_id,
                    ledger_reconciliation_id=ledger.id,
                    amount=-_signed(posted_lines[position - 1]),
                    amount_currency=-_signed(posted_lines[position - 1]),
                )
            )
    access.session.add_all(matches)
    line.state = "reconciled"
    line.entry_id = entry.id if entry is not None else None
    line.reconciliation_id = rec_id
    line.reconciled_by = access.principal.id
    line.reconciled_at = utcnow()
    await access.session.flush()
    await trail.record(
        access,
        "finance.statement_line.reconciled",
        "bank_line",
        line.id,
        {
            "reconciliation_id": rec_id,
            "amount": str(line.amount),
            "entry": entry.number if entry is not None else None,
            "counterparts": [{"line_id": p.line_id, "account": p.account, "amount": str(a)} for p, a, _ in planned],
        },
    )
    return line


def _signed(line: posting.LineIn) -> Decimal:
    return line.debit - line.credit


def _capped(open_amount: Decimal, remaining: Decimal) -> Decimal:
    """By default an item takes what is open, but no more than what is left of the line."""
    if (open_amount > 0) != (remaining > 0):
        return open_amount
    return open_amount if abs(open_amount) <= abs(remaining) else remaining


async def undo_line(access: Access, bank_line_id: str) -> StatementLine:
    """Reopen a statement line: its ledger reconciliations are undone, its entry reversed, and the
    bank items it confirmed are open again."""
    line = await _line_for_update(access, bank_line_id)
    if line.state != "reconciled" or line.reconciliation_id is None:
        raise Conflict("this statement line is not reconciled", field="bank_line_id")
    matches = (
        await access.session.scalars(select(BankMatch).where(BankMatch.reconciliation_id == line.reconciliation_id))
    ).all()
    for match in matches:
        if match.ledger_reconciliation_id is not None:
            await reconcile.undo(access, match.ledger_reconciliation_id, reason="statement line reopened")
        elif match.line_id is not None:
            await _reopen_bank_item(access, match)
        await access.session.delete(match)
    if line.entry_id is not None:
        await posting.reverse(access, line.entry_id, reason="statement line reopened", owner="bank_line")
    rec_id = line.reconciliation_id
    line.state, line.entry_id, line.reconciliation_id = "open", None, None
    line.reconciled_by, line.reconciled_at = None, None
    await access.session.flush()
    await trail.record(access, "finance.statement_line.reopened", "bank_line", line.id, {"reconciliation_id": rec_id})
    return line


async def _reopen_bank_item(access: Access, match: BankMatch) -> None:
    ledger_line = await access.session.scalar(select(Line).where(Line.id == match.line_id))
    assert ledger_line is not None
    item = await access.session.get(OpenItem, ledger_line.id)
    if item is None:
        item = OpenItem(
            line_id=ledger_line.id,
            company_id=ledger_line.company_id,
            account_id=ledger_line.account_id,
            party_id=ledger_line.party_id,
            currency=ledger_line.currency,
            residual=ZERO,
            residual_currency=ZERO,
            date=ledger_line.date,
            due_date=ledger_line.due_date,
        )
        access.session.add(item)
    item.residual_currency += match.amount_currency
    total = ledger_line.debit - ledger_line.credit
    item.residual = (
        item.residual_currency
        if ledger_line.amount_currency == total
        else rounded(total * item.residual_currency / ledger_line.amount_currency, await _base(access, ledger_line))
    )


async def _base(access: Access, line: Line) -> str:
    base = await access.session.scalar(select(Company.base_currency).where(Company.id == line.company_id))
    return str(base)


async def statement_lines(access: Access, statement_id: str) -> tuple[Statement, list[StatementLine]]:
    statement = await access.session.scalar(select(Statement).where(Statement.id == statement_id))
    if statement is None:
        raise NotFound(f"no bank statement {statement_id!r}", field="statement_id")
    lines = (
        await access.session.scalars(
            select(StatementLine).where(StatementLine.statement_id == statement.id).order_by(StatementLine.row)
        )
    ).all()
    return statement, list(lines)


@closing.register_check
async def statement_lines_reconciled(access: Access, scope: closing.CloseScope) -> closing.CheckItem:
    """Imported statement lines of the period not yet reconciled: money moved that the ledger
    does not show yet."""
    count = int(
        await access.session.scalar(
            select(func.count())
            .select_from(StatementLine)
            .where(
                StatementLine.company_id == scope.company.id,
                StatementLine.state == "open",
                StatementLine.booked_on <= scope.end,
            )
        )
        or 0
    )
    return closing.CheckItem(
        key="statement_lines",
        label="Bank statement lines reconciled",
        status="warning" if count else "ok",
        detail=f"{count} statement lines up to {scope.end.isoformat()} are not reconciled"
        if count
        else "every imported statement line is reconciled",
        count=count,
    )


async def undo_reconciliation(access: Access, reconciliation_id: str) -> None:
    """Undo a reconciliation: a statement line's (its entry is reversed) or one between ledger
    lines, unless another record (an allocation, a statement line, a reversal) owns it."""
    line = await access.session.scalar(
        select(StatementLine).where(StatementLine.reconciliation_id == reconciliation_id)
    )
    if line is not None:
        await undo_line(access, line.id)
        return
    if await access.session.scalar(select(Match.id).where(Match.reconciliation_id == reconciliation_id)) is None:
        raise NotFound(f"no reconciliation {reconciliation_id!r}", field="reconciliation_id")
    owner = await _owner(access, reconciliation_id)
    if owner is not None:
        raise Conflict(f"this reconciliation belongs to {owner}; undo it there", field="reconciliation_id")
    await reconcile.undo(access, reconciliation_id)


async def _owner(access: Access, reconciliation_id: str) -> str | None:
    """Reconciliations that another record keeps in step (a payment's allocation, a statement
    line, a reversal) are undone through that record only."""
    from atrium.apps.finance.receivables.models import Allocation

    if await access.session.scalar(select(Allocation.id).where(Allocation.reconciliation_id == reconciliation_id)):
        return "a payment or credit note allocation (unallocate it)"
    if await access.session.scalar(select(BankMatch.id).where(BankMatch.ledger_reconciliation_id == reconciliation_id)):
        return "a bank statement line (undo the line's reconciliation)"
    if await access.session.scalar(select(Entry.id).where(Entry.id == reconciliation_id)):
        return "a reversal, which settled the entry with its mirror"
    return None
