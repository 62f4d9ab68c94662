"""Request and response bodies of receivables and payables. Amounts leave the API as strings with
their currency's decimals (see ``finance.schemas.MoneyOut``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from atrium.apps.finance.schemas import LedgerDate, MoneyOut, RateOut

_FORBID = ConfigDict(extra="forbid")
_READ = ConfigDict(from_attributes=True)


# -- parties ----------------------------------------------------------------------------------


class PartyCreate(BaseModel):
    model_config = _FORBID
    company_id: str
    name: str = Field(min_length=1, max_length=200, description="Unique within the company.")
    is_customer: bool = Field(True, description="Invoices may be issued to them.")
    is_vendor: bool = Field(False, description="Bills may be entered from them.")
    email: EmailStr | None = None
    tax_id: str | None = Field(None, max_length=50, description="VAT number or other tax identifier.")
    ibans: list[str] = Field(default_factory=list, max_length=20, description="Bank accounts they pay from or to.")
    payment_terms: str | None = Field(None, max_length=40, description="Default terms code, e.g. net30.")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Default document currency.")


class PartyUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = _FORBID
    name: str | None = Field(None, min_length=1, max_length=200)
    is_customer: bool | None = None
    is_vendor: bool | None = None
    email: EmailStr | None = None
    tax_id: str | None = Field(None, max_length=50)
    ibans: list[str] | None = Field(None, max_length=20)
    payment_terms: str | None = Field(None, max_length=40)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    active: bool | None = None


class PartyRead(BaseModel):
    model_config = _READ
    id: str
    company_id: str
    name: str
    is_customer: bool
    is_vendor: bool
    email: str | None
    tax_id: str | None
    ibans: list[str]
    payment_terms: str | None
    currency: str | None
    active: bool
    created_at: dt.datetime


class CurrencyBalance(BaseModel):
    currency: str
    receivable: MoneyOut = Field(description="Open on receivable accounts, in this currency.")
    payable: MoneyOut = Field(description="Open on payable accounts, in this currency.")


class PartyBalance(BaseModel):
    party_id: str
    currency: str = Field(description="The company's currency, in which the totals are given.")
    receivable: MoneyOut = Field(description="What the party owes (negative: a credit they have with us).")
    payable: MoneyOut = Field(description="What is owed to the party (negative: a credit we have with them).")
    balance: MoneyOut = Field(description="Receivable minus payable.")
    open_items: int
    by_currency: list[CurrencyBalance]


# -- payment terms ----------------------------------------------------------------------------


class InstallmentIn(BaseModel):
    model_config = _FORBID
    percent: Decimal = Field(gt=0, le=100, max_digits=7, decimal_places=4, description="Share of the total.")
    days: int = Field(ge=0, le=3650, description="Due this many days after the document date.")


class TermsCreate(BaseModel):
    model_config = _FORBID
    company_id: str
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9\-_/]*$")
    name: str = Field(min_length=1, max_length=200)
    installments: list[InstallmentIn] = Field(min_length=1, max_length=24)
    discount_percent: Decimal | None = Field(None, gt=0, lt=100, max_digits=7, decimal_places=4)
    discount_days: int | None = Field(None, ge=0, le=3650)


class InstallmentRead(BaseModel):
    percent: RateOut
    days: int


class TermsRead(BaseModel):
    code: str
    name: str
    installments: list[InstallmentRead]
    discount_percent: RateOut | None
    discount_days: int | None
    built_in: bool


# -- invoices and bills -----------------------------------------------------------------------

DocumentKind = Literal["invoice", "credit_note", "bill", "vendor_credit"]
Status = Literal["draft", "open", "partially_paid", "paid", "cancelled"]


class DocumentLineIn(BaseModel):
    model_config = _FORBID
    description: str = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(Decimal(1), max_digits=16, decimal_places=6, description="Above zero, below 10^10.")
    unit_price: Decimal = Field(max_digits=16, decimal_places=6, description="Zero or more, below 10^10, before tax.")
    account: str | None = Field(
        None,
        max_length=36,
        description="Income (sales) or expense (purchases) account, by code or id; defaults to the "
        "company's first one.",
    )
    tax_rate: Decimal | None = Field(
        None,
        ge=0,
        lt=1,
        max_digits=7,
        decimal_places=4,
        description="A fraction (0.20 for 20 %); must be the rate of one of the company's tax accounts. "
        "Empty or 0: no tax.",
    )


class DocumentFields(BaseModel):
    model_config = _FORBID
    party_id: str
    date: LedgerDate
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="Defaults to the party's currency, else the company's."
    )
    rate: Decimal | None = Field(
        None, gt=0, max_digits=24, decimal_places=10, description="Company currency per unit; looked up if omitted."
    )
    payment_terms: str | None = Field(None, max_length=40, description="Defaults to the party's, else immediate.")
    reference: str | None = Field(None, max_length=200, description="The party's reference (their bill number).")
    memo: str | None = Field(None, max_length=1000)
    original_id: str | None = Field(None, description="Credit notes: the invoice or bill they credit.")
    lines: list[DocumentLineIn] = Field(min_length=1, max_length=1000)


class DocumentCreate(DocumentFields):
    company_id: str
    kind: DocumentKind | None = Field(
        None, description="invoice or credit_note under /invoices, bill or vendor_credit under /bills."
    )
    post: bool = Field(False, description="Post at once instead of keeping a draft.")


class DocumentUpdate(DocumentFields):
    """A draft is replaced as a whole."""


class DocumentCancel(BaseModel):
    model_config = _FORBID
    date: LedgerDate | None = Field(None, description="Date of the cancelling credit note; defaults to today.")
    reason: str = Field(min_length=1, max_length=500)


class DocumentLineRead(BaseModel):
    model_config = _READ
    id: str
    line_no: int
    description: str
    quantity: RateOut
    unit_price: RateOut
    amount: MoneyOut
    account_id: str
    tax_rate: RateOut | None
    tax_account_id: str | None


class TaxRead(BaseModel):
    rate: RateOut
    base: MoneyOut
    tax: MoneyOut
    account_id: str


class InstallmentDue(BaseModel):
    due_date: dt.date
    amount: MoneyOut
    residual: MoneyOut


class AllocationRead(BaseModel):
    model_config = _READ
    id: str
    invoice_id: str
    payment_id: str | None
    credit_note_id: str | None
    amount: MoneyOut = Field(description="How much of the document it settled, in the document's currency.")
    date: dt.date
    reconciliation_id: str
    exchange_entry_id: str | None = Field(description="The realised exchange difference it posted, if any.")
    undone_at: dt.datetime | None


class DocumentRead(BaseModel):
    model_config = _READ
    id: str
    company_id: str
    party_id: str
    kind: DocumentKind
    state: str
    status: Status
    number: str | None
    date: dt.date
    due_date: dt.date | None
    currency: str
    rate: RateOut | None
    payment_terms: str
    reference: str | None
    memo: str | None
    original_id: str | None
    untaxed: MoneyOut
    tax: MoneyOut
    total: MoneyOut
    paid: MoneyOut = Field(description="Settled so far by payments and credit notes, in the document's currency.")
    residual: MoneyOut = Field(description="Still open, in the document's currency.")
    residual_company: MoneyOut = Field(description="Still open, in the company's currency.")
    discount_amount: MoneyOut | None = Field(description="Early-payment discount the terms allow.")
    discount_until: dt.date | None
    entry_id: str | None
    cancelled_by_id: str | None
    created_at: dt.datetime
    posted_at: dt.datetime | None


class DocumentDetail(DocumentRead):
    lines: list[DocumentLineRead]
    taxes: list[TaxRead]
    installments: list[InstallmentDue]
    allocations: list[AllocationRead]


# -- payments ---------------------------------------------------------------------------------


class AllocationIn(BaseModel):
    model_config = _FORBID
    invoice_id: str
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=4, description="In the payment's currency.")


class PaymentCreate(BaseModel):
    model_config = _FORBID
    company_id: str
    party_id: str
    direction: Literal["received", "sent"] = Field(description="received from a customer, sent to a vendor.")
    date: LedgerDate
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="Defaults to the party's currency, else the company's."
    )
    rate: Decimal | None = Field(None, gt=0, max_digits=24, decimal_places=10)
    journal: str | None = Field(None, max_length=36, description="Bank or cash journal, code or id; default BNK.")
    account: str | None = Field(
        None, max_length=36, description="Bank or cash account, code or id; defaults to the journal's."
    )
    reference: str | None = Field(None, max_length=200)
    memo: str | None = Field(None, max_length=1000)
    allocations: list[AllocationIn] | None = Field(
        None,
        max_length=500,
        description="Which documents it pays and how much of each; omitted: the party's open documents "
        "in the payment's currency, oldest due first. What is not allocated stays open as a credit.",
    )


class PaymentAllocate(BaseModel):
    model_config = _FORBID
    invoice_ids: list[str] | None = Field(
        None, max_length=500, description="In this order; omitted: the party's open documents, oldest due first."
    )


class PaymentUnallocate(BaseModel):
    model_config = _FORBID
    invoice_id: str | None = Field(None, description="Only this document's allocation; omitted: all of them.")


class PaymentReverse(BaseModel):
    model_config = _FORBID
    date: LedgerDate | None = Field(None, description="Defaults to the payment's date.")
    reason: str = Field(min_length=1, max_length=500)


class PaymentRead(BaseModel):
    model_config = _READ
    id: str
    company_id: str
    party_id: str
    direction: str
    state: str
    number: str
    date: dt.date
    amount: MoneyOut
    currency: str
    rate: RateOut
    journal_id: str
    account_id: str
    reference: str | None
    memo: str | None
    entry_id: str
    reversal_entry_id: str | None
    allocated: MoneyOut = Field(description="Applied to documents, in the payment's currency.")
    unallocated: MoneyOut = Field(description="Still open as the party's credit, in the payment's currency.")
    created_at: dt.datetime


class PaymentDetail(PaymentRead):
    allocations: list[AllocationRead]


# -- aged receivables and payables ------------------------------------------------------------


class AgedRow(BaseModel):
    party_id: str | None
    party_name: str
    current: MoneyOut = Field(description="Not yet due on the as-of date.")
    days_1_30: MoneyOut
    days_31_60: MoneyOut
    days_61_90: MoneyOut
    over_90: MoneyOut
    total: MoneyOut


class AgedReport(BaseModel):
    company_id: str
    kind: Literal["receivables", "payables"]
    as_of: dt.date
    currency: str = Field(description="The company's currency; every amount is in it.")
    rows: list[AgedRow]
    totals: AgedRow
