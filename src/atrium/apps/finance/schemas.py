"""Request and response bodies of finance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

_FORBID = ConfigDict(extra="forbid")


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
