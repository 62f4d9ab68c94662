"""Report exports: CSV reads back to the same values, XLSX cells are typed and formatted, PDF pages carry
their heading and page numbers, and text outside Latin-1 renders with or without a Unicode font."""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from atrium.apps.finance import exports
from atrium.apps.finance.exports import Column, ColumnKind, Table
from atrium.core.errors import ValidationFailed

K = ColumnKind
COLUMNS = [
    Column("code", "Code"),
    Column("name", "Account"),
    Column("debit", "Debit", K.MONEY),
    Column("credit", "Credit", K.MONEY),
    Column("share", "Share", K.PERCENT),
    Column("since", "Since", K.DATE),
]
ROWS: list[dict[str, object]] = [
    {"code": "1000", "name": "Current assets", "debit": None, "credit": None},
    {"code": "1510", "name": "Bank – current account", "debit": Decimal("1234567.89"), "credit": Decimal("0.00")},
    {"code": "1520", "name": "Überweisungen unterwegs", "debit": Decimal("-0.10"), "share": Decimal("0.19")},
    {"code": "1530", "name": "Petty cash €", "debit": 250, "credit": Decimal("1E+3"), "since": date(2026, 1, 31)},
    {"code": "", "name": "Subtotal current assets", "debit": Decimal("1234817.79"), "credit": Decimal("1000")},
]
STYLES = ["header", "indent", "indent", "indent", "subtotal"]
TOTALS: dict[str, object] = {"name": "Total", "debit": Decimal("1234817.79"), "credit": Decimal("1000.00")}


def report(**changes: object) -> Table:
    table = Table(
        title="Trial balance",
        subtitle="Acme GmbH · 2026-01-01 – 2026-03-31 · EUR",
        columns=list(COLUMNS),
        rows=[dict(r) for r in ROWS],
        totals=dict(TOTALS),
        row_styles=list(STYLES),
    )
    for key, value in changes.items():
        setattr(table, key, value)
    return table


def ledger(rows: int, columns: int = 4) -> Table:
    """A long report with one-line rows: code, name, then money columns."""
    cols = [Column("code", "Code"), Column("name", "Account")]
    cols += [Column(f"m{i}", f"Amount {i}", K.MONEY) for i in range(columns - 2)]
    body: list[dict[str, object]] = [
        {"code": f"ACC-{n:04d}", "name": f"Account {n}", **{f"m{i}": Decimal(n) * 100 + i for i in range(columns - 2)}}
        for n in range(1, rows + 1)
    ]
    return Table(title="General ledger", columns=cols, rows=body)


# --- display ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (Decimal("1234567.8"), K.MONEY, "1,234,567.80"),
        (Decimal("-1234.5"), K.MONEY, "-1,234.50"),
        (Decimal("0.125"), K.MONEY, "0.125"),  # more places than cents are kept, never rounded away
        (Decimal("-0.00"), K.MONEY, "0.00"),
        (7, K.MONEY, "7.00"),
        (Decimal("0.19"), K.PERCENT, "19%"),
        (Decimal("0.075"), K.PERCENT, "7.5%"),
        (Decimal("12500.50"), K.NUMBER, "12,500.5"),
        (Decimal("1E+3"), K.NUMBER, "1,000"),
        (date(2026, 3, 31), K.DATE, "2026-03-31"),
        (None, K.MONEY, ""),
        ("n/a", K.MONEY, "n/a"),
    ],
)
def test_display(value: object, kind: ColumnKind, shown: str) -> None:
    assert exports.display(value, Column("x", "X", kind)) == shown


def test_floats_are_refused_in_number_columns() -> None:
    table = report(rows=[{"debit": 0.1}], row_styles=None)
    for render in (exports.to_csv, exports.to_xlsx, exports.to_pdf):
        with pytest.raises(TypeError, match="Decimal"):
            render(table)


def test_row_styles_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="4 row styles for 5 rows"):
        exports.to_csv(report(row_styles=STYLES[:4]))
    with pytest.raises(ValueError, match="unknown row styles"):
        exports.to_csv(report(row_styles=["bold"] * 5))


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_reads_back_to_the_same_values() -> None:
    body = exports.to_csv(report())
    assert body.startswith(codecs.BOM_UTF8)
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert parsed[0] == [c.label for c in COLUMNS]
    expected = [
        ["1000", "Current assets", "", "", "", ""],
        ["1510", "Bank – current account", "1234567.89", "0.00", "", ""],
        ["1520", "Überweisungen unterwegs", "-0.10", "", "0.19", ""],
        ["1530", "Petty cash €", "250", "1000", "", "2026-01-31"],
        ["", "Subtotal current assets", "1234817.79", "1000", "", ""],
        ["", "Total", "1234817.79", "1000.00", "", ""],
    ]
    assert parsed[1:] == expected
    # amounts are the Decimals themselves, not floats printed back
    for row, original in zip(parsed[1:], [*ROWS, TOTALS], strict=True):
        for column in ("debit", "credit"):
            value = original.get(column)
            index = [c.key for c in COLUMNS].index(column)
            assert (Decimal(row[index]) if row[index] else None) == (None if value is None else Decimal(value))


