"""Request and response bodies of finance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

_FORBID = ConfigDict(extra="forbid")


def _money_text(value: Decimal) -> str:
    """Amounts leave the API with two decimals, or as many as they really have (KWD has three),
    whether they were just computed or read back from a NUMERIC(20, 4) column."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents if cents == value else value.normalize())


def _rate_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


MoneyOut = Annotated[Decimal, PlainSerializer(_money_text, return_type=str)]
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
LedgerDate = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY, description="Between 1900-01-01 and 2999-12-31.")]
RateOut = Annotated[Decimal, PlainSerializer(_rate_text, return_type=str)]


class CompanyCreate(BaseModel):
    model_config = _FORBID
    name: str = Field(min_length=1, max_length=200)
    base_currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR.")
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    chart_template: str | None = Field(
        None, description="A chart to start from: ifrs, us_gaap_small, uk, de_skr03, fr_pcg."
    )


class CompanyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    base_currency: str
    fiscal_year_start_month: int
    chart_template: str | None
    created_at: dt.datetime


class AccountCreate(BaseModel):
    model_config = _FORBID
    code: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40)
    parent_code: str | None = Field(None, max_length=20)
    tax_rate: Decimal | None = Field(None, ge=0, le=1)


class AccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    company_id: str
    code: str
    name: str
    kind: str
    type: str
    parent_id: str | None
    reconcile: bool
    tax_rate: Decimal | None
    active: bool


class ChartTemplateRead(BaseModel):
    key: str
    name: str
    country: str | None
    currency: str
    accounts: int


class CompanyDetail(CompanyRead):
    soft_lock_date: dt.date | None
    hard_lock_date: dt.date | None


class LockDates(BaseModel):
    """Only the fields sent change. ``soft_lock_date`` null lifts the soft lock."""

    model_config = _FORBID
    soft_lock_date: LedgerDate | None = None
    hard_lock_date: LedgerDate | None = None


class JournalCreate(BaseModel):
    model_config = _FORBID
    code: str = Field(min_length=1, max_length=10, pattern=r"^[A-Z0-9\-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="general, sale, purchase, bank, cash, fx or closing")
    default_account: str | None = Field(None, description="Account code, for bank and cash journals.")


class JournalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    company_id: str
    code: str
    name: str
    kind: str
    default_account_id: str | None


Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


class LineCreate(BaseModel):
    model_config = _FORBID
    account: str = Field(min_length=1, max_length=36, description="Account code or id.")
    debit: Money = Decimal(0)
    credit: Money = Decimal(0)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Defaults to the company's currency.")
    rate: Decimal | None = Field(
        None, gt=0, max_digits=24, decimal_places=10, description="Company currency per unit; looked up when omitted."
    )
    label: str | None = Field(None, max_length=200)
    party_id: str | None = Field(None, max_length=36)
    due_date: LedgerDate | None = None
    tax_rate: Decimal | None = Field(None, ge=0, le=1, max_digits=5, decimal_places=4)
    tax_base: Decimal | None = Field(None, max_digits=18, decimal_places=4)


class EntryCreate(BaseModel):
    model_config = _FORBID
    company_id: str
    journal: str = Field("GEN", description="Journal code or id.")
    date: LedgerDate
    reference: str | None = Field(None, max_length=200)
    memo: str | None = Field(None, max_length=1000)
    lines: list[LineCreate] = Field(min_length=2, max_length=10_000)
    post: bool = Field(True, description="Post now (default) or keep as a draft.")


class EntryReverse(BaseModel):
    model_config = _FORBID
    date: LedgerDate | None = Field(None, description="Defaults to the original entry's date.")
    reason: str = Field(min_length=1, max_length=500)


class LineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    line_no: int
    account_id: str
    debit: MoneyOut
    credit: MoneyOut
    currency: str
    amount_currency: MoneyOut
    rate: RateOut
    label: str | None
    party_id: str | None
    due_date: dt.date | None
    tax_rate: Decimal | None
    tax_base: MoneyOut | None


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    company_id: str
    journal_id: str
    state: str
    date: dt.date
    fiscal_year: int
    number: str | None
    reference: str | None
    memo: str | None
    currency: str | None
    total: MoneyOut
    line_count: int
    source: str
    source_id: str | None
    reversal_of_id: str | None
    reversed_by_id: str | None
    hash: str | None
    posted_at: dt.datetime | None


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class EntryDetail(EntryRead):
    lines: list[LineRead] = []
    draft_lines: list[dict[str, Any]] | None = None
    attachments: list[AttachmentRead] = []


class RateCreate(BaseModel):
    model_config = _FORBID
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    date: LedgerDate
    rate: Decimal = Field(gt=0, max_digits=24, decimal_places=10)


class RateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    currency: str
    date: dt.date
    rate: RateOut
    source: str


class VerificationRead(BaseModel):
    company_id: str
    intact: bool
    entries: int
    broken_at: str | None = None
    problem: str | None = None


class Revaluation(BaseModel):
    model_config = _FORBID
    company_id: str
    as_of: LedgerDate = Field(description="Usually a period end; the adjustment is reversed the day after.")


class IntercompanyCreate(BaseModel):
    model_config = _FORBID
    date: LedgerDate
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Defaults to the sender's currency.")
    sender_company_id: str
    sender_account: str = Field(description="What the sender books against (e.g. its income account).")
    receiver_company_id: str
    receiver_account: str = Field(description="What the receiver books against (e.g. its expense account).")
    memo: str | None = Field(None, max_length=200)
