"""Reconciliation suggestions: each signal moves the ranking the way a bookkeeper would expect, scores
are explained by reasons that add up, and the engine stays right at volume."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from atrium.apps.finance.banking.matching import (
    DEFAULT_SCORERS,
    ItemFacts,
    LineFacts,
    OpenItem,
    Reason,
    Suggestion,
    name_similarity,
    name_words,
    reference_key,
    suggest,
    text_keys,
)
from atrium.apps.finance.banking.parsers import StatementLine, parse

D = Decimal
DAY = date(2026, 1, 10)
MUELLER_IBAN = "DE89370400440532013000"


def line(
    amount: str,
    text: str = "",
    *,
    name: str | None = None,
    iban: str | None = None,
    booked: date = DAY,
    currency: str = "EUR",
    reference: str | None = None,
) -> StatementLine:
    return StatementLine(1, booked, booked, D(amount), currency, name, iban, text, reference)


def item(
    id: str,
    amount: str,
    *refs: str,
    party: str | None = "mueller",
    name: str | None = "Müller Maschinenbau GmbH",
    ibans: tuple[str, ...] = (MUELLER_IBAN,),
    due: date = DAY,
    currency: str = "EUR",
) -> OpenItem:
    return OpenItem(id, D(amount), currency, due, refs, party, name, ibans)


def other(id: str, amount: str, *refs: str, due: date = DAY) -> OpenItem:
    return item(id, amount, *refs, party="fischer", name="Fischer Elektro KG", ibans=("AT611904300234573201",), due=due)


def ranked(statement_line: StatementLine, items: Sequence[OpenItem], **kwargs: object) -> list[Suggestion]:
    return suggest([("L", statement_line)], items, **kwargs)["L"]  # type: ignore[arg-type]


def ids(suggestions: list[Suggestion]) -> list[tuple[str, ...]]:
    return [s.item_ids for s in suggestions]


def reasons(suggestion: Suggestion) -> dict[str, float]:
    return {r.name: r.points for r in suggestion.reasons}


def assert_explained(suggestions: list[Suggestion]) -> None:
    for s in suggestions:
        assert 0 < s.score <= 100
        assert math.isclose(sum(r.points for r in s.reasons), s.score, abs_tol=1e-9), s
        assert all(r.points > 0 and r.detail for r in s.reasons)


# -- the signals ---------------------------------------------------------------------------------


def test_exact_amount_and_reference_beat_the_amount_alone() -> None:
    items = [other("stranger", "1500.00", "INV-2026-0099"), item("invoice", "1500.00", "INV-2026-0001")]
    result = ranked(line("1500.00", "Rechnung INV 2026/0001"), items)

    assert ids(result) == [("invoice",), ("stranger",)]
    assert set(reasons(result[0])) == {"amount", "reference", "date"}
    assert set(reasons(result[1])) == {"amount", "date"}
    assert result[0].score - result[1].score == 30
    assert_explained(result)


@pytest.mark.parametrize(
    "text",
    ["INV 2026/0001", "inv-2026-0001", "INV20260001", "Rg.INV-2026-0001, danke", "RE: INV 2026 0001", "INV2026 0001"],
)
def test_a_reference_is_found_however_it_is_written(text: str) -> None:
    [best] = ranked(line("99.00", text), [item("invoice", "1500.00", "INV-2026-0001")], limit=1)
    assert best.item_ids == ("invoice",)
    assert reasons(best)["reference"] == 30
    assert "INV-2026-0001" in next(r.detail for r in best.reasons if r.name == "reference")


@pytest.mark.parametrize("text", ["INV-2026-00011", "INV-2026-000", "2026 0001", "INVOICE 20260001X"])
def test_a_different_number_is_not_the_reference(text: str) -> None:
    result = ranked(line("1500.00", text), [item("invoice", "1500.00", "INV-2026-0001", ibans=())])
    assert "reference" not in reasons(result[0])


def test_the_reference_is_also_read_from_the_bank_reference_and_the_name() -> None:
    items = [item("bill", "-238.80", "SB-88231", "PAY-2026-0007", ibans=())]
    assert "reference" in reasons(ranked(line("-238.80", "", reference="PAY-2026-0007"), items)[0])
    assert "reference" in reasons(ranked(line("-238.80", "", name="SCHMIDT SB-88231"), items)[0])


def test_short_or_digitless_references_are_not_searched() -> None:
    assert reference_key("inv 2026/0001") == "INV20260001"
    items = [item("a", "10.00", "2026", ibans=()), item("b", "10.00", "ACME", ibans=()), item("c", "11.00", "4711")]
    result = ranked(line("12.00", "Bestellung 4711 vom 2026 ACME"), items)
    assert all("reference" not in reasons(s) for s in result)


def test_the_counterparty_iban_points_to_the_party() -> None:
    items = [other("fischer", "500.00"), item("mueller", "500.00")]
    result = ranked(line("500.00", "Zahlung", iban="de89 3704 0044 0532 0130 00"), items)

    assert ids(result) == [("mueller",), ("fischer",)]
    assert reasons(result[0])["iban"] == 15
    assert MUELLER_IBAN in next(r.detail for r in result[0].reasons if r.name == "iban")


def test_the_iban_alone_offers_the_partys_nearest_items() -> None:
    items = [item(f"i{d}", f"{100 + d}.00", due=DAY + timedelta(days=d)) for d in range(10)]
    result = ranked(line("7.00", "", iban=MUELLER_IBAN), items, limit=3)
    assert ids(result) == [("i0",), ("i1",), ("i2",)]
    assert all(set(reasons(s)) == {"iban", "date"} for s in result)


def test_a_bank_mangled_name_still_resembles_the_party() -> None:
    assert name_words("Müller Maschinenbau GmbH & Co. KG") == {"mueller", "maschinenbau"}
    assert name_similarity(name_words("MUELLER MASCHINENB"), name_words("Müller Maschinenbau GmbH")) == 1.0
    assert name_similarity(name_words("Fischer Elektro KG"), name_words("Müller Maschinenbau GmbH")) == 0.0

    items = [other("fischer", "750.00"), item("mueller", "750.00", ibans=())]
    result = ranked(line("750.00", "", name="MUELLER MASCHINENB"), items)
    assert ids(result) == [("mueller",), ("fischer",)]
    assert reasons(result[0])["name"] == 10


def test_the_name_finds_the_party_without_amount_or_iban() -> None:
    items = [item("mueller", "900.00", ibans=()), other("fischer", "900.00")]
    result = ranked(line("120.00", "Abschlag", name="Mueller Maschinenbau"), items)
    assert ids(result) == [("mueller",)]
    assert set(reasons(result[0])) == {"name", "date"}


def test_closer_to_the_due_date_ranks_higher() -> None:
    items = [item("late", "300.00", due=DAY - timedelta(days=30)), item("near", "300.00", due=DAY - timedelta(days=2))]
    result = ranked(line("300.00", iban=MUELLER_IBAN), items)
    assert ids(result) == [("near",), ("late",)]
    assert reasons(result[0])["date"] > reasons(result[1])["date"] > 0


def test_a_referenced_item_is_offered_whatever_its_date() -> None:
    old = item("old", "300.00", "INV-2025-0456", due=DAY - timedelta(days=400), ibans=())
    [best] = ranked(line("300.00", "INV-2025-0456"), [old], date_window_days=45)
    assert set(reasons(best)) == {"amount", "reference"}


# -- direction, currency, groups, partial payments -----------------------------------------------


def test_money_in_settles_receivables_and_money_out_payables() -> None:
    items = [item("invoice", "100.00", "INV-2026-0001"), item("bill", "-100.00", "INV-2026-0001")]
    assert ids(ranked(line("100.00", "INV-2026-0001"), items)) == [("invoice",)]
    assert ids(ranked(line("-100.00", "INV-2026-0001"), items)) == [("bill",)]


def test_another_currency_is_never_suggested() -> None:
    items = [item("usd", "100.00", "INV-2026-0001", currency="USD")]
    assert ranked(line("100.00", "INV-2026-0001", iban=MUELLER_IBAN), items) == []


def test_one_line_paying_several_items_of_one_party() -> None:
    items = [
        item("inv4", "1200.00", "INV-2026-0004"),
        item("inv5", "800.00", "INV-2026-0005"),
        item("inv6", "300.00", "INV-2026-0006"),
        other("fischer", "2000.00", due=DAY - timedelta(days=40)),
    ]
    result = ranked(line("2000.00", "INV-2026-0004 und INV-2026-0005", iban=MUELLER_IBAN), items)

    assert result[0].item_ids == ("inv4", "inv5")
    assert reasons(result[0]) == {"amount": 30, "reference": 30, "iban": 15, "date": 10}
    assert any(r.detail == "2 open items add up to the amount 2,000.00 EUR" for r in result[0].reasons)
    assert ("fischer",) in ids(result)
    assert_explained(result)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("1500.00", {"a", "b", "c"}), ("1700.00", {"b", "c", "d"}), ("1900.00", {"a", "b", "c", "d"})],
)
def test_groups_of_three_and_four_are_found(amount: str, expected: set[str]) -> None:
    items = [item("a", "200.00"), item("b", "500.00"), item("c", "800.00"), item("d", "400.00")]
    result = ranked(line(amount, iban=MUELLER_IBAN), items)
    assert set(result[0].item_ids) == expected
    assert reasons(result[0])["amount"] == 30


def test_items_of_different_parties_are_never_grouped() -> None:
    items = [item("a", "200.00"), other("b", "300.00")]
    result = ranked(line("500.00", iban=MUELLER_IBAN), items)
    assert all(len(s.item_ids) == 1 for s in result)


def test_an_exact_single_item_is_preferred_to_a_group_of_the_same_party() -> None:
    items = [item("a", "100.00"), item("b", "200.00"), item("c", "300.00")]
    result = ranked(line("300.00", iban=MUELLER_IBAN), items)
    assert result[0].item_ids == ("c",)
    assert all(len(s.item_ids) == 1 for s in result)  # the party had the exact amount: no group search


def test_a_partial_payment_ranks_below_a_full_match() -> None:
    items = [item("big", "1000.00", "INV-2026-0010"), item("exact", "400.00", "INV-2026-0011")]
    result = ranked(line("400.00", "INV-2026-0010 INV-2026-0011 Teilzahlung", iban=MUELLER_IBAN), items)

    assert ids(result) == [("exact",), ("big",)]
    assert reasons(result[1]) == {"partial": 10, "reference": 30, "iban": 15, "date": 10}
    assert "pays 400.00 EUR of 1,000.00 EUR open" in {r.detail for r in result[1].reasons}


def test_no_partial_payment_without_the_reference() -> None:
    result = ranked(line("400.00", "Teilzahlung", iban=MUELLER_IBAN), [item("big", "1000.00", "INV-2026-0010")])
    assert "partial" not in reasons(result[0])


def test_limit_and_minimum_score() -> None:
    items = [other(f"i{n}", "250.00", due=DAY + timedelta(days=n)) for n in range(8)]
    assert len(ranked(line("250.00"), items)) == 5
    assert ids(ranked(line("250.00"), items, limit=2)) == [("i0",), ("i1",)]
    assert ranked(line("250.00"), items, limit=0) == []
    assert ranked(line("250.00"), items, min_score=50) == []  # 35 for the amount and at most 10 for the date
    assert ranked(line("0.00", "INV"), items) == []


def test_reasons_add_up_to_the_score_everywhere() -> None:
    rng = random.Random(7)
    items = [
        item(f"i{n}", f"{rng.choice((-1, 1)) * rng.randint(100, 5000)}.{rng.randint(0, 99):02d}", f"INV-2026-{n:04d}")
        for n in range(300)
    ]
    lines = [
        (f"L{n}", line(str(rng.choice(items).amount), f"INV-2026-{rng.randrange(300):04d}", iban=MUELLER_IBAN))
        for n in range(50)
    ]
    for suggestions in suggest(lines, items).values():
        assert suggestions
        assert_explained(suggestions)
        assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)


# -- scorers plug in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferred:
    """Stands in for a model's opinion: a fixed number of points for one item."""

    item_id: str
    points: float
    name: str = "model"

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        if any(i.item.id == self.item_id for i in items):
            return Reason(self.name, self.points, "the model prefers it")
        return None


