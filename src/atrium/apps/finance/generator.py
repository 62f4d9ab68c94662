"""Realistic ledgers of any size, for demos and benchmarks (``atrium finance generate``).

A company, from a chart template or one that exists, gets customers and vendors (receivables
parties) and ``entries`` journal entries spread over the business days of a date range, in the mix
a small trading company produces: an opening capital
entry; sales invoices (income lines, output tax, the receivable with a due date) and purchase bills
(cost lines, input tax, the payable); customer receipts and vendor payments through the bank that
settle the oldest unpaid invoices; a salary run and depreciation at every month end; some invoices
in foreign currencies, with a rate for every business day added to the company's exchange rates;
and a few invoices reversed some days later. The same seed gives the same ledger (ids aside).

Two ways to write it:

- through the service: ``posting.post_many`` in units of work of ``batch`` entries, exactly as
  users' postings go in (numbers, chain, balances, open items, one audit event per entry). For
  demos and ledgers up to a few hundred thousand lines. Each unit commits on its own, so a failure
  keeps the batches before it (a shorter, still consistent ledger).
- ``fast``: for benchmark ledgers of millions of lines. The same entries, priced as posting prices
  them, numbered and chained in Python with ``posting.entry_hash``, written in large chunks (COPY
  on PostgreSQL), balances summed in memory and written once, open items and reversal matches as
  posting leaves them, and one audit event for the whole load. One unit of work, all or nothing;
  it holds the company's chain head for the whole run, so nobody else should post to the company
  meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance import charts, posting, service, trail
from atrium.apps.finance import repository as repo
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import (
    Account,
    Balance,
    ChainHead,
    Company,
    Entry,
    Line,
    Match,
    OpenItem,
    SequenceCounter,
)
from atrium.apps.finance.money import ZERO, exponent, fiscal_year_of, period_of, rounded
from atrium.apps.finance.receivables import repository as parties_repo
from atrium.apps.finance.receivables import service as receivables
from atrium.apps.finance.receivables.schemas import PartyCreate
from atrium.apps.finance.schemas import CompanyCreate
from atrium.core import bulk
from atrium.core.db import driver_of, utcnow
from atrium.core.errors import Conflict, ValidationFailed
from atrium.platform.access.auth import Access
from atrium.runtime import Runtime

ACTOR = "ledger-generator"
SOURCE = "generated"
DEFAULT_COMPANY = "Demo Company"
DEFAULT_TEMPLATE = "ifrs"
DEFAULT_TAX_RATE = Decimal("0.20")  # when the chart's tax accounts carry no rate
FOREIGN_SHARE = 0.08  # of invoices and bills
REVERSAL_SHARE = 0.004  # of invoices and bills, reversed a few days later
WITHHELD_SHARE = Decimal("0.28")  # of gross salaries, owed to tax and social security
MIN_LINES, MAX_LINES = 2, 8
FAST_CHUNK_ENTRIES = 10_000
ONE = Decimal(1)
ROUNDING_LABEL = "Currency rounding"  # as posting labels it

# Roughly what one unit of each currency is worth in euros: where the rate walk starts, and how
# amounts scale so that an invoice in yen is not a few yen.
_EURO_VALUE = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.17"),
    "CHF": Decimal("1.04"),
    "CAD": Decimal("0.68"),
    "AUD": Decimal("0.61"),
    "SEK": Decimal("0.088"),
    "NOK": Decimal("0.086"),
    "DKK": Decimal("0.134"),
    "PLN": Decimal("0.23"),
    "JPY": Decimal("0.0062"),
}
_FOREIGN = ("USD", "EUR", "GBP")  # the first two that are not the company's own currency

_SALARY_NAMES = re.compile(r"salar|wage|payroll|gehält|gehalt|löhne|lohn|rémunération|personnel", re.IGNORECASE)
_ACCUMULATED_NAMES = re.compile(r"depreciation|amortis|abschreibung", re.IGNORECASE)
_SALE_LABELS = ("Consulting services", "Software licence", "Hardware", "Support contract", "Training", "Spare parts")
_PURCHASE_LABELS = ("Office supplies", "Rent", "Freight", "Materials", "Telephone", "Insurance", "Travel", "Energy")
_DEPARTMENTS = ("Sales", "Operations", "Engineering", "Finance", "Support", "Management")
_TERMS = (14, 30, 30, 45, 60)  # days a party has to pay
_SURNAMES = (
    "Müller", "Schmidt", "Rossi", "Dubois", "Smith", "Jansen", "Novak", "García", "Larsen", "Kowalski", "Silva",
    "Nakamura", "Okafor", "Brennan", "Lindqvist", "Moreau", "Weber", "Costa", "Horvat", "Andersen",
)  # fmt: skip
_TRADES = (
    "Logistics", "Consulting", "Engineering", "Retail", "Foods", "Media", "Software", "Construction", "Textiles",
    "Medical", "Metalworks", "Print", "Energy", "Furniture", "Travel",
)  # fmt: skip
_FORMS = ("Ltd", "GmbH", "SARL", "B.V.", "AG", "Inc.", "S.p.A.", "AB", "KG", "Oy")
_ASSET_CLASSES = ("Buildings", "Machinery", "Vehicles", "Office equipment", "IT equipment", "Furniture", "Software")

Progress = Callable[[int, int], None]
"""Called with (entries written, entries to write) as the work goes on."""


@dataclass(frozen=True)
class LedgerSpec:
    """What to generate: how many entries, how many lines each on average, over which months."""

    entries: int = 1_000
    lines_per_entry: float = 4.0
    start: dt.date = dt.date(2025, 1, 1)
    months: int = 24
    seed: int = 1
    foreign_share: float = FOREIGN_SHARE
    reversal_share: float = REVERSAL_SHARE

    def check(self) -> None:
        if self.entries < 1:
            raise ValidationFailed("generate at least one entry", field="entries")
        if not MIN_LINES <= self.lines_per_entry <= MAX_LINES:
            raise ValidationFailed(
                f"lines per entry is an average between {MIN_LINES} and {MAX_LINES}", field="lines_per_entry"
            )
        if not 1 <= self.months <= 240:
            raise ValidationFailed("months is between 1 and 240", field="months")
        for name in ("foreign_share", "reversal_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValidationFailed(f"{name} is a share between 0 and 1", field=name)

    @property
    def end(self) -> dt.date:
        return _add_months(self.start, self.months) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Generated:
    company_id: str
    company_name: str
    entries: int
    lines: int
    kinds: dict[str, int]  # entries per kind: sale, purchase, receipt, payment, salaries …
    foreign: int  # entries in a foreign currency
    seconds: float
    fast: bool


# -- the company's chart, as the generator uses it --------------------------------------------------


@dataclass(frozen=True)
class _Chart:
    """The accounts and journals each kind of entry posts to (ids)."""

    receivable: str
    payable: str
    bank: str
    equity: str
    income: tuple[str, ...]
    purchases: tuple[str, ...]
    salaries: tuple[str, ...]
    payroll: str
    depreciation: str
    accumulated_depreciation: str
    output_taxes: tuple[tuple[str, Decimal], ...]  # most used first
    input_taxes: tuple[tuple[str, Decimal], ...]
    rounding: str
    reconciled: frozenset[str]
    journals: dict[str, str]  # journal kind → id: general, sale, purchase, bank


def _chart(book: posting.Books) -> _Chart:
    """Pick accounts by kind from the postable ones (active, not a grouping header), in code order."""
    company = book.company
    parents = {a.parent_id for a in book.accounts.values() if a.parent_id}
    postable = sorted(
        (a for a in book.accounts.values() if a.active and a.id not in parents), key=lambda a: (a.code, a.id)
    )

    def of(*kinds: charts.AccountKind) -> list[Account]:
        return [a for a in postable if a.kind in {k.value for k in kinds}]

    def first(kind: charts.AccountKind) -> Account:
        found = of(kind)
        if not found:
            raise Conflict(f"{company.name} has no {kind.value} account to post to; add one to its chart", field="kind")
        return found[0]

    def taxes(kind: charts.AccountKind) -> tuple[tuple[str, Decimal], ...]:
        rated = [(a.id, Decimal(a.tax_rate)) for a in of(kind) if a.tax_rate]
        if rated:
            return tuple(sorted(rated, key=lambda pair: -pair[1]))
        return ((first(kind).id, DEFAULT_TAX_RATE),)

    K = charts.AccountKind
    expenses = of(K.expense)
    salaries = [a for a in expenses if _SALARY_NAMES.search(a.name)] or expenses[:1]
    if not salaries:
        raise Conflict(f"{company.name} has no expense account to post to; add one to its chart", field="kind")
    purchases = [a for a in of(K.cost_of_sales, K.expense) if a not in salaries] or salaries
    liabilities = of(K.current_liability)
    payroll = next((a for a in liabilities if _SALARY_NAMES.search(a.name) or "paye" in a.name.lower()), None)
    fixed = of(K.fixed_asset)
    accumulated = next((a for a in fixed if _ACCUMULATED_NAMES.search(a.name)), fixed[0] if fixed else None)
    if accumulated is None:
        raise Conflict(f"{company.name} has no fixed_asset account to post to; add one to its chart", field="kind")
    journals: dict[str, str] = {}
    for journal in sorted(book.journals.values(), key=lambda j: j.code):
        journals.setdefault(journal.kind, journal.id)
    general = journals.get("general") or next(iter(journals.values()), None)
    if general is None:
        raise Conflict(f"{company.name} has no journal; add one", field="journal")
    return _Chart(
        receivable=first(K.receivable).id,
        payable=first(K.payable).id,
        bank=first(K.bank).id,
        equity=first(K.equity).id,
        income=tuple(a.id for a in of(K.income)) or (first(K.income).id,),
        purchases=tuple(a.id for a in purchases),
        salaries=tuple(a.id for a in salaries),
        payroll=(payroll or (liabilities[0] if liabilities else first(K.payable))).id,
        depreciation=(of(K.depreciation) or expenses)[0].id,
        accumulated_depreciation=accumulated.id,
        output_taxes=taxes(K.tax_payable),
        input_taxes=taxes(K.tax_receivable),
        rounding=book.account_of_kind(K.rounding).id,  # the account posting puts rounding on
        reconciled=frozenset(a.id for a in book.accounts.values() if a.reconcile),
        journals={kind: journals.get(kind, general) for kind in ("general", "sale", "purchase", "bank")},
    )


# -- dates and exchange rates ---------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + year, month + 1, 1)


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [
        start + dt.timedelta(days=offset)
        for offset in range((end - start).days + 1)
        if (start + dt.timedelta(days=offset)).weekday() < 5
    ]


def foreign_currencies(base: str) -> tuple[str, ...]:
    return tuple(c for c in _FOREIGN if c != base)[:2]


def exchange_rates(base: str, spec: LedgerSpec) -> dict[tuple[str, dt.date], Decimal]:
    """A rate for every business day of the range and each foreign currency: a seeded random walk
    (about 0.4 % a day) around today's rough value, in units of ``base`` per unit."""
    rng = random.Random(f"{spec.seed}:rates")
    rates: dict[tuple[str, dt.date], Decimal] = {}
    for currency in foreign_currencies(base):
        level = float(_EURO_VALUE[currency] / _EURO_VALUE.get(base, ONE))
        for day in business_days(spec.start, spec.end):
            level *= 1 + rng.gauss(0, 0.004)
            rates[(currency, day)] = Decimal(f"{level:.6g}")
    return rates


