"""Ranked suggestions of which open items a bank line settles, each with the reasons for its score.

Pure Python, no database: the reconciliation service loads the open receivables and payables,
calls `suggest` and shows the suggestions; a person confirms (nothing here books anything).

Speed comes from never scoring the lines × items cross product. The open items are indexed once
(by currency and exact amount, by reference key, by IBAN, by party and by party-name word), and a
line is scored only against the items those indexes return for it. A candidate must agree in
currency and direction: money in settles receivables (positive open amounts), money out payables.

A score is the sum of its reasons' points, at most 100. The built-in signals are `Scorer`s like
any other, so further signals (an AI model's opinion, say) plug in without touching the engine.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import chain
from typing import Protocol

from atrium.apps.finance.banking.parsers import StatementLine, normalise_iban

MIN_SCORE = 20.0  # below this a candidate is noise, not a suggestion
_GROUP_POOL = 32  # a party's items searched for combinations, referenced and nearest first
_GROUP_RESULTS = 20  # combinations kept per party before ranking
_SMALL_BUCKET = 32  # an index entry this small is taken whole, whatever the dates
_BUCKET_CAP = 100  # from a larger one, at most this many items nearest the line's date
_COMMON_NAME_WORD = 30  # a name word shared by more parties than this finds nobody
_REFERENCE_PARTS = 5  # "INV 2026 / 00 / 01" is five runs of letters and digits
_UNITS = 4  # amounts are compared as integers of 1/10,000: exact for every ISO currency

_WORD = re.compile(r"[^\W_]+")
_NOT_WORD = re.compile(r"[\W_]+")
_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa"})
# Legal forms and filler words say nothing about who a party is.
_NAME_NOISE = frozenset((
    "gmbh", "mbh", "ag", "kg", "ohg", "gbr", "ug", "ek", "ev", "co", "und", "and", "the", "of", "ltd", "limited",
    "inc", "llc", "llp", "plc", "corp", "corporation", "company", "sa", "sarl", "sas", "sasu", "bv", "nv", "spa",
    "srl", "sl", "oy", "ab", "as", "aps", "kft", "sro", "zoo", "haftungsbeschraenkt", "gesellschaft",
))  # fmt: skip


@dataclass(frozen=True)
class OpenItem:
    """An open receivable or payable as the bank would see its payment."""

    id: str
    amount: Decimal  # + we expect money in (customer invoice), - we pay out (vendor bill)
    currency: str
    date: date  # due date (or document date)
    references: tuple[str, ...]  # invoice number, the party's own reference, payment reference
    party_id: str | None
    party_name: str | None
    party_ibans: tuple[str, ...]


@dataclass(frozen=True)
class Reason:
    """One signal's share of a score, worded for the person who confirms the match."""

    name: str
    points: float
    detail: str


@dataclass(frozen=True)
class Suggestion:
    item_ids: tuple[str, ...]
    score: float  # 0..100, the sum of the reasons' points
    reasons: tuple[Reason, ...]


# -- what scorers see ----------------------------------------------------------------------------


@dataclass(slots=True)
class ItemFacts:
    """An open item with everything a scorer compares, computed once per `suggest` call."""

    index: int
    item: OpenItem
    units: int
    day: int
    reference_keys: tuple[str, ...]  # its references as `reference_key` writes them
    ibans: frozenset[str]
    name_words: frozenset[str]
    party: str


@dataclass(slots=True)
class LineFacts:
    """A bank line with its words and reference keys, and which items' references its text names."""

    id: str
    line: StatementLine
    units: int
    day: int
    iban: str | None
    name_words: frozenset[str]
    keys: frozenset[str]
    referenced: dict[int, str] = field(default_factory=dict)  # item index -> the reference found
    similarity: dict[str, float] = field(default_factory=dict)  # party -> name likeness, filled as asked

    def name_similarity(self, item: ItemFacts) -> float:
        """0..1 likeness of the line's counterparty name and the item's party name (cached per party)."""
        cached = self.similarity.get(item.party)
        if cached is None:
            cached = self.similarity[item.party] = name_similarity(self.name_words, item.name_words)
        return cached


