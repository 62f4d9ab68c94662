"""Bank statement files read into one neutral shape: CAMT.053, MT940, OFX and mapped CSV.

Pure functions over bytes, no database: the import service stores what `parse` returns and uses
`StatementLine.fingerprint` to skip lines it already holds when an overlapping period is imported
again. Every problem in a file is a `StatementError` (422) whose detail names the line and field,
never a library exception, so a person can fix the file or the CSV mapping.

Amounts are taken from the file's text as Decimal and never rounded: a value with more decimals
than its currency has is refused. Where a format carries both balances, opening balance plus the
lines must give the closing balance, or the file is refused as incomplete.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import mt940
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import DefusedXMLParser  # type: ignore[import-untyped]
from ofxtools.models.bank.stmt import CCSTMTRS, STMTRS
from ofxtools.Parser import OFXTree

from atrium.apps.finance.money import has_more_decimals, unit
from atrium.core.errors import ValidationFailed

FORMATS = ("camt053", "mt940", "ofx", "csv")
MAX_BYTES = 20 * 1024 * 1024
MAX_LINES = 100_000
_MAX_AMOUNT = Decimal(10) ** 15  # fifteen integer digits: the most any statement format allows

_CURRENCY = re.compile(r"[A-Z]{3}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED", "NOT PROVIDED"})


class StatementError(ValidationFailed):
    """A statement file that cannot be read; `detail` says where and why, `extra` has line and field."""

    code = "bank-statement-invalid"
    title = "Bank statement not readable"


def _error(detail: str, *, line: int | None = None, field: str | None = None) -> StatementError:
    extra: dict[str, Any] = {}
    if line is not None:
        detail = f"line {line}: {detail}"
        extra["line"] = line
    if field is not None:
        extra["field"] = field
    return StatementError(detail, **extra)


# -- the neutral shape ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    """One booked movement on the account, signed from the account holder's view (+ in, - out)."""

    row: int  # 1-based: the n-th transaction of the file, for display and messages
    booked_on: date
    value_on: date | None
    amount: Decimal
    currency: str
    counterparty_name: str | None
    counterparty_iban: str | None
    text: str
    bank_reference: str | None
    occurrence: int = 0  # identical lines seen before this one in the same file (set by `parse`)

    def identity(self) -> str:
        """What makes this movement itself, whatever file or export it came in."""
        if self.bank_reference:
            return f"ref|{self.bank_reference}|{self.booked_on.isoformat()}|{self.amount}|{self.currency}"
        text = "".join(self.text.split()).casefold()
        return f"line|{self.booked_on.isoformat()}|{self.amount}|{self.currency}|{self.counterparty_iban or ''}|{text}"

    def fingerprint(self, account: str) -> str:
        """Stable across re-imports of the same movement into ``account``; distinct for two identical
        movements in one file (their occurrence differs), so neither is dropped as a duplicate."""
        key = f"v1|{''.join(account.split()).upper()}|{self.identity()}|{self.occurrence}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParsedStatement:
    format: str
    account_iban: str | None
    account_number: str | None
    currency: str
    statement_id: str | None
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    start_date: date | None
    end_date: date | None
    lines: list[StatementLine]


def normalise_iban(value: str | None) -> str | None:
    """Upper case without spaces; None when there is nothing."""
    if value is None:
        return None
    compact = "".join(value.split()).upper()
    return compact or None


def is_iban(value: str) -> bool:
    """Shape and ISO 7064 mod-97 check digits."""
    if not _IBAN.fullmatch(value):
        return False
    digits = "".join(str(int(c, 36)) for c in value[4:] + value[:4])
    return int(digits) % 97 == 1


def _account_ids(raw: str) -> tuple[str | None, str | None]:
    """(iban, account number) from an account identification; some banks append the currency."""
    compact = "".join(raw.split()).upper()
    if is_iban(compact):
        return compact, None
    if len(compact) > 3 and _CURRENCY.fullmatch(compact[-3:]) and is_iban(compact[:-3]):
        return compact[:-3], None
    return None, raw.strip() or None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    joined = " ".join(value.split())
    return joined or None


def _money(value: Decimal, currency: str, *, line: int | None, field: str) -> Decimal:
    """The amount at its currency's minor unit, refusing anything that would need rounding."""
    if not value.is_finite() or abs(value) >= _MAX_AMOUNT:
        raise _error(f"amount {value} is out of range", line=line, field=field)
    if has_more_decimals(value, currency):
        raise _error(f"amount {value} has more decimals than {currency} allows", line=line, field=field)
    return value.quantize(unit(currency))


def _reference(value: str | None) -> str | None:
    cleaned = _clean(value)
    return None if cleaned is None or cleaned.upper() in _NO_REFERENCE else cleaned


def _join_text(parts: Iterable[str | None], end_to_end: str | None = None) -> str:
    """Remittance parts in order, plus the payer's end-to-end reference when the text lacks it."""
    text = " ".join(p for p in (_clean(part) for part in parts) if p)
    eref = _reference(end_to_end)
    if eref and eref.casefold() not in text.casefold():
        text = f"{text} EREF {eref}".strip()
    return text


@dataclass
class _Draft:
    """A line as read, before `parse` numbers it and counts identical ones."""

    line: int | None
    booked_on: date
    value_on: date | None
    amount: Decimal
    currency: str
    counterparty_name: str | None
    counterparty_iban: str | None
    text: str
    bank_reference: str | None


@dataclass
class _Block:
    """One statement inside a file (MT940 and CAMT files may hold several, one per day)."""

    account_iban: str | None
    account_number: str | None
    currency: str
    statement_id: str | None
    opening: Decimal | None
    closing: Decimal | None
    start: date | None
    end: date | None
    drafts: list[_Draft]
    line: int | None = None
    closing_line: int | None = None


