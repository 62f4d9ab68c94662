"""Spreadsheet uploads (CSV or XLSX) read as rows of text, for charts of accounts and exchange rates.

Every value comes back as the text the user saw in their spreadsheet (0.19 stays "0.19", 1000 stays
"1000", a date cell becomes "2026-01-31"), so each upload's own rules decide what a value means. Rows
keep their spreadsheet row number: an error says "row 7" and row 7 is where the user looks. Nothing is
guessed silently: a file that is not a readable CSV or XLSX is refused with a message saying why.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final, TypeVar, overload

from openpyxl import load_workbook  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from atrium.apps.finance import charts
from atrium.core.errors import ValidationFailed

MAX_BYTES: Final = 10 * 1024 * 1024
MAX_ROWS: Final = 50_000
MAX_CELLS: Final = 5_000_000
"""Cells read from a worksheet, empty formatted ones included: a 10 MB workbook can unpack to gigabytes."""
DELIMITERS: Final = (",", ";", "\t", "|")
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_ZIP_MAGIC = b"PK"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, and password-protected .xlsx
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")
_SPACES = re.compile(r"\s+")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Rows(Sequence[dict[str, str]]):
    """An upload's data rows, keyed by the normalised header, each with its spreadsheet row number.

    `numbers[i]` is the row in the user's file that `rows[i]` came from: the header is usually row 1, so the
    first data row is row 2, and empty rows are skipped without renumbering the rest. The object is itself a
    sequence of the row dicts, so it can be passed wherever plain rows are expected.
    """

    header: list[str]
    rows: list[dict[str, str]]
    numbers: list[int]

    @overload
    def __getitem__(self, index: int) -> dict[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, str]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, str] | list[dict[str, str]]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, str]]:
        return iter(self.rows)

    def numbered(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(spreadsheet row number, row) pairs."""
        return zip(self.numbers, self.rows, strict=True)


def _refuse(detail: str, row: int | None = None) -> ValidationFailed:
    extra: dict[str, object] = {"field": "file"}
    if row is not None:
        extra["row"] = row
    return ValidationFailed(detail, **extra)


def header_name(raw: str) -> str:
    """'Account Code ' -> 'account_code': how a column is known whatever its capitals and spacing."""
    return _SPACES.sub("_", raw.replace("\ufeff", "").strip().lower())


