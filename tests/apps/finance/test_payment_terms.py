"""Payment terms by hand-computed examples: due dates, installment amounts that always add up to
the total, early-payment discounts, and the checks on a company's own terms."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from atrium.apps.finance.receivables import terms
from atrium.apps.finance.receivables.terms import BUILT_IN, Due, Installment, Terms, schedule

D = Decimal
DAY = dt.date(2026, 1, 31)


def test_built_in_terms_fall_due_after_their_days() -> None:
    assert set(BUILT_IN) == {"immediate", "net14", "net30", "net60", "30-70"}
    assert schedule(BUILT_IN["immediate"], D("99.99"), DAY, "EUR") == [Due(DAY, D("99.99"))]
    assert schedule(BUILT_IN["net14"], D("10"), DAY, "EUR") == [Due(dt.date(2026, 2, 14), D("10"))]
    assert schedule(BUILT_IN["net30"], D("10"), DAY, "EUR") == [Due(dt.date(2026, 3, 2), D("10"))]
    assert schedule(BUILT_IN["net60"], D("10"), DAY, "EUR") == [Due(dt.date(2026, 4, 1), D("10"))]


def test_installments_round_and_the_last_takes_the_rest() -> None:
    # 30 % of 100.01 is 30.003 → 30.00 now; the rest, 70.01, in 30 days
    assert schedule(BUILT_IN["30-70"], D("100.01"), DAY, "EUR") == [
        Due(DAY, D("30.00")),
        Due(dt.date(2026, 3, 2), D("70.01")),
    ]
    thirds = Terms(
        "thirds", "Thirds", (Installment(D("33.3333"), 0), Installment(D("33.3333"), 30), Installment(D("33.3334"), 60))
    )
    # 100.00 × 33.3333 % = 33.3333 → 33.33, twice; the last is 100.00 − 66.66 = 33.34
    assert [d.amount for d in schedule(thirds, D("100.00"), DAY, "EUR")] == [D("33.33"), D("33.33"), D("33.34")]
    # yen have no decimals: 30 % of 1001 is 300.3 → 300, and 701 later
    assert [d.amount for d in schedule(BUILT_IN["30-70"], D("1001"), DAY, "JPY")] == [D("300"), D("701")]


def test_shares_too_small_to_round_to_a_cent_are_dropped_and_never_overshoot() -> None:
    # 30 % of 0.01 rounds to nothing: the one cent is due with the last installment
    assert schedule(BUILT_IN["30-70"], D("0.01"), DAY, "EUR") == [Due(dt.date(2026, 3, 2), D("0.01"))]
    # six shares of 15 % of 0.04 each round up to 0.01: only four cents exist
    many = Terms("many", "Many", (*(Installment(D(15), day) for day in range(6)), Installment(D(10), 6)))
    dues = schedule(many, D("0.04"), DAY, "EUR")
    assert [d.amount for d in dues] == [D("0.01")] * 4 and sum(d.amount for d in dues) == D("0.04")


def test_an_early_payment_discount_gives_an_amount_and_a_date() -> None:
    two_ten = Terms("2-10-net30", "2 % 10, net 30", (Installment(D(100), 30),), D(2), 10)
    assert terms.discount(two_ten, D("1234.56"), DAY, "EUR") == (D("24.69"), dt.date(2026, 2, 10))
    assert terms.discount(BUILT_IN["net30"], D("1234.56"), DAY, "EUR") is None


def test_bad_terms_are_reported_field_by_field() -> None:
    assert terms.problems([Installment(D(30), 0), Installment(D(70), 30)], D(2), 10) == []
    fields = {p["field"] for p in terms.problems([Installment(D(30), 10), Installment(D(60), 5)], D(2), None)}
    assert fields == {"installments[2].days", "installments", "discount_days"}
    assert terms.problems([], None, None)[0]["field"] == "installments"
    assert terms.problems([Installment(D(0), 0), Installment(D(100), 0)], None, None)[0]["field"] == (
        "installments[1].percent"
    )
    late = terms.problems([Installment(D(100), 30)], D(2), 45)
    assert [p["field"] for p in late] == ["discount_days"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    cents=st.integers(min_value=1, max_value=10**12),
    shares=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=8),
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
)
def test_installments_always_add_up_to_the_total(cents: int, shares: list[int], currency: str) -> None:
    total = D(cents).scaleb(-{"EUR": 2, "JPY": 0, "KWD": 3}[currency])
    weights = D(sum(shares))
    percents = [(D(s) * 100 / weights).quantize(D("0.0001")) for s in shares[:-1]]
    percents.append(D(100) - sum(percents, D(0)))
    plan = Terms("x", "x", tuple(Installment(p, 10 * i) for i, p in enumerate(percents)))
    dues = schedule(plan, total, DAY, currency)
    assert sum((d.amount for d in dues), D(0)) == total
    assert all(d.amount > 0 for d in dues)
    assert [d.due_date for d in dues] == sorted(d.due_date for d in dues)
