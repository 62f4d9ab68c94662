"""Every query of access control."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.platform.access.models import (
    Approval,
    ApprovalRule,
    CustomRole,
    Department,
    Person,
    RoleAssignment,
)
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.scim.models import Group, GroupMember
from atrium.platform.identity.security_models import Invitation


async def custom_roles(session: AsyncSession, tenant_id: str) -> Sequence[CustomRole]:
    return (
        await session.scalars(select(CustomRole).where(CustomRole.tenant_id == tenant_id).order_by(CustomRole.name))
    ).all()


async def custom_role(session: AsyncSession, tenant_id: str, name: str) -> CustomRole | None:
    return await session.scalar(
        select(CustomRole).where(CustomRole.tenant_id == tenant_id, func.lower(CustomRole.name) == name.lower())
    )


async def holders(session: AsyncSession, tenant_id: str, role: str) -> int:
    """How many memberships, assignments and pending invitations refer to a role."""
    members = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id, Membership.role == role)
    )
    assigned = await session.scalar(
        select(func.count())
        .select_from(RoleAssignment)
        .where(RoleAssignment.tenant_id == tenant_id, RoleAssignment.role == role)
    )
    invited = await session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.tenant_id == tenant_id,
            Invitation.role == role,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    )
    return (members or 0) + (assigned or 0) + (invited or 0)


async def holder_ids(session: AsyncSession, tenant_id: str, role: str) -> set[str]:
    """Active members holding a role, through their membership, directly, or through a group."""
    direct = select(RoleAssignment.user_id.label("user_id")).where(
        RoleAssignment.tenant_id == tenant_id, RoleAssignment.role == role, RoleAssignment.user_id.is_not(None)
    )
    grouped = (
        select(GroupMember.user_id.label("user_id"))
        .join(RoleAssignment, RoleAssignment.group_id == GroupMember.group_id)
        .where(RoleAssignment.tenant_id == tenant_id, RoleAssignment.role == role)
    )
    primary = select(Membership.user_id.label("user_id")).where(
        Membership.tenant_id == tenant_id, Membership.role == role
    )
    holders_ = union(direct, grouped, primary).subquery()
    active = await session.scalars(
        select(Membership.user_id).where(
            Membership.tenant_id == tenant_id, Membership.active, Membership.user_id.in_(select(holders_.c.user_id))
        )
    )
    return set(active)


async def assignments(
    session: AsyncSession, tenant_id: str, assignment_id: str | None = None
) -> list[tuple[RoleAssignment, str | None, str | None]]:
    """Assignments (or the one named) with the member's email or the group's name."""
    query = (
        select(RoleAssignment, User.email, Group.display_name)
        .outerjoin(User, User.id == RoleAssignment.user_id)
        .outerjoin(Group, Group.id == RoleAssignment.group_id)
        .where(RoleAssignment.tenant_id == tenant_id)
        .order_by(RoleAssignment.role, User.email, Group.display_name)
    )
    if assignment_id is not None:
        query = query.where(RoleAssignment.id == assignment_id)
    rows = await session.execute(query)
    return [(a, e, g) for a, e, g in rows]


async def assignment(session: AsyncSession, tenant_id: str, assignment_id: str) -> RoleAssignment | None:
    found = await session.get(RoleAssignment, assignment_id)
    return found if found is not None and found.tenant_id == tenant_id else None


async def find_assignment(
    session: AsyncSession, tenant_id: str, role: str, user_id: str | None, group_id: str | None
) -> RoleAssignment | None:
    return await session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.role == role,
            RoleAssignment.user_id == user_id if user_id else RoleAssignment.group_id == group_id,
        )
    )


async def members(session: AsyncSession, tenant_id: str) -> list[tuple[str, str, str]]:
    """(user id, email, primary role) of every member, by email."""
    rows = await session.execute(
        select(User.id, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.email)
    )
    return [(i, e, r) for i, e, r in rows]


async def member_roles(session: AsyncSession, tenant_id: str) -> dict[str, list[str]]:
    """Every member's roles (membership, direct and through groups), by user id."""
    found: dict[str, set[str]] = {}
    for user_id, role in await session.execute(
        select(Membership.user_id, Membership.role).where(Membership.tenant_id == tenant_id)
    ):
        found.setdefault(user_id, set()).add(role)
    for holder, role in await session.execute(
        select(RoleAssignment.user_id, RoleAssignment.role).where(
            RoleAssignment.tenant_id == tenant_id, RoleAssignment.user_id.is_not(None)
        )
    ):
        if holder is not None:
            found.setdefault(holder, set()).add(role)
    for user_id, role in await session.execute(
        select(GroupMember.user_id, RoleAssignment.role)
        .join(RoleAssignment, RoleAssignment.group_id == GroupMember.group_id)
        .where(RoleAssignment.tenant_id == tenant_id)
    ):
        found.setdefault(user_id, set()).add(role)
    return {u: sorted(r) for u, r in found.items()}


