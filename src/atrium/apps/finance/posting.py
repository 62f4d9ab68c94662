"""Posting: the one way lines reach the ledger.

A batch of entries is checked as a whole (accounts, currencies and rates, balance, lock dates)
before anything is written, so a refused entry leaves nothing behind. Writing then follows an
order chosen for concurrency: lines go in with multi-row inserts, balances are added to one of
several slots per account and period (no hot row), and the two things that must be serial — the
gap-free number per journal and fiscal year, and the company's hash chain — are taken last, each
with one statement, so their row locks are held only for the end of the transaction.

Entries from other modules (invoices, payments, bank lines, closing) come through ``post`` with
their ``source``; no module writes ``finance_lines`` itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance import charts, trail
from atrium.apps.finance.models import (
    Account,
    Balance,
    ChainHead,
    Company,
    Entry,
    ExchangeRate,
    Journal,
    Line,
    Match,
    OpenItem,
    SequenceCounter,
)
from atrium.apps.finance.money import ZERO, fiscal_year_of, period_of, rounded, unit
from atrium.core import bulk
from atrium.core.db import canonical_json, new_id, utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.core.events import outbox
from atrium.platform.access.auth import Access

LOCK_PERMISSION = "finance.period.lock"
SLOTS = 8  # balance rows per account, period and currency; see models.Balance
GENESIS = "0" * 64
RATE_MAX_AGE_DAYS = 7  # a rate older than this (before the entry's date) is no rate for that date
MAX_LINES = 10_000
MAX_AMOUNT = Decimal(10) ** 14  # NUMERIC(20, 4) holds 16 integer digits; a line stays well inside them
RATE_PLACES, TAX_PLACES = Decimal("1E-10"), Decimal("1E-4")  # the columns' scales: hashed as stored


class PeriodLocked(Conflict):
    code = "period-locked"
    title = "Period locked"


@dataclass(frozen=True)
class LineIn:
    """One line as proposed: amounts in the line's currency (the company's when ``currency`` is
    None). ``account`` is an account id or code of the entry's company."""

    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    currency: str | None = None
    rate: Decimal | None = None
    label: str | None = None
    party_id: str | None = None
    due_date: dt.date | None = None
    tax_rate: Decimal | None = None
    tax_base: Decimal | None = None
    open: bool | None = None  # stays open for matching; None: when its account is reconciled
    # A change of a foreign-currency balance's value only (revaluation, exchange differences):
    # debit/credit are in the company's currency and the foreign amount is zero.
    adjustment: bool = False

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal | dt.date) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LineIn:
        def dec(key: str) -> Decimal | None:
            return None if data.get(key) is None else Decimal(data[key])

        due = data.get("due_date")
        return cls(
            account=data["account"],
            debit=dec("debit") or ZERO,
            credit=dec("credit") or ZERO,
            currency=data.get("currency"),
            rate=dec("rate"),
            label=data.get("label"),
            party_id=data.get("party_id"),
            due_date=dt.date.fromisoformat(due) if due else None,
            tax_rate=dec("tax_rate"),
            tax_base=dec("tax_base"),
            open=data.get("open"),
            adjustment=bool(data.get("adjustment", False)),
        )


@dataclass(frozen=True)
class EntryIn:
    company_id: str
    journal: str  # journal id or code
    date: dt.date
    lines: Sequence[LineIn]
    reference: str | None = None
    memo: str | None = None
    source: str = "manual"
    source_id: str | None = None


@dataclass
class _Prepared:
    """An entry checked and priced, ready to write. ``head`` holds the entry's columns as plain
    attributes (hashed, then inserted in bulk); ``entry`` is the ORM object: the draft being
    posted, or the one made for ``head`` once it is written."""

    head: _Row
    company: Company
    journal: Journal
    lines: list[dict[str, Any]] = field(default_factory=list)
    entry: Entry | None = None

    @property
    def written(self) -> Entry:
        assert self.entry is not None, "the entry is made when it is written"
        return self.entry


# -- the company's books as one posting needs them ------------------------------------------


