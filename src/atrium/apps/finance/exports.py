"""Finance reports as downloadable files: CSV for other tools, XLSX for spreadsheets, PDF for people.

A report is built once as a `Table` (columns with a kind, rows of plain values) and every format renders
that same table, so a trial balance reads the same whether it is opened in Excel or printed. Nothing
here touches the database or the network: the fonts come from the machine (the `fonts-dejavu-core`
package on Debian), and when no Unicode font is installed the PDF still renders with the built-in
Helvetica, replacing only the characters that font cannot show.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Final, cast

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from atrium.core.errors import ValidationFailed


class ColumnKind(StrEnum):
    """How a column's values are written: numbers stay numbers in XLSX and line up right in the PDF."""

    TEXT = "text"
    MONEY = "money"
    NUMBER = "number"
    DATE = "date"
    PERCENT = "percent"  # values are fractions: Decimal("0.19") is shown as 19%


NUMERIC_KINDS: Final = frozenset({ColumnKind.MONEY, ColumnKind.NUMBER, ColumnKind.PERCENT})

ROW_STYLES: Final = frozenset({"", "header", "subtotal", "indent"})
"""'header' is a section heading and 'subtotal' a sum line (both bold); 'indent' sets a line under its heading."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = ColumnKind.TEXT


@dataclass
class Table:
    """One report: rows hold str, Decimal, int, date or None under the columns' keys; missing keys are blank.

    `totals` is printed as a bold last row; `row_styles`, when given, has one style per row (see ROW_STYLES).
    """

    title: str
    columns: list[Column]
    rows: list[dict[str, object]]
    subtitle: str = ""
    totals: dict[str, object] | None = None
    row_styles: list[str] | None = None


# --- values -------------------------------------------------------------------------------------


def _styles(table: Table) -> list[str]:
    """Each row's style, checked once, so a report bug fails loudly instead of drawing a wrong report."""
    keys = [c.key for c in table.columns]
    if not keys:
        raise ValueError("a table needs at least one column")
    if len(set(keys)) != len(keys):
        raise ValueError(f"column keys repeat: {keys}")
    if table.row_styles is None:
        return [""] * len(table.rows)
    if len(table.row_styles) != len(table.rows):
        raise ValueError(f"{len(table.row_styles)} row styles for {len(table.rows)} rows")
    unknown = set(table.row_styles) - ROW_STYLES
    if unknown:
        raise ValueError(f"unknown row styles {sorted(unknown)}; use one of {sorted(ROW_STYLES)}")
    return list(table.row_styles)


def _numeric(value: object, column: Column) -> Decimal | int | None:
    """The value as a number when the column is numeric and the value is one; text stays text."""
    if column.kind not in NUMERIC_KINDS or isinstance(value, bool):
        return None
    if isinstance(value, float):
        raise TypeError(f"column {column.key!r} got the float {value!r}; amounts and numbers must be Decimal or int")
    if isinstance(value, Decimal | int):
        return value
    return None


def _plain(number: Decimal) -> str:
    """A Decimal in positional notation (never '1E+3'), keeping the digits it has."""
    return format(number, "f")


def _significant(number: Decimal) -> Decimal:
    """Trailing zeros dropped, for numbers that carry no fixed number of places (quantities, percentages)."""
    normal = number.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def display(value: object, column: Column) -> str:
    """A value as a person reads it: thousands separators, money with at least two places, ISO dates."""
    if value is None:
        return ""
    number = _numeric(value, column)
    if number is not None:
        amount = Decimal(number)
        if not amount.is_finite():
            return str(amount)
        if amount.is_zero():
            amount = abs(amount)  # a rounded-away debit must not print as "-0.00"
        if column.kind == ColumnKind.MONEY:
            exponent = cast(int, amount.as_tuple().exponent)
            return format(amount, f",.{max(2, -exponent)}f")
        if column.kind == ColumnKind.PERCENT:
            return f"{_significant(amount * 100):,f}%"
        return format(_significant(amount), ",f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(text: str) -> str:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if text.startswith(_FORMULA_START):
        try:
            Decimal(text)
        except InvalidOperation:
            return "'" + text
    return text


def _csv_value(value: object, column: Column) -> str:
    """Machine-readable: exact Decimals without separators, ISO dates, so a re-import gets the same values."""
    if value is None:
        return ""
    number = _numeric(value, column)
    if number is not None:
        return _plain(number) if isinstance(number, Decimal) else str(number)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _plain(value)
    return _csv_text(str(value))


def _all_rows(table: Table) -> Iterator[tuple[dict[str, object], str]]:
    """Body rows with their style, then the totals row (style 'totals')."""
    yield from zip(table.rows, _styles(table), strict=True)
    if table.totals is not None:
        yield table.totals, "totals"


# --- CSV ----------------------------------------------------------------------------------------


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, which Excel needs to read accents and '€' correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_text(c.label) for c in table.columns])
    for row, _style in _all_rows(table):
        writer.writerow([_csv_value(row.get(c.key), c) for c in table.columns])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