def _merge(fmt: str, blocks: list[_Block]) -> ParsedStatement:
    """Consecutive statements of one account become one; balances must add up and chain."""
    if not blocks:
        raise _error("the file holds no statement", field="file")
    accounts = {b.account_iban or b.account_number for b in blocks}
    if len(accounts) > 1:
        names = ", ".join(sorted(str(a) for a in accounts))
        raise _error(f"the file holds statements of several accounts ({names}); import one account at a time")
    first = blocks[0]
    for block in blocks:
        if block.currency != first.currency:
            raise _error(
                f"the statement is in {block.currency} but the file began in {first.currency}",
                line=block.line,
                field="currency",
            )
        if block.opening is not None and block.closing is not None:
            total = block.opening + sum((d.amount for d in block.drafts), Decimal(0))
            if total != block.closing:
                raise _error(
                    f"opening balance {block.opening} plus the lines ({total - block.opening}) gives {total}, "
                    f"but the closing balance is {block.closing}: the statement is incomplete",
                    line=block.closing_line,
                    field="closing_balance",
                )
    for previous, block in pairwise(blocks):
        if previous.closing is not None and block.opening is not None and previous.closing != block.opening:
            raise _error(
                f"this statement opens with {block.opening} but the one before closed with {previous.closing}: "
                "a statement is missing in between",
                line=block.line,
                field="opening_balance",
            )
    drafts = [d for b in blocks for d in b.drafts]
    starts = [b.start for b in blocks if b.start] or [d.booked_on for d in drafts]
    ends = [b.end for b in blocks if b.end] or [d.booked_on for d in drafts]
    ids = [b.statement_id for b in blocks if b.statement_id]
    statement_id = None if not ids else ids[0] if len(ids) == 1 else f"{ids[0]}…{ids[-1]}"
    return ParsedStatement(
        format=fmt,
        account_iban=first.account_iban,
        account_number=first.account_number,
        currency=first.currency,
        statement_id=statement_id,
        opening_balance=first.opening,
        closing_balance=blocks[-1].closing,
        start_date=min(starts) if starts else None,
        end_date=max(ends) if ends else None,
        lines=_finish(drafts),
    )


def _finish(drafts: list[_Draft]) -> list[StatementLine]:
    if len(drafts) > MAX_LINES:
        raise _error(f"the file holds {len(drafts):,} transactions; at most {MAX_LINES:,} per import", field="file")
    seen: Counter[str] = Counter()
    lines: list[StatementLine] = []
    for row, d in enumerate(drafts, start=1):
        line = StatementLine(
            row=row,
            booked_on=d.booked_on,
            value_on=d.value_on,
            amount=d.amount,
            currency=d.currency,
            counterparty_name=d.counterparty_name,
            counterparty_iban=d.counterparty_iban,
            text=d.text,
            bank_reference=d.bank_reference,
        )
        identity = line.identity()
        if seen[identity]:
            line = replace(line, occurrence=seen[identity])
        seen[identity] += 1
        lines.append(line)
    return lines


# -- entry point ---------------------------------------------------------------------------------


def detect_format(data: bytes) -> str | None:
    """The format by its content (never by file name); None when it is none of the four."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n")
    if not head or b"\x00" in head[:4096]:
        return None
    sniff = head[:4096].decode("latin-1")
    upper = sniff.upper()
    if "OFXHEADER" in upper or "<OFX>" in upper:
        return "ofx"
    if sniff.startswith("<"):
        return "camt053" if "camt.053." in sniff and "Document" in sniff else None
    if re.search(r"(?m)^(?:\{1:|:(?:20|25|28C|60F|61|86):)", head.decode("latin-1")):
        return "mt940"
    first_line = sniff.splitlines()[0] if sniff.splitlines() else ""
    if any(d in first_line for d in (";", ",", "\t", "|")):
        return "csv"
    return None


def parse(data: bytes, fmt: str | None = None, mapping: CsvMapping | None = None) -> ParsedStatement:
    """Read one statement file. ``fmt`` None detects it; CSV needs the bank's ``mapping``."""
    if len(data) > MAX_BYTES:
        raise _error(f"the file is {len(data):,} bytes; at most {MAX_BYTES:,} per import", field="file")
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise _error("the file is empty", field="file")
    if fmt is None:
        fmt = detect_format(data)
        if fmt is None:
            raise _error(f"the file is none of the known statement formats ({', '.join(FORMATS)})", field="format")
    if fmt == "camt053":
        return _parse_camt(data)
    if fmt == "mt940":
        return _parse_mt940(data)
    if fmt == "ofx":
        return _parse_ofx(data)
    if fmt == "csv":
        if mapping is None:
            raise _error("a CSV statement needs the bank's column mapping", field="mapping")
        return _parse_csv(data, mapping)
    raise _error(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}", field="format")


def _decode(data: bytes) -> str:
    """Banks send UTF-8, Windows-1252 or Latin-1 without saying which; try them in that order."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# -- CAMT.053 (ISO 20022) ------------------------------------------------------------------------


class _LineRecorder(TreeBuilder):
    """Remembers the line each element starts on, so errors can point into the file."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.lines: dict[int, int] = {}

    def start(self, tag: Any, attrs: dict[Any, Any], /) -> Element:
        element = super().start(tag, attrs)
        self.lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element


def _read_xml(data: bytes) -> tuple[Element, dict[int, int]]:
    """Parse with entity expansion and DTDs refused, so an XML bomb cannot exhaust memory."""
    recorder = _LineRecorder()
    parser = DefusedXMLParser(target=recorder, forbid_dtd=True)
    recorder.parser = parser
    try:
        parser.feed(data)
        root: Element = parser.close()
    except ParseError as exc:
        reason = str(exc).split(":", 1)[0]
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise _error(f"the XML is not well-formed or ends early ({reason})", line=line, field="file") from exc
    except DefusedXmlException as exc:
        raise _error("the XML declares a DTD or entities, which bank statements never use", field="file") from exc
    except LookupError as exc:  # an encoding in the XML declaration that does not exist
        raise _error(f"the XML declares an unknown encoding ({exc})", line=1, field="file") from exc
    return root, recorder.lines


_CAMT_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053."


def _parse_camt(data: bytes) -> ParsedStatement:
    root, lines = _read_xml(data)
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "Document" or not namespace.startswith(_CAMT_NAMESPACE):
        found = namespace or local
        raise _error(f"not a camt.053 bank statement (the document is {found!r})", line=1, field="format")
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    statements = root.findall("BkToCstmrStmt/Stmt")
    if not statements:
        raise _error("the camt.053 document holds no Stmt", line=lines.get(id(root)), field="file")
    return _merge("camt053", [_CamtStatement(s, lines).read() for s in statements])