def test_csv_keeps_spreadsheets_from_running_text_as_formulas() -> None:
    table = Table(
        title="x",
        columns=[Column("memo", "Memo"), Column("amount", "Amount", K.MONEY)],
        rows=[
            {"memo": '=HYPERLINK("http://x")', "amount": Decimal("-5")},
            {"memo": "+49 30 1234", "amount": None},
            {"memo": "-12.50", "amount": None},
            {"memo": "@SUM(A1)", "amount": None},
        ],
    )
    parsed = list(csv.reader(io.StringIO(exports.to_csv(table).decode("utf-8-sig"), newline="")))
    assert [r[0] for r in parsed[1:]] == ['\'=HYPERLINK("http://x")', "'+49 30 1234", "-12.50", "'@SUM(A1)"]
    assert parsed[1][1] == "-5"  # negative amounts are numbers, not formulas


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_cells_are_typed_formatted_and_the_header_frozen() -> None:
    book = load_workbook(io.BytesIO(exports.to_xlsx(report())))
    sheet = book.worksheets[0]
    assert sheet.title == "Trial balance"
    assert sheet["A1"].value == "Trial balance" and sheet["A1"].font.bold
    assert sheet["A2"].value == "Acme GmbH · 2026-01-01 – 2026-03-31 · EUR"
    header = [c.value for c in sheet[4]]
    assert header == [c.label for c in COLUMNS]
    assert all(c.font.bold for c in sheet[4])
    assert sheet.freeze_panes == "A5"

    money_columns = {"C": "debit", "D": "credit"}
    for offset, original in enumerate([*ROWS, TOTALS]):
        excel_row = 5 + offset
        for letter, key in money_columns.items():
            cell = sheet[f"{letter}{excel_row}"]
            value = original.get(key)
            if value is None:
                assert cell.value is None
                continue
            assert isinstance(cell.value, int | float), (cell.coordinate, cell.value)
            assert Decimal(str(cell.value)).quantize(Decimal("0.01")) == Decimal(value).quantize(Decimal("0.01"))
            assert cell.number_format == "#,##0.00"
    assert sheet["C7"].value == pytest.approx(-0.1)
    assert sheet["E7"].value == pytest.approx(0.19) and sheet["E7"].number_format == "0.00%"
    since = sheet["F8"]
    assert since.is_date and since.value.date() == date(2026, 1, 31) and since.number_format == "yyyy-mm-dd"

    assert sheet["B5"].font.bold  # section heading
    assert not sheet["B6"].font.bold and sheet["A6"].alignment.indent > 0  # indented line
    assert sheet["B9"].font.bold  # subtotal
    assert sheet["B10"].value == "Total" and sheet["C10"].font.bold
    assert sheet.max_row == 10

    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCDEF"}
    assert widths["B"] >= len("Subtotal current assets")
    assert widths["C"] >= len("1,234,817.79")
    assert all(8 <= w <= 62 for w in widths.values())


def test_xlsx_text_is_never_a_formula_and_times_are_utc() -> None:
    table = Table(
        title="",
        columns=[Column("memo", "Memo"), Column("at", "Posted at", K.DATE)],
        rows=[{"memo": "=1+1", "at": datetime(2026, 1, 31, 23, 30, tzinfo=UTC)}],
    )
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(table))).worksheets[0]
    assert [c.value for c in sheet[1]] == ["Memo", "Posted at"]  # no title: the header is row 1
    assert sheet.freeze_panes == "A2"
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == "=1+1"
    assert sheet["B2"].value == datetime(2026, 1, 31, 23, 30)


# --- PDF ----------------------------------------------------------------------------------------

_PAGE = re.compile(rb"/Type /Page\b(?!s)")
_SHOWN = re.compile(r"\(((?:\\.|[^\\)])*)\) Tj")


def page_count(pdf: bytes) -> int:
    return len(_PAGE.findall(pdf))


def page_texts(pdf: bytes) -> list[str]:
    """The text shown on each page, in order; readable only with core fonts (TTF text is glyph ids)."""
    pages = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        content = zlib.decompress(stream).decode("cp1252")
        pages.append("\n".join(_SHOWN.findall(content)))
    return pages