class Scorer(Protocol):
    """One signal. Returns its reason (with points) for a line and one or more items, or None."""

    @property
    def name(self) -> str: ...

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None: ...


# -- the built-in signals ------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> str:
    return f"{abs(amount):,} {currency}"


@dataclass(frozen=True)
class AmountScorer:
    """Exact amount (35); several items adding up to the line (30); a referenced item paid in part (10)."""

    name: str = "amount"
    exact: float = 35.0
    group: float = 30.0
    partial: float = 10.0

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        currency = line.line.currency
        if len(items) == 1:
            item = items[0]
            if item.units == line.units:
                return Reason(
                    self.name, self.exact, f"the amount {_money(line.line.amount, currency)} is the open amount"
                )
            if abs(line.units) < abs(item.units) and item.index in line.referenced:
                return Reason(
                    "partial",
                    self.partial,
                    f"pays {_money(line.line.amount, currency)} of {_money(item.item.amount, currency)} open",
                )
            return None
        if sum(i.units for i in items) == line.units:
            return Reason(
                self.name,
                self.group,
                f"{len(items)} open items add up to the amount {_money(line.line.amount, currency)}",
            )
        return None


@dataclass(frozen=True)
class ReferenceScorer:
    """An item's invoice number or payment reference in the line's text (30, shared across a group)."""

    name: str = "reference"
    points: float = 30.0

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        referenced = line.referenced
        if not referenced:
            return None
        if len(items) == 1:
            found = referenced.get(items[0].index)
            if found is None:
                return None
            return Reason(self.name, self.points, f"reference {found} appears in the payment text")
        names = [referenced[i.index] for i in items if i.index in referenced]
        if not names:
            return None
        return Reason(
            self.name,
            round(self.points * len(names) / len(items), 2),
            f"{len(names)} of {len(items)} references appear in the payment text ({', '.join(names)})",
        )


@dataclass(frozen=True)
class IbanScorer:
    """The line's counterparty account is one of the party's known accounts (15)."""

    name: str = "iban"
    points: float = 15.0

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        iban = line.iban
        if iban is None or not all(iban in i.ibans for i in items):
            return None
        return Reason(
            self.name, self.points, f"paid from {iban}, an account of {items[0].item.party_name or 'the party'}"
        )


@dataclass(frozen=True)
class NameScorer:
    """The counterparty name on the line resembles the party's name (up to 10, from 50 % likeness)."""

    name: str = "name"
    points: float = 10.0
    threshold: float = 0.5

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        if not line.name_words:
            return None
        similarity = min([line.name_similarity(i) for i in items])
        if similarity < self.threshold:
            return None
        return Reason(
            self.name,
            round(self.points * similarity, 2),
            f"{line.line.counterparty_name!r} resembles {items[0].item.party_name!r} ({similarity:.0%})",
        )


@dataclass(frozen=True)
class DateScorer:
    """Booked near the due date: 10 on the day, falling to 0 at the window's edge (mean over a group)."""

    name: str = "date"
    points: float = 10.0

    def score(self, line: LineFacts, items: Sequence[ItemFacts], window_days: int) -> Reason | None:
        if window_days <= 0:
            return None
        if len(items) == 1:
            distance = line.day - items[0].day
            closeness = 1 - abs(distance) / window_days
            if closeness <= 0:
                return None
            if distance == 0:
                detail = "booked on the due date"
            else:
                detail = f"booked {abs(distance)} days {'after' if distance > 0 else 'before'} the due date"
            return Reason(self.name, round(self.points * closeness, 2), detail)
        distances = [abs(line.day - i.day) for i in items]
        closeness = sum(max(0.0, 1 - d / window_days) for d in distances) / len(distances)
        if closeness <= 0:
            return None
        return Reason(
            self.name, round(self.points * closeness, 2), f"booked within {max(distances)} days of the due dates"
        )