class _CamtStatement:
    """One <Stmt>: account, booked balances and the booked entries."""

    def __init__(self, element: Element, lines: dict[int, int]) -> None:
        self.element = element
        self.lines = lines

    def line(self, element: Element | None) -> int | None:
        return None if element is None else self.lines.get(id(element))

    def read(self) -> _Block:
        stmt = self.element
        iban = normalise_iban(stmt.findtext("Acct/Id/IBAN"))
        number = _clean(stmt.findtext("Acct/Id/Othr/Id"))
        if iban is None and number is None:
            raise _error("the statement names no account (Acct/Id)", line=self.line(stmt), field="account")
        opening = self.balance(("OPBD", "PRCD"))
        closing = self.balance(("CLBD",))
        currency = _clean(stmt.findtext("Acct/Ccy")) or next((b[1] for b in (opening, closing) if b), None)
        if not currency or not _CURRENCY.fullmatch(currency):
            raise _error("the statement names no account currency (Acct/Ccy)", line=self.line(stmt), field="currency")
        for balance, code in ((opening, "opening"), (closing, "closing")):
            if balance and balance[1] != currency:
                raise _error(
                    f"{code} balance in {balance[1]} on an account in {currency}",
                    line=self.line(stmt),
                    field="currency",
                )
        drafts: list[_Draft] = []
        for entry in stmt.findall("Ntry"):
            drafts.extend(self.entry(entry, currency))
        start = self.day(stmt.find("FrToDt"), "FrDtTm", "start_date")
        end = self.day(stmt.find("FrToDt"), "ToDtTm", "end_date")
        closing_element = self.balance_element(("CLBD",))
        return _Block(
            account_iban=iban if iban and is_iban(iban) else None,
            account_number=number if iban is None or not is_iban(iban) else None,
            currency=currency,
            statement_id=_clean(stmt.findtext("Id")),
            opening=opening[0] if opening else None,
            closing=closing[0] if closing else None,
            start=start or (opening[2] if opening else None),
            end=end or (closing[2] if closing else None),
            drafts=drafts,
            line=self.line(stmt),
            closing_line=self.line(closing_element),
        )

    def balance_element(self, codes: tuple[str, ...]) -> Element | None:
        by_code = {b.findtext("Tp/CdOrPrtry/Cd"): b for b in self.element.findall("Bal")}
        return next((by_code[c] for c in codes if c in by_code), None)

    def balance(self, codes: tuple[str, ...]) -> tuple[Decimal, str, date | None] | None:
        element = self.balance_element(codes)
        if element is None:
            return None
        field_name = "opening_balance" if "CLBD" not in codes else "closing_balance"
        amount, currency = self.amount(element, field_name)
        return amount, currency, self.day(element, "Dt", field_name)

    def amount(self, holder: Element, field_name: str, path: str = "Amt") -> tuple[Decimal, str]:
        """A signed amount from <Amt Ccy=..> and the <CdtDbtInd> beside it."""
        element = holder.find(path)
        if element is None:
            raise _error(f"{holder.tag} has no {path}", line=self.line(holder), field=field_name)
        raw = (element.text or "").strip()
        currency = element.get("Ccy", "")
        line = self.line(element)
        if not re.fullmatch(r"\d{1,18}(\.\d{1,5})?", raw):
            raise _error(f"bad amount {raw!r} in {element.tag}", line=line, field=field_name)
        if not _CURRENCY.fullmatch(currency):
            raise _error(f"bad currency {currency!r} in {element.tag}", line=line, field="currency")
        mark = (holder.findtext("CdtDbtInd") or "").strip()
        if mark not in ("CRDT", "DBIT"):
            raise _error(
                f"CdtDbtInd must be CRDT or DBIT, not {mark!r}", line=self.line(holder) or line, field=field_name
            )
        value = _money(Decimal(raw), currency, line=line, field=field_name)
        return (value if mark == "CRDT" else -value), currency

    def day(self, holder: Element | None, name: str, field_name: str) -> date | None:
        """A date from <X><Dt>…</Dt></X>, <X><DtTm>…</DtTm></X> or a bare date-time element."""
        if holder is None:
            return None
        element = holder.find(name)
        if element is None:
            return None
        inner = element.find("Dt")
        if inner is None:
            inner = element.find("DtTm")
        target = inner if inner is not None else element
        raw = (target.text or "").strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?", raw):
                raise ValueError(raw)
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise _error(f"bad date {raw!r} in {name}", line=self.line(target), field=field_name) from None

    def entry(self, entry: Element, currency: str) -> list[_Draft]:
        status = (entry.findtext("Sts/Cd") or entry.findtext("Sts") or "BOOK").strip()
        if status != "BOOK":  # pending and information-only entries are not on the balance yet
            return []
        amount, entry_currency = self.amount(entry, "amount")
        line = self.line(entry)
        if entry_currency != currency:
            raise _error(
                f"entry in {entry_currency} on an account in {currency}",
                line=self.line(entry.find("Amt")),
                field="currency",
            )
        booked = self.day(entry, "BookgDt", "booked_on")
        if booked is None:
            raise _error("the booked entry has no BookgDt", line=line, field="booked_on")
        valued = self.day(entry, "ValDt", "value_on")
        entry_ref = _reference(entry.findtext("AcctSvcrRef"))
        details = entry.findall("NtryDtls/TxDtls")
        info = entry.findtext("AddtlNtryInf")
        parts = self.split(details, amount, currency)
        if parts is not None:  # a batch booking whose details carry their own amounts
            return [
                self.draft(
                    detail,
                    part,
                    currency,
                    booked,
                    valued,
                    _reference(detail.findtext("Refs/AcctSvcrRef")) or (f"{entry_ref}/{n}" if entry_ref else None),
                    None,
                    self.line(detail),
                )
                for n, (detail, part) in enumerate(zip(details, parts, strict=True), start=1)
            ]
        detail = details[0] if details else None
        reference = entry_ref
        if reference is None and len(details) == 1 and detail is not None:
            reference = _reference(detail.findtext("Refs/AcctSvcrRef")) or _reference(
                detail.findtext("Refs/EndToEndId")
            )
        return [self.draft(detail, amount, currency, booked, valued, reference, info, line, extra=details[1:])]

    def split(self, details: list[Element], amount: Decimal, currency: str) -> list[Decimal] | None:
        if len(details) < 2:
            return None
        parts: list[Decimal] = []
        for detail in details:
            path = "Amt" if detail.find("Amt") is not None else "AmtDtls/TxAmt/Amt"
            element = detail.find(path)
            if element is None:
                return None
            if detail.find("CdtDbtInd") is None:  # the entry's direction applies
                raw = (element.text or "").strip()
                if not re.fullmatch(r"\d{1,18}(\.\d{1,5})?", raw):
                    return None
                value = Decimal(raw) if amount > 0 else -Decimal(raw)
                part_currency = element.get("Ccy", currency)
            else:
                value, part_currency = self.amount(detail, "amount", path)
            if part_currency != currency:
                return None
            parts.append(value)
        return parts if sum(parts, Decimal(0)) == amount else None

    def draft(
        self,
        detail: Element | None,
        amount: Decimal,
        currency: str,
        booked: date,
        valued: date | None,
        reference: str | None,
        info: str | None,
        line: int | None,
        extra: Iterable[Element] = (),
    ) -> _Draft:
        name = iban = None
        texts: list[str | None] = []
        end_to_end = None
        for d in [detail, *extra] if detail is not None else []:
            d_name, d_iban = _camt_party(d, amount > 0)
            name, iban = name or d_name, iban or d_iban
            texts += [u.text for u in d.iterfind("RmtInf/Ustrd")]
            texts += [r.text for r in d.iterfind("RmtInf/Strd/CdtrRefInf/Ref")]
            texts += [a.text for a in d.iterfind("RmtInf/Strd/AddtlRmtInf")]
            texts.append(d.findtext("AddtlTxInf"))
            end_to_end = end_to_end or _reference(d.findtext("Refs/EndToEndId"))
        if not any(_clean(t) for t in texts):
            texts.append(info)
        if reference == end_to_end:
            end_to_end = None
        return _Draft(line, booked, valued, amount, currency, name, iban, _join_text(texts, end_to_end), reference)