@pytest.fixture
def core_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render as on a machine without DejaVu, which also makes the page text readable to the tests."""
    monkeypatch.setattr(exports, "unicode_font", lambda: None)


@pytest.fixture
def dejavu() -> None:
    if exports.unicode_font() is None:
        pytest.skip("DejaVu Sans is not installed (Debian package fonts-dejavu-core)")


@pytest.mark.usefixtures("core_fonts")
def test_pdf_repeats_the_heading_and_numbers_every_page() -> None:
    pdf = exports.to_pdf(ledger(300))
    assert pdf.startswith(b"%PDF-")
    pages = page_texts(pdf)
    total = page_count(pdf)
    assert len(pages) == total and 300 / 70 < total < 300 / 30
    seen: list[str] = []
    for number, text in enumerate(pages, start=1):
        lines = text.split("\n")
        assert lines[0] == "General ledger"
        assert lines[1:5] == ["Code", "Account", "Amount 0", "Amount 1"]
        assert f"Page {number} of \n{total}" in text
        seen += [line for line in lines if line.startswith("ACC-")]
    assert seen == [f"ACC-{n:04d}" for n in range(1, 301)]  # every row once, in order, none lost at a break
    assert "30,000.00" in pages[-1] and "30,001.00" in pages[-1]  # money right-aligned with separators


@pytest.mark.usefixtures("dejavu")
def test_pdf_page_count_does_not_depend_on_the_font(monkeypatch: pytest.MonkeyPatch) -> None:
    table = ledger(300)
    with_dejavu = exports.to_pdf(table)
    assert with_dejavu.startswith(b"%PDF-") and b"DejaVuSans" in with_dejavu
    monkeypatch.setattr(exports, "unicode_font", lambda: None)
    assert page_count(with_dejavu) == page_count(exports.to_pdf(table)) > 1


@pytest.mark.usefixtures("dejavu")
def test_pdf_renders_unicode_with_dejavu() -> None:
    table = report(title="Überweisungen — € Gebühren · Ωμέγα · Счёт")
    pdf = exports.to_pdf(table)
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf and page_count(pdf) == 1
    assert b"+DejaVuSansBook" in pdf and b"+DejaVuSansBold" in pdf  # subsets of both faces are embedded


@pytest.mark.usefixtures("core_fonts")
def test_pdf_without_unicode_font_replaces_only_what_helvetica_lacks() -> None:
    pdf = exports.to_pdf(report(title="Überweisungen — € Gebühren · Ωmega"))
    text = page_texts(pdf)[0]
    assert text.startswith("Überweisungen — € Gebühren · ?mega")
    assert "Bank – current account" in text and "Petty cash €" in text
    assert "1,234,567.89" in text and "-0.10" in text and "19%" in text
    assert "Total" in text and "1,234,817.79" in text


@pytest.mark.usefixtures("core_fonts")
def test_pdf_wraps_long_text_instead_of_cutting_it() -> None:
    name = " ".join(f"word{i}" for i in range(60))
    table = Table(
        title="T",
        columns=[Column("code", "Code"), Column("name", "Name"), Column("amount", "Amount", K.MONEY)],
        rows=[
            {"code": "1000-ABC-01", "name": name, "amount": Decimal(1)},
            {"code": "1001", "name": "after", "amount": Decimal(2)},
        ],
    )
    shown = page_texts(exports.to_pdf(table))[0].split("\n")
    wrapped = [line for line in shown if line.startswith("word")]
    assert len(wrapped) > 1 and " ".join(wrapped) == name
    assert "1000-ABC-01" in shown  # the short column beside a long one keeps its text on one line
    assert shown.index("after") > shown.index(wrapped[-1])


def test_pdf_orientation_follows_the_number_of_columns() -> None:
    portrait = exports.to_pdf(ledger(3, columns=6))
    landscape = exports.to_pdf(ledger(3, columns=7))
    assert b"/MediaBox [0 0 595.28 841.89]" in portrait
    assert b"/MediaBox [0 0 841.89 595.28]" in landscape


def test_render_5000_rows_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timing assertion: prints how long each format takes for a large report (see with -s)."""
    table = ledger(5000, columns=6)
    timings = {}
    for fmt in exports.EXPORT_FORMATS:
        start = time.perf_counter()
        body, _, _ = exports.export(table, fmt)
        timings[fmt] = time.perf_counter() - start
        assert body
    with capsys.disabled():
        print("\n5,000-row report: " + ", ".join(f"{f} {s:.2f}s" for f, s in timings.items()))


# --- dispatch -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("csv", "text/csv", codecs.BOM_UTF8),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
        ("PDF", "application/pdf", b"%PDF-"),
    ],
)
def test_export_gives_body_media_type_and_file_name(fmt: str, media_type: str, magic: bytes) -> None:
    body, media, name = exports.export(report(), fmt)
    assert body.startswith(magic) and media == media_type and name == f"trial-balance.{fmt.lower()}"


def test_export_file_names_are_plain_ascii() -> None:
    assert exports.filename("Überweisungen — Q1 2026", "csv") == "uberweisungen-q1-2026.csv"
    assert exports.filename("Счёт", "pdf") == "report.pdf"


def test_unknown_format_names_the_field_and_the_choices() -> None:
    with pytest.raises(ValidationFailed) as caught:
        exports.export(report(), "docx")
    assert caught.value.extra == {"field": "format"}
    assert "'docx'" in caught.value.detail and "csv, pdf, xlsx" in caught.value.detail
