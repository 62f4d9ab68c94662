"""Rules of access control: roles, assignments, groups and the organisation.

Every change is an audit event and a ``user.events`` event under one name, in the caller's
transaction; roles carry a version that each change bumps. A change that would leave the tenant
without an active Tenant Admin is refused, whichever way it would happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access import catalog, predicates
from atrium.platform.access import repository as repo
from atrium.platform.access.exceptions import PermissionDenied
from atrium.platform.access.models import CustomRole, Department, Person, RoleAssignment
from atrium.platform.access.schemas import (
    AssignmentCreate,
    AssignmentRead,
    DepartmentCreate,
    DepartmentUpdate,
    GroupRead,
    MemberRolesRead,
    PermissionSetRead,
    PersonRead,
    PersonUpdate,
    RoleCreate,
    RoleRead,
    RoleUpdate,
)
from atrium.platform.access.subject import Subject
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership
from atrium.platform.identity.scim.models import Group, GroupMember
from atrium.platform.identity.security_models import Invitation

# -- catalogue ----------------------------------------------------------------------------------


def permission_sets() -> list[PermissionSetRead]:
    return [
        PermissionSetRead(
            key=s.key, name=s.name, description=s.description, patterns=list(s.patterns), permissions=sorted(s.expand())
        )
        for s in catalog.PERMISSION_SETS.values()
    ]


def _system_read(role: catalog.SystemRole) -> RoleRead:
    return RoleRead(
        id=None,
        name=role.name,
        description=role.description,
        system=True,
        platform_wide=role.platform_wide,
        permission_sets=list(role.permission_sets),
        permissions=sorted(catalog.role_permissions(role.permission_sets)),
        step_up=role.step_up,
    )


def role_read(role: CustomRole) -> RoleRead:
    return RoleRead(
        id=role.id,
        name=role.name,
        description=role.description,
        system=False,
        permission_sets=list(role.permission_sets),
        permissions=sorted(catalog.role_permissions(role.permission_sets)),
        condition=role.condition,
        require_mfa=role.require_mfa,
        session_minutes=role.session_minutes,
        step_up=role.step_up,
        version=role.version,
        updated_at=role.updated_at,
    )


async def list_roles(session: AsyncSession, tenant_id: str) -> list[RoleRead]:
    return [_system_read(r) for r in catalog.SYSTEM_ROLES.values()] + [
        role_read(r) for r in await repo.custom_roles(session, tenant_id)
    ]


async def get_role(session: AsyncSession, tenant_id: str, name: str) -> RoleRead:
    system = catalog.system_role(name)
    if system is not None:
        return _system_read(system)
    role = await repo.custom_role(session, tenant_id, name)
    if role is None:
        raise NotFound(f"no role {name!r}", field="role")
    return role_read(role)


async def assignable(session: AsyncSession, tenant_id: str, name: str) -> str:
    """The exact name of a role members of this tenant can hold (not Platform Admin)."""
    system = catalog.system_role(name)
    if system is not None and not system.platform_wide:
        return system.name
    if system is not None:
        raise ValidationFailed("Platform Admin is platform-wide, not a tenant role", field="role")
    role = await repo.custom_role(session, tenant_id, name)
    if role is None:
        raise ValidationFailed(f"no role {name!r} in this tenant", field="role")
    return role.name


async def roles_offered(session: AsyncSession, tenant_id: str) -> list[str]:
    return list(catalog.TENANT_ROLES) + [r.name for r in await repo.custom_roles(session, tenant_id)]


# -- no escalation ------------------------------------------------------------------------------


def ensure_can_grant(grantor: Subject | None, permissions: frozenset[str]) -> None:
    """Nobody hands out more than they hold themselves, on every row: an administrator of roles
    who lacks a permission cannot create a role with it, nor assign a role that carries it."""
    if grantor is None:
        return
    missing = sorted(p for p in permissions if not grantor.unconditional(p))
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise PermissionDenied(missing[0], f"you cannot grant permissions you do not hold yourself: {shown}")


async def role_grants(session: AsyncSession, tenant_id: str, name: str) -> frozenset[str]:
    """The permissions a role of this tenant carries."""
    system = catalog.system_role(name)
    if system is not None:
        return catalog.role_permissions(system.permission_sets)
    role = await repo.custom_role(session, tenant_id, name)
    return catalog.role_permissions(role.permission_sets) if role is not None else frozenset()


# -- custom roles -------------------------------------------------------------------------------


def _check_sets(keys: list[str]) -> list[str]:
    unknown = [k for k in keys if k not in catalog.PERMISSION_SETS]
    if unknown:
        raise ValidationFailed(f"unknown permission sets: {', '.join(unknown)}", field="permission_sets")
    return list(dict.fromkeys(keys))


async def _check_condition(session: AsyncSession, tenant_id: str, condition: dict[str, Any] | None) -> Any:
    if condition is None:
        return None
    try:
        parsed = predicates.parse(condition)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"condition: {first['msg']} (at {where})", field="condition") from None
    except ValueError as exc:
        raise ValidationFailed(f"condition: {exc}", field="condition") from None
    named = predicates.departments_named(parsed)
    missing = named - await repo.existing_departments(session, tenant_id, named)
    if missing:
        raise ValidationFailed(f"condition names unknown departments: {', '.join(sorted(missing))}", field="condition")
    return predicates.dump(parsed)


async def _check_name(session: AsyncSession, tenant_id: str, name: str, current: CustomRole | None = None) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("a role needs a name", field="name")
    if catalog.system_role(name) is not None or name.lower() in {r.lower() for r in catalog.SYSTEM_ROLES}:
        raise Conflict(f"{name!r} is a system role", field="name")
    clash = await repo.custom_role(session, tenant_id, name)
    if clash is not None and clash is not current:
        raise Conflict(f"a role named {name!r} exists", field="name")
    return name


async def create_role(
    session: AsyncSession, tenant_id: str, data: RoleCreate, *, actor: str, grantor: Subject | None = None
) -> CustomRole:
    ensure_can_grant(grantor, catalog.role_permissions(data.permission_sets))
    role = CustomRole(
        tenant_id=tenant_id,
        name=await _check_name(session, tenant_id, data.name),
        description=data.description,
        permission_sets=_check_sets(data.permission_sets),
        condition=await _check_condition(session, tenant_id, data.condition),
        require_mfa=data.require_mfa,
        session_minutes=data.session_minutes,
        step_up=data.step_up,
        updated_by=actor,
    )
    session.add(role)
    await session.flush()
    await _role_event(session, "access.role.created", role, actor)
    return role


async def update_role(
    session: AsyncSession,
    tenant_id: str,
    name: str,
    data: RoleUpdate,
    *,
    actor: str,
    grantor: Subject | None = None,
) -> CustomRole:
    role = await _custom(session, tenant_id, name)
    changes = data.model_dump(exclude_unset=True)
    old_name = role.name
    if "name" in changes and changes["name"] is not None:
        role.name = await _check_name(session, tenant_id, changes["name"], current=role)
    if changes.get("permission_sets") is not None:
        role.permission_sets = _check_sets(changes["permission_sets"])
    if "condition" in changes:
        role.condition = await _check_condition(session, tenant_id, changes["condition"])
    for field in ("description", "require_mfa", "step_up"):
        if changes.get(field) is not None:
            setattr(role, field, changes[field])
    if "session_minutes" in changes:
        role.session_minutes = changes["session_minutes"]
    role.version += 1
    role.updated_at = utcnow()
    role.updated_by = actor
    ensure_can_grant(grantor, catalog.role_permissions(role.permission_sets))
    if role.name != old_name:
        await _rename_references(session, tenant_id, old_name, role.name)
    await session.flush()
    await _role_event(session, "access.role.updated", role, actor, fields=sorted(changes))
    return role


async def delete_role(session: AsyncSession, tenant_id: str, name: str, *, actor: str) -> None:
    role = await _custom(session, tenant_id, name)
    held = await repo.holders(session, tenant_id, role.name)
    if held:
        raise Conflict(
            f"{role.name!r} is still held or offered {held} time(s) (members, assignments, pending invitations); "
            "take it away first",
            field="role",
        )
    await session.delete(role)
    await session.flush()
    await _role_event(session, "access.role.deleted", role, actor)


async def _custom(session: AsyncSession, tenant_id: str, name: str) -> CustomRole:
    if catalog.system_role(name) is not None:
        raise Conflict(f"{name!r} is a system role and cannot be changed", field="role")
    role = await repo.custom_role(session, tenant_id, name)
    if role is None:
        raise NotFound(f"no role {name!r}", field="role")
    return role


async def _rename_references(session: AsyncSession, tenant_id: str, old: str, new: str) -> None:
    from sqlalchemy import update

    for model in (Membership, RoleAssignment, Invitation):
        await session.execute(update(model).where(model.tenant_id == tenant_id, model.role == old).values(role=new))


async def _role_event(session: AsyncSession, action: str, role: CustomRole, actor: str, **extra: Any) -> None:
    await events.record(
        session,
        action,
        user_id=None,
        object_type="role",
        object_id=role.id,
        tenant_id=role.tenant_id,
        actor=actor,
        data={
            "name": role.name,
            "version": role.version,
            "permission_sets": role.permission_sets,
            "condition": role.condition,
            **extra,
        },
    )


# -- assignments --------------------------------------------------------------------------------


async def _keeping_an_admin(
    session: AsyncSession, tenant_id: str, field: str, change: Callable[[], Awaitable[None] | None]
) -> None:
    """Apply ``change`` and refuse it (409) when it leaves the tenant without the active Tenant
    Admin it had; the caller's transaction undoes it."""
    before = await repo.holder_ids(session, tenant_id, catalog.TENANT_ADMIN)
    done = change()
    if done is not None:
        await done
    await session.flush()
    if before and not await repo.holder_ids(session, tenant_id, catalog.TENANT_ADMIN):
        raise Conflict("the tenant would be left without a Tenant Admin", field=field)