def test_an_extra_scorer_changes_the_ranking_and_is_explained() -> None:
    items = [item("a", "100.00", ibans=()), item("b", "100.00", ibans=(), due=DAY + timedelta(days=3))]
    assert ids(ranked(line("100.00"), items)) == [("a",), ("b",)]

    result = ranked(line("100.00"), items, scorers=[*DEFAULT_SCORERS, Preferred("b", 20)])
    assert ids(result) == [("b",), ("a",)]
    assert reasons(result[0])["model"] == 20
    assert_explained(result)


def test_more_than_a_hundred_points_are_scaled_down_to_a_hundred() -> None:
    perfect = item("a", "100.00", "INV-2026-0001")
    [best] = ranked(line("100.00", "INV-2026-0001", iban=MUELLER_IBAN, name="Müller Maschinenbau"), [perfect])
    assert best.score == 100

    [capped] = ranked(
        line("100.00", "INV-2026-0001", iban=MUELLER_IBAN, name="Müller Maschinenbau"),
        [perfect],
        scorers=[*DEFAULT_SCORERS, Preferred("a", 25)],
    )
    assert capped.score == 100
    assert_explained([capped])
    assert reasons(capped)["model"] == 20  # 25 of 125, scaled to 100


def test_points_are_kept_to_two_decimals_so_they_still_add_up() -> None:
    [best] = ranked(line("100.00"), [item("a", "100.00")], scorers=[*DEFAULT_SCORERS, Preferred("a", 12.3456)])
    assert reasons(best)["model"] == 12.35
    assert best.score == 57.35
    assert_explained([best])


