"""SCIM provisioning of one tenant's users and groups (RFC 7643/7644), with no HTTP in it.

Payloads are read with scim2-models in the context of their request (creation, replacement,
patch); every failure is a ``SCIMException`` carrying its status and ``scimType``. Functions flush
but never commit, so a failure half-way leaves nothing written.

Users: ``POST /Users`` links the platform account with the user's email address, or creates one
with no usable password and a verified address (the tenant vouches for it); such people sign in
through the tenant's SSO or a password reset. The link never changes afterwards, and nothing the
IdP sends touches the platform account, which other tenants share. ``active=false`` suspends the
tenant membership; DELETE ends it.

Groups: members are named by their SCIM user id. SCIM sees and manages the members that are
SCIM users of the tenant; members added in Atrium otherwise are left alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    Meta,
    NotFoundException,
    PatchOp,
    PreconditionFailedException,
    Resource,
    SCIMException,
    UniquenessException,
)
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.platform.entitlements.service import check_seat_available
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.scim import filters, repository
from atrium.platform.identity.scim import resources as scim
from atrium.platform.identity.scim.models import Group, GroupMember, ScimUser, ScimUserEmail
from atrium.platform.identity.service import MEMBER

R = TypeVar("R", bound=Resource[Any])


@dataclass(frozen=True)
class Caller:
    """The IdP calling: the tenant its token names, who to record as actor, and the SCIM base URL."""

    tenant_id: str
    actor: str
    base_url: str

    def location(self, endpoint: str, resource_id: str) -> str:
        return f"{self.base_url}/{endpoint}/{resource_id}"


@dataclass(frozen=True)
class ListQuery:
    """``filter``, ``sortBy``, ``sortOrder``, ``startIndex`` and ``count`` of a list or search."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = scim.MAX_RESULTS


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    resources: list[Any]


# ---------------------------------------------------------------------------------------- reading


