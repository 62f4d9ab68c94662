"""Impersonation ("view as"): a Tenant Admin or Platform Admin sees one tenant as another member
sees it, to test a role. It is bound to the administrator's browser session and to that tenant:
elsewhere they stay themselves. Every request made meanwhile is audited with both people, and
privileged permissions stay refused (``Access.demand``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Forbidden, NotFound
from atrium.platform.access import subject as subjects
from atrium.platform.access.models import Impersonation
from atrium.platform.access.service import ensure_can_grant
from atrium.platform.access.subject import Subject
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership, User
from atrium.runtime import Runtime

if TYPE_CHECKING:
    from atrium.api.deps import Principal

SESSION_KEY = "impersonation"


async def start(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: Principal,
    actor_subject: Subject,
    subject_id: str,
    reason: str,
) -> Impersonation:
    """Begin viewing ``tenant_id`` as ``subject_id``. Only from a browser session, with a reason,
    never as oneself, never as a platform administrator, only as an active member, and only as
    someone who holds nothing the administrator does not (viewing as is not a way to gain rights)."""
    if actor.via != "session" or actor.session_id is None:
        raise Forbidden("impersonation happens in the console: sign in with a browser session")
    if actor.impersonator_id is not None:
        raise Forbidden("stop viewing as the current member first")
    reason = reason.strip()
    if len(reason) < 5:
        raise BadRequest("say why you view as this member (at least 5 characters)", field="reason")
    if subject_id == actor.id:
        raise BadRequest("you cannot impersonate yourself", field="user_id")
    found = (
        await session.execute(
            select(User, Membership.active)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == subject_id, Membership.tenant_id == tenant_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"no member {subject_id!r} in this tenant", field="user_id")
    user, active = found
    if user.is_platform_admin:
        raise Forbidden("platform administrators cannot be impersonated", field="user_id")
    if not active:
        raise BadRequest("the member is suspended; activate them to view as them", field="user_id")
    ensure_can_grant(actor_subject, frozenset((await subjects.load(session, tenant_id, user.id)).grants))
    await _end_open(session, actor.session_id)
    record = Impersonation(
        tenant_id=tenant_id, actor_id=actor.id, subject_id=user.id, session_id=actor.session_id, reason=reason
    )
    session.add(record)
    await session.flush()
    await events.record(
        session,
        "access.impersonation.started",
        user_id=user.id,
        object_type="impersonation",
        object_id=record.id,
        tenant_id=tenant_id,
        data={"actor_id": actor.id, "actor": actor.email, "subject": user.email, "reason": reason},
    )
    return record


async def stop(session: AsyncSession, impersonation_id: str, actor_id: str) -> Impersonation | None:
    record = await session.get(Impersonation, impersonation_id)
    if record is None or record.actor_id != actor_id or record.ended_at is not None:
        return None
    await _end(session, record, {"actor_id": actor_id})
    return record


async def _end(session: AsyncSession, record: Impersonation, data: dict[str, str]) -> None:
    record.ended_at = utcnow()
    await events.record(
        session,
        "access.impersonation.stopped",
        user_id=record.subject_id,
        object_type="impersonation",
        object_id=record.id,
        tenant_id=record.tenant_id,
        data=data,
    )


async def _end_open(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        update(Impersonation)
        .where(Impersonation.session_id == session_id, Impersonation.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


async def active(session: AsyncSession, impersonation_id: str, session_id: str | None) -> Impersonation | None:
    record = await session.get(Impersonation, impersonation_id)
    if record is None or record.ended_at is not None or record.session_id != session_id:
        return None
    return record


async def _still_allowed(session: AsyncSession, record: Impersonation, actor: Principal) -> bool:
    """The administrator still may impersonate here (a removal or demotion ends it at once)."""
    if actor.platform_admin:
        return True
    return (await subjects.load(session, record.tenant_id, actor.id)).allows("access.impersonation.start")


def _tenant_key(request: Request) -> str | None:
    params = request.path_params
    key = params.get("tenant") or params.get("slug")
    return str(key) if key else None


async def apply(rt: Runtime, request: Request, principal: Principal) -> Principal:
    """The caller as seen by a request: the impersonated member when the request is inside the
    impersonated tenant, the administrator themselves anywhere else. Audits the request."""
    key = _tenant_key(request)
    if key is None:
        return principal
    async with rt.db.platform_session() as session, session.begin():
        record = await active(session, str(request.session[SESSION_KEY]), principal.session_id)
        if record is None:
            request.session.pop(SESSION_KEY, None)
            return principal
        ref = await rt.tenants.resolve(key)
        if ref is None or ref.id != record.tenant_id:
            return principal
        user = await session.get(User, record.subject_id)
        if user is None or not await _still_allowed(session, record, principal):
            request.session.pop(SESSION_KEY, None)
            await _end(
                session, record, {"actor_id": principal.id, "why": "the administrator may no longer impersonate"}
            )
            return principal
        await audit.record(
            session,
            action="access.impersonation.request",
            tenant_id=record.tenant_id,
            object_type="impersonation",
            object_id=record.id,
            actor=principal.email,
            data={"subject": user.email, "subject_id": user.id, "method": request.method, "path": request.url.path},
        )
    context.actor.set(f"{user.email} (impersonated by {principal.email})")
    context.user_id.set(user.id)
    return dataclasses.replace(
        principal,
        id=user.id,
        email=user.email,
        platform_admin=False,
        tenant_ids=frozenset({record.tenant_id}),
        impersonator_id=principal.id,
        impersonator_email=principal.email,
        impersonation_id=record.id,
    )