@dataclass
class Books:
    """A company's accounts, journals and rates, loaded once per batch."""

    company: Company
    accounts: dict[str, Account]
    by_code: dict[str, Account]
    journals: dict[str, Journal]
    rates: dict[tuple[str, dt.date], Decimal | None] = field(default_factory=dict)
    parties: set[str] = field(default_factory=set)  # party ids known to belong to this company

    async def unknown_parties(self, session: AsyncSession, wanted: set[str]) -> set[str]:
        """Which of these party ids are not parties of this company."""
        from atrium.apps.finance.receivables.models import Party  # receivables builds on posting

        missing = wanted - self.parties
        if missing:
            found = await session.scalars(
                select(Party.id).where(Party.id.in_(missing), Party.company_id == self.company.id)
            )
            self.parties.update(found)
        return wanted - self.parties

    def account(self, key: str) -> Account | None:
        return self.accounts.get(key) or self.by_code.get(key)

    def journal(self, key: str) -> Journal | None:
        return self.journals.get(key) or next((j for j in self.journals.values() if j.code == key), None)

    def account_of_kind(self, kind: charts.AccountKind) -> Account:
        found = sorted((a for a in self.accounts.values() if a.kind == kind and a.active), key=lambda a: a.code)
        if not found:
            raise Conflict(f"{self.company.name} has no {kind.value} account; add one to its chart", field="kind")
        return found[0]


# Built once: every posting reads a company's accounts and journals.
_ACCOUNTS = select(Account).where(Account.company_id == bindparam("company_id"))
_JOURNALS = select(Journal).where(Journal.company_id == bindparam("company_id"))


async def books(session: AsyncSession, company_id: str) -> Books:
    company = await session.get(Company, company_id)  # usually already loaded by the caller's check
    if company is None:
        raise NotFound(f"no company {company_id!r}", field="company_id")
    accounts = (await session.scalars(_ACCOUNTS, {"company_id": company_id})).all()
    journals = (await session.scalars(_JOURNALS, {"company_id": company_id})).all()
    return Books(
        company,
        {a.id: a for a in accounts},
        {a.code: a for a in accounts},
        {j.id: j for j in journals},
    )


async def rate_on(session: AsyncSession, company_id: str, currency: str, day: dt.date) -> Decimal | None:
    """The most recent rate on or before ``day``, if it is at most RATE_MAX_AGE_DAYS old."""
    row = await session.execute(
        select(ExchangeRate.rate, ExchangeRate.date)
        .where(
            ExchangeRate.company_id == company_id,
            ExchangeRate.currency == currency,
            ExchangeRate.date <= day,
            ExchangeRate.date >= day - dt.timedelta(days=RATE_MAX_AGE_DAYS),
        )
        .order_by(ExchangeRate.date.desc())
        .limit(1)
    )
    found = row.first()
    return None if found is None else Decimal(found[0])


# -- checks -----------------------------------------------------------------------------------


def check_lock(access: Access, company: Company, day: dt.date) -> None:
    """No posting on or before the hard lock date, by anyone; on or before the soft lock date only
    for people who may lock periods (the accountants closing the books)."""
    if company.hard_lock_date is not None and day <= company.hard_lock_date:
        raise PeriodLocked(
            f"{company.name} is locked up to {company.hard_lock_date.isoformat()} for everyone; "
            f"{day.isoformat()} cannot be posted to",
            field="date",
        )
    if company.soft_lock_date is not None and day <= company.soft_lock_date:
        if not access.check(LOCK_PERMISSION):
            raise PeriodLocked(
                f"{company.name} is locked up to {company.soft_lock_date.isoformat()}; only people who may lock "
                f"periods can post to {day.isoformat()}",
                field="date",
            )
        access.demand(LOCK_PERMISSION)  # privileged: step-up when the role asks, never while impersonating


def _amount(value: Decimal, name: str, number: int, currency: str, errors: list[dict[str, Any]]) -> Decimal:
    where, field = f"line {number}", f"lines[{number}].{name}"
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError):
        errors.append({"field": field, "detail": f"{where}: {name} is not a number"})
        return ZERO
    if not value.is_finite() or value < 0:
        errors.append({"field": field, "detail": f"{where}: {name} must be zero or positive"})
        return ZERO
    if value >= MAX_AMOUNT:
        errors.append({"field": field, "detail": f"{where}: {name} must be below {MAX_AMOUNT:,}"})
        return ZERO
    if value != value.quantize(unit(currency)):
        errors.append(
            {
                "field": field,
                "detail": f"{where}: {name} {value} has more decimals than {currency} allows",
            }
        )
    return value