# -- the plan: which entries, in which order --------------------------------------------------------


@dataclass(frozen=True)
class PlannedEntry:
    ordinal: int
    kind: str  # opening, sale, purchase, receipt, payment, salaries, depreciation
    entry: posting.EntryIn
    reversed_later: bool = False


@dataclass(frozen=True)
class PlannedReversal:
    ordinal: int
    original: int  # ordinal of the entry it reverses
    date: dt.date
    reason: str
    kind: str = "reversal"


Planned = PlannedEntry | PlannedReversal


@dataclass
class _Unpaid:
    reference: str
    party_id: str
    amount: Decimal  # gross, in the invoice's currency


class _Planner:
    """Deterministic from the seed: the same spec and chart give the same entries in the same order."""

    def __init__(self, setup: _Setup, spec: LedgerSpec) -> None:
        self.company_id, self.chart, self.spec, self.base = setup.company_id, setup.chart, spec, setup.base
        self.customers, self.vendors = setup.customers, setup.vendors
        self.rng = random.Random(spec.seed)
        self.days = business_days(spec.start, spec.end)
        if not self.days:
            raise ValidationFailed("the date range has no business day", field="months")
        self.foreign = foreign_currencies(self.base)
        self.unpaid_sales: dict[str, deque[_Unpaid]] = {c: deque() for c in (self.base, *self.foreign)}
        self.unpaid_bills: dict[str, deque[_Unpaid]] = {c: deque() for c in (self.base, *self.foreign)}
        self.numbers: dict[str, int] = {}
        self.reversals: list[tuple[dt.date, int]] = []  # heap of (due date, ordinal of the original)
        self.p_extra_line = (spec.lines_per_entry - MIN_LINES) / (MAX_LINES - MIN_LINES)
        # Invoices and bills 3 : 2. A receipt or payment settles up to (lines - 1) of them, so there
        # are just enough of those to settle nine in ten: about a tenth stays open, and settlements
        # seldom find fewer items waiting than they have lines for.
        settled = 0.9 / (spec.lines_per_entry - 1)
        issued = 1 / (1 + settled)
        receipts = 0.6 * issued * settled
        payments = receipts + 0.4 * issued * settled
        self.cuts = (receipts, payments, payments + 0.6 * issued)

    # -- helpers

    def _line_count(self) -> int:
        """2 + Binomial(6, p): between 2 and 8, averaging ``lines_per_entry``."""
        return MIN_LINES + sum(self.rng.random() < self.p_extra_line for _ in range(MAX_LINES - MIN_LINES))

    def _money(self, low_eur: int, high_eur: int, currency: str) -> Decimal:
        """An amount worth between ``low_eur`` and ``high_eur`` euros, in ``currency``'s minor unit."""
        places = exponent(currency)
        scale = Decimal(10**places) / _EURO_VALUE.get(currency, ONE)
        return Decimal(self.rng.randint(int(low_eur * scale), int(high_eur * scale))).scaleb(-places)

    def _reference(self, prefix: str, day: dt.date) -> str:
        key = f"{prefix}-{day.year}"
        self.numbers[key] = number = self.numbers.get(key, 0) + 1
        return f"{key}-{number:06d}"

    def _currency(self) -> str:
        return self.rng.choice(self.foreign) if self.rng.random() < self.spec.foreign_share else self.base

    def _tax(self, taxes: tuple[tuple[str, Decimal], ...]) -> tuple[str, Decimal]:
        """The chart's highest rate mostly, a reduced one sometimes."""
        return taxes[0] if len(taxes) == 1 or self.rng.random() < 0.8 else self.rng.choice(taxes[1:])

    def _entry(
        self, journal: str, day: dt.date, lines: list[posting.LineIn], reference: str, memo: str
    ) -> posting.EntryIn:
        return posting.EntryIn(
            company_id=self.company_id,
            journal=self.chart.journals[journal],
            date=day,
            lines=lines,
            reference=reference,
            memo=memo,
            source=SOURCE,
        )

    # -- the kinds of entries

    def opening(self, day: dt.date) -> posting.EntryIn:
        amount = self._money(250_000, 250_000, self.base)
        lines = [
            posting.LineIn(self.chart.bank, debit=amount, label="Share capital paid in"),
            posting.LineIn(self.chart.equity, credit=amount, label="Share capital"),
        ]
        return self._entry("general", day, lines, "OPENING", "Opening capital")

    def invoice(self, day: dt.date, n: int, *, sale: bool) -> tuple[posting.EntryIn, str, _Unpaid]:
        """A sales invoice (receivable first) or a supplier bill (payable last): ``n - 2`` income or
        cost lines and one tax line; a two-line one is tax exempt (an export, say)."""
        c, currency = self.chart, self._currency()
        code = None if currency == self.base else currency
        party, terms = self.rng.choice(self.customers if sale else self.vendors)
        taxed = n > 2
        low, high = (40, 4_000) if sale else (20, 3_000)
        nets = [self._money(low, high, currency) for _ in range(n - 2 if taxed else n - 1)]
        net = sum(nets, ZERO)
        tax_account, rate = self._tax(c.output_taxes if sale else c.input_taxes)
        tax = rounded(net * rate, currency) if taxed else ZERO
        reference = self._reference("INV" if sale else "BILL", day)
        due = day + dt.timedelta(days=terms)
        lines = [
            posting.LineIn(
                self.rng.choice(c.income if sale else c.purchases),
                debit=ZERO if sale else amount,
                credit=amount if sale else ZERO,
                currency=code,
                label=self.rng.choice(_SALE_LABELS if sale else _PURCHASE_LABELS),
            )
            for amount in nets
        ]
        if taxed:
            label = f"{'Output' if sale else 'Input'} tax {rate:.2%}"
            lines.append(
                posting.LineIn(
                    tax_account,
                    debit=ZERO if sale else tax,
                    credit=tax if sale else ZERO,
                    currency=code,
                    label=label,
                    tax_rate=rate,
                    tax_base=net,
                )
            )
        if sale:
            owed = posting.LineIn(
                c.receivable, debit=net + tax, currency=code, label=reference, party_id=party, due_date=due
            )
            lines.insert(0, owed)
        else:
            lines.append(
                posting.LineIn(
                    c.payable, credit=net + tax, currency=code, label=reference, party_id=party, due_date=due
                )
            )
        entry = self._entry(
            "sale" if sale else "purchase", day, lines, reference, "Sales invoice" if sale else "Supplier bill"
        )
        return entry, currency, _Unpaid(reference, party, net + tax)

    def _oldest_unpaid(self, book: dict[str, deque[_Unpaid]], n: int) -> tuple[str, list[_Unpaid]] | None:
        """Up to ``n`` of the oldest unpaid items of one currency (the company's own, mostly)."""
        waiting = [c for c, queue in book.items() if queue]
        if not waiting:
            return None
        foreign = [c for c in waiting if c != self.base]
        if foreign and (self.base not in waiting or self.rng.random() < self.spec.foreign_share):
            currency = self.rng.choice(foreign)
        else:
            currency = self.base
        queue = book[currency]
        return currency, [queue.popleft() for _ in range(min(n, len(queue)))]

    def settlement(self, day: dt.date, n: int, *, receipt: bool) -> posting.EntryIn | None:
        """A customer receipt or a supplier payment through the bank settling up to ``n - 1`` of
        the oldest unpaid invoices or bills (a batch of transfers is one bank line); None when
        nothing is unpaid."""
        found = self._oldest_unpaid(self.unpaid_sales if receipt else self.unpaid_bills, n - 1)
        if found is None:
            return None
        currency, paid = found
        code = None if currency == self.base else currency
        c = self.chart
        reference = self._reference("RCPT" if receipt else "PAY", day)
        total = sum((p.amount for p in paid), ZERO)
        payer = paid[0].party_id if len(paid) == 1 else None
        lines = [
            posting.LineIn(
                c.receivable if receipt else c.payable,
                debit=ZERO if receipt else p.amount,
                credit=p.amount if receipt else ZERO,
                currency=code,
                label=f"Payment {p.reference}",
                party_id=p.party_id,
            )
            for p in paid
        ]
        bank_line = posting.LineIn(
            c.bank,
            debit=total if receipt else ZERO,
            credit=ZERO if receipt else total,
            currency=code,
            label=reference,
            party_id=payer,
        )
        lines = [bank_line, *lines] if receipt else [*lines, bank_line]
        return self._entry("bank", day, lines, reference, "Customer receipt" if receipt else "Supplier payment")

    def salaries(self, day: dt.date, n: int) -> posting.EntryIn:
        """Gross salaries per department; what is withheld is owed to the tax office, the rest paid."""
        c, month = self.chart, f"{day:%Y-%m}"
        gross = [self._money(6_000, 45_000, self.base) for _ in range(max(1, n - 2))]
        lines = [
            posting.LineIn(self.rng.choice(c.salaries), debit=x, label=f"Salaries {month} – {_DEPARTMENTS[i % 6]}")
            for i, x in enumerate(gross)
        ]
        total = sum(gross, ZERO)
        withheld = rounded(total * WITHHELD_SHARE, self.base) if n > 2 else ZERO
        if withheld:
            lines.append(posting.LineIn(c.payroll, credit=withheld, label=f"Payroll taxes {month}"))
        lines.append(posting.LineIn(c.bank, credit=total - withheld, label=f"Net salaries {month}"))
        return self._entry("general", day, lines, f"PAYROLL-{month}", "Salary run")

    def depreciation(self, day: dt.date, n: int) -> posting.EntryIn:
        c, month = self.chart, f"{day:%Y-%m}"
        amounts = [self._money(300, 6_000, self.base) for _ in range(n - 1)]
        lines = [
            posting.LineIn(c.depreciation, debit=x, label=f"Depreciation {month} – {_ASSET_CLASSES[i % 7]}")
            for i, x in enumerate(amounts)
        ]
        lines.append(
            posting.LineIn(c.accumulated_depreciation, credit=sum(amounts, ZERO), label=f"Depreciation {month}")
        )
        return self._entry("general", day, lines, f"DEPR-{month}", "Monthly depreciation")

    # -- the order of it all

    def __iter__(self) -> Iterator[Planned]:
        """One planned item per slot; slot ``i`` falls on business day ``i × days / entries``, so
        the entries spread evenly and come in date order. Month ends come first in the new month,
        and a slot is kept free for every reversal promised."""
        n, days = self.spec.entries, self.days
        month_end: deque[tuple[str, dt.date]] = deque()
        last_month: tuple[int, int] | None = None
        last_day = days[0]
        for ordinal in range(n):
            day = days[ordinal * len(days) // n]
            if last_month is not None and (day.year, day.month) != last_month:
                month_end.extend((("salaries", last_day), ("depreciation", last_day)))
            last_month, last_day = (day.year, day.month), day
            left, promised = n - ordinal, len(self.reversals)
            if ordinal == 0:
                yield PlannedEntry(ordinal, "opening", self.opening(day))
            elif month_end and left > promised:
                kind, closing = month_end.popleft()
                make = self.salaries if kind == "salaries" else self.depreciation
                yield PlannedEntry(ordinal, kind, make(closing, self._line_count()))
            elif self.reversals and (self.reversals[0][0] <= day or left <= promised):
                _, original = heapq.heappop(self.reversals)
                yield PlannedReversal(ordinal, original, day, "Issued in error")
            else:
                yield self._business(ordinal, day, may_reverse=left - 1 > promised)

    def _business(self, ordinal: int, day: dt.date, *, may_reverse: bool) -> PlannedEntry:
        """A receipt, payment, sales invoice or bill, by the shares worked out in ``__init__`` (an
        invoice or bill when nothing is waiting to be paid)."""
        n, pick = self._line_count(), self.rng.random()
        receipts, payments, sales = self.cuts
        if pick < payments:
            receipt = pick < receipts
            entry = self.settlement(day, n, receipt=receipt)
            if entry is not None:
                return PlannedEntry(ordinal, "receipt" if receipt else "payment", entry)
            sale = receipt
        else:
            sale = pick < sales
        entry, currency, unpaid = self.invoice(day, n, sale=sale)
        kind = "sale" if sale else "purchase"
        if may_reverse and self.rng.random() < self.spec.reversal_share:
            # a reversed invoice is never paid; its reversal comes a few days later
            heapq.heappush(self.reversals, (day + dt.timedelta(days=self.rng.randint(1, 10)), ordinal))
            return PlannedEntry(ordinal, kind, entry, reversed_later=True)
        (self.unpaid_sales if sale else self.unpaid_bills)[currency].append(unpaid)
        return PlannedEntry(ordinal, kind, entry)


# -- entry point ----------------------------------------------------------------------------------


async def generate(
    rt: Runtime,
    tenant: str,
    spec: LedgerSpec,
    *,
    company: str = DEFAULT_COMPANY,
    template: str = DEFAULT_TEMPLATE,
    fast: bool = False,
    batch: int = 200,
    progress: Progress | None = None,
    actor: str = ACTOR,
) -> Generated:
    """Give ``company`` of ``tenant`` (created from ``template`` if there is none of that name) a
    ledger as ``spec`` describes; see the module docstring for the two ways of writing it."""
    spec.check()
    if batch < 1:
        raise ValidationFailed("the batch holds at least one entry", field="batch")
    started = time.perf_counter()
    report = progress or (lambda done, total: None)
    if fast:
        async with acting(rt, tenant, actor) as access:
            setup = await _set_up(access, company, template, spec)
            tally = await _FastLoad(access, setup, spec).run(report)
    else:
        async with acting(rt, tenant, actor) as access:
            setup = await _set_up(access, company, template, spec)
        tally = await _through_service(rt, tenant, setup, spec, batch, report, actor)
    seconds = time.perf_counter() - started
    return Generated(
        setup.company_id, setup.company_name, spec.entries, tally.lines, tally.kinds, tally.foreign, seconds, fast
    )


@dataclass(frozen=True)
class _Setup:
    company_id: str
    company_name: str
    base: str
    fiscal_year_start_month: int
    chart: _Chart
    journal_codes: dict[str, str]  # id → code, of every journal of the company
    rates: dict[tuple[str, dt.date], Decimal]
    customers: list[tuple[str, int]]  # (party id, days they take to pay)
    vendors: list[tuple[str, int]]


async def _set_up(access: Access, name: str, template: str, spec: LedgerSpec) -> _Setup:
    """The company (created when missing), its exchange rates for the range, its chart, and its
    customers and vendors (created when missing)."""
    found = await repo.company_named(access.session, name)
    if found is None:
        if template not in charts.TEMPLATES:
            known = ", ".join(sorted(charts.TEMPLATES))
            raise ValidationFailed(f"no chart template {template!r}; choose one of {known}", field="template")
        found = await service.create_company(
            access,
            CompanyCreate(name=name, base_currency=charts.TEMPLATES[template].currency, chart_template=template),
        )
    company: Company = found
    posting.check_lock(access, company, spec.start)
    rates = exchange_rates(company.base_currency, spec)
    if rates:
        await service.add_rates(access, company.id, [(c, d, r) for (c, d), r in rates.items()], SOURCE)
    book = await posting.books(access.session, company.id)
    customers, vendors = await _parties(access, company.id, spec)
    return _Setup(
        company.id,
        company.name,
        company.base_currency,
        company.fiscal_year_start_month,
        _chart(book),
        {j.id: j.code for j in book.journals.values()},
        rates,
        customers,
        vendors,
    )


async def _parties(
    access: Access, company_id: str, spec: LedgerSpec
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Customers and vendors with made-up names, the same for the same seed: a customer for about
    every hundred entries (20 to 500) and a vendor for every three hundred (10 to 200). Parties of
    those names the company has already are used as they are."""
    rng = random.Random(f"{spec.seed}:parties")
    existing = {
        name.lower(): party_id
        for party_id, name in (await parties_repo.party_names(access.session, company_id)).items()
    }
    taken: set[str] = set()
    made: dict[bool, list[tuple[str, int]]] = {True: [], False: []}
    counts = {True: max(20, min(500, spec.entries // 100)), False: max(10, min(200, spec.entries // 300))}
    for customer in (True, False):
        for _ in range(counts[customer]):
            name = f"{rng.choice(_SURNAMES)} {rng.choice(_TRADES)} {rng.choice(_FORMS)}"
            if name.lower() in taken:
                name = f"{name} {len(taken) + 1}"
            taken.add(name.lower())
            party_id = existing.get(name.lower())
            if party_id is None:
                party = await receivables.create_party(
                    access, PartyCreate(company_id=company_id, name=name, is_customer=customer, is_vendor=not customer)
                )
                party_id = party.id
            made[customer].append((party_id, rng.choice(_TERMS)))
    return made[True], made[False]


@dataclass
class _Tally:
    lines: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    foreign: int = 0

    def count(self, item: Planned) -> None:
        self.kinds[item.kind] = self.kinds.get(item.kind, 0) + 1
        if isinstance(item, PlannedEntry) and any(line.currency for line in item.entry.lines):
            self.foreign += 1


# -- through the service ------------------------------------------------------------------------


async def _through_service(
    rt: Runtime, tenant: str, setup: _Setup, spec: LedgerSpec, batch: int, report: Progress, actor: str
) -> _Tally:
    """``batch`` planned entries per unit of work; runs of entries go through ``post_many``, each
    reversal through ``posting.reverse``."""
    planned = iter(_Planner(setup, spec))
    reversible: dict[int, str] = {}  # ordinal → id of a posted entry that is reversed later
    tally, done = _Tally(), 0
    while chunk := list(itertools.islice(planned, batch)):
        async with acting(rt, tenant, actor) as access:
            run: list[PlannedEntry] = []
            for item in chunk:
                tally.count(item)
                if isinstance(item, PlannedEntry):
                    run.append(item)
                    continue
                tally.lines += await _post_run(access, run, reversible)
                run = []
                mirror = await posting.reverse(access, reversible.pop(item.original), day=item.date, reason=item.reason)
                tally.lines += mirror.line_count
            tally.lines += await _post_run(access, run, reversible)
        done += len(chunk)
        report(done, spec.entries)
    return tally


async def _post_run(access: Access, run: list[PlannedEntry], reversible: dict[int, str]) -> int:
    """Post consecutive planned entries in one ``post_many``; remember the ids of those reversed
    later. Returns how many lines went in."""
    if not run:
        return 0
    posted = await posting.post_many(access, [p.entry for p in run])
    for planned, entry in zip(run, posted, strict=True):
        if planned.reversed_later:
            reversible[planned.ordinal] = entry.id
    return sum(e.line_count for e in posted)


# -- fast: priced, numbered and chained here, written in bulk --------------------------------------


@dataclass(slots=True)
class _Line:
    """A line as posting writes it; ``posting.entry_hash`` reads these attributes."""

    id: str
    line_no: int
    account_id: str
    debit: Decimal
    credit: Decimal
    currency: str
    amount_currency: Decimal
    rate: Decimal
    label: str | None
    party_id: str | None
    due_date: dt.date | None
    tax_rate: Decimal | None
    tax_base: Decimal | None


@dataclass(slots=True)
class _Entry:
    """An entry header as posting writes it (the hashed attributes and the rest of the row)."""

    id: str
    company_id: str
    journal_id: str
    date: dt.date
    reference: str | None
    memo: str | None
    source: str
    source_id: str | None
    currency: str | None
    lines: list[_Line]
    total: Decimal = ZERO
    number: str | None = None
    reversal_of_id: str | None = None
    reversed_by_id: str | None = None


ENTRY_COLUMNS = (
    "id", "tenant_id", "company_id", "journal_id", "state", "date", "fiscal_year", "sequence", "number",
    "reference", "memo", "currency", "total", "line_count", "source", "source_id", "reversal_of_id",
    "reversed_by_id", "draft_lines", "chain_index", "previous_hash", "hash", "created_by", "posted_by",
    "posted_at", "created_at", "updated_at",
)  # fmt: skip
LINE_COLUMNS = (
    "id", "tenant_id", "entry_id", "company_id", "journal_id", "account_id", "line_no", "date", "period",
    "debit", "credit", "currency", "amount_currency", "rate", "label", "party_id", "due_date", "tax_rate",
    "tax_base",
)  # fmt: skip
OPEN_ITEM_COLUMNS = (
    "line_id", "tenant_id", "company_id", "account_id", "party_id", "currency", "residual",
    "residual_currency", "date", "due_date",
)  # fmt: skip


class _FastLoad:
    """One pass over the plan: price, number and chain each entry in Python, sum the balances in
    memory, and hand the rows to the bulk writer a chunk at a time."""

    def __init__(self, access: Access, setup: _Setup, spec: LedgerSpec) -> None:
        self.access, self.setup, self.spec = access, setup, spec
        self.tenant_id, self.actor, self.now = access.tenant.id, access.principal.id, utcnow()
        self.sequences: dict[tuple[str, int], int] = {}
        self.balances: dict[tuple[str, int, str], list[Any]] = {}
        self.reversible: dict[int, _Entry] = {}  # ordinal → an entry reversed later, until it is
        self.position, self.previous = 0, posting.GENESIS
        self.entry_rows: list[tuple[Any, ...]] = []
        self.line_rows: list[tuple[Any, ...]] = []
        self.open_rows: list[tuple[Any, ...]] = []
        self.matches: list[dict[str, Any]] = []
        self.tally = _Tally()
        self.ids = _OrderedIds()

    async def run(self, report: Progress) -> _Tally:
        session, company_id = self.access.session, self.setup.company_id
        self.position, self.previous = await _hold_chain(session, self.tenant_id, company_id)
        self.sequences = await _held_sequences(session, list(self.setup.journal_codes))
        writer = _BulkWriter(session)
        done = 0
        try:
            for item in _Planner(self.setup, self.spec):
                self.tally.count(item)
                if isinstance(item, PlannedEntry):
                    self._post(item)
                else:
                    self._reverse(item)
                done += 1
                if len(self.entry_rows) >= FAST_CHUNK_ENTRIES:
                    await self._flush(writer)
                    report(done, self.spec.entries)
            await self._flush(writer)
        finally:
            await writer.finish()
        if self.matches:
            await session.execute(insert(Match), self.matches)
        await self._write_balances()
        await _save_sequences(session, self.tenant_id, self.sequences)
        await _move_chain(session, self.tenant_id, company_id, self.position, self.previous)
        await trail.record(
            self.access,
            "finance.ledger.generated",
            "company",
            company_id,
            {
                "entries": self.spec.entries,
                "lines": self.tally.lines,
                "seed": self.spec.seed,
                "kinds": self.tally.kinds,
            },
        )
        report(done, self.spec.entries)
        return self.tally

    async def _flush(self, writer: _BulkWriter) -> None:
        """Entries before their lines, lines before their open items (the foreign keys)."""
        await writer.write(
            [
                (Entry.__table__, ENTRY_COLUMNS, self.entry_rows),
                (Line.__table__, LINE_COLUMNS, self.line_rows),
                (OpenItem.__table__, OPEN_ITEM_COLUMNS, self.open_rows),
            ]
        )
        self.entry_rows, self.line_rows, self.open_rows = [], [], []

    def _post(self, item: PlannedEntry) -> None:
        proposed = item.entry
        lines, currency = self._price(proposed)
        entry = _Entry(
            self.ids(), self.setup.company_id, proposed.journal, proposed.date, proposed.reference, proposed.memo,
            proposed.source, proposed.source_id, currency, lines, sum((line.debit for line in lines), ZERO),
        )  # fmt: skip
        if item.reversed_later:
            entry.reversed_by_id = self.ids()  # the id its reversal will have
            self.reversible[item.ordinal] = entry
        self._seal(entry)

    def _price(self, proposed: posting.EntryIn) -> tuple[list[_Line], str | None]:
        """Company-currency amounts as ``posting`` computes them: each line converted at its rate
        and rounded, what the rounding leaves on the rounding account. Also the entry's currency
        (None when its lines have several)."""
        base, rates = self.setup.base, self.setup.rates
        lines: list[_Line] = []
        currencies: set[str] = set()
        difference = ZERO
        for line_no, line in enumerate(proposed.lines, start=1):
            currency = line.currency or base
            currencies.add(currency)
            signed = line.debit - line.credit
            if currency == base:  # already in minor units: converting at 1 changes nothing
                rate, amount = ONE, abs(signed)
            else:
                rate = line.rate or rates[(currency, proposed.date)]
                amount = rounded(abs(signed) * rate, base)
            debit, credit = (amount, ZERO) if signed > 0 else (ZERO, amount)
            difference += debit - credit
            lines.append(
                _Line(self.ids(), line_no, line.account, debit, credit, currency, signed, rate, line.label,
                      line.party_id, line.due_date, line.tax_rate, line.tax_base)
            )  # fmt: skip
        if difference:
            debit, credit = (-difference, ZERO) if difference < 0 else (ZERO, difference)
            lines.append(
                _Line(self.ids(), len(lines) + 1, self.setup.chart.rounding, debit, credit, base, -difference, ONE,
                      ROUNDING_LABEL, None, None, None, None)
            )  # fmt: skip
        return lines, next(iter(currencies)) if len(currencies) == 1 else None

    def _reverse(self, item: PlannedReversal) -> None:
        """The mirror image ``posting.reverse`` posts (the original's company amounts swapped, the
        transaction amounts and tax bases negated), with the open lines of both settled pairwise."""
        original = self.reversible.pop(item.original)
        assert original.reversed_by_id is not None
        lines = [
            _Line(self.ids(), line.line_no, line.account_id, line.credit, line.debit, line.currency,
                  -line.amount_currency, line.rate, line.label, line.party_id, line.due_date, line.tax_rate,
                  None if line.tax_base is None else -line.tax_base)
            for line in original.lines
        ]  # fmt: skip
        currencies = {line.currency for line in lines}
        mirror = _Entry(
            original.reversed_by_id, original.company_id, original.journal_id, item.date,
            f"Reversal of {original.number}", item.reason, "reversal", original.id,
            next(iter(currencies)) if len(currencies) == 1 else None, lines, original.total,
            reversal_of_id=original.id,
        )  # fmt: skip
        self._seal(mirror)
        for old, new in zip(original.lines, mirror.lines, strict=True):
            if old.account_id in self.setup.chart.reconciled:
                self.matches.append(
                    {
                        "id": self.ids(),
                        "tenant_id": self.tenant_id,
                        "reconciliation_id": mirror.id,
                        "company_id": original.company_id,
                        "debit_line_id": old.id if old.debit else new.id,
                        "credit_line_id": new.id if old.debit else old.id,
                        "amount": old.debit or old.credit,
                        "amount_currency": abs(old.amount_currency),
                        "created_by": self.actor,
                        "created_at": self.now,
                    }
                )

    def _seal(self, entry: _Entry) -> None:
        """Number the entry in its journal and fiscal year, link it into the chain, add its lines to
        the balances and queue its rows (and the open items of lines on reconciled accounts, unless
        a reversal settles them)."""
        fiscal_year = fiscal_year_of(entry.date, self.setup.fiscal_year_start_month)
        key = (entry.journal_id, fiscal_year)
        sequence = self.sequences[key] = self.sequences.get(key, 0) + 1
        entry.number = f"{self.setup.journal_codes[entry.journal_id]}/{fiscal_year}/{sequence:05d}"
        previous, self.position = self.previous, self.position + 1
        self.previous = posting.entry_hash(previous, entry, entry.lines)
        tenant_id, company_id, period = self.tenant_id, entry.company_id, period_of(entry.date)
        reconciled = self.setup.chart.reconciled
        settled = entry.reversed_by_id is not None or entry.reversal_of_id is not None
        for line in entry.lines:
            self.line_rows.append(
                (line.id, tenant_id, entry.id, company_id, entry.journal_id, line.account_id, line.line_no,
                 entry.date, period, line.debit, line.credit, line.currency, line.amount_currency, line.rate,
                 line.label, line.party_id, line.due_date, line.tax_rate, line.tax_base)
            )  # fmt: skip
            sums = self.balances.get((line.account_id, period, line.currency))
            if sums is None:
                sums = self.balances[(line.account_id, period, line.currency)] = [ZERO, ZERO, ZERO, 0]
            sums[0] += line.debit
            sums[1] += line.credit
            sums[2] += line.amount_currency
            sums[3] += 1
            if line.account_id in reconciled and not settled:
                self.open_rows.append(
                    (line.id, tenant_id, company_id, line.account_id, line.party_id, line.currency,
                     line.debit - line.credit, line.amount_currency, entry.date, line.due_date)
                )  # fmt: skip
        self.tally.lines += len(entry.lines)
        self.entry_rows.append(
            (entry.id, tenant_id, company_id, entry.journal_id, "reversed" if entry.reversed_by_id else "posted",
             entry.date, fiscal_year, sequence, entry.number, entry.reference, entry.memo, entry.currency,
             entry.total, len(entry.lines), entry.source, entry.source_id, entry.reversal_of_id,
             entry.reversed_by_id, None, self.position, previous, self.previous, self.actor, self.actor, self.now,
             self.now, self.now)
        )  # fmt: skip

    async def _write_balances(self) -> None:
        """Add the sums to slot 0 of their balance rows (which exist if the company had entries)."""
        rows = [
            {"account_id": account_id, "period": period, "currency": currency, "company_id": self.setup.company_id,
             "debit": debit, "credit": credit, "amount_currency": amount_currency, "lines": count}
            for (account_id, period, currency), (debit, credit, amount_currency, count) in sorted(self.balances.items())
        ]  # fmt: skip
        await bulk.insert_rows(
            self.access.session,
            Balance,
            rows,
            constants={"tenant_id": self.tenant_id, "slot": 0},
            upsert=posting.add_to_balance,
        )


def _dialect_insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _hold_chain(session: AsyncSession, tenant_id: str, company_id: str) -> tuple[int, str]:
    """Lock the company's chain head for the rest of the unit of work; its position and hash."""
    stmt = _dialect_insert(session)(ChainHead).values(tenant_id=tenant_id, company_id=company_id, position=0, hash="")
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "company_id"], set_={"position": ChainHead.position}
    ).returning(ChainHead.position, ChainHead.hash)
    position, previous = (await session.execute(stmt)).one()
    return int(position), previous or posting.GENESIS


