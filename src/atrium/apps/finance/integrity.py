"""Checking a company's inalterability chain: every posted entry's hash covers its header, all its
lines and the hash before it, so changing, removing or inserting anything breaks the chain at the
first entry touched. ``atrium finance verify`` and the API both run this."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance.models import ChainHead, Entry, Line
from atrium.apps.finance.posting import GENESIS, entry_hash

BATCH = 1_000


@dataclass(frozen=True)
class Verification:
    company_id: str
    intact: bool
    entries: int
    broken_at: str | None = None  # the number (or id) of the first entry that does not check out
    problem: str | None = None


async def verify(session: AsyncSession, company_id: str) -> Verification:
    previous, expected, checked = GENESIS, 1, 0
    while True:
        batch = (
            await session.scalars(
                select(Entry)
                .where(Entry.company_id == company_id, Entry.chain_index >= expected)
                .order_by(Entry.chain_index)
                .limit(BATCH)
            )
        ).all()
        if not batch:
            break
        lines: dict[str, list[Line]] = defaultdict(list)
        for line in (
            await session.scalars(
                select(Line).where(Line.entry_id.in_([e.id for e in batch])).order_by(Line.entry_id, Line.line_no)
            )
        ).all():
            lines[line.entry_id].append(line)
        for entry in batch:
            name = entry.number or entry.id
            if entry.chain_index != expected:
                return Verification(company_id, False, checked, name, f"entry #{expected} of the chain is missing")
            if entry.previous_hash != previous:
                return Verification(company_id, False, checked, name, "does not link to the entry before it")
            if len(lines[entry.id]) != entry.line_count:
                return Verification(
                    company_id, False, checked, name, f"has {len(lines[entry.id])} lines, {entry.line_count} posted"
                )
            if entry_hash(previous, entry, lines[entry.id]) != entry.hash:
                return Verification(company_id, False, checked, name, "its content no longer matches its hash")
            previous, expected, checked = entry.hash, expected + 1, checked + 1
    head = await session.scalar(select(ChainHead).where(ChainHead.company_id == company_id))
    if head is not None and (head.position != checked or (checked and head.hash != previous)):
        return Verification(
            company_id, False, checked, None, f"the chain ends at #{checked} but its head says #{head.position}"
        )
    unchained = await session.scalar(
        select(func.count()).select_from(Entry).where(Entry.company_id == company_id, Entry.state != "draft")
    )
    unchained = unchained or 0
    if unchained != checked:
        return Verification(
            company_id, False, checked, None, f"{unchained - checked} posted entries are outside the chain"
        )
    return Verification(company_id, True, checked)
