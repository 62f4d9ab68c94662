"""Recording and verifying the audit trail.

Each chain (one per tenant, one for the platform) links every event to the one before by
``hash = sha256(prev_hash || canonical(event))``. Triggers refuse UPDATE and DELETE; the chain
catches what a privileged hand could still do (alter, remove or insert rows); signed checkpoints
catch a chain rewritten from some point on.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Select, Text, cast, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from atrium.core import bulk, context
from atrium.core.audit.models import PLATFORM_CHAIN, AuditChainHead, AuditCheckpoint, AuditEvent
from atrium.core.db import canonical_json, utcnow
from atrium.core.settings import Settings

GENESIS_HASH = "0" * 64
HASHED_COLUMNS = (
    AuditEvent.chain,
    AuditEvent.seq,
    AuditEvent.occurred_at,
    AuditEvent.tenant_id,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    AuditEvent.data,
    AuditEvent.request_id,
    AuditEvent.correlation_id,
)


def event_hash(prev_hash: str, fields: Sequence[Any]) -> str:
    """Hash of one link; ``fields`` in the order of HASHED_COLUMNS.

    Each field is length-prefixed (``~`` for NULL), so no two events share an encoding; ``data``
    is hashed as its canonical JSON text, which is exactly what the database stores.
    """
    chain, seq, occurred_at, tenant_id, actor, action, object_type, object_id, data, request_id, correlation = fields
    data_text = data if isinstance(data, str) else canonical_json(data)
    parts = (chain, str(seq), occurred_at.isoformat(), tenant_id, actor, action, object_type, object_id)
    encoded = "".join("~" if p is None else f"{len(p)}:{p}" for p in (*parts, request_id, correlation, data_text))
    return hashlib.sha256(f"{prev_hash}|{encoded}".encode()).hexdigest()


def chain_of(tenant_id: str | None) -> str:
    return tenant_id or PLATFORM_CHAIN


async def _lock_head(session: AsyncSession, chain: str) -> AuditChainHead:
    """Lock the chain's head row (creating it on the chain's first event) until commit.

    PostgreSQL locks the row with FOR UPDATE. SQLite has no row locks: there the upsert comes
    first, because a write is what takes the database's write lock before the head is read.
    """
    locked = (
        select(AuditChainHead)
        .where(AuditChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    is_postgresql = session.bind is not None and session.bind.dialect.name == "postgresql"
    if is_postgresql and (head := (await session.execute(locked)).scalar_one_or_none()) is not None:
        return head
    insert = postgresql.insert if is_postgresql else sqlite.insert
    await session.execute(insert(AuditChainHead).values(chain=chain, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
    return (await session.execute(locked)).scalar_one()


_LOCKED_HEADS = "atrium.audit.locked_heads"


@event.listens_for(Session, "after_transaction_end")
def _forget_locked_heads(session: Session, transaction: SessionTransaction) -> None:
    """A head stays locked, and so reusable without another query, until its transaction ends."""
    session.info.pop(_LOCKED_HEADS, None)


async def record(
    session: AsyncSession,
    *,
    action: str,
    tenant_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Append one event to its chain in the caller's transaction (platform session)."""
    chain = chain_of(tenant_id)
    locked: dict[str, AuditChainHead] = session.info.setdefault(_LOCKED_HEADS, {})
    head = locked.get(chain)
    if head is None:
        head = locked[chain] = await _lock_head(session, chain)
    entry = AuditEvent(
        chain=chain,
        seq=head.seq + 1,
        occurred_at=utcnow(),
        tenant_id=tenant_id,
        actor=actor or context.actor.get(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
        request_id=context.request_id.get(),
        correlation_id=context.correlation_id.get(),
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = event_hash(head.hash, [getattr(entry, c.key) for c in HASHED_COLUMNS])
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)  # inserted with the next flush: many events of one transaction go in one batch
    return entry


async def record_many(
    session: AsyncSession,
    events: Sequence[tuple[str, str | None, str | None, dict[str, Any]]],
    *,
    tenant_id: str | None = None,
    actor: str | None = None,
) -> None:
    """Append many events of one actor to their chain at once: ``(action, object_type, object_id,
    data)`` each. Linked exactly as ``record`` links them, written with one statement (a batch of
    postings writes hundreds; an ORM object each would cost more than the postings)."""
    if not events:
        return
    chain = chain_of(tenant_id)
    locked: dict[str, AuditChainHead] = session.info.setdefault(_LOCKED_HEADS, {})
    head = locked.get(chain)
    if head is None:
        head = locked[chain] = await _lock_head(session, chain)
    actor = actor or context.actor.get()
    request_id, correlation_id = context.request_id.get(), context.correlation_id.get()
    rows = []
    seq, previous = head.seq, head.hash
    for action, object_type, object_id, data in events:
        seq += 1
        row = {
            "chain": chain,
            "seq": seq,
            "occurred_at": utcnow(),
            "tenant_id": tenant_id,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
            "request_id": request_id,
            "correlation_id": correlation_id,
            "prev_hash": previous,
        }
        row["hash"] = previous = event_hash(previous, [row[c.key] for c in HASHED_COLUMNS])
        del row["tenant_id"]  # bound once below
        rows.append(row)
    await session.flush()  # events recorded one by one before these come first in the table too
    await bulk.insert_rows(session, AuditEvent, rows, constants={"tenant_id": tenant_id})
    head.seq, head.hash = seq, previous


# -- querying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    tenant_id: str | None = None
    platform_only: bool = False
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_id: int | None = None
    limit: int = 50


def _filtered(f: AuditFilter) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    if f.tenant_id is not None:
        stmt = stmt.where(AuditEvent.tenant_id == f.tenant_id)
    elif f.platform_only:
        stmt = stmt.where(AuditEvent.chain == PLATFORM_CHAIN)
    for column, value in (
        (AuditEvent.actor, f.actor),
        (AuditEvent.object_type, f.object_type),
        (AuditEvent.object_id, f.object_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.action is not None:
        stmt = stmt.where(
            AuditEvent.action.startswith(f.action) if f.action.endswith(".") else AuditEvent.action == f.action
        )
    if f.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < f.until)
    if f.before_id is not None:
        stmt = stmt.where(AuditEvent.id < f.before_id)
    return stmt


async def list_events(session: AsyncSession, f: AuditFilter) -> list[AuditEvent]:
    stmt = _filtered(f).order_by(AuditEvent.id.desc()).limit(f.limit)
    return list((await session.execute(stmt)).scalars())


# -- verification ------------------------------------------------------------------------------


@dataclass
class ChainReport:
    chain: str
    checked: int = 0
    ok: bool = True
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str | None = None
    checkpoints: int = 0

    def fail(self, seq: int | None, event_id: int | None, reason: str) -> ChainReport:
        self.ok, self.broken_seq, self.broken_id, self.reason = False, seq, event_id, reason
        return self


async def chains(session: AsyncSession, tenant_id: str | None = None) -> list[str]:
    if tenant_id is not None:
        return [tenant_id]
    heads = set((await session.execute(select(AuditChainHead.chain))).scalars())
    events = set((await session.execute(select(AuditEvent.chain).distinct())).scalars())
    return sorted(heads | events)


_CHAIN_BATCH = 20_000
_PG_CHAIN_SQL = (
    "SELECT id, prev_hash, hash, chain, seq, occurred_at, tenant_id, actor, action, object_type, object_id,"
    " data::text, request_id, correlation_id FROM audit_events WHERE chain = $1 AND seq <= $2 ORDER BY seq"
)


async def _chain_rows(session: AsyncSession, chain: str, up_to: int) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """The chain's rows in seq order, in batches: (id, prev_hash, hash, *HASHED_COLUMNS) with
    ``data`` as its stored JSON text. On PostgreSQL they stream straight from asyncpg's cursor,
    skipping per-row result processing: verification is bound by reading and hashing."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        transaction = None if driver.is_in_transaction() else driver.transaction()
        if transaction is not None:
            await transaction.start()
        try:
            cursor = await driver.cursor(_PG_CHAIN_SQL, chain, up_to)
            while batch := await cursor.fetch(_CHAIN_BATCH):
                yield batch
        finally:
            if transaction is not None:
                await transaction.rollback()
        return
    stmt = (
        select(
            AuditEvent.id,
            AuditEvent.prev_hash,
            AuditEvent.hash,
            *(cast(c, Text) if c is AuditEvent.data else c for c in HASHED_COLUMNS),
        )
        .where(AuditEvent.chain == chain, AuditEvent.seq <= up_to)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=_CHAIN_BATCH)
    )
    result = await session.stream(stmt)
    async for partition in result.partitions():
        yield partition


async def verify_chain(session: AsyncSession, chain: str, signer: CheckpointSigner | None = None) -> ChainReport:
    """Walk one chain in order; report the first event whose link does not hold."""
    report = ChainReport(chain)
    hashes_at: dict[int, str] = {}
    checkpoints = list(
        (
            await session.execute(
                select(AuditCheckpoint).where(AuditCheckpoint.chain == chain).order_by(AuditCheckpoint.seq)
            )
        ).scalars()
    )
    wanted = {c.seq for c in checkpoints}
    prev_hash, expected_seq = GENESIS_HASH, 1
    # The head is read first and the walk stops at it, so events appended meanwhile by others
    # are not mistaken for a broken chain. A chain without a head is walked to its end.
    head = (await session.execute(select(AuditChainHead).where(AuditChainHead.chain == chain))).scalar_one_or_none()
    up_to = head.seq if head is not None else 2**62
    async with contextlib.aclosing(_chain_rows(session, chain, up_to)) as batches:
        async for batch in batches:
            for row in batch:
                event_id, stored_prev, stored_hash, *fields = row
                seq = fields[1]
                if seq != expected_seq:
                    missing = f"events {expected_seq}..{seq - 1} are missing" if seq > expected_seq else "duplicate seq"
                    return report.fail(
                        expected_seq, event_id, f"chain broken before seq {seq}: {missing} (row removed)"
                    )
                if stored_prev != prev_hash:
                    return report.fail(
                        seq, event_id, "prev_hash does not match the previous event (row inserted or removed)"
                    )
                if event_hash(prev_hash, fields) != stored_hash:
                    return report.fail(seq, event_id, "hash does not match the event's content (row altered)")
                if seq in wanted:
                    hashes_at[seq] = stored_hash
                prev_hash, expected_seq = stored_hash, expected_seq + 1
                report.checked += 1
    if head is not None and (head.seq, head.hash) != (report.checked, prev_hash):
        return report.fail(
            head.seq, None, f"chain ends at seq {report.checked} but its head records seq {head.seq} (rows removed)"
        )
    for checkpoint in checkpoints:
        if signer is not None and not signer.verify(checkpoint):
            return report.fail(checkpoint.seq, None, f"checkpoint {checkpoint.id} has an invalid signature")
        if hashes_at.get(checkpoint.seq) != checkpoint.hash:
            return report.fail(
                checkpoint.seq, None, f"event {checkpoint.seq} differs from signed checkpoint {checkpoint.id}"
            )
        report.checkpoints += 1
    return report


# -- signed checkpoints ------------------------------------------------------------------------


class CheckpointSigner:
    """Ed25519 signatures over (chain, seq, hash); the key comes from settings."""

    def __init__(self, settings: Settings) -> None:
        if settings.audit_signing_key is not None:
            seed = base64.b64decode(settings.audit_signing_key.get_secret_value())
        else:
            seed = hashlib.sha256(b"atrium-audit|" + settings.secret_key.get_secret_value().encode()).digest()
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: Ed25519PublicKey = self._private.public_key()
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @staticmethod
    def message(chain: str, seq: int, hash_: str) -> bytes:
        return f"atrium-audit-checkpoint|{chain}|{seq}|{hash_}".encode()

    def sign(self, chain: str, seq: int, hash_: str) -> str:
        return base64.b64encode(self._private.sign(self.message(chain, seq, hash_))).decode()

    def verify(self, checkpoint: AuditCheckpoint) -> bool:
        try:
            self.public_key.verify(
                base64.b64decode(checkpoint.signature), self.message(checkpoint.chain, checkpoint.seq, checkpoint.hash)
            )
        except (InvalidSignature, ValueError):
            return False
        return True


async def write_checkpoints(session: AsyncSession, signer: CheckpointSigner) -> int:
    """Sign every chain head that moved since its last checkpoint."""
    last = (
        select(AuditCheckpoint.chain, func.max(AuditCheckpoint.seq).label("seq"))
        .group_by(AuditCheckpoint.chain)
        .subquery()
    )
    stmt = (
        select(AuditChainHead)
        .outerjoin(last, last.c.chain == AuditChainHead.chain)
        .where((last.c.seq.is_(None)) | (AuditChainHead.seq > last.c.seq))
        .where(AuditChainHead.seq > 0)
    )
    written = 0
    for head in (await session.execute(stmt)).scalars():
        session.add(
            AuditCheckpoint(
                chain=head.chain,
                seq=head.seq,
                hash=head.hash,
                key_id=signer.key_id,
                signature=signer.sign(head.chain, head.seq, head.hash),
            )
        )
        written += 1
    await session.flush()
    return written
