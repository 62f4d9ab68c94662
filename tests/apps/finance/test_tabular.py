"""Uploads: CSV in the encodings and delimiters spreadsheets write, XLSX cells as the text Excel shows, row
numbers as the user's spreadsheet counts them, and a clear refusal for every kind of bad file."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from openpyxl import Workbook

from atrium.apps.finance import charts, exports, tabular
from atrium.apps.finance.tabular import RateRow, Rows, chart_rows, rate_rows, read_chart, read_rows
from atrium.core.errors import ValidationFailed


def xlsx(*sheets: list[list[object]]) -> bytes:
    """A workbook with these sheets of rows; an empty list leaves the row empty."""
    book = Workbook()
    book.remove(book.active)
    for index, rows in enumerate(sheets):
        sheet = book.create_sheet(f"Sheet{index + 1}")
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(row=number, column=column, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def refused(data: bytes, **kwargs: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        read_rows(data, **kwargs)
    assert caught.value.extra["field"] == "file"
    return caught.value


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_with_bom_and_header_names_normalised() -> None:
    data = codecs.BOM_UTF8 + " Account Code ,Name,Tax  Rate\r\n1000,Überweisung €,0.19\r\n".encode()
    rows = read_rows(data, "chart.csv")
    assert isinstance(rows, Rows)
    assert rows.header == ["account_code", "name", "tax_rate"]
    assert list(rows) == [{"account_code": "1000", "name": "Überweisung €", "tax_rate": "0.19"}]
    assert rows.numbers == [2] and rows[0] == rows.rows[0] and len(rows) == 1


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(delimiter: str) -> None:
    lines = ["code", "name", "rate"], ["1", "Bank, current", "1,5"], ["2", "Cash", "2"]
    text = "\n".join(delimiter.join(f'"{c}"' if "," in c and delimiter == "," else c for c in line) for line in lines)
    rows = read_rows(text.encode())
    assert rows.header == ["code", "name", "rate"]
    assert rows.rows == [
        {"code": "1", "name": "Bank, current", "rate": "1,5"},
        {"code": "2", "name": "Cash", "rate": "2"},
    ]


def test_semicolon_wins_over_commas_inside_values() -> None:
    data = b"code;name;tax_rate\n1576;Vorsteuer 19 %, abziehbar;0,19\n1776;Umsatzsteuer, 19 %;0,19\n"
    rows = read_rows(data)
    assert rows.header == ["code", "name", "tax_rate"]
    assert rows[1] == {"code": "1776", "name": "Umsatzsteuer, 19 %", "tax_rate": "0,19"}


def test_windows_1252_and_latin_1_files() -> None:
    cp1252 = "code;name\n1;Gebühr € – Überweisung\n".encode("cp1252")
    assert read_rows(cp1252)[0]["name"] == "Gebühr € – Überweisung"
    # 0x81 is not a Windows-1252 character: the file is read as Latin-1, nothing is lost
    latin1 = b"code;name\n1;Caf\xe9 \x81\n"
    assert read_rows(latin1)[0]["name"] == "Café \x81"


def test_utf16_text_as_excel_saves_it() -> None:
    data = "code\tname\n1\tСчёт\n".encode("utf-16")
    assert read_rows(data).rows == [{"code": "1", "name": "Счёт"}]


def test_row_numbers_are_the_spreadsheet_rows() -> None:
    data = b'\n;;\ncode;name\n1;a\n\n ; \n2;b\n3;"multi\nline"\n4;d\n'
    rows = read_rows(data)
    assert rows.header == ["code", "name"]
    assert [(n, r["code"]) for n, r in rows.numbered()] == [(4, "1"), (7, "2"), (8, "3"), (9, "4")]
    assert rows[2]["name"] == "multi\nline"


def test_short_rows_are_padded_and_trailing_empty_columns_ignored() -> None:
    rows = read_rows(b"code,name,parent,,\n1,a\n2,b,1,,\n")
    assert rows.header == ["code", "name", "parent"]
    assert rows.rows == [{"code": "1", "name": "a", "parent": ""}, {"code": "2", "name": "b", "parent": "1"}]


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_cells_come_back_as_the_text_excel_shows() -> None:
    data = xlsx(
        [
            [],
            ["Code", "Name", "Rate", "Date", "Flag"],
            [1000, "Bank", 0.19, date(2026, 1, 31), True],
            [],
            [1.5, "  spaced  ", 0.1 + 0.2, datetime(2026, 2, 1, 13, 45), False],
            ["0010", None, 12345678901234.0, time(9, 30), None],
            [-2, "neg", 1e-05, None, None],
        ],
        [["other sheet"], ["ignored"]],
    )
    rows = read_rows(data, "upload.xlsx")
    assert rows.header == ["code", "name", "rate", "date", "flag"]
    assert rows.numbers == [3, 5, 6, 7]
    assert rows.rows == [
        {"code": "1000", "name": "Bank", "rate": "0.19", "date": "2026-01-31", "flag": "true"},
        {"code": "1.5", "name": "spaced", "rate": "0.3", "date": "2026-02-01T13:45:00", "flag": "false"},
        {"code": "0010", "name": "", "rate": "12345678901234", "date": "09:30:00", "flag": ""},
        {"code": "-2", "name": "neg", "rate": "0.00001", "date": "", "flag": ""},
    ]


def test_xlsx_is_recognised_by_content_not_by_name() -> None:
    data = xlsx([["code"], ["1"]])
    assert read_rows(data, "upload.csv", "text/csv").rows == [{"code": "1"}]


def test_cell_text_of_floats() -> None:
    assert tabular.cell_text(0.19) == "0.19"
    assert tabular.cell_text(3.0) == "3"
    assert tabular.cell_text(1e16) == "10000000000000000"
    assert tabular.cell_text(2.675) == "2.675"
    assert tabular.cell_text(-0.07) == "-0.07"


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n", codecs.BOM_UTF8, b"\n;;\n;  ;\n"])
def test_empty_files(data: bytes) -> None:
    assert "empty" in refused(data).detail


def test_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "MAX_BYTES", 100)
    assert "larger than" in refused(b"code\n" + b"1\n" * 60).detail


def test_too_many_rows_names_the_first_row_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    assert len(read_rows(b"code\n1\n2\n\n3\n")) == 3
    error = refused(b"code\n1\n2\n\n3\n4\n")
    assert error.extra["row"] == 6 and "more than 3 rows" in error.detail


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "neither CSV"),
        (b"%PDF-1.4\n\x01\x02\x03 binary", "neither CSV"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ".xls"),
        (b"PK\x03\x04 this is not a zip at all", "not a readable XLSX"),
    ],
)
def test_files_that_are_not_csv_or_xlsx(data: bytes, needle: str) -> None:
    assert needle in refused(data).detail


def test_a_zip_that_is_not_a_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not a readable XLSX" in refused(buffer.getvalue(), filename="rates.xlsx").detail


def test_a_csv_called_xlsx_is_refused_rather_than_guessed() -> None:
    error = refused(b"code,name\n1,a\n", filename="rates.xlsx")
    assert "rates.xlsx" in error.detail and "not one" in error.detail
    error = refused(b"code,name\n1,a\n", content_type=tabular.XLSX_MEDIA_TYPE)
    assert "not one" in error.detail


@pytest.mark.parametrize(
    ("data", "row", "needle"),
    [
        (b"\ncode,Code\n1,2\n", 2, "two columns 'code': A and B"),
        (b"code,,name\n1,,a\n", 1, "column B of the header row (row 1) has no name"),
        (b"code,name\n1,a\n\n2,b,extra\n", 4, "row 4 has a value in column C"),
    ],
)
def test_header_and_row_shape_errors_name_the_row(data: bytes, row: int, needle: str) -> None:
    error = refused(data)
    assert error.extra["row"] == row and needle in error.detail


def test_xlsx_row_wider_than_the_header() -> None:
    error = refused(xlsx([["code", "name"], ["1", "a"], [], ["2", "b", None, "x"]]))
    assert error.extra["row"] == 4 and "column D" in error.detail


# --- chart of accounts --------------------------------------------------------------------------


def template_as_export(key: str, fmt: str) -> bytes:
    """A template written by the report exporter with no title, as a user would download and re-upload it."""
    rows = charts.TEMPLATES[key].as_rows()
    table = exports.Table(title="", columns=[exports.Column(k, k) for k in rows[0]], rows=[dict(r) for r in rows])
    body, _, _ = exports.export(table, fmt)
    return body


@pytest.mark.parametrize("key", sorted(charts.TEMPLATES))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_round_trip_through_csv_and_xlsx(key: str, fmt: str) -> None:
    template = charts.TEMPLATES[key]
    rows = chart_rows(template_as_export(key, fmt), f"chart.{fmt}")
    assert rows.numbers == list(range(2, len(template.accounts) + 2))
    accounts, errors = charts.validate(rows, numbers=rows.numbers)
    assert errors == []
    assert tuple(accounts) == template.accounts


def test_chart_from_a_workbook_with_numbers_and_aliases() -> None:
    data = xlsx(
        [
            ["Account", "Description", "Type", "Parent Code", "Tax"],
            [1000, "Current assets", "current_asset", None, None],
            [1100, "Receivables", "receivable", 1000, None],
            [],
            [1350, "Input VAT", "tax_receivable", 1000, 0.19],
        ]
    )
    accounts, errors = read_chart(data, "chart.xlsx")
    assert errors == []
    assert [(a.code, a.parent, a.kind, a.reconcile, a.tax_rate) for a in accounts] == [
        ("1000", None, charts.K.current_asset, False, None),
        ("1100", "1000", charts.K.receivable, True, None),
        ("1350", "1000", charts.K.tax_receivable, False, Decimal("0.19")),
    ]


def test_chart_errors_carry_spreadsheet_row_numbers() -> None:
    data = (
        b"code;name;kind;parent\n"  # row 1
        b"1000;Assets;current_asset;\n"  # row 2
        b"1100;Bank;bank;1000\n"  # row 3
        b";;;\n"  # row 4, empty
        b"1000;Assets again;current_asset;\n"  # row 5: duplicate code
        b"2000;Loop A;expense;2100\n"  # row 6
        b"2100;Loop B;expense;2000\n"  # row 7
    )
    accounts, errors = read_chart(data, "chart.csv")
    assert accounts == []
    assert [(e.row, e.field) for e in errors] == [(5, "code"), (6, "parent"), (7, "parent")]
    assert "already used in row 2" in errors[0].message
    assert "2000 → 2100 → 2000" in errors[1].message and "2100 → 2000 → 2100" in errors[2].message


def test_chart_without_a_kind_column_names_it() -> None:
    with pytest.raises(ValidationFailed) as caught:
        chart_rows(b"code,name,parent\n1,a,\n")
    assert caught.value.extra == {"field": "file", "column": "kind"}
    assert "'kind'" in caught.value.detail and "account_type" in caught.value.detail


def test_chart_with_two_columns_for_the_code_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="'code' and 'account' both give the code"):
        chart_rows(b"code,account,name,kind\n1,1,a,expense\n")


def test_chart_with_a_header_only_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no accounts"):
        chart_rows(b"code,name,kind\n\n")


# --- exchange rates -----------------------------------------------------------------------------


def test_rates_from_csv_in_every_accepted_date_and_number_style() -> None:
    data = (
        "Currency;Date;Rate\n"
        "USD;2026-01-31;1,0856\n"
        "usd;01.02.2026;1.0861\n"
        "JPY;02/02/2026;161,25\n"
        "IDR;2026-02-02;17.234,50\n"
        "IDR;2026-02-03;17,234.5\n"
    ).encode("cp1252")
    assert rate_rows(data, "rates.csv") == [
        RateRow(2, "USD", date(2026, 1, 31), Decimal("1.0856")),
        RateRow(3, "USD", date(2026, 2, 1), Decimal("1.0861")),
        RateRow(4, "JPY", date(2026, 2, 2), Decimal("161.25")),
        RateRow(5, "IDR", date(2026, 2, 2), Decimal("17234.50")),
        RateRow(6, "IDR", date(2026, 2, 3), Decimal("17234.5")),
    ]


def test_rates_from_a_workbook_with_date_cells_and_aliases() -> None:
    data = xlsx(
        [
            ["CCY", "Rate Date", "Exchange Rate"],
            ["GBP", date(2026, 3, 31), 0.85],
            [],
            ["CHF", datetime(2026, 3, 31), 0.94],
        ]
    )
    assert rate_rows(data, "rates.xlsx") == [
        RateRow(2, "GBP", date(2026, 3, 31), Decimal("0.85")),
        RateRow(4, "CHF", date(2026, 3, 31), Decimal("0.94")),
    ]


def test_every_bad_rate_row_is_reported_at_once() -> None:
    data = (
        b"currency,date,rate\n"
        b"USD,2026-01-31,1.08\n"  # 2 fine
        b"EURO,2026-01-31,1.1\n"  # 3 currency
        b"GBP,2026-02-30,0.85\n"  # 4 date not in the calendar
        b"CHF,31-01-2026,0\n"  # 5 date format and rate
        b"JPY,2026-01-31,-160\n"  # 6 rate
        b",,\n"  # 7 empty: skipped
        b'SEK,2026-01-31,"1,085"\n'  # 8 ambiguous comma
        b"usd,2026-01-31,1.09\n"  # 9 duplicate of row 2
        b"NOK,,abc\n"  # 10 date missing, rate not a number
    )
    with pytest.raises(ValidationFailed) as caught:
        rate_rows(data, "rates.csv")
    errors = caught.value.extra["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [
        (3, "currency"),
        (4, "date"),
        (5, "date"),
        (5, "rate"),
        (6, "rate"),
        (8, "rate"),
        (9, "date"),
        (10, "date"),
        (10, "rate"),
    ]
    details = {(e["row"], e["field"]): e["detail"] for e in errors}
    assert "ISO 4217" in details[(3, "currency")]
    assert "not a date in the calendar" in details[(4, "date")]
    assert "ambiguous" in details[(8, "rate")] and "1085" in details[(8, "rate")]
    assert "already given in row 2" in details[(9, "date")]
    assert details[(10, "date")] == "date is required"
    message = caught.value.detail
    assert message.startswith("9 problems in the exchange rates: row 3 currency:")
    assert "row 9 date: USD on 2026-01-31 is already given in row 2" in message
    assert caught.value.extra["field"] == "file"


def test_rate_message_lists_the_first_twenty_problems() -> None:
    data = b"currency,date,rate\n" + b"".join(b"XX,2026-01-%02d,1\n" % day for day in range(1, 26))
    with pytest.raises(ValidationFailed) as caught:
        rate_rows(data)
    assert len(caught.value.extra["errors"]) == 25
    assert "row 21 currency" in caught.value.detail and "row 22 currency" not in caught.value.detail
    assert caught.value.detail.endswith("; and 5 more")


def test_rates_need_all_three_columns() -> None:
    with pytest.raises(ValidationFailed) as caught:
        rate_rows(b"currency,rate\nUSD,1.1\n")
    assert caught.value.extra["column"] == "date"


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("1.0856", "1.0856"),
        ("1,0856", "1.0856"),
        ("0,085", "0.085"),
        ("1 234,5", "1234.5"),
        ("1,234,567", "1234567"),
        ("1'234.50", "1234.50"),
        ("1.085", "1.085"),
    ],
)
def test_parse_rate(raw: str, rate: str) -> None:
    assert tabular.parse_rate(raw) == Decimal(rate)


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "NaN", "Infinity", "1,085", "12,500"])
def test_parse_rate_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        tabular.parse_rate(raw)


def test_a_worksheet_with_too_many_cells_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "MAX_CELLS", 10)
    assert len(read_rows(xlsx([["a", "b"], [1, 2], [3, 4], [5, 6], [7, 8]]))) == 4
    error = refused(xlsx([["a", "b"], [1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]))
    assert error.extra["row"] == 6 and "more than 10 cells" in error.detail