async def _prepare(access: Access, book: Books, data: EntryIn, entry: Entry | None) -> _Prepared:
    """Check one entry and compute its company-currency lines; raise before anything is written."""
    company = book.company
    journal = book.journal(data.journal)
    if journal is None:
        raise ValidationFailed(f"no journal {data.journal!r} in {company.name}", field="journal")
    check_lock(access, company, data.date)
    if not data.lines or len(data.lines) < 2:
        raise ValidationFailed("an entry needs at least two lines", field="lines")
    if len(data.lines) > MAX_LINES:
        raise ValidationFailed(f"an entry has at most {MAX_LINES} lines", field="lines")
    base = company.base_currency
    errors: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    foreign_lines = 0
    currencies: set[str] = set()
    for number, proposed in enumerate(data.lines, start=1):
        where = f"line {number}"
        account = book.account(proposed.account)
        if account is None:
            errors.append({"field": f"lines[{number}].account", "detail": f"{where}: no account {proposed.account!r}"})
            continue
        if not account.active:
            errors.append({"field": f"lines[{number}].account", "detail": f"{where}: account {account.code} is closed"})
            continue
        currency = proposed.currency or base
        currencies.add(currency)
        amounts_in = base if proposed.adjustment else currency
        debit = _amount(proposed.debit, "debit", number, amounts_in, errors)
        credit = _amount(proposed.credit, "credit", number, amounts_in, errors)
        if debit and credit:
            errors.append({"field": f"lines[{number}]", "detail": f"{where}: a line is either a debit or a credit"})
        if not debit and not credit:
            errors.append({"field": f"lines[{number}]", "detail": f"{where}: the amount is zero"})
        if proposed.adjustment:
            if currency == base:
                errors.append(
                    {
                        "field": f"lines[{number}].currency",
                        "detail": f"{where}: an adjustment names the foreign currency whose value it changes",
                    }
                )
            lines.append(
                {
                    **_line_defaults(proposed, account),
                    "debit": debit,
                    "credit": credit,
                    "currency": currency,
                    "amount_currency": ZERO,
                    "rate": ZERO,
                }
            )
            continue
        rate = Decimal(1)
        if currency != base:
            foreign_lines += 1
            if proposed.rate is not None:
                rate = Decimal(proposed.rate)
                if not rate.is_finite() or rate <= 0 or rate >= MAX_AMOUNT:
                    errors.append(
                        {"field": f"lines[{number}].rate", "detail": f"{where}: the rate must be positive and sane"}
                    )
                    continue
                rate = rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
            else:
                key = (currency, data.date)
                if key not in book.rates:
                    book.rates[key] = await rate_on(access.session, company.id, currency, data.date)
                found = book.rates[key]
                if found is None:
                    errors.append(
                        {
                            "field": f"lines[{number}].currency",
                            "detail": f"{where}: no {currency} rate for {data.date.isoformat()} "
                            f"(none in the {RATE_MAX_AGE_DAYS} days before); add one under exchange rates",
                        }
                    )
                    continue
                rate = found
        signed = debit - credit
        company_amount = rounded(abs(signed) * rate, base)
        if company_amount >= MAX_AMOUNT:
            errors.append({"field": f"lines[{number}]", "detail": f"{where}: the amount in {base} is too large"})
            continue
        lines.append(
            {
                "account": account,
                "debit": company_amount if signed > 0 else ZERO,
                "credit": company_amount if signed < 0 else ZERO,
                "currency": currency,
                "amount_currency": signed,
                "rate": rate,
                **_line_defaults(proposed, account),
            }
        )
    named = {p.party_id for p in data.lines if p.party_id}
    if named:
        strangers = await book.unknown_parties(access.session, named)
        for number, proposed in enumerate(data.lines, start=1):
            if proposed.party_id in strangers:
                errors.append(
                    {
                        "field": f"lines[{number}].party_id",
                        "detail": f"line {number}: no party {proposed.party_id!r} in {company.name}",
                    }
                )
    if errors:
        raise ValidationFailed("; ".join(e["detail"] for e in errors[:10]), field=errors[0]["field"], errors=errors)

    if len(currencies) == 1:
        (only,) = currencies
        total = sum((line["amount_currency"] for line in lines), ZERO)
        if total != 0:
            debits = sum((line["amount_currency"] for line in lines if line["amount_currency"] > 0), ZERO)
            raise ValidationFailed(
                f"the entry does not balance in {only}: debits {debits}, credits {debits - total}, difference {total}",
                field="lines",
            )
    difference = sum((line["debit"] - line["credit"] for line in lines), ZERO)
    if difference:
        # Converting each line rounds it; what that leaves (at most one minor unit per converted
        # line) goes to the rounding account so it is never lost. More than that is an error.
        if foreign_lines == 0 or abs(difference) > unit(base) * foreign_lines:
            raise ValidationFailed(
                f"the entry does not balance in {base}: difference {difference}",
                field="lines",
            )
        rounding = book.account_of_kind(charts.AccountKind.rounding)
        lines.append(
            {
                "account": rounding,
                "debit": -difference if difference < 0 else ZERO,
                "credit": difference if difference > 0 else ZERO,
                "currency": base,
                "amount_currency": -difference,
                "rate": Decimal(1),
                "label": "Currency rounding",
                "party_id": None,
                "due_date": None,
                "tax_rate": None,
                "tax_base": None,
                "open": False,
            }
        )

    head = _Row(
        {
            "id": new_id() if entry is None else entry.id,
            "company_id": company.id,
            "journal_id": journal.id,
            "date": data.date,
            "fiscal_year": fiscal_year_of(data.date, company.fiscal_year_start_month),
            "reference": data.reference,
            "memo": data.memo,
            "source": data.source,
            "source_id": data.source_id,
            "currency": next(iter(currencies)) if len(currencies) == 1 else None,
            "total": sum((line["debit"] for line in lines), ZERO),
            "line_count": len(lines),
            "reversal_of_id": None,
            "created_by": access.principal.id if entry is None else entry.created_by,
        }
    )
    return _Prepared(head, company, journal, lines, entry)