# --- XLSX ---------------------------------------------------------------------------------------

_XLSX_FORMATS: Final = {
    ColumnKind.MONEY: "#,##0.00",
    ColumnKind.PERCENT: "0.00%",
    ColumnKind.DATE: "yyyy-mm-dd",
}
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_SUBTITLE = Font(italic=True, color="555555")
_HEADING_FILL = PatternFill(fill_type="solid", start_color="E7E9EE", end_color="E7E9EE")
_RULE_BELOW = Border(bottom=Side(style="thin"))
_RULE_ABOVE = Border(top=Side(style="thin"))
_TOTAL_RULE = Border(top=Side(style="thin"), bottom=Side(style="double"))
_RIGHT = Alignment(horizontal="right")
_INDENTED = Alignment(indent=2)
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(title: str) -> str:
    """Excel allows 31 characters and none of []:*?/\\ in a sheet name."""
    return _SHEET_TITLE_BAD.sub(" ", title).strip()[:31].strip() or "Report"


def _xlsx_widths(table: Table) -> list[float]:
    """Widths in characters from the longest shown value, so nothing needs resizing and nothing is huge."""
    widths: list[float] = []
    for column in table.columns:
        longest = max((len(display(row.get(column.key), column)) for row, _ in _all_rows(table)), default=0)
        widths.append(min(60, max(8, len(column.label), longest) + 2))
    return widths


def _xlsx_cell(sheet: object, value: object, column: Column) -> WriteOnlyCell:
    """A typed cell: Decimals and ints as numbers, dates as dates, everything else as literal text."""
    number = _numeric(value, column)
    if number is not None and not (isinstance(number, Decimal) and not number.is_finite()):
        cell = WriteOnlyCell(sheet, value=number)
        if column.kind == ColumnKind.NUMBER:
            cell.number_format = "#,##0" if number == int(number) else "#,##0.##########"
        else:
            cell.number_format = _XLSX_FORMATS[column.kind]
        return cell
    if isinstance(value, datetime):
        # Excel has no time zones: Atrium's times are UTC, written as such
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        cell = WriteOnlyCell(sheet, value=naive)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = _XLSX_FORMATS[ColumnKind.DATE]
        return cell
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    text = ILLEGAL_CHARACTERS_RE.sub("", display(value, column))
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # never a formula, even when the text starts with '='
    if column.kind in NUMERIC_KINDS:
        cell.alignment = _RIGHT
    return cell


def to_xlsx(table: Table) -> bytes:
    """One sheet: title and subtitle on top, a bold frozen header row, typed cells, a bold totals row.

    With an empty title the header is row 1, so the sheet can be edited and uploaded again.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(table.title))
    for index, width in enumerate(_xlsx_widths(table), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    lead: list[list[WriteOnlyCell]] = []
    if table.title:
        title = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", table.title))
        title.font = _TITLE
        lead.append([title])
        if table.subtitle:
            subtitle = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", table.subtitle))
            subtitle.font = _SUBTITLE
            lead.append([subtitle])
        lead.append([])
    header_row = len(lead) + 1
    # the writer emits the sheet view with the first row, so panes and print titles are set before any
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.print_title_rows = f"{header_row}:{header_row}"
    for cells in lead:
        sheet.append(cells)

    heading = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", column.label))
        cell.data_type = "s"
        cell.font, cell.fill, cell.border = _BOLD, _HEADING_FILL, _RULE_BELOW
        if column.kind in NUMERIC_KINDS:
            cell.alignment = _RIGHT
        heading.append(cell)
    sheet.append(heading)

    for row, style in _all_rows(table):
        cells = []
        for index, column in enumerate(table.columns):
            cell = _xlsx_cell(sheet, row.get(column.key), column)
            if style in {"header", "subtotal", "totals"}:
                cell.font = _BOLD
            if style == "subtotal":
                cell.border = _RULE_ABOVE
            elif style == "totals":
                cell.border = _TOTAL_RULE
            elif style == "indent" and index == 0:
                cell.alignment = _INDENTED
            cells.append(cell)
        sheet.append(cells)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------------

FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian and Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/share/fonts/dejavu"),
)
_FAMILY = "DejaVuSans"
_MARGIN = 12.0  # mm
_BOTTOM = 14.0  # mm kept free for the page number
_BODY_PT = 8.0
_LINE = 4.6  # mm per line of body text
_INDENT = 4.0  # mm
_WIDEST_ASCII_EM = 1.15  # no ASCII glyph of DejaVu Sans (bold included) is wider; lets most cells skip measuring
_SAMPLE = 40  # longest values per column actually measured when sizing columns

_CORE_SUBSTITUTES: Final = str.maketrans({"\u2212": "-", "\u2009": " ", "\u202f": " ", "\u2011": "-"})


@cache
def unicode_font() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold when installed (bold falls back to regular); None means core fonts."""
    for folder in FONT_DIRS:
        regular = folder / "DejaVuSans.ttf"
        if regular.is_file():
            bold = folder / "DejaVuSans-Bold.ttf"
            return regular, bold if bold.is_file() else regular
    return None