# --- reading cells ------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """An XLSX cell as the text Excel shows by default, without binary-float artefacts.

    Excel keeps 15 significant digits, so a float is read at that precision: 0.19 is "0.19" and the sum
    0.1 + 0.2 is "0.3", not "0.30000000000000004". Whole numbers have no ".0" and dates are ISO.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        number = Decimal(format(value, ".15g")).normalize()
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:
            number = number.quantize(Decimal(1))
        return format(number, "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()


def _xlsx_cells(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of the first worksheet, empty rows included so numbers stay true."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, KeyError) for a damaged file
        raise _refuse(f"the file is not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        if not workbook.worksheets:
            raise _refuse("the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        # the stored dimension is sometimes wrong (some writers never update it); read what is there
        sheet.reset_dimensions()
        cells = 0
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells += len(values)
                if cells > MAX_CELLS:
                    raise _refuse(
                        f"the worksheet has more than {MAX_CELLS:,} cells (empty formatted ones count too); "
                        "copy the data into a new workbook or save it as CSV",
                        row=number,
                    )
                yield number, [cell_text(v) for v in values]
        except ValidationFailed:
            raise
        except Exception as exc:
            raise _refuse(f"the workbook is damaged and could not be read ({type(exc).__name__})") from exc
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), UTF-16 with a BOM (Excel's 'Unicode text'), else Windows-1252/Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _refuse("the file starts like UTF-16 text but is not valid UTF-16") from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # every byte is a Latin-1 character: never fails


def sniff_delimiter(text: str) -> str:
    """The delimiter (',', ';', tab or '|') that splits the first lines into the same, largest number of cells.

    Spreadsheets in comma-decimal countries write ';', so the choice matters and must not be a guess from
    one character count: each candidate parses a sample and the most consistent table wins; ties go to ','.
    """
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if any(r)][:50]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(1 for r in records if len(r) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_cells(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data)
    if _CONTROL.search(text[:8192]):
        raise _refuse("the file is neither CSV text nor an XLSX workbook")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            yield number, [cell.strip() for cell in record]
    except csv.Error as exc:
        raise _refuse(f"row {number + 1} cannot be read as CSV: {exc}", row=number + 1) from exc


# --- rows ---------------------------------------------------------------------------------------


def _header(cells: list[str], number: int) -> list[str]:
    while cells and not cells[-1]:
        cells = cells[:-1]
    names: list[str] = []
    for index, raw in enumerate(cells):
        name = header_name(raw)
        column = get_column_letter(index + 1)
        if not name:
            raise _refuse(f"column {column} of the header row (row {number}) has no name", row=number)
        if name in names:
            first = get_column_letter(names.index(name) + 1)
            raise _refuse(f"the header row (row {number}) names two columns {name!r}: {first} and {column}", row=number)
        names.append(name)
    return names


def _table(cells: Iterable[tuple[int, list[str]]]) -> Rows:
    """The first non-empty row is the header; later non-empty rows are data, keyed by it."""
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    for number, values in cells:
        if not any(values):
            continue
        if header is None:
            header = _header(values, number)
            continue
        width = len(header)
        beyond = [i for i, v in enumerate(values[width:], start=width) if v]
        if beyond:
            column = get_column_letter(beyond[0] + 1)
            raise _refuse(
                f"row {number} has a value in column {column}, but the header has only {width} columns; "
                "name the column in the header row or remove the value",
                row=number,
            )
        if len(rows) == MAX_ROWS:
            raise _refuse(f"the file has more than {MAX_ROWS:,} rows; split it into smaller files", row=number)
        padded = values[:width] + [""] * (width - len(values))
        rows.append(dict(zip(header, padded, strict=True)))
        numbers.append(number)
    if header is None:
        raise _refuse("the file is empty")
    return Rows(header=header, rows=rows, numbers=numbers)


def _claims_xlsx(filename: str | None, content_type: str | None) -> bool:
    named = (filename or "").lower().endswith((".xlsx", ".xlsm"))
    typed = (content_type or "").split(";")[0].strip().lower() == XLSX_MEDIA_TYPE
    return named or typed


def read_rows(data: bytes, filename: str | None = None, content_type: str | None = None) -> Rows:
    """An uploaded CSV or XLSX as `Rows`; the format comes from the content, the name only explains errors.

    CSV: UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252/Latin-1; delimiter ',', ';', tab or
    '|'. XLSX: the first worksheet, cached formula results rather than formulas. Cells are stripped of
    surrounding spaces; header names are lower-cased with spaces turned into underscores.
    """
    if len(data) > MAX_BYTES:
        raise _refuse(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller files")
    if not data.strip():
        raise _refuse("the file is empty")
    if data.startswith(_OLE_MAGIC):
        raise _refuse("old Excel .xls files and password-protected workbooks cannot be read; save it as .xlsx or CSV")
    if data.startswith(_ZIP_MAGIC):
        return _table(_xlsx_cells(data))
    if _claims_xlsx(filename, content_type):
        raise _refuse(f"{filename or 'the file'} is called an XLSX workbook but is not one; save it again as .xlsx")
    return _table(_csv_cells(data))


# --- column aliases -----------------------------------------------------------------------------


def _columns(header: Sequence[str], aliases: Mapping[str, tuple[str, ...]], required: Iterable[str]) -> dict[str, str]:
    """Which file column gives each field; two columns for one field or a missing required one is refused."""
    found: dict[str, str] = {}
    for field, names in aliases.items():
        present = [n for n in names if n in header]
        if len(present) > 1:
            raise _refuse(f"columns {' and '.join(map(repr, present))} both give the {field}; keep one of them")
        if present:
            found[field] = present[0]
    for field in required:
        if field not in found:
            accepted = ", ".join(aliases[field])
            raise ValidationFailed(
                f"the file has no {field!r} column (accepted names: {accepted})", field="file", column=field
            )
    return found


# --- chart of accounts --------------------------------------------------------------------------

CHART_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "code": ("code", "account", "account_code", "account_number", "account_no", "number", "no"),
    "name": ("name", "description", "account_name", "title"),
    "kind": ("kind", "type", "account_kind", "account_type"),
    "parent": ("parent", "parent_code", "parent_account"),
    "reconcile": ("reconcile", "reconcilable"),
    "tax_rate": ("tax_rate", "tax", "rate", "vat", "vat_rate"),
}
_CHART_REQUIRED = ("code", "name", "kind")


def chart_rows(data: bytes, filename: str | None = None, content_type: str | None = None) -> Rows:
    """An uploaded chart as rows with exactly the keys `charts.validate` reads, spreadsheet numbers kept.

    Pass both on: `charts.validate(rows, numbers=rows.numbers)` (or use `read_chart`).
    """
    table = read_rows(data, filename, content_type)
    columns = _columns(table.header, CHART_COLUMNS, _CHART_REQUIRED)
    if not table.rows:
        raise _refuse("the file has a header row but no accounts")
    rows = [{field: row[columns[field]] if field in columns else "" for field in CHART_COLUMNS} for row in table]
    return Rows(header=list(CHART_COLUMNS), rows=rows, numbers=table.numbers)


def read_chart(
    data: bytes, filename: str | None = None, content_type: str | None = None
) -> tuple[list[charts.ChartAccount], list[charts.RowError]]:
    """Read and check an uploaded chart: the accounts, or every problem with its spreadsheet row."""
    rows = chart_rows(data, filename, content_type)
    return charts.validate(rows, numbers=rows.numbers)


# --- exchange rates -----------------------------------------------------------------------------

RATE_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "currency": ("currency", "currency_code", "ccy", "iso_code", "code"),
    "date": ("date", "rate_date", "effective_date", "valid_from", "as_of", "day"),
    "rate": ("rate", "exchange_rate", "fx_rate", "value"),
}
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATES = (
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), (1, 2, 3)),
    (re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})"), (3, 2, 1)),
    (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), (3, 2, 1)),
)
_AMBIGUOUS_COMMA = re.compile(r"[1-9]\d{0,2},\d{3}")
_ERRORS_IN_MESSAGE = 20