def test_without_scorers_nothing_is_suggested() -> None:
    assert ranked(line("100.00", "INV-2026-0001"), [item("a", "100.00", "INV-2026-0001")], scorers=[]) == []


def test_text_keys_glue_neighbouring_words() -> None:
    keys = text_keys("Rg. INV 2026/0001, Kd 10023")
    assert {"INV20260001", "20260001", "KD10023", "RGINV20260001"} <= keys
    assert "INV2026000" not in keys


# -- from the bank file to the suggestions -------------------------------------------------------


def test_the_camt_sample_against_its_open_items() -> None:
    statement = parse((Path(__file__).parent / "files" / "statement.camt053.xml").read_bytes())
    open_items = [
        item("inv1", "1500.00", "INV-2026-0001", due=date(2026, 1, 3)),
        OpenItem(
            "inv2",
            D("650.00"),
            "EUR",
            date(2026, 1, 2),
            ("INV-2026-0002",),
            "lindner",
            "Café Lindner",
            ("AT611904300234573201",),
        ),
        OpenItem("inv3", D("330.00"), "EUR", date(2025, 12, 30), ("INV-2026-0003",), "dupont", "Dupont", ()),
        item("inv4", "1200.00", "INV-2026-0004", due=date(2025, 12, 20)),
        item("inv5", "800.00", "INV-2026-0005", due=date(2025, 12, 28)),
        item("inv7", "800.00", "INV-2026-0007", due=date(2026, 1, 4)),
        OpenItem(
            "bill1",
            D("-238.80"),
            "EUR",
            date(2026, 1, 4),
            ("SB-88231", "PAY-2026-0007"),
            "schmidt",
            "Schmidt Bürobedarf KG",
            ("DE54100200301234567890",),
        ),
        OpenItem(
            "bill2",
            D("-1234.56"),
            "EUR",
            date(2026, 1, 5),
            ("SWM-2026-01",),
            "swm",
            "Stadtwerke München",
            ("DE07760300800600123456",),
        ),
    ]
    result = suggest([(str(ln.row), ln) for ln in statement.lines], open_items)

    best = {row: (s[0].item_ids if s else ()) for row, s in result.items()}
    assert best == {
        "1": ("inv1",),
        "2": ("bill1",),
        "3": ("inv2",),
        "4": ("inv3",),
        "5": (),  # the bank's fee settles nothing
        "6": ("inv4", "inv5"),
        "7": ("bill2",),
    }
    assert result["6"][0].score > max(s.score for s in result["6"][1:])