def _camt_party(detail: Element, money_in: bool) -> tuple[str | None, str | None]:
    """The other side: the debtor of money coming in, the creditor of money going out."""
    role, account = ("Dbtr", "DbtrAcct") if money_in else ("Cdtr", "CdtrAcct")
    parties = detail.find("RltdPties")
    if parties is None:
        return None, None
    name = None
    for path in (f"{role}/Pty/Nm", f"{role}/Nm", f"Ultmt{role}/Pty/Nm", f"Ultmt{role}/Nm"):
        name = _clean(parties.findtext(path))
        if name:
            break
    iban = normalise_iban(parties.findtext(f"{account}/Id/IBAN") or parties.findtext(f"{account}/Id/Othr/Id"))
    return name, iban


# -- MT940 (SWIFT) -------------------------------------------------------------------------------

# Every tag of MT940 and of its intraday sibling MT942; anything else is a broken file.
_MT940_TAGS = frozenset(
    {"13", "13D", "20", "21", "25", "25P", "28", "28C", "34F", "60F", "60M", "61", "62F", "62M", "64", "65", "86"}
    | {"90C", "90D", "NS"}
)
# Tags whose value may run over several lines, and how many lines at most (:61: has one line of
# supplementary details; :86: is six lines of 65 in SWIFT, more at many banks).
_MT940_CONTINUED = {"61": 2, "86": 100, "NS": 100}
_TAG_LINE = re.compile(r":(\d{2}[A-Z]?|NS):")
_TAG_SHAPED = re.compile(r":([^:\s]{1,5}):")
_ENVELOPE = re.compile(r"\{\d:[^{}]*\}")
_BALANCE = re.compile(r"(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d{1,15},\d*)")
# :61: as the library reads it, so that what passes here never trips it: value date, entry date,
# mark, funds code, amount (15 characters with the comma), transaction type, customer reference (16),
# //bank reference (23), then supplementary details on the same line or on the next.
_MT940_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?(?P<amount>[\d,]{1,15})"
    r"(?P<type>[NFS][A-Z0-9]{3})(?:(?!//)[^\n]){0,16}(?://[^\n]{0,23})?(?:\n?[^\n]*)?",
    re.IGNORECASE,
)
_STATEMENT_NUMBER = (re.compile(r"\d{1,5}(?:/\d{1,5})?"), "a statement number such as 00012/001", "statement_id")
_TIMESTAMP = (re.compile(r"\d{10}(?:[+-]\d{4})?"), "a time stamp YYMMDDhhmm", "file")
_SUM = (re.compile(r"\d{0,5}[A-Z]{3}[\d,]{1,15}"), "a count, a currency and a sum", "file")
_MT940_SHAPES = {
    "28C": _STATEMENT_NUMBER,
    "28": _STATEMENT_NUMBER,
    "13D": _TIMESTAMP,
    "13": _TIMESTAMP,
    "34F": (re.compile(r"[A-Z]{3}[DC ]?[\d,]{0,16}"), "a currency, D or C and a floor amount", "file"),
    "90C": _SUM,
    "90D": _SUM,
}
_MT940_OPTIONS = mt940.Options(
    applicant_iban=True,  # ?31 is the counterparty's account, not part of its name
    merge_keeps_values=True,
    reversal_sign=True,  # RC (reversal of a credit) takes money out
    case_insensitive_marks=True,
    unbounded_details=True,  # keep the whole :86:, not only its first nine chunks
    strip_bom=True,
)
# /CODE/value details as Dutch and SWIFT-structured banks write them; these codes end a value.
_SLASH_CODES = re.compile(
    r"/(TRTP|IBAN|BIC|NAME|REMI|EREF|MARF|CSID|ORDP|BENM|ID|ADDR|PURP|ULTD|ULTC|RTRN|PREF|SVCL|ISDT|"
    r"USTD|STRD|CDTRREFTP|CDTRREF|CD|ISSR|CNTP|EXCH|CHGS|OCMT)/"
)


@dataclass
class _Tag:
    name: str
    value: str
    line: int


def _parse_mt940(data: bytes) -> ParsedStatement:
    messages = _mt940_messages(_decode(data))
    return _merge("mt940", [_mt940_block(tags) for tags in messages])