async def _move_chain(session: AsyncSession, tenant_id: str, company_id: str, position: int, last: str) -> None:
    await session.execute(
        update(ChainHead)
        .where(ChainHead.tenant_id == tenant_id, ChainHead.company_id == company_id)
        .values(position=position, hash=last)
    )


async def _held_sequences(session: AsyncSession, journal_ids: list[str]) -> dict[tuple[str, int], int]:
    """The last numbers of the company's journals, locked for the rest of the unit of work."""
    counters = await session.scalars(
        select(SequenceCounter).where(SequenceCounter.journal_id.in_(journal_ids)).with_for_update()
    )
    return {(c.journal_id, c.fiscal_year): c.last for c in counters}


async def _save_sequences(session: AsyncSession, tenant_id: str, last: dict[tuple[str, int], int]) -> None:
    if not last:
        return
    stmt = _dialect_insert(session)(SequenceCounter).values(
        [{"tenant_id": tenant_id, "journal_id": j, "fiscal_year": y, "last": n} for (j, y), n in sorted(last.items())]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "journal_id", "fiscal_year"], set_={"last": stmt.excluded.last}
        )
    )


class _OrderedIds:
    """Ids in increasing order: UUIDv7 strings (RFC 9562) whose random bits after the load's start
    time are a counter. Rows then land at the right edge of the primary-key and entry indexes
    instead of at random pages, which keeps an index of millions of rows from being read back
    page by page while it is loaded."""

    def __init__(self) -> None:
        head = f"{int(time.time() * 1000):012x}{random.getrandbits(12):03x}"
        self.prefix = f"{head[:8]}-{head[8:12]}-7{head[12:]}-"
        self.next = itertools.count((0b10 << 62) | (random.getrandbits(40) << 20)).__next__

    def __call__(self) -> str:
        tail = f"{self.next():016x}"
        return f"{self.prefix}{tail[:4]}-{tail[4:]}"