async def group_roles(session: AsyncSession, tenant_id: str, group_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(RoleAssignment.role).where(
                RoleAssignment.tenant_id == tenant_id, RoleAssignment.group_id == group_id
            )
        )
    )


async def group(session: AsyncSession, tenant_id: str, group_id: str) -> Group | None:
    found = await session.get(Group, group_id)
    return found if found is not None and found.tenant_id == tenant_id else None


async def groups(session: AsyncSession, tenant_id: str) -> list[tuple[Group, list[str]]]:
    """The tenant's groups with their members' emails."""
    listed = (
        await session.scalars(select(Group).where(Group.tenant_id == tenant_id).order_by(Group.display_name))
    ).all()
    members: dict[str, list[str]] = {}
    for group_id, email in await session.execute(
        select(GroupMember.group_id, User.email)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.tenant_id == tenant_id)
        .order_by(User.email)
    ):
        members.setdefault(group_id, []).append(email)
    return [(g, members.get(g.id, [])) for g in listed]


async def membership(session: AsyncSession, tenant_id: str, user_id: str) -> Membership | None:
    return await session.get(Membership, (user_id, tenant_id))


async def departments(session: AsyncSession, tenant_id: str) -> Sequence[Department]:
    return (
        await session.scalars(select(Department).where(Department.tenant_id == tenant_id).order_by(Department.name))
    ).all()


async def department(session: AsyncSession, tenant_id: str, department_id: str) -> Department | None:
    found = await session.get(Department, department_id)
    return found if found is not None and found.tenant_id == tenant_id else None


async def existing_departments(session: AsyncSession, tenant_id: str, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        await session.scalars(select(Department.id).where(Department.tenant_id == tenant_id, Department.id.in_(ids)))
    )


async def has_children(session: AsyncSession, department_id: str) -> bool:
    return (
        await session.scalar(select(Department.id).where(Department.parent_id == department_id).limit(1))
    ) is not None


async def people(session: AsyncSession, tenant_id: str) -> list[tuple[str, str, Person | None]]:
    """Every member with their place in the organisation (None when not placed yet)."""
    rows = await session.execute(
        select(User.id, User.email, Person)
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(Person, (Person.user_id == User.id) & (Person.tenant_id == tenant_id))
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.email)
    )
    return [(i, e, p) for i, e, p in rows]


async def approvals(session: AsyncSession, tenant_id: str, status: str | None = None) -> Sequence[Approval]:
    query = select(Approval).where(Approval.tenant_id == tenant_id)
    if status:
        query = query.where(Approval.status == status)
    return (await session.scalars(query.order_by(Approval.created_at.desc()).limit(500))).all()


async def approval(session: AsyncSession, tenant_id: str, approval_id: str, *, lock: bool = False) -> Approval | None:
    query = select(Approval).where(Approval.id == approval_id, Approval.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def approval_rules(session: AsyncSession, tenant_id: str) -> set[str]:
    return set(await session.scalars(select(ApprovalRule.action).where(ApprovalRule.tenant_id == tenant_id)))


async def members_by_ids(session: AsyncSession, tenant_id: str, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        await session.scalars(
            select(Membership.user_id).where(Membership.tenant_id == tenant_id, Membership.user_id.in_(ids))
        )
    )