def _mt940_messages(text: str) -> list[list[_Tag]]:
    """Split the file into statements (each begins with :20:), with each tag's line number."""
    messages: list[list[_Tag]] = []
    current: list[_Tag] | None = None
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        line = raw.rstrip()
        if line.startswith("{"):  # SWIFT envelope: {1:…}{2:…}{4: before the text, -} after it
            line = _ENVELOPE.sub("", line)
            line = line[3:] if line.startswith("{4:") else line
        if line.strip() in ("", "-", "-}", "}"):
            continue
        tag = _TAG_LINE.match(line)
        if tag is None and _TAG_SHAPED.match(line):
            shaped = _TAG_SHAPED.match(line)
            assert shaped is not None
            raise _error(f"unknown or garbled MT940 tag ':{shaped.group(1)}:'", line=number, field="tag")
        if tag is not None:
            name = tag.group(1)
            if name not in _MT940_TAGS:
                raise _error(f"unknown or garbled MT940 tag ':{name}:'", line=number, field="tag")
            if name == "20":
                current = []
                messages.append(current)
            elif current is None:
                raise _error(f"a statement must begin with :20:, not :{name}:", line=number, field="tag")
            current.append(_Tag(name, line[tag.end() :], number))
            continue
        if current is None:
            raise _error("text before the first :20: tag; this is not an MT940 statement", line=number, field="tag")
        last = current[-1]
        if last.value.count("\n") + 1 >= _MT940_CONTINUED.get(last.name, 1):
            raise _error(f"unexpected text after :{last.name}:; a tag is missing or garbled", line=number, field="tag")
        last.value += "\n" + line
    if not messages:
        raise _error("no :20: tag: this is not an MT940 statement", field="tag")
    return messages


def _mt940_one(tags: list[_Tag], names: set[str], what: str, field_name: str) -> _Tag:
    found = [t for t in tags if t.name in names]
    if not found:
        raise _error(f"the statement starting here has no {what}", line=tags[0].line, field=field_name)
    if len(found) > 1:
        raise _error(f"a second {what} in one statement", line=found[1].line, field=field_name)
    return found[0]


def _mt940_date(raw: str, tag: _Tag, what: str, field_name: str, year: int | None = None) -> date:
    try:
        if year is None:
            return date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
        return date(year, int(raw[:2]), int(raw[2:4]))
    except ValueError:
        raise _error(f"bad date {raw!r} in :{tag.name}: {what}", line=tag.line, field=field_name) from None


def _mt940_balance(tag: _Tag, field_name: str) -> tuple[Decimal, date, str]:
    match = _BALANCE.fullmatch(tag.value.strip())
    if match is None:
        raise _error(
            f":{tag.name}: must be C/D, date YYMMDD, currency and amount, not {tag.value.strip()!r}",
            line=tag.line,
            field=field_name,
        )
    day = _mt940_date(match["date"], tag, "balance date", field_name)
    currency = match["currency"]
    amount = _money(Decimal(match["amount"].replace(",", ".")), currency, line=tag.line, field=field_name)
    return (amount if match["mark"] == "C" else -amount), day, currency


def _mt940_block(tags: list[_Tag]) -> _Block:
    reference = _mt940_one(tags, {"20"}, ":20: (transaction reference)", "statement_id")
    account = _mt940_one(tags, {"25", "25P"}, ":25: (account identification)", "account")
    opening_tag = _mt940_one(tags, {"60F", "60M"}, ":60F: (opening balance)", "opening_balance")
    closing_tag = _mt940_one(tags, {"62F", "62M"}, ":62F: (closing balance)", "closing_balance")
    opening, _, currency = _mt940_balance(opening_tag, "opening_balance")
    closing, closing_date, closing_currency = _mt940_balance(closing_tag, "closing_balance")
    if closing_currency != currency:
        raise _error(
            f"closing balance in {closing_currency}, opening balance in {currency}",
            line=closing_tag.line,
            field="currency",
        )
    entries = [t for t in tags if t.name == "61"]
    for tag in entries:
        if not opening_tag.line < tag.line < closing_tag.line:
            raise _error(":61: must stand between the opening and the closing balance", line=tag.line, field="tag")
    for tag in tags:
        _mt940_check_tag(tag)
    try:
        parsed = mt940.parse(io.StringIO(_mt940_text(tags)), options=_MT940_OPTIONS)
        transactions = list(parsed)
    except (RuntimeError, ValueError, ArithmeticError, KeyError, TypeError, AttributeError) as exc:
        raise _error(f"cannot read the statement: {str(exc)[:200]}", line=tags[0].line, field="file") from exc
    if len(transactions) != len(entries):
        raise _error(
            f"{len(entries)} :61: lines but {len(transactions)} transactions read", line=tags[0].line, field="file"
        )
    drafts = [_mt940_draft(t.data, tag, currency) for t, tag in zip(transactions, entries, strict=True)]
    iban, number = _account_ids(account.value)
    number_tag = next((t for t in tags if t.name in ("28C", "28")), None)
    statement_id = reference.value.strip() + (f"/{number_tag.value.strip()}" if number_tag else "")
    return _Block(
        account_iban=iban,
        account_number=number,
        currency=currency,
        statement_id=statement_id or None,
        opening=opening,
        closing=closing,
        start=min((d.booked_on for d in drafts), default=closing_date),
        end=closing_date,
        drafts=drafts,
        line=tags[0].line,
        closing_line=closing_tag.line,
    )


def _mt940_text(tags: list[_Tag]) -> str:
    """The statement as the library should see it: a :86: that follows no :61: describes the statement,
    and the library would wrongly add it to the last transaction's text, so it is left out."""
    kept = [t for i, t in enumerate(tags) if t.name != "86" or (i and tags[i - 1].name == "61")]
    return "\n".join(f":{t.name}:{t.value}" for t in kept)


def _mt940_check_tag(tag: _Tag) -> None:
    """Validate each value ourselves first: the library names no line, and some of its patterns
    would silently read only the front of a malformed value."""
    value = tag.value.strip()
    shape = _MT940_SHAPES.get(tag.name)
    if shape is not None and not shape[0].fullmatch(value):
        raise _error(f":{tag.name}: must be {shape[1]}, not {value!r}", line=tag.line, field=shape[2])
    if tag.name in ("64", "65"):
        _mt940_balance(tag, "closing_balance")
    if tag.name != "61":
        return
    match = _MT940_LINE.fullmatch(value)
    if match is None:
        first = value.split("\n", 1)[0]
        raise _error(
            f"cannot read :61:{first!r}; expected value date YYMMDD, [entry date MMDD], C/D/RC/RD, amount, "
            "a transaction type such as NTRF, a reference of at most 16 and //bank reference of at most 23 "
            "characters",
            line=tag.line,
            field="amount",
        )
    _mt940_date(match["value"], tag, "value date", "value_on")
    if match["entry"]:
        _mt940_date(match["entry"], tag, "entry date", "booked_on", year=2000)  # 2000: a leap year, so 0229 passes
    if not re.fullmatch(r"\d+,\d*", match["amount"]):
        raise _error(
            f"bad amount {match['amount']!r} in :61: (digits and one decimal comma)", line=tag.line, field="amount"
        )


