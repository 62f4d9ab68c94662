"""/api/v1/tenants/{tenant}/finance/reports/… and …/periods: the financial reports (JSON, or a CSV,
XLSX or PDF download with ``format``) and the period close. Thin: the rules are in ``reports`` and
``closing``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from atrium.api.routing import APIRouter
from atrium.apps.finance import closing, reports
from atrium.apps.finance.auth import CanLockPeriods, CanReadReports
from atrium.apps.finance.exports import EXPORT_FORMATS
from atrium.apps.finance.schemas import FIRST_DAY, LAST_DAY
from atrium.core.errors import ValidationFailed
from atrium.platform.entitlements.deps import module_guard

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/finance", tags=["finance reports"], guards=[module_guard("finance")]
)

FORMATS = ("json", *sorted(EXPORT_FORMATS))
Format = Annotated[str, Query(alias="format", description=f"One of {', '.join(FORMATS)}; files download.")]
CompanyId = Annotated[str, Query(description="The company reported on.")]
_BOUNDS = {"ge": FIRST_DAY, "le": LAST_DAY}
DateFrom = Annotated[dt.date, Query(description="First day of the range.", **_BOUNDS)]
DateTo = Annotated[dt.date, Query(description="Last day of the range.", **_BOUNDS)]
CompareFrom = Annotated[dt.date | None, Query(description="First day of the comparison range.", **_BOUNDS)]
CompareTo = Annotated[dt.date | None, Query(description="Last day of the comparison range.", **_BOUNDS)]
Limit = Annotated[int, Query(ge=1, le=reports.MAX_PAGE)]
Offset = Annotated[int, Query(ge=0)]

Report = (
    reports.TrialBalance
    | reports.GeneralLedger
    | reports.ProfitAndLoss
    | reports.BalanceSheet
    | reports.TaxReport
    | reports.JournalAudit
)


def _format(fmt: str) -> str:
    """Checked before the report is built, so a typo costs nothing."""
    key = fmt.strip().lower()
    if key not in FORMATS:
        raise ValidationFailed(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
    return key


def _respond(report: Report, fmt: str) -> Any:
    if fmt == "json":
        return report
    body, media_type, filename = reports.export(report, fmt)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/reports/trial-balance", response_model=reports.TrialBalance)
async def trial_balance(
    access: CanReadReports,
    company_id: CompanyId,
    date_from: DateFrom,
    date_to: DateTo,
    compare_from: CompareFrom = None,
    compare_to: CompareTo = None,
    fmt: Format = "json",
) -> Any:
    """Per account: opening balance, debits, credits and closing balance of the range; sums to zero."""
    key = _format(fmt)
    report = await reports.trial_balance(access, company_id, date_from, date_to, compare_from, compare_to)
    return _respond(report, key)


@router.get("/reports/general-ledger", response_model=reports.GeneralLedger)
async def general_ledger(
    access: CanReadReports,
    company_id: CompanyId,
    account_id: str,
    date_from: DateFrom,
    date_to: DateTo,
    limit: Limit = 500,
    offset: Offset = 0,
    include_closing: Annotated[bool, Query(description="false leaves year-end closing entries out.")] = True,
    fmt: Format = "json",
) -> Any:
    """An account's lines with a running balance: where every report figure drills down to."""
    key = _format(fmt)
    report = await reports.general_ledger(
        access, company_id, account_id, date_from, date_to, limit=limit, offset=offset, include_closing=include_closing
    )
    return _respond(report, key)


@router.get("/reports/profit-and-loss", response_model=reports.ProfitAndLoss)
async def profit_and_loss(
    access: CanReadReports,
    company_id: CompanyId,
    date_from: DateFrom,
    date_to: DateTo,
    compare_from: CompareFrom = None,
    compare_to: CompareTo = None,
    fmt: Format = "json",
) -> Any:
    """Income and expenses by kind with subtotals and the net result."""
    key = _format(fmt)
    report = await reports.profit_and_loss(access, company_id, date_from, date_to, compare_from, compare_to)
    return _respond(report, key)


@router.get("/reports/balance-sheet", response_model=reports.BalanceSheet)
async def balance_sheet(
    access: CanReadReports,
    company_id: CompanyId,
    as_of: Annotated[dt.date, Query(description="The day the balances are taken at, included.", **_BOUNDS)],
    compare_as_of: Annotated[dt.date | None, Query(description="A second day to compare with.", **_BOUNDS)] = None,
    fmt: Format = "json",
) -> Any:
    """Assets, liabilities and equity (with the results not yet closed); assets equal the rest."""
    key = _format(fmt)
    return _respond(await reports.balance_sheet(access, company_id, as_of, compare_as_of), key)


@router.get("/reports/tax", response_model=reports.TaxReport)
async def tax_report(
    access: CanReadReports, company_id: CompanyId, date_from: DateFrom, date_to: DateTo, fmt: Format = "json"
) -> Any:
    """Per month and tax rate: taxed base and tax, output and input, and what is owed."""
    key = _format(fmt)
    return _respond(await reports.tax_report(access, company_id, date_from, date_to), key)


@router.get("/reports/journal-audit", response_model=reports.JournalAudit)
async def journal_audit(
    access: CanReadReports,
    company_id: CompanyId,
    date_from: DateFrom,
    date_to: DateTo,
    journal_id: str | None = None,
    limit: Limit = 1_000,
    offset: Offset = 0,
    fmt: Format = "json",
) -> Any:
    """Entries in number order with their lines, hashes and reversal links, and the numbering's gaps."""
    key = _format(fmt)
    report = await reports.journal_audit(access, company_id, date_from, date_to, journal_id, limit=limit, offset=offset)
    return _respond(report, key)


@router.get("/periods", response_model=closing.FiscalYearState)
async def periods(
    access: CanReadReports,
    company_id: CompanyId,
    fiscal_year: Annotated[int | None, Query(description="Defaults to the current fiscal year.")] = None,
) -> closing.FiscalYearState:
    """The months of a fiscal year with their lock state, whether it is closed, and its checklist."""
    return await closing.fiscal_year_state(access, company_id, fiscal_year)


@router.get("/periods/checklist", response_model=closing.Checklist)
async def period_checklist(
    access: CanReadReports,
    company_id: CompanyId,
    fiscal_year: int | None = None,
    period_end: Annotated[dt.date | None, Query(description="A month end, for a monthly close.", **_BOUNDS)] = None,
) -> closing.Checklist:
    """What stands between a period and its close: blocking items and warnings."""
    return await closing.checklist(access, company_id, fiscal_year=fiscal_year, period_end=period_end)


class CloseYear(BaseModel):
    model_config = ConfigDict(extra="forbid")
    company_id: str
    fiscal_year: int = Field(description="Named by the calendar year it starts in.")
    lock: bool = Field(True, description="Hard-lock the year once closed.")


@router.post("/periods/close-year", response_model=closing.YearClosing, status_code=status.HTTP_201_CREATED)
async def close_year(data: CloseYear, access: CanLockPeriods) -> closing.YearClosing:
    """Post the closing entry (income and expenses to retained earnings) and lock the year."""
    return await closing.close_year(access, data.company_id, data.fiscal_year, lock=data.lock)
