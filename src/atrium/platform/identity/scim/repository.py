"""Every query of SCIM provisioning; each one is scoped to the tenant the SCIM token names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.identity.models import User
from atrium.platform.identity.scim.models import Group, GroupMember, ScimUser, ScimUserEmail


async def scim_user(session: AsyncSession, tenant_id: str, scim_id: str) -> ScimUser | None:
    stmt = select(ScimUser).where(ScimUser.tenant_id == tenant_id, ScimUser.id == scim_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def scim_user_of(session: AsyncSession, tenant_id: str, user_id: str) -> ScimUser | None:
    stmt = select(ScimUser).where(ScimUser.tenant_id == tenant_id, ScimUser.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def scim_users_by_id(session: AsyncSession, tenant_id: str, scim_ids: Collection[str]) -> dict[str, ScimUser]:
    if not scim_ids:
        return {}
    stmt = select(ScimUser).where(ScimUser.tenant_id == tenant_id, ScimUser.id.in_(scim_ids))
    return {row.id: row for row in (await session.execute(stmt)).scalars()}


async def user_name_taken(session: AsyncSession, tenant_id: str, user_name: str, *, other_than: str | None) -> bool:
    stmt = select(ScimUser.id).where(
        ScimUser.tenant_id == tenant_id, func.lower(ScimUser.user_name) == user_name.lower()
    )
    if other_than is not None:
        stmt = stmt.where(ScimUser.id != other_than)
    return (await session.execute(stmt.limit(1))).first() is not None


async def platform_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(func.lower(User.email) == email.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def emails_of(session: AsyncSession, scim_ids: Collection[str]) -> dict[str, list[ScimUserEmail]]:
    found: dict[str, list[ScimUserEmail]] = defaultdict(list)
    if scim_ids:
        stmt = (
            select(ScimUserEmail)
            .where(ScimUserEmail.scim_user_id.in_(scim_ids))
            .order_by(ScimUserEmail.scim_user_id, ScimUserEmail.position)
        )
        for email in (await session.execute(stmt)).scalars():
            found[email.scim_user_id].append(email)
    return found


async def groups_of(session: AsyncSession, tenant_id: str, user_ids: Collection[str]) -> dict[str, list[Group]]:
    """The tenant's groups of each platform user."""
    found: dict[str, list[Group]] = defaultdict(list)
    if user_ids:
        stmt = (
            select(GroupMember.user_id, Group)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.tenant_id == tenant_id, GroupMember.user_id.in_(user_ids))
            .order_by(Group.display_name)
        )
        for user_id, group in (await session.execute(stmt)).all():
            found[user_id].append(group)
    return found


async def page(
    session: AsyncSession,
    model: type[ScimUser] | type[Group],
    tenant_id: str,
    *,
    where: ColumnElement[bool] | None,
    order_by: Any,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[int, Sequence[Any]]:
    """The total matching the filter, and one page of it (stable order: the sort key, then id)."""
    base = select(model).where(model.tenant_id == tenant_id)
    if where is not None:
        base = base.where(where)
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    if limit == 0:
        return total, []
    keys = [order_by.desc() if descending else order_by.asc()] if order_by is not None else []
    rows = (
        await session.execute(base.order_by(*keys, model.created_at, model.id).offset(offset).limit(limit))
    ).scalars()
    return total, rows.all()


async def group(session: AsyncSession, tenant_id: str, group_id: str) -> Group | None:
    stmt = select(Group).where(Group.tenant_id == tenant_id, Group.id == group_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def group_name_taken(session: AsyncSession, tenant_id: str, name: str, *, other_than: str | None) -> bool:
    stmt = select(Group.id).where(Group.tenant_id == tenant_id, func.lower(Group.display_name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Group.id != other_than)
    return (await session.execute(stmt.limit(1))).first() is not None


async def scim_members_of(
    session: AsyncSession, tenant_id: str, group_ids: Collection[str]
) -> dict[str, list[ScimUser]]:
    """The members of each group that SCIM knows (have a SCIM user in the tenant), by display order."""
    found: dict[str, list[ScimUser]] = defaultdict(list)
    if group_ids:
        stmt = (
            select(GroupMember.group_id, ScimUser)
            .join(ScimUser, (ScimUser.user_id == GroupMember.user_id) & (ScimUser.tenant_id == GroupMember.tenant_id))
            .where(GroupMember.tenant_id == tenant_id, GroupMember.group_id.in_(group_ids))
            .order_by(ScimUser.user_name)
        )
        for group_id, member in (await session.execute(stmt)).all():
            found[group_id].append(member)
    return found