def _mt940_draft(data: Mapping[str, Any], tag: _Tag, currency: str) -> _Draft:
    value_on = _plain_date(data["date"])
    entry = data.get("entry_date")
    amount = _money(data["amount"].amount, currency, line=tag.line, field="amount")
    name = _clean(data.get("applicant_name"))
    iban = normalise_iban(data.get("applicant_iban"))
    if "transaction_details" in data:  # unstructured :86:, or /CODE/value style
        name, iban, text = _mt940_free_details(data.get("transaction_details") or "", name, iban)
    else:
        parts = [data.get("purpose"), data.get("additional_purpose")]
        if not any(_clean(p) for p in parts):
            parts = [data.get("posting_text")]
        text = _join_text(parts, data.get("end_to_end_reference"))
    return _Draft(
        line=tag.line,
        booked_on=_plain_date(entry) if entry else value_on,
        value_on=value_on,
        amount=amount,
        currency=currency,
        counterparty_name=name,
        counterparty_iban=iban,
        text=text,
        bank_reference=_reference(data.get("bank_reference")),
    )


def _mt940_free_details(details: str, name: str | None, iban: str | None) -> tuple[str | None, str | None, str]:
    joined = "".join(details.splitlines())
    marks = list(_SLASH_CODES.finditer(joined))
    if not marks:
        return name, iban, _clean(" ".join(details.splitlines())) or ""
    values: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following else len(joined)
        values.setdefault(mark.group(1), joined[mark.end() : end].strip(" /"))
    text = _join_text([values.get("REMI"), values.get("CDTRREF"), values.get("USTD")], values.get("EREF"))
    return _clean(values.get("NAME")) or name, normalise_iban(values.get("IBAN")) or iban, text


def _plain_date(value: date) -> date:
    return date(value.year, value.month, value.day)


# -- OFX -----------------------------------------------------------------------------------------


def _parse_ofx(data: bytes) -> ParsedStatement:
    tree = OFXTree()
    try:
        tree.parse(io.BytesIO(data))
    except (SyntaxError, ValueError, LookupError, UnicodeError) as exc:  # header and markup errors
        raise _error(f"not a readable OFX file: {_brief(exc)}", field="file") from exc
    root = tree.getroot()
    if root is None:
        raise _error("the OFX file holds no OFX element", field="file")
    raw_statements = [e for e in root.iter() if e.tag in ("STMTRS", "CCSTMTRS")]
    positions = _line_numbers(data, rb"<STMTTRN>")
    raw_lines = [t for s in raw_statements for t in s.iter("STMTTRN")]
    line_of = {id(t): (positions[i] if i < len(positions) else None) for i, t in enumerate(raw_lines)}
    for element in raw_lines:  # dates first: the library turns them into UTC and shifts the day
        _ofx_date(element, "DTPOSTED", line_of[id(element)], "booked_on", required=True)
    try:
        converted = tree.convert()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError) as exc:
        raise _error(f"the OFX file breaks the OFX rules: {_brief(exc)}", field="file") from exc
    statements = [s for s in converted.statements if isinstance(s, STMTRS | CCSTMTRS)]
    if not statements:
        raise _error("the OFX file holds no bank or credit card statement", field="file")
    if len(statements) != len(raw_statements):
        raise _error(f"{len(raw_statements)} statements in the file but {len(statements)} readable", field="file")
    return _merge("ofx", [_ofx_block(m, raw, line_of) for m, raw in zip(statements, raw_statements, strict=True)])


def _line_numbers(data: bytes, pattern: bytes) -> list[int]:
    """The line each match of ``pattern`` starts on, counting newlines once through the file."""
    numbers: list[int] = []
    line, position = 1, 0
    for match in re.finditer(pattern, data, re.IGNORECASE):
        line += data.count(b"\n", position, match.start())
        position = match.start()
        numbers.append(line)
    return numbers


def _ofx_block(model: Any, raw: Element, line_of: dict[int, int | None]) -> _Block:
    currency = str(model.curdef)
    account_id = str(model.account.acctid)
    iban, number = _account_ids(account_id)
    drafts: list[_Draft] = []
    transactions = list(model.banktranlist or [])
    elements = list(raw.iter("STMTTRN"))
    if len(transactions) != len(elements):  # the library skips what it does not know
        raise _error(
            f"{len(elements)} transactions in the statement but {len(transactions)} readable; "
            "is a tag around them misspelt?",
            line=line_of.get(id(elements[0])) if elements else None,
            field="file",
        )
    for trn, element in zip(transactions, elements, strict=True):
        line = line_of[id(element)]
        trn_currency = str(trn.currency.cursym) if trn.currency is not None else currency
        if trn_currency != currency:
            raise _error(f"transaction in {trn_currency} on an account in {currency}", line=line, field="currency")
        payee = trn.name or (trn.payee.name if trn.payee is not None else None)
        texts: list[str | None] = [f"check {trn.checknum}" if trn.checknum else None, trn.memo]
        booked = _ofx_date(element, "DTPOSTED", line, "booked_on", required=True)
        assert booked is not None
        drafts.append(
            _Draft(
                line=line,
                booked_on=booked,
                value_on=_ofx_date(element, "DTAVAIL", line, "value_on") or booked,
                amount=_money(trn.trnamt, currency, line=line, field="amount"),
                currency=currency,
                counterparty_name=_clean(payee),
                counterparty_iban=normalise_iban(trn.bankacctto.acctid) if trn.bankacctto is not None else None,
                text=_join_text(texts),
                bank_reference=_reference(trn.fitid),
            )
        )
    tranlist = raw.find("BANKTRANLIST")
    ledger = raw.find("LEDGERBAL")
    return _Block(
        account_iban=iban,
        account_number=number if iban is None else None,
        currency=currency,
        statement_id=None,
        opening=None,
        closing=_money(model.ledgerbal.balamt, currency, line=None, field="closing_balance"),
        start=_ofx_date(tranlist, "DTSTART", None, "start_date") if tranlist is not None else None,
        end=_ofx_date(ledger, "DTASOF", None, "end_date") if ledger is not None else None,
        drafts=drafts,
    )