def _scaled(value: Decimal | None, places: Decimal) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(places, rounding=ROUND_HALF_UP)


def _line_defaults(proposed: LineIn, account: Account) -> dict[str, Any]:
    return {
        "account": account,
        "label": proposed.label,
        "party_id": proposed.party_id,
        "due_date": proposed.due_date,
        "tax_rate": _scaled(proposed.tax_rate, TAX_PLACES),
        "tax_base": _scaled(proposed.tax_base, TAX_PLACES),
        "open": account.reconcile if proposed.open is None else proposed.open,
    }


# -- the hash chain ---------------------------------------------------------------------------


def _fixed(value: Decimal | None, places: int) -> str | None:
    if value is None:
        return None
    return format(value if type(value) is Decimal else Decimal(value), _FIXED[places])


_FIXED = {4: ".4f", 10: ".10f"}


def line_fingerprint(line: Any) -> list[Any]:
    """A posted line as the chain hashes it; the same text whether built here or read back."""
    return [
        line.line_no,
        line.account_id,
        _fixed(line.debit, 4),
        _fixed(line.credit, 4),
        line.currency,
        _fixed(line.amount_currency, 4),
        _fixed(line.rate, 10),
        line.label,
        line.party_id,
        line.due_date.isoformat() if line.due_date else None,
        _fixed(line.tax_rate, 4),
        _fixed(line.tax_base, 4),
    ]


def entry_hash(previous: str, entry: Any, lines: Iterable[Any]) -> str:
    payload = {
        "company": entry.company_id,
        "journal": entry.journal_id,
        "entry": entry.id,
        "number": entry.number,
        "date": entry.date.isoformat(),
        "reversal_of": entry.reversal_of_id,
        "lines": [line_fingerprint(line) for line in lines],
    }
    return hashlib.sha256(f"{previous}|{canonical_json(payload)}".encode()).hexdigest()


# -- writing ----------------------------------------------------------------------------------