Rows = list[tuple[Any, ...]]


class _BulkWriter:
    """Rows in large chunks, in the unit of work's transaction, each table's before the next's.

    PostgreSQL: COPY into temporary tables, then one INSERT … SELECT per table. COPY cannot write
    into a table under row-level security (pooled tenants' tables are), while the INSERT still
    goes through the policies. The raw driver connection is the session's own, so all of it runs
    in its transaction. The INSERTs run while the caller prepares the next chunk: ``write`` waits
    for the previous chunk's, ``finish`` for the last. Elsewhere: multi-row INSERTs.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.staged: set[str] = set()
        self.inserting: asyncio.Task[Any] | None = None

    async def write(self, tables: Sequence[tuple[Any, Sequence[str], Rows]]) -> None:
        await self.finish()
        conn = await self.session.connection()
        if conn.dialect.name != "postgresql":
            for table, columns, rows in tables:
                if rows:
                    await self.session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
            return
        driver: Any = await driver_of(conn)
        options = conn.sync_connection.get_execution_options() if conn.sync_connection else {}
        schema = (options.get("schema_translate_map") or {}).get(None)
        statements = []
        for table, columns, rows in tables:
            if not rows:
                continue
            target, staging = f'"{schema}".{table.name}' if schema else table.name, f"bulk_{table.name}"
            if staging not in self.staged:
                await driver.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {target}) ON COMMIT DROP")
                self.staged.add(staging)
            await driver.copy_records_to_table(staging, records=rows, columns=list(columns))
            names = ", ".join(columns)
            statements.append(f"INSERT INTO {target} ({names}) SELECT {names} FROM {staging}; TRUNCATE {staging}")
        if statements:
            self.inserting = asyncio.create_task(driver.execute("; ".join(statements)))
        await asyncio.sleep(0)  # sent: the server works on it while the caller goes on

    async def finish(self) -> None:
        if self.inserting is not None:
            inserting, self.inserting = self.inserting, None
            await inserting
