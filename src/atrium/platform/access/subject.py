"""The subject of a decision: who asks, in which tenant, with which grants. Loaded once per
request (so a role change applies from the next request) and caching every decision it makes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.access import catalog, predicates
from atrium.platform.access.models import CustomRole, Department, Person, RoleAssignment
from atrium.platform.access.predicates import Predicate, Resource
from atrium.platform.identity.models import Membership
from atrium.platform.identity.scim.models import GroupMember

Grants = dict[str, tuple[Predicate | None, ...]]  # permission -> its conditions (None: every row)


@dataclass(frozen=True)
class RolePolicy:
    """The strictest sign-in rules of the roles a person holds."""

    require_mfa: bool = False
    session_minutes: int | None = None
    step_up: bool = False


@dataclass
class Subject:
    user_id: str
    tenant_id: str
    roles: tuple[str, ...]
    grants: Grants
    policy: RolePolicy = RolePolicy()
    department_id: str | None = None
    reports: frozenset[str] = frozenset()
    attributes: dict[str, str] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)  # the department tree
    _checks: dict[tuple[str, str], Callable[[Any], bool]] = field(default_factory=dict, repr=False)
    _wheres: dict[tuple[str, str], ColumnElement[bool]] = field(default_factory=dict, repr=False)
    _subtrees: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def allows(self, permission: str) -> bool:
        """May act on at least some rows (or, for a permission without rows, at all)."""
        return permission in self.grants

    def unconditional(self, permission: str) -> bool:
        return any(c is None for c in self.grants.get(permission, ()))

    def check(self, permission: str, obj: Any, resource: Resource) -> bool:
        key = (permission, resource.name)
        test = self._checks.get(key)
        if test is None:
            test = self._checks[key] = self._compile_check(permission, resource)
        return test(obj)

    def where(self, permission: str, resource: Resource) -> ColumnElement[bool]:
        key = (permission, resource.name)
        clause = self._wheres.get(key)
        if clause is None:
            clause = self._wheres[key] = self._compile_where(permission, resource)
        return clause

    def subtree(self, department_id: str) -> frozenset[str]:
        """The department and every department below it."""
        if department_id not in self._subtrees:
            children: dict[str | None, list[str]] = {}
            for child, parent in self.parents.items():
                children.setdefault(parent, []).append(child)
            found, todo = set(), [department_id] if department_id in self.parents else []
            while todo:
                node = todo.pop()
                if node not in found:
                    found.add(node)
                    todo.extend(children.get(node, ()))
            self._subtrees[department_id] = frozenset(found)
        return self._subtrees[department_id]

    def _compile_check(self, permission: str, resource: Resource) -> Callable[[Any], bool]:
        conditions = self.grants.get(permission, ())
        if not conditions:
            return lambda obj: False
        if any(c is None for c in conditions):
            return lambda obj: True
        tests = [predicates.compile_check(c, resource, self) for c in conditions if c is not None]
        return lambda obj: any(t(obj) for t in tests)

    def _compile_where(self, permission: str, resource: Resource) -> ColumnElement[bool]:
        conditions = self.grants.get(permission, ())
        if not conditions:
            return false()
        if any(c is None for c in conditions):
            return true()
        return or_(*(predicates.compile_where(c, resource, self) for c in conditions if c is not None))


_EVERY_GRANT: dict[str, tuple[None]] = {}


def everything(user_id: str, tenant_id: str, role: str = catalog.PLATFORM_ADMIN) -> Subject:
    """A platform administrator: every permission on every row."""
    catalog.load_modules()
    if len(_EVERY_GRANT) != len(catalog.PERMISSIONS):  # built once, again if a module declares more
        _EVERY_GRANT.update({p: (None,) for p in catalog.PERMISSIONS})
    return Subject(user_id, tenant_id, (role,), dict(_EVERY_GRANT))


def scoped(client_id: str, tenant_id: str, scopes: Iterable[str]) -> Subject:
    """An OAuth client: exactly the permissions its scopes name, on every row."""
    catalog.load_modules()
    return Subject(client_id, tenant_id, (), {p: (None,) for p in catalog.expand(list(scopes))})


async def role_names(session: AsyncSession, tenant_id: str, user_id: str) -> list[str]:
    """The roles a member holds: the membership's, direct assignments and their groups'; none
    at all once the membership is suspended (an assignment does not outlive it)."""
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id, GroupMember.tenant_id == tenant_id)
    active = exists().where(Membership.user_id == user_id, Membership.tenant_id == tenant_id, Membership.active)
    query = union(
        select(Membership.role.label("role")).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id, Membership.active
        ),
        select(RoleAssignment.role.label("role")).where(
            RoleAssignment.tenant_id == tenant_id,
            or_(RoleAssignment.user_id == user_id, RoleAssignment.group_id.in_(groups)),
            active,
        ),
    )
    return sorted((await session.execute(query)).scalars())


async def load(session: AsyncSession, tenant_id: str, user_id: str) -> Subject:
    """A member's subject: their roles' grants and policies, and the organisation facts their
    conditions need. A person who is not an active member gets no grants at all."""
    catalog.load_modules()
    names = await role_names(session, tenant_id, user_id)
    if not names:
        return Subject(user_id, tenant_id, (), {})
    custom = {
        r.name: r
        for r in (
            await session.scalars(
                select(CustomRole).where(CustomRole.tenant_id == tenant_id, CustomRole.name.in_(names))
            )
        )
    }
    grants: dict[str, list[Predicate | None]] = {}
    require_mfa, step_up, minutes = False, False, []
    held: list[str] = []
    for name in names:
        system = catalog.system_role(name)
        if system is not None and not system.platform_wide:
            sets, condition = system.permission_sets, None
            step_up |= system.step_up
        elif name in custom:
            role = custom[name]
            sets, condition = tuple(role.permission_sets), predicates.parse(role.condition) if role.condition else None
            require_mfa |= role.require_mfa
            step_up |= role.step_up
            if role.session_minutes:
                minutes.append(role.session_minutes)
        else:
            continue  # a role since deleted: it grants nothing
        held.append(name)
        for permission in catalog.role_permissions(sets):
            grants.setdefault(permission, []).append(condition)
    subject = Subject(
        user_id,
        tenant_id,
        tuple(held),
        {p: tuple(c) for p, c in grants.items()},
        RolePolicy(require_mfa, min(minutes) if minutes else None, step_up),
    )
    await _load_organisation(session, subject)
    return subject


async def _load_organisation(session: AsyncSession, subject: Subject) -> None:
    """The member's department and attributes (new records default to that department); their
    reports and the department tree only when some condition needs them."""
    person = await session.get(Person, (subject.tenant_id, subject.user_id))
    if person is not None:
        subject.department_id = person.department_id
        subject.attributes = dict(person.attributes or {})
    conditions = [c for cs in subject.grants.values() for c in cs if c is not None]
    nodes = {type(n) for c in conditions for n in predicates.walk(c)}
    if predicates.ManagerOfOwner in nodes:
        reports = await session.scalars(
            select(Person.user_id).where(Person.tenant_id == subject.tenant_id, Person.manager_id == subject.user_id)
        )
        subject.reports = frozenset(reports)
    if predicates.InDepartment in nodes:
        rows = await session.execute(
            select(Department.id, Department.parent_id).where(Department.tenant_id == subject.tenant_id)
        )
        subject.parents = {i: p for i, p in rows}