@functools.cache
def _counter_upsert(dialect: str) -> Any:
    """Built once per dialect: the numbers upsert runs for every posting."""
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SequenceCounter)
    ins = ins.values(
        tenant_id=bindparam("tenant_id"),
        journal_id=bindparam("journal_id"),
        fiscal_year=bindparam("fiscal_year"),
        last=bindparam("count"),
    )
    return ins.on_conflict_do_update(
        index_elements=["tenant_id", "journal_id", "fiscal_year"],
        set_={"last": SequenceCounter.last + ins.excluded.last},
    ).returning(SequenceCounter.last)


@functools.cache
def _chain_upsert(dialect: str) -> Any:
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ChainHead)
    ins = ins.values(
        tenant_id=bindparam("tenant_id"), company_id=bindparam("company_id"), position=bindparam("count"), hash=""
    )
    return ins.on_conflict_do_update(
        index_elements=["tenant_id", "company_id"], set_={"position": ChainHead.position + ins.excluded.position}
    ).returning(ChainHead.position, ChainHead.hash)


_CHAIN_HASH = (
    update(ChainHead)
    .where(ChainHead.tenant_id == bindparam("of_tenant"), ChainHead.company_id == bindparam("of_company"))
    .values(hash=bindparam("new_hash"))
)


async def _take_numbers(session: AsyncSession, tenant_id: str, journal_id: str, fiscal_year: int, count: int) -> int:
    """Reserve ``count`` consecutive numbers; returns the first. The upsert takes the row lock, and
    a rollback gives the numbers back, so the sequence has no gaps."""
    params = {"tenant_id": tenant_id, "journal_id": journal_id, "fiscal_year": fiscal_year, "count": count}
    last = (await session.execute(_counter_upsert(session.get_bind().dialect.name), params)).scalar_one()
    return int(last) - count + 1


async def _advance_chain(session: AsyncSession, tenant_id: str, company_id: str, count: int) -> tuple[int, str]:
    """Lock the company's chain head and move it ``count`` places; returns the first position and
    the hash the first new entry links to."""
    params = {"tenant_id": tenant_id, "company_id": company_id, "count": count}
    position, previous = (await session.execute(_chain_upsert(session.get_bind().dialect.name), params)).one()
    return int(position) - count + 1, previous or GENESIS


def add_to_balance(ins: Any) -> Any:
    """The balance upsert: a slot row that exists takes the sums on top of what it holds."""
    return ins.on_conflict_do_update(
        index_elements=["tenant_id", "account_id", "period", "currency", "slot"],
        set_={
            "debit": Balance.debit + ins.excluded.debit,
            "credit": Balance.credit + ins.excluded.credit,
            "amount_currency": Balance.amount_currency + ins.excluded.amount_currency,
            "lines": Balance.lines + ins.excluded.lines,
        },
    )


async def _add_balances(session: AsyncSession, tenant_id: str, rows: list[dict[str, Any]]) -> None:
    sums: dict[tuple[str, int, str], list[Any]] = {}
    for row in rows:
        key = (row["account_id"], row["period"], row["currency"])
        acc = sums.setdefault(key, [row["company_id"], ZERO, ZERO, ZERO, 0])
        acc[1] += row["debit"]
        acc[2] += row["credit"]
        acc[3] += row["amount_currency"]
        acc[4] += 1
    values = [
        {
            "account_id": account_id,
            "period": period,
            "currency": currency,
            "company_id": company_id,
            "debit": debit,
            "credit": credit,
            "amount_currency": amount_currency,
            "lines": count,
        }
        for (account_id, period, currency), (company_id, debit, credit, amount_currency, count) in sorted(
            sums.items()
        )  # one order for every transaction, so two postings never wait on each other in a cycle
    ]
    await bulk.insert_rows(
        session,
        Balance,
        values,
        constants={"tenant_id": tenant_id, "slot": random.randrange(SLOTS)},
        upsert=add_to_balance,
    )


