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
import itertools
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
from atrium.core.db import canonical_json, driver_of, utcnow
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


def _lock_head(session: Session, chain: str) -> AuditChainHead:
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
    if is_postgresql and (head := session.execute(locked).scalar_one_or_none()) is not None:
        return head
    insert = postgresql.insert if is_postgresql else sqlite.insert
    session.execute(insert(AuditChainHead).values(chain=chain, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
    return session.execute(locked).scalar_one()


# -- linking at commit --------------------------------------------------------------------------
#
# An event is linked into its chain (its ``seq`` and hashes) only when its transaction commits,
# after everything else the transaction writes has been flushed. The chain's head is therefore the
# last lock a transaction takes and is held only for the commit itself: a request that records an
# event early and then waits for some other row (a journal number) holds nothing another
# transaction could be waiting for, so the two cannot deadlock over the head, and busy tenants do
# not queue on it for the length of each other's requests.

_PENDING = "atrium.audit.pending"


@dataclass
class _Pending:
    """An event waiting for its commit: an ORM object (``record``) or a row (``record_many``)."""

    chain: str
    event: AuditEvent | None = None
    row: dict[str, Any] | None = None
    savepoint: SessionTransaction | None = None  # recorded inside it: its rollback takes the event back

    @property
    def tenant_id(self) -> str | None:
        return self.event.tenant_id if self.event is not None else (self.row or {})["tenant_id"]

    def link(self, seq: int, previous: str) -> str:
        """Take place ``seq`` after the event hashed ``previous``; returns this event's hash."""
        if self.event is not None:
            self.event.seq, self.event.prev_hash = seq, previous
            self.event.hash = event_hash(previous, [getattr(self.event, c.key) for c in HASHED_COLUMNS])
            return self.event.hash
        assert self.row is not None
        self.row.update(seq=seq, prev_hash=previous)
        self.row["hash"] = event_hash(previous, [self.row[c.key] for c in HASHED_COLUMNS])
        return str(self.row["hash"])


def _pend(session: AsyncSession, items: list[_Pending]) -> None:
    sync = session.sync_session
    root = sync.get_transaction()
    if root is not None and not root.is_active:
        # after the commit's hook (an after_commit handler, a flush the commit runs): it would be lost
        raise RuntimeError("an audit event was recorded while its transaction was committing; record it before")
    if root is None:
        sync.begin()  # no statement has run yet: the events alone make the transaction one to commit
    savepoint = sync.get_nested_transaction()
    for item in items:
        item.savepoint = savepoint
    sync.info.setdefault(_PENDING, []).extend(items)


@event.listens_for(Session, "before_commit")
def _link_at_commit(session: Session) -> None:
    """The transaction commits: link its events. Also when its outermost savepoint is released
    (the savepoint's work is then the transaction's for good): SQLAlchemy does not say whether it
    is the transaction or a savepoint that commits, and a transaction committed with a savepoint
    still open releases that savepoint last, so linking there is what keeps every event."""
    innermost = session.get_nested_transaction()
    if innermost is None or (innermost.parent is not None and innermost.parent.parent is None):
        _link(session)


async def link_now(session: AsyncSession) -> None:
    """Link and write the session's queued events now, before its commit. For a unit of work that
    commits a tenant's own database first: its audit events are then written (and their heads
    locked) before the tenant's commit, so only the platform's final COMMIT follows it."""
    await session.run_sync(_link)


def _link(session: Session) -> None:
    """Give the queued events their places in their chains, then write them."""
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if not pending:
        return
    session.flush()  # every other change first: after the heads, this transaction waits for nothing
    del session.info[_PENDING]
    heads = {chain: _lock_head(session, chain) for chain in sorted({p.chain for p in pending})}  # one order
    for item in pending:
        head = heads[item.chain]
        head.seq += 1
        head.hash = item.link(head.seq, head.hash)
    # Rows go in with one statement per run of one tenant, in their order among the objects; the
    # tenant is bound once, where a tenant session's write guard reads it.
    for (tenant_id, is_row), group in itertools.groupby(pending, lambda p: (p.tenant_id, p.row is not None)):
        if is_row:
            rows = [{k: v for k, v in p.row.items() if k != "tenant_id"} for p in group if p.row is not None]
            bulk.insert_rows_now(session, AuditEvent, rows, constants={"tenant_id": tenant_id})
        else:
            session.add_all(p.event for p in group)
            session.flush()


@event.listens_for(Session, "after_commit")
def _nothing_left_behind(session: Session) -> None:
    """Every event of a committed transaction was written; one queued too late is a bug to see."""
    if not session.in_nested_transaction() and session.info.get(_PENDING):
        session.info.pop(_PENDING)
        raise RuntimeError("audit events were queued after their transaction's commit began and were not written")


@event.listens_for(Session, "after_soft_rollback")
def _take_back_pending(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint takes back the events recorded inside it; a rollback of the whole
    transaction, all of them."""
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if not pending:
        return
    if not previous.nested:
        del session.info[_PENDING]
        return

    def inside(savepoint: SessionTransaction | None) -> bool:
        while savepoint is not None:
            if savepoint is previous:
                return True
            savepoint = savepoint.parent
        return False

    session.info[_PENDING] = [p for p in pending if not inside(p.savepoint)]


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


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
    """Append one event to its chain in the caller's transaction (platform session). It is linked
    and written when the transaction commits, and gone if it rolls back."""
    chain = chain_of(tenant_id)
    entry = AuditEvent(
        chain=chain,
        occurred_at=utcnow(),
        tenant_id=tenant_id,
        actor=actor or context.actor.get(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
        request_id=context.request_id.get(),
        correlation_id=context.correlation_id.get(),
    )
    _pend(session, [_Pending(chain, event=entry)])
    return entry


async def record_many(
    session: AsyncSession,
    events: Sequence[tuple[str, str | None, str | None, dict[str, Any]]],
    *,
    tenant_id: str | None = None,
    actor: str | None = None,
) -> None:
    """Append many events of one actor to their chain at once: ``(action, object_type, object_id,
    data)`` each. Linked at commit as ``record``'s are, written with one statement (a batch of
    postings writes hundreds; an ORM object each would cost more than the postings)."""
    if not events:
        return
    chain = chain_of(tenant_id)
    actor = actor or context.actor.get()
    request_id, correlation_id = context.request_id.get(), context.correlation_id.get()
    now = utcnow()
    _pend(
        session,
        [
            _Pending(
                chain,
                row={
                    "chain": chain,
                    "occurred_at": now,
                    "tenant_id": tenant_id,
                    "actor": actor,
                    "action": action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "data": data,
                    "request_id": request_id,
                    "correlation_id": correlation_id,
                },
            )
            for action, object_type, object_id, data in events
        ],
    )


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
        driver = await driver_of(conn)
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