async def member_roles(session: AsyncSession, tenant_id: str) -> list[MemberRolesRead]:
    """Every member with their primary role and all the roles they hold."""
    held = await repo.member_roles(session, tenant_id)
    return [
        MemberRolesRead(user_id=user_id, email=email, primary_role=role, roles=held.get(user_id, []))
        for user_id, email, role in await repo.members(session, tenant_id)
    ]


def assignment_read(a: RoleAssignment, email: str | None, group_name: str | None) -> AssignmentRead:
    return AssignmentRead(
        id=a.id,
        role=a.role,
        user_id=a.user_id,
        email=email,
        group_id=a.group_id,
        group_name=group_name,
        created_at=a.created_at,
        created_by=a.created_by,
    )


async def list_assignments(session: AsyncSession, tenant_id: str) -> list[AssignmentRead]:
    return [assignment_read(a, e, g) for a, e, g in await repo.assignments(session, tenant_id)]


async def assign(
    session: AsyncSession, tenant_id: str, data: AssignmentCreate, *, actor: str, grantor: Subject | None = None
) -> RoleAssignment:
    role = await assignable(session, tenant_id, data.role)
    ensure_can_grant(grantor, await role_grants(session, tenant_id, role))
    if data.user_id is not None and await repo.membership(session, tenant_id, data.user_id) is None:
        raise NotFound(f"no member {data.user_id!r}", field="user_id")
    if data.group_id is not None and await repo.group(session, tenant_id, data.group_id) is None:
        raise NotFound(f"no group {data.group_id!r}", field="group_id")
    if await repo.find_assignment(session, tenant_id, role, data.user_id, data.group_id) is not None:
        raise Conflict(f"{role!r} is already assigned there", field="role")
    record = RoleAssignment(
        tenant_id=tenant_id, role=role, user_id=data.user_id, group_id=data.group_id, created_by=actor
    )
    session.add(record)
    await session.flush()
    await _assignment_event(session, "access.assignment.created", record, actor)
    return record


