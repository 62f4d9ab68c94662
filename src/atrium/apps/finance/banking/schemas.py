"""Request and response bodies of bank accounts, statements and reconciliations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atrium.apps.finance.schemas import MoneyOut

_FORBID = ConfigDict(extra="forbid")


class BankAccountCreate(BaseModel):
    model_config = _FORBID
    company_id: str
    name: str = Field(min_length=1, max_length=200)
    iban: str | None = Field(None, max_length=42)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    account: str | None = Field(None, description="Ledger account (code or id); default: the first bank account.")
    journal: str | None = Field(None, description="Bank journal (code or id); default: a free one, or a new one.")


class BankAccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    company_id: str
    name: str
    iban: str | None
    currency: str
    account_id: str
    journal_id: str
    csv_mapping: dict[str, Any] | None


class StatementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    company_id: str
    bank_account_id: str
    format: str
    filename: str | None
    reference: str | None
    currency: str
    start_date: dt.date | None
    end_date: dt.date | None
    opening_balance: MoneyOut | None
    closing_balance: MoneyOut | None
    lines_imported: int
    duplicates: int
    created_at: dt.datetime


class ReasonRead(BaseModel):
    name: str
    points: float
    detail: str


class SuggestionRead(BaseModel):
    line_ids: list[str] = Field(description="The open ledger lines this bank line would settle.")
    score: float
    reasons: list[ReasonRead]


class StatementLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    statement_id: str
    row: int
    booked_on: dt.date
    value_on: dt.date | None
    amount: MoneyOut
    currency: str
    counterparty_name: str | None
    counterparty_iban: str | None
    text: str
    bank_reference: str | None
    state: str
    entry_id: str | None
    reconciliation_id: str | None
    suggestions: list[SuggestionRead] = []


class StatementDetail(StatementRead):
    lines: list[StatementLineRead] = []


class CounterpartIn(BaseModel):
    model_config = _FORBID
    line_id: str | None = Field(None, description="An open receivable, payable or bank line to settle.")
    account: str | None = Field(None, description="Or an account (code or id) to post this part to.")
    amount: Decimal | None = Field(
        None, max_digits=18, decimal_places=4, description="As the bank sees it (+ in, - out); default: what is open."
    )
    label: str | None = Field(None, max_length=200)
    party_id: str | None = None


class ReconciliationCreate(BaseModel):
    """Either a statement line with its counterparts, or ledger lines to settle against each other."""

    model_config = _FORBID
    bank_line_id: str | None = None
    counterparts: list[CounterpartIn] = Field(default_factory=list, max_length=200)
    line_ids: list[str] = Field(default_factory=list, max_length=500)


class ReconciliationRead(BaseModel):
    id: str
    bank_line_id: str | None = None
    entry_id: str | None = None
    matches: int