@dataclass(frozen=True)
class RateRow:
    """One uploaded rate: units of `currency` per one unit of the company's base currency on `date`."""

    row: int
    currency: str
    date: date
    rate: Decimal


def parse_date(raw: str) -> date:
    """YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY (day first, as everywhere but the US); ValueError says why not."""
    for pattern, (y, m, d) in _DATES:
        match = pattern.fullmatch(raw)
        if match:
            try:
                return date(int(match[y]), int(match[m]), int(match[d]))
            except ValueError:
                raise ValueError(f"{raw!r} is not a date in the calendar") from None
    raise ValueError(f"{raw!r} is not a date; write YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY")


def parse_rate(raw: str) -> Decimal:
    """A positive rate: '1.0856', '1,0856' (decimal comma), '17,000.50' or '17.000,50'; ValueError says why not.

    A dot alone is always the decimal point. A single comma followed by exactly three digits ('1,085') could
    be a decimal comma or a thousands separator, a factor of 1000 apart, so it is refused rather than guessed.
    """
    text = raw.replace(" ", "").replace("\u00a0", "").replace("'", "")
    if "," in text and "." in text:
        # the last separator is the decimal one
        thousands = "," if text.rindex(",") < text.rindex(".") else "."
        text = text.replace(thousands, "").replace(",", ".")
    elif text.count(",") > 1:
        text = text.replace(",", "")
    elif text.count(",") == 1:
        if _AMBIGUOUS_COMMA.fullmatch(text):
            raise ValueError(f"{raw!r} is ambiguous: write {raw.replace(',', '')} or {raw.replace(',', '.')}")
        text = text.replace(",", ".")
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate must be a number greater than 0, not {raw!r}")
    return rate


def _parsed(
    raw: str, parse: Callable[[str], _T], field: str, number: int, errors: list[dict[str, object]]
) -> _T | None:
    """The parsed value, or None with the reason added to `errors`."""
    if not raw:
        errors.append({"row": number, "field": field, "detail": f"{field} is required"})
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        errors.append({"row": number, "field": field, "detail": str(exc)})
        return None


def parse_currency(raw: str) -> str:
    """Three letters, upper-cased ('eur' is EUR); ValueError says why not."""
    if not _CURRENCY.fullmatch(raw.upper()):
        raise ValueError(f"{raw!r} is not a three-letter ISO 4217 currency code such as EUR")
    return raw.upper()


def _rate_row(
    number: int, row: Mapping[str, str], columns: Mapping[str, str]
) -> tuple[RateRow | None, list[dict[str, object]]]:
    errors: list[dict[str, object]] = []
    currency = _parsed(row[columns["currency"]], parse_currency, "currency", number, errors)
    day = _parsed(row[columns["date"]], parse_date, "date", number, errors)
    rate = _parsed(row[columns["rate"]], parse_rate, "rate", number, errors)
    if currency is None or day is None or rate is None:
        return None, errors
    return RateRow(row=number, currency=currency, date=day, rate=rate), []


def rate_rows(data: bytes, filename: str | None = None, content_type: str | None = None) -> list[RateRow]:
    """Exchange rates from an upload with currency, date and rate columns; all bad rows are reported at once.

    The ValidationFailed lists the problems in its message and carries them as
    `errors=[{"row": n, "field": f, "detail": d}, ...]`; a currency and date given twice is one of them.
    """
    table = read_rows(data, filename, content_type)
    columns = _columns(table.header, RATE_COLUMNS, RATE_COLUMNS)
    if not table.rows:
        raise _refuse("the file has a header row but no exchange rates")
    rates: list[RateRow] = []
    errors: list[dict[str, object]] = []
    first: dict[tuple[str, date], int] = {}
    for number, row in table.numbered():
        rate, problems = _rate_row(number, row, columns)
        errors.extend(problems)
        if rate is None:
            continue
        key = (rate.currency, rate.date)
        if key in first:
            detail = f"{rate.currency} on {rate.date.isoformat()} is already given in row {first[key]}"
            errors.append({"row": number, "field": "date", "detail": detail})
            continue
        first[key] = number
        rates.append(rate)
    if errors:
        listed = "; ".join(f"row {e['row']} {e['field']}: {e['detail']}" for e in errors[:_ERRORS_IN_MESSAGE])
        more = len(errors) - _ERRORS_IN_MESSAGE
        suffix = f"; and {more} more" if more > 0 else ""
        raise ValidationFailed(
            f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the exchange rates: {listed}{suffix}",
            field="file",
            errors=errors,
        )
    return rates