def _share(natural: list[float], room: float) -> list[float]:
    """Squeeze text columns into `room`: the narrow ones keep their width, the wide ones split the rest.

    So a long account name wraps while the short code beside it stays on one line.
    """
    widths: dict[int, float] = {}
    wide = set(range(len(natural)))
    left = room
    while wide:
        fair = left / len(wide)
        narrow = {i for i in wide if natural[i] <= fair}
        if not narrow:
            break
        for i in narrow:
            widths[i] = natural[i]
            left -= natural[i]
        wide -= narrow
    total = sum(natural[i] for i in wide)
    for i in wide:
        widths[i] = natural[i] * left / total
    return [widths[i] for i in range(len(natural))]


def _cp1252(text: str) -> str:
    """What Helvetica can show: Windows-1252 ('€', '—' and accents are in it), anything else becomes '?'."""
    return text.translate(_CORE_SUBSTITUTES).encode("cp1252", "replace").decode("cp1252")


class _ReportPDF(FPDF):
    """A4 report: title block and column heading on every page, 'Page X of Y' at the foot."""

    def __init__(self, table: Table, fonts: tuple[Path, Path] | None) -> None:
        super().__init__(orientation="landscape" if len(table.columns) > 6 else "portrait", unit="mm", format="A4")
        self._report = table
        self._clean: Callable[[str], str]
        if fonts is None:
            self._face = "helvetica"
            self.core_fonts_encoding = "cp1252"
            self._clean = _cp1252
        else:
            self._face = _FAMILY
            self.add_font(_FAMILY, "", fonts[0])
            self.add_font(_FAMILY, "B", fonts[1])
            self._clean = str
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(True, margin=_BOTTOM)
        self.set_title(self._clean(table.title))
        self.set_creator("Atrium")
        self._aligns = ["R" if c.kind in NUMERIC_KINDS else "L" for c in table.columns]
        self._wraps = [c.kind == ColumnKind.TEXT for c in table.columns]
        self._labels = [self._clean(c.label) for c in table.columns]
        self._widths = self._column_widths()

    # layout

    def _measure(self, texts: Sequence[str], bold: bool) -> float:
        """Width of the widest of the longest texts, cell padding included."""
        self.set_font(self._face, "B" if bold else "", _BODY_PT)
        longest = sorted(texts, key=len, reverse=True)[:_SAMPLE]
        return max((self.get_string_width(t) for t in longest), default=0.0) + 2 * self.c_margin

    def _column_widths(self) -> list[float]:
        """Numbers and dates get the room they need (they never wrap); text columns share the rest and wrap."""
        table = self._report
        natural: list[float] = []
        for index, column in enumerate(table.columns):
            values = [self._clean(display(row.get(column.key), column)) for row, _ in _all_rows(table)]
            label = self._measure([self._labels[index]], bold=True)
            # longest words of the label: a heading may wrap between words but not inside one
            word = self._measure(self._labels[index].split() or [""], bold=True)
            content = self._measure(values, bold=column.kind != ColumnKind.TEXT)
            natural.append(max(word, content, min(label, 30.0)))
        texts = [i for i, c in enumerate(table.columns) if c.kind == ColumnKind.TEXT]
        fixed = sum(w for i, w in enumerate(natural) if i not in texts)
        flexible = sum(natural[i] for i in texts)
        room = self.epw - fixed
        if not texts or room < 15.0 * len(texts):
            # all numbers, or numbers alone fill the page: scale everything to the page width
            scale = self.epw / sum(natural)
            return [w * scale for w in natural]
        shared = (
            _share([natural[i] for i in texts], room)
            if flexible > room
            else [natural[i] * room / flexible for i in texts]
        )
        widths = list(natural)
        for i, width in zip(texts, shared, strict=True):
            widths[i] = width
        return widths

    def _lines(self, text: str, width: float) -> int:
        """How many lines a text takes in a cell of this width with the current font."""
        room = width - 2 * self.c_margin
        if "\n" not in text:
            if text.isascii() and len(text) * self.font_size * _WIDEST_ASCII_EM <= room:
                return 1
            if self.get_string_width(text) <= room:
                return 1
        lines = self.multi_cell(width, _LINE, text, dry_run=True, output=MethodReturnValue.LINES)
        return max(1, len(cast(list[str], lines)))

    def draw_row(self, texts: Sequence[str], style: str, *, heading: bool = False) -> None:
        """One table row; text cells wrap, the row moves to the next page whole when it does not fit."""
        bold = heading or style in {"header", "subtotal", "totals"}
        self.set_font(self._face, "B" if bold else "", _BODY_PT)
        indent = _INDENT if style == "indent" else 0.0
        widths = [w - indent if i == 0 else w for i, w in enumerate(self._widths)]
        lines = [self._lines(t, widths[i]) if heading or self._wraps[i] else 1 for i, t in enumerate(texts)]
        height = max(lines) * _LINE
        if not heading and self.y + height > self.page_break_trigger:
            self.add_page()
            self.set_font(self._face, "B" if bold else "", _BODY_PT)
        left, top, total = self.l_margin, self.y, sum(self._widths)
        if heading:
            self.set_fill_color(231, 233, 238)
            self.rect(left, top, total, height, style="F")
        # one-line cells go through text(), a third of the cost of cell(); the baseline matches cell()'s
        baseline = top + 0.5 * _LINE + 0.3 * self.font_size
        x = left
        for index, text in enumerate(texts):
            offset = indent if index == 0 else 0.0
            if text and lines[index] == 1:
                if self._aligns[index] == "R":
                    start = x + self._widths[index] - self.c_margin - self.get_string_width(text)
                else:
                    start = x + offset + self.c_margin
                self.text(start, baseline, text)
            elif text:
                self.set_xy(x + offset, top)
                align = "R" if heading and self._aligns[index] == "R" else "L"
                self.multi_cell(widths[index], _LINE, text, align=align, new_x=XPos.RIGHT, new_y=YPos.TOP)
            x += self._widths[index]
        if heading or style in {"subtotal", "totals"}:
            self.set_line_width(0.3 if style == "totals" else 0.2)
            rule_y = top + height if heading else top
            self.line(left, rule_y, left + total, rule_y)
        self.set_xy(left, top + height)

    # page furniture, called by fpdf on every page

    def header(self) -> None:
        table = self._report
        if table.title:
            self.set_font(self._face, "B", 12)
            self.multi_cell(0, 6, self._clean(table.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if table.subtitle:
            self.set_font(self._face, "", 8.5)
            self.set_text_color(85)
            self.multi_cell(0, 4.5, self._clean(table.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0)
        self.ln(2)
        self.draw_row(self._labels, "", heading=True)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self._face, "", 7)
        self.set_text_color(110)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)

    def render(self) -> bytes:
        table = self._report
        self.add_page()
        for row, style in _all_rows(table):
            self.draw_row([self._clean(display(row.get(c.key), c)) for c in table.columns], style)
        return bytes(self.output())


def to_pdf(table: Table) -> bytes:
    """A4, landscape for more than six columns; money right-aligned with separators, totals bold."""
    _styles(table)
    return _ReportPDF(table, unicode_font()).render()


# --- dispatch -----------------------------------------------------------------------------------

EXPORT_FORMATS: Final[dict[str, tuple[str, Callable[[Table], bytes]]]] = {
    "csv": ("text/csv", to_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx),
    "pdf": ("application/pdf", to_pdf),
}


def filename(title: str, fmt: str) -> str:
    """'Trial balance' -> 'trial-balance.csv': ASCII only, so every browser and mail client keeps it."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].rstrip("-")
    return f"{slug or 'report'}.{fmt}"


def export(table: Table, fmt: str) -> tuple[bytes, str, str]:
    """The report in a format: (body, media type, file name); an unknown format names the ones there are."""
    key = fmt.strip().lower()
    if key not in EXPORT_FORMATS:
        known = ", ".join(sorted(EXPORT_FORMATS))
        raise ValidationFailed(f"unknown export format {fmt!r}; choose one of {known}", field="format")
    media_type, render = EXPORT_FORMATS[key]
    return render(table), media_type, filename(table.title, key)