async def _write(access: Access, prepared: list[_Prepared]) -> None:
    """Write checked entries. What takes no lock others wait for goes first: lines (their foreign
    key to the entry is checked at commit) and open items. Then, in one short stretch up to the
    commit, the serial part, always in this order: numbers, the chain, the entry rows and balance
    slots. The audit events are queued; they are linked into the tenant's trail at commit."""
    session, tenant_id = access.session, access.tenant.id
    line_rows: list[dict[str, Any]] = []
    open_rows: list[dict[str, Any]] = []
    lines_of: dict[str, list[_Row]] = {}
    for p in prepared:
        entry, company_id, journal_id = p.head, p.company.id, p.journal.id
        day, period = entry.date, period_of(entry.date)
        rows = lines_of[entry.id] = []
        for line_no, line in enumerate(p.lines, start=1):
            account: Account = line["account"]
            row = {
                "id": new_id(),
                "entry_id": entry.id,
                "company_id": company_id,
                "journal_id": journal_id,
                "account_id": account.id,
                "line_no": line_no,
                "date": day,
                "period": period,
                "debit": line["debit"],
                "credit": line["credit"],
                "currency": line["currency"],
                "amount_currency": line["amount_currency"],
                "rate": line["rate"],
                "label": line["label"],
                "party_id": line["party_id"],
                "due_date": line["due_date"],
                "tax_rate": line["tax_rate"],
                "tax_base": line["tax_base"],
            }
            line_rows.append(row)
            rows.append(_Row(row))
            if line["open"]:
                open_rows.append(
                    {
                        "line_id": row["id"],
                        "company_id": company_id,
                        "account_id": account.id,
                        "party_id": row["party_id"],
                        "currency": row["currency"],
                        "residual": row["debit"] - row["credit"],
                        "residual_currency": row["amount_currency"],
                        "date": day,
                        "due_date": row["due_date"],
                    }
                )
    stamp = {"tenant_id": tenant_id}
    if session.get_bind().dialect.name == "sqlite":  # PostgreSQL's constraint is declared deferred
        await session.execute(text("PRAGMA defer_foreign_keys = ON"))
    await bulk.insert_rows(session, Line, line_rows, constants=stamp)
    await bulk.insert_rows(session, OpenItem, open_rows, constants=stamp)

    # The serial part. Numbers: per journal and fiscal year, in the order the entries were given.
    by_sequence: dict[tuple[str, int], list[_Prepared]] = defaultdict(list)
    by_company: dict[str, list[_Prepared]] = defaultdict(list)
    for p in prepared:
        by_sequence[(p.journal.id, p.head.fiscal_year)].append(p)
        by_company[p.company.id].append(p)
    for (journal_id, fiscal_year), group in sorted(by_sequence.items()):
        first = await _take_numbers(session, tenant_id, journal_id, fiscal_year, len(group))
        for offset, p in enumerate(group):
            p.head.sequence = first + offset
            p.head.number = f"{p.journal.code}/{fiscal_year}/{first + offset:05d}"
    now, poster = utcnow(), access.principal.id
    for company_id, group in sorted(by_company.items()):
        position, previous = await _advance_chain(session, tenant_id, company_id, len(group))
        for offset, p in enumerate(group):
            entry = p.head
            entry.state = "posted"
            entry.chain_index = position + offset
            entry.previous_hash = previous
            entry.hash = previous = entry_hash(previous, entry, lines_of[entry.id])
            entry.posted_at = now
            entry.posted_by = poster
            entry.draft_lines = None
        await session.execute(_CHAIN_HASH, {"of_tenant": tenant_id, "of_company": company_id, "new_hash": previous})
    drafts = [p for p in prepared if p.entry is not None]
    fresh = [p for p in prepared if p.entry is None]
    made = await bulk.add_rows(session, Entry, [vars(p.head) for p in fresh], constants=stamp)
    for p, made_entry in zip(fresh, made, strict=True):
        p.entry = made_entry
    for p in drafts:  # drafts just posted: the same columns, set on the session's object
        _apply(p.head, p.written)
    if drafts:
        await session.flush()
    # Balance slots only now, behind the chain: a transaction that posts twice (a revaluation and
    # its reversal) would otherwise hold slots while it waits for the chain, and a posting that
    # holds the chain could be waiting for those slots.
    await _add_balances(session, tenant_id, line_rows)
    described = [(p, _posted_event(p)) for p in prepared]
    await outbox.publish_many(
        access.platform,
        "finance.events",
        [("finance.entry.posted", data, p.head.id) for p, data in described],
        tenant_id=tenant_id,
    )
    await trail.record_many(
        access, [("finance.entry.posted", "journal_entry", p.head.id, data) for p, data in described]
    )


