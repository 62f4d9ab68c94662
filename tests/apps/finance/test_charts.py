"""Chart templates load cleanly through the same validation as uploads, and an uploaded chart's every
bad row is reported with its row number and column."""

from __future__ import annotations

from decimal import Decimal

import pytest

from atrium.apps.finance import charts
from atrium.apps.finance.charts import K, RowError, validate

KEYS = sorted(charts.TEMPLATES)


def row(code: str, name: str = "Account", kind: str = "expense", **extra: str) -> dict[str, str]:
    return {"code": code, "name": name, "kind": kind, **extra}


def only(errors: list[RowError]) -> RowError:
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("key", KEYS)
def test_each_template_validates_and_round_trips(key: str) -> None:
    chart = charts.template(key)
    assert chart.key == key
    assert 30 <= len(chart.accounts) <= 70, len(chart.accounts)
    accounts, errors = validate(chart.as_rows())
    assert errors == []
    assert tuple(accounts) == chart.accounts


@pytest.mark.parametrize("key", KEYS)
def test_each_template_has_unique_codes_and_its_control_accounts(key: str) -> None:
    chart = charts.TEMPLATES[key]
    codes = [a.code for a in chart.accounts]
    assert len(codes) == len(set(codes))
    missing = {k for k in charts.REQUIRED_KINDS if not chart.by_kind(k)}
    assert not missing, f"{key} lacks postable accounts of kinds {sorted(missing)}"
    for account in chart.accounts:
        assert account.reconcile == (account.kind in {K.receivable, K.payable, K.bank, K.cash}), account
        assert account.tax_rate is None or account.kind in charts.TAX_KINDS, account
        assert account.parent is None or chart.get(account.parent) is not None, account


def test_template_metadata() -> None:
    assert set(charts.TEMPLATES) == {"ifrs", "us_gaap_small", "uk", "de_skr03", "fr_pcg"}
    assert (charts.template("ifrs").country, charts.template("ifrs").currency) == (None, "EUR")
    assert (charts.template("us_gaap_small").country, charts.template("us_gaap_small").currency) == ("US", "USD")
    assert all(1000 <= int(a.code) <= 9999 for a in charts.template("us_gaap_small").accounts)
    assert (charts.template("uk").country, charts.template("uk").currency) == ("GB", "GBP")
    skr = charts.template("de_skr03")
    assert skr.get("1576") == charts.ChartAccount(
        "1576", "Abziehbare Vorsteuer 19 %", K.tax_receivable, tax_rate=Decimal("0.19")
    )
    vat_out = skr.get("1776")
    assert vat_out is not None and (vat_out.kind, vat_out.tax_rate) == (K.tax_payable, Decimal("0.19"))
    assert {a.code for a in skr.by_kind(K.fx_gain_loss)} == {"2150", "2660"}
    pcg = charts.template("fr_pcg")
    assert [a.code for a in pcg.by_kind(K.receivable)] == ["411", "416"]
    assert {a.code for a in pcg.by_kind(K.fx_gain_loss)} == {"666", "766"}


def test_by_kind_leaves_out_headers_unless_asked() -> None:
    chart = charts.template("ifrs")
    assert "2000" in chart.headers
    assert "2000" not in {a.code for a in chart.by_kind(K.equity)}
    assert "2000" in {a.code for a in chart.by_kind(K.equity, include_headers=True)}


def test_unknown_template_names_the_keys() -> None:
    with pytest.raises(KeyError) as caught:
        charts.template("xx")
    assert "xx" in str(caught.value)
    assert all(key in str(caught.value) for key in KEYS)


def test_a_clean_upload_is_parsed_with_defaults() -> None:
    accounts, errors = validate(
        [
            row("100", "Assets", "current_asset"),
            row("110", "Bank", "bank", parent="100"),
            row("120", "VAT in", "tax_receivable", tax_rate="19%", reconcile="false"),
            row("130", "VAT out", "TAX_PAYABLE", tax_rate="0.07"),
        ]
    )
    assert errors == []
    assert [(a.code, a.kind, a.parent, a.reconcile, a.tax_rate) for a in accounts] == [
        ("100", K.current_asset, None, False, None),
        ("110", K.bank, "100", True, None),
        ("120", K.tax_receivable, None, False, Decimal("0.19")),
        ("130", K.tax_payable, None, False, Decimal("0.07")),
    ]


