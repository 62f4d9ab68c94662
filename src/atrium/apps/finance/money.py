"""Amounts and currencies: every amount is a Decimal rounded to its currency's minor unit."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units that differ from the usual two decimals.
_EXPONENTS = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip
ZERO = Decimal(0)


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


@functools.cache
def unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (0.01 for EUR, 1 for JPY)."""
    return Decimal(1).scaleb(-exponent(currency))


def rounded(amount: Decimal, currency: str) -> Decimal:
    """Commercial rounding (half away from zero) to the currency's minor unit."""
    return amount.quantize(unit(currency), rounding=ROUND_HALF_UP)


def has_more_decimals(amount: Decimal, currency: str) -> bool:
    return amount != amount.quantize(unit(currency)) if amount.is_finite() else True


def period_of(day: dt.date) -> int:
    """The month a date falls in, as yyyymm: the key of the balances table."""
    return day.year * 100 + day.month


def fiscal_year_of(day: dt.date, start_month: int) -> int:
    """Fiscal years are named by the calendar year they start in (April 2026 – March 2027 is 2026)."""
    return day.year if day.month >= start_month else day.year - 1


def fiscal_year_bounds(year: int, start_month: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, start_month, 1)
    end_year, end_month = (year + 1, start_month) if start_month > 1 else (year + 1, 1)
    return start, dt.date(end_year, end_month, 1) - dt.timedelta(days=1)


def periods_between(start: dt.date, end: dt.date) -> list[int]:
    """Every yyyymm from the month of ``start`` to the month of ``end``, inclusive."""
    out, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(year * 100 + month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