async def unassign(session: AsyncSession, tenant_id: str, assignment_id: str, *, actor: str) -> None:
    record = await repo.assignment(session, tenant_id, assignment_id)
    if record is None:
        raise NotFound(f"no role assignment {assignment_id!r}", field="assignment_id")
    await _keeping_an_admin(session, tenant_id, "assignment_id", lambda: session.delete(record))
    await _assignment_event(session, "access.assignment.deleted", record, actor)


async def set_member_role(
    session: AsyncSession,
    tenant_id: str,
    user_id: str,
    role: str,
    *,
    actor: str,
    grantor: Subject | None = None,
) -> Membership:
    """Change a member's primary role (the one their invitation or signup gave them)."""
    membership = await repo.membership(session, tenant_id, user_id)
    if membership is None:
        raise NotFound(f"no member {user_id!r}", field="user_id")
    name = await assignable(session, tenant_id, role)
    ensure_can_grant(grantor, await role_grants(session, tenant_id, name))
    old = membership.role
    await _keeping_an_admin(session, tenant_id, "role", lambda: setattr(membership, "role", name))
    await events.record(
        session,
        "access.member.role_changed",
        user_id=user_id,
        tenant_id=tenant_id,
        actor=actor,
        data={"from": old, "to": name},
    )
    return membership