@pytest.mark.parametrize(
    ("code", "needle"),
    [("", "required"), (" ", "required"), ("1" * 21, "longer than 20"), ("12 34", "letters"), ("1/2", "letters")],
)
def test_bad_code(code: str, needle: str) -> None:
    accounts, errors = validate([row("1"), row(code)])
    assert accounts == []
    error = only(errors)
    assert (error.row, error.field) == (2, "code") and needle in error.message


def test_code_of_twenty_allowed_characters_is_fine() -> None:
    assert validate([row("A1.b-" * 4)])[1] == []


@pytest.mark.parametrize(("name", "needle"), [("", "required"), ("x" * 201, "longer than 200")])
def test_bad_name(name: str, needle: str) -> None:
    error = only(validate([row("1", name)])[1])
    assert (error.row, error.field) == (1, "name") and needle in error.message


def test_unknown_kind_lists_the_valid_ones() -> None:
    error = only(validate([row("1"), row("2", kind="asset")])[1])
    assert (error.row, error.field) == (2, "kind")
    assert "'asset'" in error.message and all(k.value in error.message for k in charts.AccountKind)


def test_duplicate_code_names_the_first_row() -> None:
    error = only(validate([row("1"), row("2"), row("1"), row("3")])[1])
    assert (error.row, error.field) == (3, "code") and "row 1" in error.message


def test_parent_not_in_chart() -> None:
    error = only(validate([row("1"), row("2", parent="9")])[1])
    assert (error.row, error.field) == (2, "parent") and "9" in error.message


def test_parent_cycle_names_its_codes() -> None:
    errors = validate([row("x"), row("a", parent="b"), row("b", parent="a"), row("c", parent="a")])[1]
    assert [(e.row, e.field) for e in errors] == [(2, "parent"), (3, "parent")]
    assert "a → b → a" in errors[0].message and "b → a → b" in errors[1].message


def test_longer_cycle_and_self_parent() -> None:
    errors = validate([row("a", parent="c"), row("b", parent="a"), row("c", parent="b"), row("d", parent="d")])[1]
    assert [e.row for e in errors] == [1, 2, 3, 4]
    assert "a → c → b → a" in errors[0].message
    assert "d → d" in errors[3].message


@pytest.mark.parametrize("rate", ["abc", "1.5", "-0.1", "101%", "NaN", "inf", "%"])
def test_tax_rate_out_of_range_or_not_a_number(rate: str) -> None:
    error = only(validate([row("1", kind="tax_payable", tax_rate=rate)])[1])
    assert (error.row, error.field) == (1, "tax_rate")


@pytest.mark.parametrize(("rate", "expected"), [("0", "0"), ("1", "1"), ("100%", "1"), ("5,5 %", "0.055")])
def test_tax_rate_edges(rate: str, expected: str) -> None:
    accounts, errors = validate([row("1", kind="tax_receivable", tax_rate=rate)])
    assert errors == [] and accounts[0].tax_rate == Decimal(expected)


def test_tax_rate_on_a_non_tax_account() -> None:
    error = only(validate([row("1", kind="income", tax_rate="0.19")])[1])
    assert (error.row, error.field) == (1, "tax_rate") and "tax account" in error.message


def test_bad_reconcile_flag() -> None:
    error = only(validate([row("1", reconcile="maybe")])[1])
    assert (error.row, error.field) == (1, "reconcile")


def test_every_bad_row_is_reported_at_once() -> None:
    accounts, errors = validate(
        [
            row("1000", "Bank", "bank"),
            row("", "No code"),
            row("1000", "", "nonsense"),
            row("2000", "Sales", "income", tax_rate="0.19", parent="7777"),
            row("3000", "Fine"),
            row("4000", "VAT", "tax_payable", tax_rate="250%"),
            row("5000", "Loop", parent="5001"),
            row("5001", "Loop", parent="5000"),
        ]
    )
    assert accounts == []
    assert [(e.row, e.field) for e in errors] == [
        (2, "code"),
        (3, "code"),
        (3, "name"),
        (3, "kind"),
        (4, "tax_rate"),
        (4, "parent"),
        (6, "tax_rate"),
        (7, "parent"),
        (8, "parent"),
    ]