def _posted_event(p: _Prepared) -> dict[str, Any]:
    """What ``finance.entry.posted`` tells consumers (analytics, the copilot's index, integrations)
    and the audit trail."""
    head = p.head
    return {
        "entry_id": head.id,
        "company_id": head.company_id,
        "journal": p.journal.code,
        "number": head.number,
        "date": head.date.isoformat(),
        "currency": head.currency,
        "total": str(head.total),
        "lines": head.line_count,
        "source": head.source,
        "source_id": head.source_id,
        "reversal_of": head.reversal_of_id,
    }


def _apply(head: _Row, entry: Entry) -> Entry:
    """Set an entry's prepared columns on its ORM object (a draft, saved or posted)."""
    for key, value in vars(head).items():
        setattr(entry, key, value)
    return entry


class _Row:
    """Attribute access to a row dict (an entry's or a line's), for hashing before it is written."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)

    if TYPE_CHECKING:  # any column, read or set; plain attributes at run time

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


# -- public operations ------------------------------------------------------------------------


async def post_many(access: Access, entries: Sequence[EntryIn]) -> list[Entry]:
    """Post a batch: all entries or none."""
    cache: dict[str, Books] = {}
    prepared: list[_Prepared] = []
    for number, data in enumerate(entries, start=1):
        book = cache.get(data.company_id)
        if book is None:
            book = cache[data.company_id] = await books(access.session, data.company_id)
        try:
            prepared.append(await _prepare(access, book, data, None))
        except ValidationFailed as error:
            if len(entries) > 1:
                error.detail = f"entry {number}: {error.detail}"
                error.extra["entry"] = number
            raise
    if prepared:
        await _write(access, prepared)
    return [p.written for p in prepared]


async def post(access: Access, data: EntryIn) -> Entry:
    (entry,) = await post_many(access, [data])
    return entry


async def save_draft(access: Access, data: EntryIn, entry: Entry | None = None) -> Entry:
    """A draft is checked like a posting (so it can be posted as is) but only stored."""
    book = await books(access.session, data.company_id)
    prepared = await _prepare(access, book, data, entry)
    draft = _apply(prepared.head, prepared.entry or Entry())
    draft.state = "draft"
    draft.draft_lines = [line.as_json() for line in data.lines]
    if draft not in access.session:
        access.session.add(draft)
    await access.session.flush()
    await trail.record(
        access,
        "finance.entry.drafted",
        "journal_entry",
        draft.id,
        {"company_id": data.company_id, "date": data.date.isoformat(), "lines": len(data.lines)},
    )
    return draft


def draft_input(entry: Entry) -> EntryIn:
    return EntryIn(
        company_id=entry.company_id,
        journal=entry.journal_id,
        date=entry.date,
        lines=[LineIn.from_json(line) for line in entry.draft_lines or []],
        reference=entry.reference,
        memo=entry.memo,
        source=entry.source,
        source_id=entry.source_id,
    )


async def entry_for_update(session: AsyncSession, entry_id: str) -> Entry:
    entry = await session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(f"no journal entry {entry_id!r}", field="entry_id")
    return entry


async def post_draft(access: Access, entry_id: str) -> Entry:
    entry = await entry_for_update(access.session, entry_id)
    if entry.state != "draft":
        raise Conflict(f"entry {entry.number} is already {entry.state}", field="state")
    book = await books(access.session, entry.company_id)
    prepared = await _prepare(access, book, draft_input(entry), entry)
    await _write(access, [prepared])
    return entry


async def delete_draft(access: Access, entry_id: str) -> None:
    entry = await entry_for_update(access.session, entry_id)
    if entry.state != "draft":
        raise Conflict(f"entry {entry.number} is {entry.state}: reverse it instead", field="state")
    await access.session.delete(entry)
    await access.session.flush()
    await trail.record(
        access, "finance.entry.draft_deleted", "journal_entry", entry_id, {"company_id": entry.company_id}
    )


async def lines_of(session: AsyncSession, entry_id: str) -> list[Line]:
    return list((await session.scalars(select(Line).where(Line.entry_id == entry_id).order_by(Line.line_no))).all())


MODULE_SOURCES = {
    "invoice": "cancel the invoice or bill (a credit note)",
    "bill": "cancel the invoice or bill (a credit note)",
    "payment": "reverse the payment",
    "bank_line": "undo the statement line's reconciliation",
    "fx_realised": "undo the reconciliation that realised it",
    "intercompany": "reverse the inter-company pair",
}


async def reverse(
    access: Access, entry_id: str, *, day: dt.date | None = None, reason: str, owner: str | None = None
) -> Entry:
    """Correct a posted entry with its mirror image; the original stays as it was, marked reversed.

    Lines still fully open are settled against their mirror lines, so a reversed invoice leaves
    nothing open; an entry whose lines are already partly settled must be unreconciled first.
    """
    session = access.session
    original = await entry_for_update(session, entry_id)
    if original.state != "posted":
        what = "a draft: delete it instead" if original.state == "draft" else "already reversed"
        raise Conflict(f"entry {original.number or original.id} is {what}", field="state")
    if original.source in MODULE_SOURCES and owner != original.source:
        # the module that made the entry keeps its own records in step with the ledger
        raise Conflict(
            f"{original.number} was posted by {original.source.replace('_', ' ')}: "
            f"{MODULE_SOURCES[original.source]} instead",
            field="entry_id",
        )
    lines = await lines_of(session, original.id)
    open_items = {
        item.line_id: item
        for item in (
            await session.scalars(select(OpenItem).where(OpenItem.line_id.in_([line.id for line in lines])))
        ).all()
    }
    ids = [line.id for line in lines]
    settled_before = await session.scalar(
        select(Match.id).where(or_(Match.debit_line_id.in_(ids), Match.credit_line_id.in_(ids))).limit(1)
    )
    if settled_before is not None:
        raise Conflict(
            f"{original.number} is already (partly) settled; undo its reconciliation before reversing",
            field="entry_id",
        )
    book = await books(session, original.company_id)
    mirror = EntryIn(
        company_id=original.company_id,
        journal=original.journal_id,
        date=day or original.date,
        lines=[
            LineIn(
                account=line.account_id,
                debit=line.credit if line.rate == 0 else max(-line.amount_currency, ZERO),
                credit=line.debit if line.rate == 0 else max(line.amount_currency, ZERO),
                currency=line.currency,
                rate=line.rate or None,
                adjustment=line.rate == 0,
                label=line.label,
                party_id=line.party_id,
                due_date=line.due_date,
                tax_rate=line.tax_rate,
                tax_base=-line.tax_base if line.tax_base is not None else None,
                open=line.id in open_items,
            )
            for line in lines
        ],
        reference=f"Reversal of {original.number}",
        memo=reason,
        source="reversal",
        source_id=original.id,
    )
    prepared = await _prepare(access, book, mirror, None)
    # The mirror takes the original's company amounts exactly, even if today's rounding differs.
    prepared.lines = [
        {**line_data, "debit": line.credit, "credit": line.debit}
        for line_data, line in zip(prepared.lines, lines, strict=False)
    ]
    prepared.head.reversal_of_id = original.id
    prepared.head.total = original.total
    prepared.head.line_count = len(prepared.lines)
    await _write(access, [prepared])
    mirror_entry = prepared.written
    original.state = "reversed"
    original.reversed_by_id = mirror_entry.id
    await session.flush()
    new_lines = await lines_of(session, mirror_entry.id)
    settled = [(old, new) for old, new in zip(lines, new_lines, strict=True) if old.id in open_items]
    if settled:
        await session.execute(delete(OpenItem).where(OpenItem.line_id.in_([x.id for pair in settled for x in pair])))
        session.add_all(
            Match(
                reconciliation_id=mirror_entry.id,
                company_id=original.company_id,
                debit_line_id=old.id if old.debit else new.id,
                credit_line_id=new.id if old.debit else old.id,
                amount=old.debit or old.credit,
                amount_currency=abs(old.amount_currency),
                created_by=access.principal.id,
            )
            for old, new in settled
        )
        await session.flush()
    await trail.record(
        access,
        "finance.entry.reversed",
        "journal_entry",
        original.id,
        {"number": original.number, "reversal": mirror_entry.number, "reason": reason},
    )
    return mirror_entry
