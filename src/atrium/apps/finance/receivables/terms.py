"""Payment terms: when an invoice falls due, in how many installments, and what a customer may
deduct for paying early.

Pure computation, no database. A term is a list of installments (a percentage of the invoice
total, due a number of days after the invoice date) and an optional early-payment discount. The
installments are rounded to the currency's minor unit and the last one takes what rounding left,
so they always add up to the total exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from atrium.apps.finance.money import ZERO, rounded

HUNDRED = Decimal(100)
MAX_DAYS = 3650
MAX_INSTALLMENTS = 24


@dataclass(frozen=True)
class Installment:
    """``percent`` of the total, due ``days`` after the invoice date."""

    percent: Decimal
    days: int


@dataclass(frozen=True)
class Terms:
    code: str
    name: str
    installments: tuple[Installment, ...]
    discount_percent: Decimal | None = None
    discount_days: int | None = None
    built_in: bool = False


@dataclass(frozen=True)
class Due:
    """One installment of one invoice: how much, by when."""

    due_date: dt.date
    amount: Decimal


def _net(days: int) -> Terms:
    name = "Immediate payment" if days == 0 else f"Net {days} days"
    code = "immediate" if days == 0 else f"net{days}"
    return Terms(code, name, (Installment(HUNDRED, days),), built_in=True)


BUILT_IN: dict[str, Terms] = {
    t.code: t
    for t in (
        _net(0),
        _net(14),
        _net(30),
        _net(60),
        Terms(
            "30-70",
            "30 % now, 70 % in 30 days",
            (Installment(Decimal(30), 0), Installment(Decimal(70), 30)),
            built_in=True,
        ),
    )
}
DEFAULT = "immediate"


def schedule(terms: Terms, total: Decimal, day: dt.date, currency: str) -> list[Due]:
    """The installments of an invoice of ``total`` dated ``day``; their amounts sum to ``total``.

    Installments that round to nothing (a 1 % share of a few cents) are dropped, their share left
    to the last one, so no posted line is zero.
    """
    dues: list[Due] = []
    left = total
    for number, installment in enumerate(terms.installments, start=1):
        due = day + dt.timedelta(days=installment.days)
        if number == len(terms.installments):
            amount = left
        else:  # never more than is left: many small shares each rounded up could overshoot
            amount = min(rounded(total * installment.percent / HUNDRED, currency), left)
        left -= amount
        if amount != 0 or (number == len(terms.installments) and not dues):
            dues.append(Due(due, amount))
    return dues


def discount(terms: Terms, total: Decimal, day: dt.date, currency: str) -> tuple[Decimal, dt.date] | None:
    """What may be deducted when paying by which date, if the terms offer a discount."""
    if not terms.discount_percent or terms.discount_days is None:
        return None
    return rounded(total * terms.discount_percent / HUNDRED, currency), day + dt.timedelta(days=terms.discount_days)


def to_json(installments: Sequence[Installment]) -> list[dict[str, Any]]:
    return [{"percent": str(i.percent), "days": i.days} for i in installments]


def from_row(code: str, name: str, installments: Sequence[Mapping[str, Any]], percent: Any, days: Any) -> Terms:
    """A company's own terms as stored."""
    return Terms(
        code=code,
        name=name,
        installments=tuple(Installment(Decimal(str(i["percent"])), int(i["days"])) for i in installments),
        discount_percent=None if percent is None else Decimal(percent),
        discount_days=None if days is None else int(days),
    )


def problems(
    installments: Sequence[Installment], discount_percent: Decimal | None, discount_days: int | None
) -> list[dict[str, str]]:
    """Everything wrong with proposed terms, each naming its field; empty when they are sound."""
    found: list[dict[str, str]] = []
    if not installments:
        found.append({"field": "installments", "detail": "terms need at least one installment"})
    if len(installments) > MAX_INSTALLMENTS:
        found.append({"field": "installments", "detail": f"terms have at most {MAX_INSTALLMENTS} installments"})
    total = ZERO
    previous = -1
    for number, installment in enumerate(installments, start=1):
        where = f"installments[{number}]"
        try:
            percent = Decimal(installment.percent)
        except (InvalidOperation, TypeError):
            found.append({"field": f"{where}.percent", "detail": f"installment {number}: percent is not a number"})
            continue
        if not percent.is_finite() or percent <= 0 or percent > HUNDRED:
            found.append(
                {
                    "field": f"{where}.percent",
                    "detail": f"installment {number}: percent must be above 0 and at most 100",
                }
            )
        total += percent if percent.is_finite() else ZERO
        if not 0 <= installment.days <= MAX_DAYS:
            found.append({"field": f"{where}.days", "detail": f"installment {number}: days must be 0 to {MAX_DAYS}"})
        elif installment.days < previous:
            found.append(
                {"field": f"{where}.days", "detail": f"installment {number} falls due before the one before it"}
            )
        previous = installment.days
    if installments and total != HUNDRED:
        found.append({"field": "installments", "detail": f"the installments add up to {total} %, not 100 %"})
    if (discount_percent is None) != (discount_days is None):
        found.append({"field": "discount_days", "detail": "a discount needs both a percent and a number of days"})
    if discount_percent is not None and not ZERO < discount_percent < HUNDRED:
        found.append({"field": "discount_percent", "detail": "the discount percent must be above 0 and below 100"})
    if discount_days is not None and installments and not 0 <= discount_days <= installments[-1].days:
        found.append(
            {
                "field": "discount_days",
                "detail": "the discount must end on or before the last installment is due",
            }
        )
    return found