# -- volume --------------------------------------------------------------------------------------


def test_two_thousand_lines_against_twenty_thousand_items() -> None:
    rng = random.Random(2026)
    parties = [(f"P{n}", f"Kunde {n} Handel GmbH", (f"DE{n:020d}",)) for n in range(1500)]
    items = []
    for n in range(20_000):
        party_id, name, ibans = parties[rng.randrange(len(parties))]
        cents = rng.randint(1_000, 2_000_000) * rng.choice((1, 1, 1, -1))
        due = date(2026, 1, 1) + timedelta(days=rng.randrange(120))
        items.append(OpenItem(f"I{n}", D(cents).scaleb(-2), "EUR", due, (f"RE-{n:06d}",), party_id, name, ibans))
    lines = []
    for n in range(2_000):
        cents = rng.randint(1, 3_000_000) * rng.choice((1, -1))
        booked = date(2026, 1, 1) + timedelta(days=rng.randrange(120))
        lines.append((f"N{n}", line(str(D(cents).scaleb(-2)), f"Zahlung {n}", booked=booked, name=f"Absender {n}")))

    target, partial, customer = items[100], items[300], items[200]
    for group_id, amount in (("G1", "4242.42"), ("G2", "77.70")):
        items.append(
            OpenItem(
                group_id, D(amount), "EUR", customer.date, (f"RE-{group_id}",), customer.party_id,
                customer.party_name, customer.party_ibans,
            )
        )  # fmt: skip
    planted = {
        "exact": line(str(target.amount), f"Rechnung {target.references[0]}", booked=target.date),
        "iban": line(str(target.amount), "Zahlung", iban=target.party_ibans[0], booked=target.date),
        "group": line("4320.12", "Sammelzahlung", iban=customer.party_ibans[0], booked=customer.date),
        "partial": line(
            str((partial.amount / 2).quantize(D("0.01"))), f"Anzahlung {partial.references[0]}", booked=partial.date
        ),
    }
    lines += list(planted.items())
    rng.shuffle(lines)

    result = suggest(lines, items)

    assert len(result) == 2_004
    assert result["exact"][0].item_ids == (target.id,)
    assert result["iban"][0].item_ids == (target.id,)
    assert set(result["group"][0].item_ids) == {"G1", "G2"}
    assert result["partial"][0].item_ids == (partial.id,)
    assert "partial" in reasons(result["partial"][0])
    assert_explained([s for suggestions in result.values() for s in suggestions])