async def _assignment_event(session: AsyncSession, action: str, a: RoleAssignment, actor: str) -> None:
    await events.record(
        session,
        action,
        user_id=a.user_id,
        object_type="role_assignment",
        object_id=a.id,
        tenant_id=a.tenant_id,
        actor=actor,
        data={"role": a.role, "user_id": a.user_id, "group_id": a.group_id},
    )


# -- groups -------------------------------------------------------------------------------------


async def list_groups(session: AsyncSession, tenant_id: str) -> list[GroupRead]:
    return [
        GroupRead(id=g.id, display_name=g.display_name, external_id=g.external_id, members=m)
        for g, m in await repo.groups(session, tenant_id)
    ]


async def create_group(session: AsyncSession, tenant_id: str, name: str, *, actor: str) -> Group:
    group = Group(tenant_id=tenant_id, display_name=name.strip())
    try:
        async with session.begin_nested():
            session.add(group)
    except IntegrityError:
        raise Conflict(f"a group named {name!r} exists", field="display_name") from None
    await events.record(
        session,
        "access.group.created",
        user_id=None,
        object_type="group",
        object_id=group.id,
        tenant_id=tenant_id,
        actor=actor,
        data={"name": group.display_name},
    )
    return group


async def add_to_group(
    session: AsyncSession,
    tenant_id: str,
    group_id: str,
    user_id: str,
    *,
    actor: str,
    grantor: Subject | None = None,
) -> None:
    """Put a member in a group; whoever does it must hold what the group's roles grant."""
    if await repo.group(session, tenant_id, group_id) is None:
        raise NotFound(f"no group {group_id!r}", field="group_id")
    if grantor is not None:
        for role in await repo.group_roles(session, tenant_id, group_id):
            ensure_can_grant(grantor, await role_grants(session, tenant_id, role))
    if await repo.membership(session, tenant_id, user_id) is None:
        raise NotFound(f"no member {user_id!r}", field="user_id")
    if await session.get(GroupMember, (group_id, user_id)) is None:
        session.add(GroupMember(group_id=group_id, user_id=user_id, tenant_id=tenant_id))
        await session.flush()
        await events.record(
            session,
            "access.group.member_added",
            user_id=user_id,
            object_type="group",
            object_id=group_id,
            tenant_id=tenant_id,
            actor=actor,
        )


async def remove_from_group(session: AsyncSession, tenant_id: str, group_id: str, user_id: str, *, actor: str) -> None:
    if await repo.group(session, tenant_id, group_id) is None:
        raise NotFound(f"no group {group_id!r}", field="group_id")
    member = await session.get(GroupMember, (group_id, user_id))
    if member is None:
        raise NotFound(f"{user_id!r} is not in the group", field="user_id")
    await _keeping_an_admin(session, tenant_id, "user_id", lambda: session.delete(member))
    await events.record(
        session,
        "access.group.member_removed",
        user_id=user_id,
        object_type="group",
        object_id=group_id,
        tenant_id=tenant_id,
        actor=actor,
    )


# -- organisation -------------------------------------------------------------------------------


async def create_department(session: AsyncSession, tenant_id: str, data: DepartmentCreate, *, actor: str) -> Department:
    if data.parent_id is not None and await repo.department(session, tenant_id, data.parent_id) is None:
        raise ValidationFailed(f"no department {data.parent_id!r}", field="parent_id")
    department = Department(tenant_id=tenant_id, name=data.name.strip(), parent_id=data.parent_id)
    session.add(department)
    await session.flush()
    await _department_event(session, "access.department.created", department, actor)
    return department


async def update_department(
    session: AsyncSession, tenant_id: str, department_id: str, data: DepartmentUpdate, *, actor: str
) -> Department:
    department = await repo.department(session, tenant_id, department_id)
    if department is None:
        raise NotFound(f"no department {department_id!r}", field="department_id")
    if data.name is not None:
        department.name = data.name.strip()
    if "parent_id" in data.model_fields_set:
        await _check_parent(session, tenant_id, department, data.parent_id)
        department.parent_id = data.parent_id
    department.updated_at = utcnow()
    await session.flush()
    await _department_event(session, "access.department.updated", department, actor)
    return department