def _ofx_date(parent: Element, name: str, line: int | None, field_name: str, *, required: bool = False) -> date | None:
    """The calendar day as the bank wrote it (the first eight digits), before any time zone shift."""
    raw = (parent.findtext(name) or "").strip()
    if not raw:
        if required:
            raise _error(f"the transaction has no {name}", line=line, field=field_name)
        return None
    try:
        if not re.match(r"\d{8}", raw):
            raise ValueError(raw)
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise _error(f"bad date {raw!r} in {name}", line=line, field=field_name) from None


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "…"


# -- CSV -----------------------------------------------------------------------------------------

_DECIMAL_SEPARATORS = (".", ",")
_THOUSANDS_SEPARATORS = ("", ".", ",", " ", "'", "\u00a0", "\u202f")
_DELIMITERS = (",", ";", "\t", "|")
_MAX_SKIP_ROWS = 1000


@dataclass(frozen=True)
class CsvMapping:
    """How one bank's CSV export maps to statement lines; a tenant saves one per bank (as JSON)."""

    date_column: str
    date_format: str = "%Y-%m-%d"
    amount_column: str | None = None  # signed amounts in one column ...
    debit_column: str | None = None  # ... or money out and money in in two
    credit_column: str | None = None
    text_columns: tuple[str, ...] = ()
    counterparty_column: str | None = None
    iban_column: str | None = None
    reference_column: str | None = None
    currency_column: str | None = None
    currency: str | None = None  # when the file has no currency column
    delimiter: str | None = None  # None: sniffed from the file
    decimal_separator: str = "."
    thousands_separator: str = ""
    skip_rows: int = 0  # lines above the header (account name, period ...)
    encoding: str = "utf-8"
    value_date_column: str | None = None

    def validate(self) -> None:
        """Refuse a mapping that could not read any file, naming the field to fix."""

        def fail(detail: str, field_name: str) -> ValidationFailed:
            return ValidationFailed(detail, field=field_name)

        if not self.date_column.strip():
            raise fail("name the column that holds the booking date", "date_column")
        try:
            probe = date(2026, 12, 31)
            if datetime.strptime(probe.strftime(self.date_format), self.date_format).date() != probe:
                raise ValueError(self.date_format)
        except ValueError:
            raise fail(
                f"date format {self.date_format!r} cannot read a full date (try %d.%m.%Y)", "date_format"
            ) from None
        split = self.debit_column is not None or self.credit_column is not None
        if self.amount_column is not None and split:
            raise fail("use either an amount column or debit and credit columns, not both", "amount_column")
        if self.amount_column is None and not split:
            raise fail("name an amount column, or debit and credit columns", "amount_column")
        if split and (self.debit_column is None or self.credit_column is None):
            missing = "debit_column" if self.debit_column is None else "credit_column"
            raise fail("debit and credit columns go together; name both", missing)
        if self.currency is None and self.currency_column is None:
            raise fail("name the currency, or the column that holds it", "currency")
        if self.currency is not None and not _CURRENCY.fullmatch(self.currency):
            raise fail(f"currency {self.currency!r} is not an ISO 4217 code such as EUR", "currency")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise fail("the delimiter is one character (or empty to detect it)", "delimiter")
        if self.decimal_separator not in _DECIMAL_SEPARATORS:
            raise fail("the decimal separator is '.' or ','", "decimal_separator")
        if self.thousands_separator not in _THOUSANDS_SEPARATORS:
            raise fail("the thousands separator is empty, '.', ',', a space or an apostrophe", "thousands_separator")
        if self.thousands_separator == self.decimal_separator:
            raise fail("the thousands separator must differ from the decimal separator", "thousands_separator")
        if not 0 <= self.skip_rows <= _MAX_SKIP_ROWS:
            raise fail(f"skip between 0 and {_MAX_SKIP_ROWS} rows", "skip_rows")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise fail(f"unknown encoding {self.encoding!r} (try utf-8 or latin-1)", "encoding") from None
        if any(not c.strip() for c in self.text_columns):
            raise fail("text columns need names", "text_columns")

    def columns(self) -> dict[str, str]:
        """Each mapped field and the column it reads."""
        named = {
            "date_column": self.date_column,
            "value_date_column": self.value_date_column,
            "amount_column": self.amount_column,
            "debit_column": self.debit_column,
            "credit_column": self.credit_column,
            "counterparty_column": self.counterparty_column,
            "iban_column": self.iban_column,
            "reference_column": self.reference_column,
            "currency_column": self.currency_column,
        }
        out = {k: v for k, v in named.items() if v is not None}
        out.update({f"text_columns[{i}]": c for i, c in enumerate(self.text_columns)})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CsvMapping:
        """From stored JSON; unknown keys and wrong types are refused by name, then `validate` runs."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValidationFailed(f"unknown mapping field(s): {', '.join(unknown)}", field=unknown[0])
        if "date_column" not in data:
            raise ValidationFailed("name the column that holds the booking date", field="date_column")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "text_columns":
                if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
                    raise ValidationFailed("text_columns is a list of column names", field=name)
                value = tuple(value)
            elif name == "skip_rows":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValidationFailed("skip_rows is a whole number", field=name)
            elif value is not None and not isinstance(value, str):
                raise ValidationFailed(f"{name} is text", field=name)
            elif value is None and known[name].default is not None and name != "date_column":
                value = known[name].default
            values[name] = value
        mapping = cls(**values)
        mapping.validate()
        return mapping


def _parse_csv(data: bytes, mapping: CsvMapping) -> ParsedStatement:
    mapping.validate()
    text = _csv_text(data, mapping.encoding)
    lines = text.split("\n")
    if mapping.skip_rows >= len(lines):
        raise _error(
            f"the file has only {len(lines)} lines, fewer than the {mapping.skip_rows} to skip", field="skip_rows"
        )
    body = "\n".join(lines[mapping.skip_rows :])
    delimiter = mapping.delimiter or _sniff_delimiter(body, mapping.skip_rows)
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    offset = mapping.skip_rows
    header: list[str] | None = None
    header_line = offset + 1
    drafts: list[_Draft] = []
    index: dict[str, int] = {}
    try:
        for record in reader:
            end_line = offset + reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [c.strip().lstrip("\ufeff") for c in record]
                header_line = end_line
                index = _csv_columns(header, mapping, header_line)
                continue
            if len(drafts) >= MAX_LINES:
                raise _error(
                    f"more than {MAX_LINES:,} rows; at most {MAX_LINES:,} per import", line=end_line, field="file"
                )
            drafts.append(_csv_draft(record, header, index, mapping, end_line))
    except csv.Error as exc:
        raise _error(f"the CSV is malformed ({exc})", line=offset + reader.line_num, field="file") from exc
    if header is None:
        raise _error("the CSV has no header row", line=header_line, field="file")
    currencies = {d.currency for d in drafts}
    if len(currencies) > 1:
        other = next(d for d in drafts if d.currency != drafts[0].currency)
        raise _error(
            f"currency {other.currency} differs from {drafts[0].currency}; one statement holds one currency",
            line=other.line,
            field="currency",
        )
    currency = drafts[0].currency if drafts else mapping.currency or ""
    block = _Block(None, None, currency, None, None, None, None, None, drafts)
    return _merge("csv", [block])


def _csv_text(data: bytes, encoding: str) -> str:
    if codecs.lookup(encoding).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _error(
            f"byte 0x{data[exc.start]:02x} is not {encoding}; set the mapping's encoding (latin-1 or cp1252?)",
            line=line,
            field="encoding",
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sniff_delimiter(body: str, offset: int) -> str:
    sample = "\n".join(body.split("\n", 30)[:30])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        first = next((line for line in sample.split("\n") if line.strip()), "")
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best] == 0:
            raise _error(
                "cannot tell the CSV delimiter; set it in the mapping", line=offset + 1, field="delimiter"
            ) from None
        return best


def _csv_columns(header: list[str], mapping: CsvMapping, line: int) -> dict[str, int]:
    positions = {name: i for i, name in reversed(list(enumerate(header)))}
    folded = {name.casefold(): i for i, name in reversed(list(enumerate(header)))}
    index: dict[str, int] = {}
    for field_name, column in mapping.columns().items():
        position = positions.get(column.strip(), folded.get(column.strip().casefold()))
        if position is None:
            shown = ", ".join(repr(h) for h in header[:20])
            raise _error(
                f"the CSV has no column {column!r} (mapped as {field_name}); its columns: {shown}",
                line=line,
                field=field_name,
            )
        index[column] = position
    return index


def _csv_draft(record: list[str], header: list[str], index: dict[str, int], mapping: CsvMapping, line: int) -> _Draft:
    if len(record) > len(header) and any(c.strip() for c in record[len(header) :]):
        raise _error(
            f"{len(record)} cells but the header has {len(header)}; is a value with the delimiter unquoted?",
            line=line,
            field="file",
        )

    def cell(column: str | None) -> str:
        if column is None:
            return ""
        position = index[column]
        return record[position].strip() if position < len(record) else ""

    booked = _csv_date(cell(mapping.date_column), mapping, mapping.date_column, line, "booked_on")
    if booked is None:
        raise _error(f"no date in column {mapping.date_column!r}", line=line, field="booked_on")
    valued = _csv_date(cell(mapping.value_date_column), mapping, mapping.value_date_column or "", line, "value_on")
    currency = cell(mapping.currency_column).upper() if mapping.currency_column else (mapping.currency or "")
    if not currency and mapping.currency:
        currency = mapping.currency
    if not _CURRENCY.fullmatch(currency):
        raise _error(f"bad currency {currency!r} in column {mapping.currency_column!r}", line=line, field="currency")
    if mapping.amount_column is not None:
        amount = _csv_amount(cell(mapping.amount_column), mapping, mapping.amount_column, line)
        if amount is None:
            raise _error(f"no amount in column {mapping.amount_column!r}", line=line, field="amount")
    else:
        assert mapping.debit_column is not None and mapping.credit_column is not None
        debit = _csv_amount(cell(mapping.debit_column), mapping, mapping.debit_column, line)
        credit = _csv_amount(cell(mapping.credit_column), mapping, mapping.credit_column, line)
        if debit is None and credit is None:
            raise _error(
                f"no amount in {mapping.debit_column!r} or {mapping.credit_column!r}", line=line, field="amount"
            )
        amount = abs(credit or Decimal(0)) - abs(debit or Decimal(0))
    return _Draft(
        line=line,
        booked_on=booked,
        value_on=valued,
        amount=_money(amount, currency, line=line, field="amount"),
        currency=currency,
        counterparty_name=_clean(cell(mapping.counterparty_column)),
        counterparty_iban=normalise_iban(cell(mapping.iban_column)),
        text=_join_text(cell(c) for c in mapping.text_columns),
        bank_reference=_reference(cell(mapping.reference_column)),
    )


def _csv_date(raw: str, mapping: CsvMapping, column: str, line: int, field_name: str) -> date | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, mapping.date_format).date()
    except ValueError:
        raise _error(
            f"bad date {raw!r} in column {column!r} (expected {mapping.date_format})", line=line, field=field_name
        ) from None


def _csv_amount(raw: str, mapping: CsvMapping, column: str, line: int) -> Decimal | None:
    """Signed Decimal from text such as '-1.234,56', '1 234.56-', '(99.00)' or '€ 12,00'."""
    text = re.sub(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$|[€$£¥]", "", raw.strip()).strip()
    if not text:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    if text[:1] in "+-":
        negative, text = negative or text[0] == "-", text[1:].strip()
    elif text[-1:] in "+-":
        negative, text = negative or text[-1] == "-", text[:-1].strip()
    if mapping.thousands_separator:
        text = text.replace(mapping.thousands_separator, "")
        if mapping.thousands_separator in (" ", "\u00a0", "\u202f"):
            text = "".join(text.split())
    if mapping.decimal_separator == ",":
        if "." in text:
            raise _error(f"bad amount {raw!r} in column {column!r} (decimal comma expected)", line=line, field="amount")
        text = text.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", text):
        raise _error(f"bad amount {raw!r} in column {column!r}", line=line, field="amount")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _error(f"bad amount {raw!r} in column {column!r}", line=line, field="amount") from None
    return -value if negative else value
