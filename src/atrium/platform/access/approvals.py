"""Four-eyes approval of privileged actions.

A tenant chooses which registered actions need a second person. Such an action is not run when
asked: it is stored with its validated payload, and runs only when another member who holds both
``access.approval.decide`` and the action's own permission approves it. It then runs in the
approver's transaction, inside a savepoint: if it fails (say the role was deleted meanwhile)
nothing of it is written and the request is marked failed with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, Conflict, Forbidden, NotFound, ValidationFailed
from atrium.platform.access import repository as repo
from atrium.platform.access.exceptions import PermissionDenied
from atrium.platform.access.models import Approval, ApprovalRule
from atrium.platform.access.schemas import ApprovalActionRead
from atrium.platform.access.subject import Subject
from atrium.platform.identity import events


@dataclass(frozen=True)
class Actor:
    """Who runs the action: the requester when no approval is needed, else the approver. Their
    subject lets an action refuse to grant more than they hold themselves."""

    id: str
    email: str
    subject: Subject


class _DryRun(Exception):
    """Raised inside a savepoint to undo a trial run of an action."""


Handler = Callable[[AsyncSession, str, dict[str, Any], Actor], Awaitable[dict[str, Any]]]
"""(platform session, tenant id, payload, actor) -> a small result to show."""


@dataclass(frozen=True)
class Action:
    key: str
    description: str
    permission: str
    run: Handler


ACTIONS: dict[str, Action] = {}


def register(key: str, description: str, permission: str, run: Handler) -> None:
    ACTIONS[key] = Action(key, description, permission, run)


async def rules(session: AsyncSession, tenant_id: str) -> list[ApprovalActionRead]:
    required = await repo.approval_rules(session, tenant_id)
    return [
        ApprovalActionRead(action=a.key, description=a.description, permission=a.permission, required=a.key in required)
        for a in ACTIONS.values()
    ]


async def set_rules(session: AsyncSession, tenant_id: str, actions: list[str], *, actor: str) -> None:
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValidationFailed(f"unknown actions: {', '.join(unknown)}", field="actions")
    await session.execute(delete(ApprovalRule).where(ApprovalRule.tenant_id == tenant_id))
    session.add_all(ApprovalRule(tenant_id=tenant_id, action=a, created_by=actor) for a in dict.fromkeys(actions))
    await session.flush()
    await events.record(
        session,
        "access.approval.rules_changed",
        user_id=None,
        object_type="approval_rules",
        object_id=tenant_id,
        tenant_id=tenant_id,
        actor=actor,
        data={"actions": sorted(set(actions))},
    )


async def perform(
    session: AsyncSession,
    tenant_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    summary: str,
    requester: Subject,
    requested_by: str | None,
    requested_by_email: str,
    reason: str = "",
    force: bool = False,
) -> Approval | dict[str, Any]:
    """Run the action now, or queue it when the tenant requires approval for it. A queued action
    is first tried in a savepoint that is rolled back, so a request that could never succeed (an
    unknown role, a condition naming no department) is refused now, not when someone approves it."""
    actor = Actor(requester.user_id, requested_by_email, requester)
    if not force and action not in await repo.approval_rules(session, tenant_id):
        return await ACTIONS[action].run(session, tenant_id, payload, actor)
    try:
        async with session.begin_nested():
            await ACTIONS[action].run(session, tenant_id, dict(payload), actor)
            raise _DryRun
    except _DryRun:
        pass
    approval = Approval(
        tenant_id=tenant_id,
        action=action,
        summary=summary[:500],
        payload=payload,
        reason=reason[:500],
        requested_by=requested_by,
        requested_by_email=requested_by_email,
    )
    session.add(approval)
    await session.flush()
    await _event(session, "access.approval.requested", approval, requested_by_email)
    return approval


async def decide(
    session: AsyncSession,
    tenant_id: str,
    approval_id: str,
    *,
    approve: bool,
    approver: Subject,
    approver_email: str,
    note: str = "",
) -> Approval:
    approval = await repo.approval(session, tenant_id, approval_id, lock=True)
    if approval is None:
        raise NotFound(f"no approval request {approval_id!r}", field="approval_id")
    if approval.status != "pending":
        raise Conflict(f"the request was already {approval.status}", field="approval_id")
    if approval.requested_by == approver.user_id or approval.requested_by_email == approver_email:
        raise Forbidden("you asked for this; someone else must decide it", field="approval_id")
    action = ACTIONS.get(approval.action)
    if action is None:
        raise Conflict(f"the action {approval.action!r} no longer exists", field="approval_id")
    if not approver.allows(action.permission):
        raise PermissionDenied(action.permission, f"deciding needs {action.permission!r} too")
    approval.decided_by = approver.user_id
    approval.decided_by_email = approver_email
    approval.decided_at = utcnow()
    approval.decision_note = note[:500]
    if not approve:
        approval.status = "rejected"
        await _event(session, "access.approval.rejected", approval, approver_email)
        return approval
    try:
        async with session.begin_nested():
            approval.result = await action.run(
                session, tenant_id, dict(approval.payload), Actor(approver.user_id, approver_email, approver)
            )
        approval.status = "approved"
    except AtriumError as exc:
        approval.status = "failed"
        approval.result = {"error": exc.detail, "code": exc.code}
    except (IntegrityError, ValidationError) as exc:  # a race or a payload the rules no longer accept
        approval.status = "failed"
        approval.result = {"error": str(exc).splitlines()[0][:300], "code": "conflict"}
    await session.flush()
    await _event(session, f"access.approval.{approval.status}", approval, approver_email)
    return approval


async def _event(session: AsyncSession, name: str, a: Approval, actor: str) -> None:
    await events.record(
        session,
        name,
        user_id=a.requested_by,
        object_type="approval",
        object_id=a.id,
        tenant_id=a.tenant_id,
        actor=actor,
        data={"action": a.action, "summary": a.summary, "requested_by": a.requested_by_email},
    )