def read(model: type[R], payload: Any, ctx: Context) -> R:
    """A request payload as a scim2-models resource, or the SCIM error saying what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the request body must be a JSON object")
    schemas = payload.get("schemas")
    if not isinstance(schemas, list) or str(model.__schema__) not in schemas:
        raise InvalidSyntaxException(detail=f"'schemas' must contain {model.__schema__}")
    try:
        return model.model_validate(payload, scim_ctx=ctx, scim_policy=scim.POLICY)
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


def read_patch(model: type[R], payload: Any) -> PatchOp[R]:
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the request body must be a JSON object")
    if scim.PATCH_SCHEMA not in (payload.get("schemas") or []):
        raise InvalidSyntaxException(detail=f"'schemas' must contain {scim.PATCH_SCHEMA}")
    try:
        patch: PatchOp[R] = PatchOp[model].model_validate(  # type: ignore[valid-type]
            payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=scim.POLICY
        )
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None
    return patch


def _etag(version: int) -> str:
    return f'W/"{version}"'


def check_version(version: int, if_match: str | None) -> None:
    """Honour ``If-Match`` (RFC 7644 §3.14): a write against a stale version is refused (412)."""
    if if_match is None or if_match.strip() == "*":
        return
    if _etag(version) not in [tag.strip() for tag in if_match.split(",")]:
        raise PreconditionFailedException(detail="the resource changed since that version was read")


def _meta(kind: str, row: ScimUser | Group, location: str) -> Meta:
    return Meta(
        resource_type=kind,
        created=row.created_at,
        last_modified=row.updated_at,
        location=location,
        version=_etag(row.version),
    )


def _touch(row: ScimUser | Group) -> None:
    row.version += 1
    row.updated_at = utcnow()


async def _flush(session: AsyncSession, what: str) -> None:
    """Flush; a unique index hit by a concurrent request is the same 409 as one seen beforehand."""
    try:
        await session.flush()
    except IntegrityError:
        raise UniquenessException(detail=f"{what} is already taken in this tenant") from None


# ------------------------------------------------------------------------------------------ users


async def user_resources(session: AsyncSession, caller: Caller, rows: Sequence[ScimUser]) -> list[scim.User]:
    emails = await repository.emails_of(session, [row.id for row in rows])
    groups = await repository.groups_of(session, caller.tenant_id, [row.user_id for row in rows])
    return [_user_resource(caller, row, emails.get(row.id, []), groups.get(row.user_id, [])) for row in rows]


def _user_resource(caller: Caller, row: ScimUser, emails: list[ScimUserEmail], groups: list[Group]) -> scim.User:
    name = scim.Name(given_name=row.given_name, family_name=row.family_name)
    return scim.User(
        id=row.id,
        external_id=row.external_id,
        meta=_meta("User", row, caller.location("Users", row.id)),
        user_name=row.user_name,
        name=name if row.given_name is not None or row.family_name is not None else None,
        display_name=row.display_name,
        active=row.active,
        emails=[scim.Email(value=e.value, type=e.type, primary=e.primary) for e in emails] or None,
        groups=[scim.UserGroup(value=g.id, ref=caller.location("Groups", g.id), display=g.display_name) for g in groups]
        or None,
    )


def _sign_in_email(user: scim.User) -> str:
    """The address that names the person on the platform: the primary email, else the first one."""
    listed = [e for e in user.emails or [] if e.value]
    chosen = next((e for e in listed if e.primary), listed[0] if listed else None)
    if chosen is None:
        raise InvalidValueException(detail="a user needs an email address in 'emails'")
    return str(chosen.value).strip().lower()


async def _check_user_name(session: AsyncSession, caller: Caller, user: scim.User, other_than: str | None) -> str:
    user_name = (user.user_name or "").strip()
    if not user_name:
        raise InvalidValueException(detail="'userName' is required")
    if len(user_name) > 255:
        raise InvalidValueException(detail="'userName' is longer than 255 characters")
    if await repository.user_name_taken(session, caller.tenant_id, user_name, other_than=other_than):
        raise UniquenessException(detail=f"userName {user_name!r} is already taken in this tenant")
    return user_name


async def _write_user(session: AsyncSession, row: ScimUser, user: scim.User, user_name: str) -> None:
    """Copy the SCIM attributes onto the tenant's record of the person (never the platform account)."""
    row.user_name = user_name
    row.external_id = user.external_id
    row.given_name = user.name.given_name if user.name else None
    row.family_name = user.name.family_name if user.name else None
    row.display_name = user.display_name
    row.active = user.active
    await session.execute(delete(ScimUserEmail).where(ScimUserEmail.scim_user_id == row.id))
    for position, email in enumerate(user.emails or []):
        if not email.value:
            raise InvalidValueException(detail=f"emails[{position}] has no value")
        session.add(
            ScimUserEmail(
                tenant_id=row.tenant_id,
                scim_user_id=row.id,
                position=position,
                value=str(email.value),
                type=str(email.type) if email.type is not None else None,
                primary=email.primary,
            )
        )