async def _check_parent(session: AsyncSession, tenant_id: str, department: Department, parent_id: str | None) -> None:
    """A department may not sit below itself: walk up from the new parent."""
    parents = {d.id: d.parent_id for d in await repo.departments(session, tenant_id)}
    if parent_id is not None and parent_id not in parents:
        raise ValidationFailed(f"no department {parent_id!r}", field="parent_id")
    node: str | None = parent_id
    while node is not None:
        if node == department.id:
            raise ValidationFailed("that parent would make the department tree a cycle", field="parent_id")
        node = parents.get(node)


async def delete_department(session: AsyncSession, tenant_id: str, department_id: str, *, actor: str) -> None:
    department = await repo.department(session, tenant_id, department_id)
    if department is None:
        raise NotFound(f"no department {department_id!r}", field="department_id")
    if await repo.has_children(session, department.id):
        raise Conflict("move or delete its sub-departments first", field="department_id")
    for role in await repo.custom_roles(session, tenant_id):
        if role.condition and department.id in predicates.departments_named(predicates.parse(role.condition)):
            raise Conflict(f"the role {role.name!r} names this department in its condition", field="department_id")
    await session.delete(department)
    await session.flush()
    await _department_event(session, "access.department.deleted", department, actor)


async def _department_event(session: AsyncSession, action: str, d: Department, actor: str) -> None:
    await events.record(
        session,
        action,
        user_id=None,
        object_type="department",
        object_id=d.id,
        tenant_id=d.tenant_id,
        actor=actor,
        data={"name": d.name, "parent_id": d.parent_id},
    )


async def list_people(session: AsyncSession, tenant_id: str) -> list[PersonRead]:
    return [
        PersonRead(
            user_id=user_id,
            email=email,
            department_id=p.department_id if p else None,
            manager_id=p.manager_id if p else None,
            attributes=dict(p.attributes or {}) if p else {},
        )
        for user_id, email, p in await repo.people(session, tenant_id)
    ]


def _own_facts_guard(grantor: Subject | None, user_id: str, data: PersonUpdate) -> None:
    """Someone whose grants depend on row conditions may not change the facts those conditions
    read about themselves: their own department and attributes, or whom they manage."""
    if grantor is None or all(grantor.unconditional(p) for p in grantor.grants):
        return
    if user_id == grantor.user_id or data.manager_id == grantor.user_id:
        raise PermissionDenied(
            "access.department.manage",
            "your roles depend on your place in the organisation, so someone else must change it",
        )


async def place_person(
    session: AsyncSession,
    tenant_id: str,
    user_id: str,
    data: PersonUpdate,
    *,
    actor: str,
    grantor: Subject | None = None,
) -> Person:
    """Set a member's department, manager and attributes."""
    _own_facts_guard(grantor, user_id, data)
    if await repo.membership(session, tenant_id, user_id) is None:
        raise NotFound(f"no member {user_id!r}", field="user_id")
    if data.department_id is not None and await repo.department(session, tenant_id, data.department_id) is None:
        raise ValidationFailed(f"no department {data.department_id!r}", field="department_id")
    if data.manager_id is not None:
        if data.manager_id == user_id:
            raise ValidationFailed("a member cannot manage themselves", field="manager_id")
        if not await repo.members_by_ids(session, tenant_id, {data.manager_id}):
            raise ValidationFailed(f"no member {data.manager_id!r}", field="manager_id")
    for key in data.attributes:
        if not key.isidentifier() or not key.islower() or len(key) > 40:
            raise ValidationFailed(f"attribute names are lowercase identifiers: {key!r}", field="attributes")
    person = await session.get(Person, (tenant_id, user_id))
    if person is None:
        person = Person(tenant_id=tenant_id, user_id=user_id)
        session.add(person)
    person.department_id = data.department_id
    person.manager_id = data.manager_id
    person.attributes = dict(data.attributes)
    person.updated_at = utcnow()
    await session.flush()
    await events.record(
        session,
        "access.person.placed",
        user_id=user_id,
        object_type="person",
        tenant_id=tenant_id,
        actor=actor,
        data={
            "department_id": data.department_id,
            "manager_id": data.manager_id,
            "attributes": sorted(data.attributes),
        },
    )
    return person