DEFAULT_SCORERS: tuple[Scorer, ...] = (AmountScorer(), ReferenceScorer(), IbanScorer(), NameScorer(), DateScorer())


# -- text helpers --------------------------------------------------------------------------------


def reference_key(value: str) -> str:
    """'INV 2026/0001', 'inv-2026-0001' and 'INV20260001' all become 'INV20260001'."""
    return _NOT_WORD.sub("", value.upper())


def _usable_key(key: str) -> bool:
    """Keys short or without digits would be found in unrelated text; bare numbers need five digits."""
    return len(key) >= 4 and not key.isalpha() and (len(key) >= 5 or not key.isdigit())


def text_keys(text: str) -> frozenset[str]:
    """Every run of up to five adjacent words glued together, so a reference is found however it was
    spaced or punctuated in the payment text."""
    runs = _WORD.findall(text.upper())
    keys: set[str] = set()
    for start in range(len(runs)):
        joined = ""
        for run in runs[start : start + _REFERENCE_PARTS]:
            joined += run
            if len(joined) > 40:
                break
            keys.add(joined)
    return frozenset(keys)


def name_words(name: str | None) -> frozenset[str]:
    """The words of a name that identify it: case, accents and legal forms removed."""
    if not name:
        return frozenset()
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_TRANSLITERATE))
    words = [w for w in _WORD.findall("".join(c for c in folded if not unicodedata.combining(c))) if len(w) > 1]
    meaningful = frozenset(w for w in words if w not in _NAME_NOISE)
    return meaningful or frozenset(words)