async def _platform_account(session: AsyncSession, caller: Caller, email: str) -> tuple[User, bool]:
    """The platform account with this address, or a new one (no usable password, address verified)."""
    user = await repository.platform_user_by_email(session, email)
    if user is not None:
        return user, False
    user = User(
        email=email,
        password_hash=await hash_password(secrets.token_urlsafe(32)),  # never told to anyone: SSO or a reset
        terms_version="scim",
        email_verified_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await events.record(
        session,
        "user.created",
        user_id=user.id,
        tenant_id=caller.tenant_id,
        data={"email": email, "via": "scim"},
        actor=caller.actor,
    )
    return user, True


async def _set_membership(session: AsyncSession, caller: Caller, user_id: str, *, active: bool) -> None:
    membership = await session.get(Membership, (user_id, caller.tenant_id))
    if membership is None:
        if active:
            await check_seat_available(session, caller.tenant_id)
        session.add(Membership(user_id=user_id, tenant_id=caller.tenant_id, role=MEMBER, active=active))
        await events.record(
            session,
            "tenant.membership.granted",
            user_id=user_id,
            tenant_id=caller.tenant_id,
            data={"role": MEMBER, "via": "scim"},
            actor=caller.actor,
        )
    else:
        if active and not membership.active:  # reactivation takes a seat again
            await check_seat_available(session, caller.tenant_id)
        membership.active = active


async def create_user(session: AsyncSession, caller: Caller, payload: Any) -> scim.User:
    user = read(scim.User, payload, Context.RESOURCE_CREATION_REQUEST)
    user_name = await _check_user_name(session, caller, user, None)
    account, created = await _platform_account(session, caller, _sign_in_email(user))
    existing = await repository.scim_user_of(session, caller.tenant_id, account.id)
    if existing is not None:
        raise UniquenessException(detail=f"this person is already provisioned in the tenant as {existing.id}")
    row = ScimUser(tenant_id=caller.tenant_id, user_id=account.id, user_name=user_name, version=1)
    session.add(row)
    await _write_user(session, row, user, user_name)
    await _set_membership(session, caller, account.id, active=row.active is not False)
    await _flush(session, f"userName {user_name!r}")
    await events.record(
        session,
        "scim.user.created",
        user_id=account.id,
        object_type="scim_user",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        data={"account_created": created, "active": row.active is not False},
        actor=caller.actor,
    )
    return (await user_resources(session, caller, [row]))[0]


async def _user_row(session: AsyncSession, caller: Caller, scim_id: str) -> ScimUser:
    row = await repository.scim_user(session, caller.tenant_id, scim_id)
    if row is None:
        raise NotFoundException(detail=f"no user {scim_id!r} in this tenant")
    return row


async def get_user(session: AsyncSession, caller: Caller, scim_id: str) -> scim.User:
    return (await user_resources(session, caller, [await _user_row(session, caller, scim_id)]))[0]


async def _rows(
    session: AsyncSession, caller: Caller, model: Any, attributes: Any, query: ListQuery
) -> tuple[int, Any]:
    """One page of a resource type: the SCIM filter and sort translated to SQL, in the caller's tenant."""
    where = filters.where(attributes, query.filter) if query.filter else None
    order = filters.sort_column(attributes, query.sort_by) if query.sort_by else None
    return await repository.page(
        session,
        model,
        caller.tenant_id,
        where=where,
        order_by=order,
        descending=query.descending,
        offset=query.start_index - 1,
        limit=query.count,
    )


async def list_users(session: AsyncSession, caller: Caller, query: ListQuery) -> Page:
    total, rows = await _rows(session, caller, ScimUser, filters.USERS, query)
    return Page(total, query.start_index, await user_resources(session, caller, rows))


async def _save_user(
    session: AsyncSession, caller: Caller, row: ScimUser, before: scim.User, after: scim.User
) -> scim.User:
    """Write the new state of a user and record what changed; deactivation suspends the membership."""
    user_name = await _check_user_name(session, caller, after, row.id)
    was_active = row.active is not False
    await _write_user(session, row, after, user_name)
    _touch(row)
    active = row.active is not False
    await _set_membership(session, caller, row.user_id, active=active)
    await _flush(session, f"userName {user_name!r}")
    changed = sorted(
        name
        for name in ("user_name", "external_id", "name", "display_name", "active", "emails")
        if getattr(before, name) != getattr(after, name)
    )
    action = "scim.user.updated"
    if was_active and not active:
        action = "scim.user.deactivated"
    elif active and not was_active:
        action = "scim.user.reactivated"
    await events.record(
        session,
        action,
        user_id=row.user_id,
        object_type="scim_user",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        data={"changed": changed, "active": active},
        actor=caller.actor,
    )
    return (await user_resources(session, caller, [row]))[0]


async def replace_user(
    session: AsyncSession, caller: Caller, scim_id: str, payload: Any, if_match: str | None
) -> scim.User:
    row = await _user_row(session, caller, scim_id)
    check_version(row.version, if_match)
    before = (await user_resources(session, caller, [row]))[0]
    after = read(scim.User, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    after.replace(before)
    return await _save_user(session, caller, row, before, after)


async def patch_user(
    session: AsyncSession, caller: Caller, scim_id: str, payload: Any, if_match: str | None
) -> scim.User:
    patch = read_patch(scim.User, payload)
    row = await _user_row(session, caller, scim_id)
    check_version(row.version, if_match)
    before = (await user_resources(session, caller, [row]))[0]
    after = before.model_copy(deep=True)
    if not patch.patch(after, scim_policy=scim.POLICY):
        return before
    return await _save_user(session, caller, row, before, after)


async def delete_user(session: AsyncSession, caller: Caller, scim_id: str, if_match: str | None) -> None:
    """End the person's membership of the tenant and forget the tenant's SCIM record of them; the
    platform account (and other tenants' view of it) stays."""
    row = await _user_row(session, caller, scim_id)
    check_version(row.version, if_match)
    await session.execute(
        delete(GroupMember).where(GroupMember.tenant_id == caller.tenant_id, GroupMember.user_id == row.user_id)
    )
    await session.execute(
        delete(Membership).where(Membership.tenant_id == caller.tenant_id, Membership.user_id == row.user_id)
    )
    await session.delete(row)
    await session.flush()
    await events.record(
        session,
        "scim.user.deleted",
        user_id=row.user_id,
        object_type="scim_user",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        actor=caller.actor,
    )


# ----------------------------------------------------------------------------------------- groups


async def group_resources(session: AsyncSession, caller: Caller, rows: Sequence[Group]) -> list[scim.Group]:
    members = await repository.scim_members_of(session, caller.tenant_id, [row.id for row in rows])
    return [
        scim.Group(
            id=row.id,
            external_id=row.external_id,
            meta=_meta("Group", row, caller.location("Groups", row.id)),
            display_name=row.display_name,
            members=[
                scim.GroupMember(value=m.id, ref=caller.location("Users", m.id), type="User")
                for m in members.get(row.id, [])
            ]
            or None,
        )
        for row in rows
    ]


async def _check_display_name(session: AsyncSession, caller: Caller, group: scim.Group, other_than: str | None) -> str:
    name = (group.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="'displayName' is required")
    if len(name) > 255:
        raise InvalidValueException(detail="'displayName' is longer than 255 characters")
    if await repository.group_name_taken(session, caller.tenant_id, name, other_than=other_than):
        raise UniquenessException(detail=f"a group named {name!r} already exists in this tenant")
    return name


async def _member_accounts(session: AsyncSession, caller: Caller, group: scim.Group) -> set[str]:
    """The platform accounts the listed members stand for; each must be a SCIM user of this tenant."""
    wanted: list[str] = []
    for position, member in enumerate(group.members or []):
        if not member.value:
            raise InvalidValueException(detail=f"members[{position}] has no value")
        if member.type not in (None, "User"):
            raise InvalidValueException(detail=f"members[{position}]: only users can be members (groups do not nest)")
        wanted.append(member.value)
    found = await repository.scim_users_by_id(session, caller.tenant_id, set(wanted))
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise InvalidValueException(detail=f"no user {unknown[0]!r} in this tenant to make a member")
    return {row.user_id for row in found.values()}


async def _write_group(
    session: AsyncSession, caller: Caller, row: Group, group: scim.Group, name: str
) -> dict[str, int]:
    """Copy the attributes and bring the SCIM-known members to the listed ones."""
    row.display_name = name
    row.external_id = group.external_id
    wanted = await _member_accounts(session, caller, group)
    current = {
        m.user_id for m in (await repository.scim_members_of(session, caller.tenant_id, [row.id])).get(row.id, [])
    }
    for user_id in wanted - current:
        session.add(GroupMember(group_id=row.id, user_id=user_id, tenant_id=caller.tenant_id))
    gone = current - wanted
    if gone:
        await session.execute(
            delete(GroupMember).where(
                GroupMember.tenant_id == caller.tenant_id, GroupMember.group_id == row.id, GroupMember.user_id.in_(gone)
            )
        )
    return {"members_added": len(wanted - current), "members_removed": len(gone)}


async def create_group(session: AsyncSession, caller: Caller, payload: Any) -> scim.Group:
    group = read(scim.Group, payload, Context.RESOURCE_CREATION_REQUEST)
    name = await _check_display_name(session, caller, group, None)
    row = Group(tenant_id=caller.tenant_id, display_name=name, version=1)
    session.add(row)
    await _flush(session, f"the group name {name!r}")
    counts = await _write_group(session, caller, row, group, name)
    await _flush(session, f"the group name {name!r}")
    await events.record(
        session,
        "scim.group.created",
        user_id=None,
        object_type="group",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        data={"display_name": name, **counts},
        actor=caller.actor,
    )
    return (await group_resources(session, caller, [row]))[0]


async def _group_row(session: AsyncSession, caller: Caller, group_id: str) -> Group:
    row = await repository.group(session, caller.tenant_id, group_id)
    if row is None:
        raise NotFoundException(detail=f"no group {group_id!r} in this tenant")
    return row


async def get_group(session: AsyncSession, caller: Caller, group_id: str) -> scim.Group:
    return (await group_resources(session, caller, [await _group_row(session, caller, group_id)]))[0]


async def list_groups(session: AsyncSession, caller: Caller, query: ListQuery) -> Page:
    total, rows = await _rows(session, caller, Group, filters.GROUPS, query)
    return Page(total, query.start_index, await group_resources(session, caller, rows))


async def _save_group(session: AsyncSession, caller: Caller, row: Group, after: scim.Group) -> scim.Group:
    name = await _check_display_name(session, caller, after, row.id)
    counts = await _write_group(session, caller, row, after, name)
    _touch(row)
    await _flush(session, f"the group name {name!r}")
    await events.record(
        session,
        "scim.group.updated",
        user_id=None,
        object_type="group",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        data={"display_name": name, **counts},
        actor=caller.actor,
    )
    return (await group_resources(session, caller, [row]))[0]


async def replace_group(
    session: AsyncSession, caller: Caller, group_id: str, payload: Any, if_match: str | None
) -> scim.Group:
    row = await _group_row(session, caller, group_id)
    check_version(row.version, if_match)
    before = (await group_resources(session, caller, [row]))[0]
    after = read(scim.Group, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    after.replace(before)
    return await _save_group(session, caller, row, after)


async def patch_group(
    session: AsyncSession, caller: Caller, group_id: str, payload: Any, if_match: str | None
) -> scim.Group:
    patch = read_patch(scim.Group, payload)
    row = await _group_row(session, caller, group_id)
    check_version(row.version, if_match)
    before = (await group_resources(session, caller, [row]))[0]
    after = before.model_copy(deep=True)
    if not patch.patch(after, scim_policy=scim.POLICY):
        return before
    return await _save_group(session, caller, row, after)


async def delete_group(session: AsyncSession, caller: Caller, group_id: str, if_match: str | None) -> None:
    row = await _group_row(session, caller, group_id)
    check_version(row.version, if_match)
    await session.delete(row)
    await session.flush()
    await events.record(
        session,
        "scim.group.deleted",
        user_id=None,
        object_type="group",
        object_id=row.id,
        tenant_id=caller.tenant_id,
        data={"display_name": row.display_name},
        actor=caller.actor,
    )