def name_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of words in common; a word cut short by the bank ('maschinenb') counts as its whole."""
    if not a or not b:
        return 0.0
    longest = max(len(a), len(b))
    matched = len(a & b)
    if matched < longest:
        others = [o for o in b - a if len(o) >= 4]
        for word in a - b:
            if len(word) >= 4 and any(o.startswith(word) or word.startswith(o) for o in others):
                matched += 1
    return min(1.0, matched / longest)


def _units(amount: Decimal) -> int:
    return int(amount.scaleb(_UNITS))


# -- the index -----------------------------------------------------------------------------------

# A bucket holds item indexes sorted by date, each packed with its date into one int (day << 32 |
# index): a window around a date is two bisections, and building the indexes allocates no tuples.
Bucket = list[int]
_INDEX_BITS = 32
_INDEX_MASK = (1 << _INDEX_BITS) - 1


def _near(bucket: Bucket, day: int, window: int, cap: int = _BUCKET_CAP) -> list[int]:
    """A small bucket whole; of a large one the items within the window, at most the ``cap`` nearest."""
    if len(bucket) <= _SMALL_BUCKET and len(bucket) <= cap:
        return [e & _INDEX_MASK for e in bucket]
    low = bisect_left(bucket, (day - window) << _INDEX_BITS)
    high = bisect_left(bucket, (day + window + 1) << _INDEX_BITS)
    if high - low > cap:  # the cap nearest lie within cap places either side of the line's date
        middle = bisect_left(bucket, day << _INDEX_BITS, low, high)
        around = bucket[max(low, middle - cap) : min(high, middle + cap)]
        around.sort(key=lambda e: abs((e >> _INDEX_BITS) - day))
        return [e & _INDEX_MASK for e in around[:cap]]
    return [e & _INDEX_MASK for e in bucket[low:high]]


class _Index:
    """The open items, indexed once per `suggest` call. Each item's facts are kept column by column
    and built into an `ItemFacts` only when the item becomes a candidate: fewer objects, faster."""

    def __init__(self, items: Sequence[OpenItem]) -> None:
        self.items: list[OpenItem] = []
        self.units: list[int] = []
        self.days: list[int] = []
        self.parties: list[str] = []
        self.keys: list[tuple[str, ...]] = []
        self.ibans: list[frozenset[str]] = []
        self.words: list[frozenset[str]] = []
        self.facts: dict[int, ItemFacts] = {}
        self.by_amount: dict[str, dict[int, Bucket]] = {}  # currency -> amount -> bucket
        self.by_reference: dict[str, Bucket] = {}
        self.by_party: dict[str, Bucket] = {}
        self.by_iban: dict[str, set[str]] = {}
        self.by_word: dict[str, set[str]] = {}
        self.party_words: dict[str, frozenset[str]] = {}
        words_of: dict[str | None, frozenset[str]] = {}
        ibans_of: dict[tuple[str, ...], frozenset[str]] = {}
        no_keys: tuple[str, ...] = ()
        for item in items:
            units = _units(item.amount)
            if units == 0:  # nothing left to pay
                continue
            index = len(self.items)
            words = words_of.get(item.party_name)
            if words is None:
                words = words_of[item.party_name] = name_words(item.party_name)
            ibans = ibans_of.get(item.party_ibans)
            if ibans is None:
                ibans = ibans_of[item.party_ibans] = frozenset(
                    i for i in (normalise_iban(x) for x in item.party_ibans) if i
                )
            party = item.party_id or (f"name:{' '.join(sorted(words))}" if words else f"item:{item.id}")
            keys = tuple(k for r in item.references if _usable_key(k := reference_key(r))) or no_keys
            day = item.date.toordinal()
            self.items.append(item)
            self.units.append(units)
            self.days.append(day)
            self.parties.append(party)
            self.keys.append(keys)
            self.ibans.append(ibans)
            self.words.append(words)
            packed = day << _INDEX_BITS | index
            amounts = self.by_amount.get(item.currency)
            if amounts is None:
                amounts = self.by_amount[item.currency] = {}
            amounts.setdefault(units, []).append(packed)
            for key in keys:
                self.by_reference.setdefault(key, []).append(packed)
            bucket = self.by_party.get(party)
            if bucket is None:
                bucket = self.by_party[party] = []
                self.party_words[party] = words
                for word in words:
                    self.by_word.setdefault(word, set()).add(party)
            bucket.append(packed)
            for iban in ibans:
                self.by_iban.setdefault(iban, set()).add(party)
        amount_buckets = (b for amounts in self.by_amount.values() for b in amounts.values())
        for bucket in chain(amount_buckets, self.by_reference.values(), self.by_party.values()):
            if len(bucket) > 1:
                bucket.sort()

    def fact(self, index: int) -> ItemFacts:
        found = self.facts.get(index)
        if found is None:
            found = self.facts[index] = ItemFacts(
                index,
                self.items[index],
                self.units[index],
                self.days[index],
                self.keys[index],
                self.ibans[index],
                self.words[index],
                self.parties[index],
            )
        return found

    def agrees(self, line: LineFacts, index: int) -> bool:
        """Same currency and direction: money in settles receivables, money out payables."""
        return (self.units[index] > 0) == (line.units > 0) and self.items[index].currency == line.line.currency

    def line_facts(self, line_id: str, line: StatementLine, window: int) -> LineFacts:
        keys = text_keys(" ".join(p for p in (line.text, line.counterparty_name, line.bank_reference) if p))
        facts = LineFacts(
            id=line_id,
            line=line,
            units=_units(line.amount),
            day=line.booked_on.toordinal(),
            iban=normalise_iban(line.counterparty_iban),
            name_words=name_words(line.counterparty_name),
            keys=keys,
        )
        by_reference = self.by_reference
        for key in keys:
            bucket = by_reference.get(key)
            if bucket is None:
                continue
            for index in _near(bucket, facts.day, window):
                if index not in facts.referenced:
                    written = self.items[index].references
                    facts.referenced[index] = next((r for r in written if reference_key(r) == key), key)
        return facts

    def parties_of(self, line: LineFacts) -> dict[str, float]:
        """Parties the line names by account or by name, with how sure: 1 for the IBAN, else likeness."""
        found: dict[str, float] = {}
        if line.iban:
            for party in self.by_iban.get(line.iban, ()):
                found[party] = 1.0
        for word in line.name_words:
            parties = self.by_word.get(word)
            if parties is None or len(parties) > _COMMON_NAME_WORD:
                continue
            for party in parties:
                if party not in found and party not in line.similarity:
                    similarity = line.similarity[party] = name_similarity(line.name_words, self.party_words[party])
                    if similarity >= 0.5:
                        found[party] = similarity
        return found

    def candidates(self, line: LineFacts, parties: Mapping[str, float], window: int, per_party: int) -> list[ItemFacts]:
        """Items agreeing with the line in currency and direction that an index names: the same amount,
        a reference in the text, or (the ``per_party`` nearest by date) an item of a party the line names."""
        chosen: dict[int, None] = dict.fromkeys(line.referenced)
        bucket = self.by_amount.get(line.line.currency, {}).get(line.units)
        if bucket is not None:
            if len(bucket) <= per_party:
                chosen.update(dict.fromkeys(e & _INDEX_MASK for e in bucket))
            else:  # a common amount: the named parties' items in the window, and the nearest few
                if parties:
                    named = (i for i in _near(bucket, line.day, window) if self.parties[i] in parties)
                    chosen.update(dict.fromkeys(named))
                chosen.update(dict.fromkeys(_near(bucket, line.day, window, per_party)))
        for party in parties:
            nearest = [i for i in _near(self.by_party[party], line.day, window) if self.agrees(line, i)]
            if len(nearest) > per_party:
                nearest.sort(key=lambda i: abs(self.days[i] - line.day))
            chosen.update(dict.fromkeys(nearest[:per_party]))
        return [self.fact(i) for i in chosen if self.agrees(line, i)]


# -- suggest -------------------------------------------------------------------------------------


def suggest(
    lines: Sequence[tuple[str, StatementLine]],
    items: Sequence[OpenItem],
    *,
    limit: int = 5,
    date_window_days: int = 45,
    scorers: Sequence[Scorer] | None = None,
    min_score: float = MIN_SCORE,
) -> dict[str, list[Suggestion]]:
    """For each (line id, line), up to ``limit`` suggestions, best first.

    ``scorers`` replaces the built-in signals (`DEFAULT_SCORERS`); pass ``[*DEFAULT_SCORERS, extra]``
    to add one. The date window bounds which items the amount and party indexes offer (a referenced
    item is offered whatever its date) and how far the date signal reaches. Of a party the line names
    only by account or name, the ``limit`` items nearest in date are scored singly (the others could
    only score lower); all of its items in the window are searched for groups.
    """
    index = _Index(items)
    active = tuple(DEFAULT_SCORERS if scorers is None else scorers)
    window = max(0, date_window_days)
    limit = max(0, limit)
    result: dict[str, list[Suggestion]] = {}
    for line_id, line in lines:
        facts = index.line_facts(line_id, line, window)
        if facts.units == 0 or limit == 0:
            result[line_id] = []
            continue
        parties = index.parties_of(facts)
        suggestions: list[Suggestion] = []
        exact_parties: set[str] = set()
        for candidate in index.candidates(facts, parties, window, limit):
            if candidate.units == facts.units:
                exact_parties.add(candidate.party)
            scored = _score(facts, (candidate,), active, window)
            if scored.score >= min_score:
                suggestions.append(scored)
        for party in _group_parties(facts, index, parties):
            if party in exact_parties:
                continue  # one item of the party has the exact amount: that is the simpler answer
            for group in _groups(facts, index, party, window):
                scored = _score(facts, group, active, window)
                if scored.score >= min_score:
                    suggestions.append(scored)
        suggestions.sort(key=lambda s: (-s.score, len(s.item_ids), s.item_ids))
        result[line_id] = suggestions[:limit]
    return result


def _score(line: LineFacts, group: Sequence[ItemFacts], scorers: Sequence[Scorer], window: int) -> Suggestion:
    reasons: list[Reason] = []
    total = 0.0
    for scorer in scorers:
        reason = scorer.score(line, group, window)
        if reason is not None and reason.points > 0:
            if reason.points != round(reason.points, 2):  # shown with two decimals, so summed with two
                reason = Reason(reason.name, round(reason.points, 2), reason.detail)
            reasons.append(reason)
            total += reason.points
    if total > 100:  # extra scorers may push past the cap: every reason shrinks in proportion
        reasons = [Reason(r.name, round(r.points * 100 / total, 2), r.detail) for r in reasons]
        surplus = round(sum(r.points for r in reasons) - 100, 2)
        if surplus:
            top = max(range(len(reasons)), key=lambda k: reasons[k].points)
            reasons[top] = Reason(reasons[top].name, round(reasons[top].points - surplus, 2), reasons[top].detail)
        total = sum(r.points for r in reasons)
    if len(reasons) > 1:
        reasons.sort(key=lambda r: -r.points)
    return Suggestion(tuple(i.item.id for i in group), round(total, 2), tuple(reasons))


def _group_parties(line: LineFacts, index: _Index, parties: dict[str, float]) -> list[str]:
    """Parties sure enough to search their items for combinations: known account, a close name, or a
    reference of theirs in the text."""
    sure = {p for p, certainty in parties.items() if certainty >= 0.8}
    sure.update(index.parties[i] for i in line.referenced)
    return sorted(sure)


def _groups(line: LineFacts, index: _Index, party: str, window: int) -> list[tuple[ItemFacts, ...]]:
    """Two to four of the party's items whose open amounts add up exactly to the line."""
    target = abs(line.units)
    pool = [i for i in _near(index.by_party[party], line.day, window) if index.agrees(line, i)]
    pool += [i for i in line.referenced if index.parties[i] == party and index.agrees(line, i) and i not in pool]
    pool = [i for i in pool if abs(index.units[i]) < target]
    if len(pool) < 2 or sum(abs(index.units[i]) for i in pool) < target:
        return []
    pool.sort(key=lambda i: (i not in line.referenced, abs(index.days[i] - line.day), i))
    pool = pool[:_GROUP_POOL]
    found = _subsets([abs(index.units[i]) for i in pool], target, _GROUP_RESULTS)
    return [tuple(index.fact(i) for i in sorted(pool[k] for k in combo)) for combo in found]


def _subsets(values: list[int], target: int, limit: int) -> list[tuple[int, ...]]:
    """Index tuples of 2..4 values summing to ``target``: one dict lookup closes each pair and triple,
    and pair sums meet pair sums for four, so the work grows with the square of the pool, not faster."""
    where: dict[int, list[int]] = {}
    for k, value in enumerate(values):
        where.setdefault(value, []).append(k)
    found: list[tuple[int, ...]] = []
    n = len(values)
    for a in range(n):
        for b in where.get(target - values[a], ()):
            if b > a:
                found.append((a, b))
    for a in range(n):
        for b in range(a + 1, n):
            for c in where.get(target - values[a] - values[b], ()):
                if c > b:
                    found.append((a, b, c))
        if len(found) >= limit:
            return found[:limit]
    pair_sums: dict[int, list[tuple[int, int]]] = {}
    for c in range(n):
        for d in range(c + 1, n):
            pair_sums.setdefault(values[c] + values[d], []).append((c, d))
    for a in range(n):
        for b in range(a + 1, n):
            for c, d in pair_sums.get(target - values[a] - values[b], ()):
                if c > b:
                    found.append((a, b, c, d))
        if len(found) >= limit:
            break
    return found[:limit]
