"""Console pages of access control inside a tenant: roles (with a row-condition builder), the
permission-set browser, people and their roles (assignments, groups, "test as"), the
organisation (departments and people's places), the approvals inbox, the notes list as the
access service filters it, and the password check that privileged forms may ask for first.

Every page is for holders of a permission (others get "not found"); every form carries the CSRF
token and changes through the same service functions as the JSON API, in one platform
transaction; a refusal is flashed with the service's own words. A change the tenant puts behind
a second person's approval is queued instead and the page says so.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from atrium.api.deps import RuntimeDep, TenantContext
from atrium.api.routing import APIRoute, APIRouter
from atrium.apps.notes import service as notes
from atrium.apps.notes.auth import CREATE as NOTE_CREATE
from atrium.apps.notes.auth import READ as NOTE_READ
from atrium.apps.notes.schemas import NoteCreate
from atrium.core import context
from atrium.core.errors import AtriumError, NotFound, ValidationFailed
from atrium.core.tenancy import TenantRef
from atrium.platform.access import actions, approvals, catalog, impersonation, predicates, service
from atrium.platform.access import repository as repo
from atrium.platform.access import step_up as step_up_service
from atrium.platform.access import subject as subjects
from atrium.platform.access.auth import Access
from atrium.platform.access.exceptions import StepUpRequired
from atrium.platform.access.schemas import (
    AssignmentCreate,
    DepartmentCreate,
    DepartmentUpdate,
    GroupCreate,
    PersonUpdate,
    RoleCreate,
    RoleRead,
    RoleUpdate,
)
from atrium.platform.entitlements import service as entitlements
from atrium.platform.entitlements.exceptions import EntitlementMissing
from atrium.platform.identity import members
from atrium.platform.identity.models import User
from atrium.platform.tenancy.exceptions import TenantInactive
from atrium.runtime import Runtime
from atrium.web.console import (
    Csrf,
    error_status,
    flash,
    form_checked,
    form_text,
    problem_text,
    redirect,
    render,
)
from atrium.web.tenant_access import MemberView, TenantView, perform, requiring

# The permission each page or form needs (the same as the API's routes).
READ_ROLES = "access.role.read"
MANAGE_ROLES = "access.role.manage"
ASSIGN_ROLES = "access.assignment.manage"
MANAGE_DEPARTMENTS = "access.department.manage"
READ_MEMBERS = "identity.member.read"
MANAGE_MEMBERS = "identity.member.manage"
IMPERSONATE = "access.impersonation.start"
READ_APPROVALS = "access.approval.read"
DECIDE_APPROVALS = "access.approval.decide"


def _holding(permission: str) -> Any:
    return Depends(requiring(permission))


RoleReader = Annotated[TenantView, _holding(READ_ROLES)]
RoleManager = Annotated[TenantView, _holding(MANAGE_ROLES)]
Assigner = Annotated[TenantView, _holding(ASSIGN_ROLES)]
DepartmentManager = Annotated[TenantView, _holding(MANAGE_DEPARTMENTS)]
GroupManager = Annotated[TenantView, _holding(MANAGE_MEMBERS)]
Impersonator = Annotated[TenantView, _holding(IMPERSONATE)]
ApprovalReader = Annotated[TenantView, _holding(READ_APPROVALS)]
ApprovalDecider = Annotated[TenantView, _holding(DECIDE_APPROVALS)]
NoteReader = Annotated[TenantView, _holding(NOTE_READ)]
NoteWriter = Annotated[TenantView, _holding(NOTE_CREATE)]


# -- step-up --------------------------------------------------------------------------------------


def _local(target: str | None, fallback: str) -> str:
    """A path on this site only (never ``//host`` or a scheme), for ``next`` and Referer."""
    if not target:
        return fallback
    parts = urlsplit(target)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return fallback
    return path


def step_up_redirect(request: Request) -> Response:
    """Send the person to confirm their password, then back to the page (a form is sent again
    by hand: a POST is never replayed)."""
    slug = str(request.path_params.get("slug", ""))
    home = f"/t/{slug}"
    if request.method == "GET":
        back = _local(request.url.path + (f"?{request.url.query}" if request.url.query else ""), home)
    else:
        referer = urlsplit(request.headers.get("referer", ""))
        same_site = referer.netloc == request.url.netloc and referer.scheme in ("http", "https")
        back = _local(referer.path + (f"?{referer.query}" if referer.query else ""), home) if same_site else home
        flash(request, "Confirm your password, then send the form again.")
    return redirect(f"/t/{slug}/step-up?next={quote(back, safe='/')}")


class _StepUpRoute(APIRoute):
    """A page or form whose permission asks for a recent password check answers with the
    password page instead of an error (the API answers 403 ``step-up-required``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except StepUpRequired:
                return step_up_redirect(request)

        return run


router = APIRouter(include_in_schema=False, route_class=_StepUpRoute)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _actor(view: TenantView) -> str:
    return context.actor.get() or view.principal.email


def _can(view: TenantView, permission: str) -> bool:
    """Whether to offer a form: held, and not privileged while viewing as someone else."""
    return view.may(permission) and not (view.impersonating and catalog.is_privileged(permission))


@router.get("/t/{slug}/step-up")
async def step_up_page(request: Request, view: MemberView) -> HTMLResponse:
    back = _local(request.query_params.get("next"), f"/t/{view.tenant.slug}")
    return await render(request, "console/access_step_up.html", tenant=view.tenant, next=back)


@router.post("/t/{slug}/step-up", dependencies=[Csrf])
async def step_up(request: Request, view: MemberView, rt: RuntimeDep) -> Response:
    """Check the password of the person at the keyboard (the administrator while viewing as
    someone) and mark their browser session as recently confirmed."""
    form = await request.form()
    back = _local(form_text(form, "next"), f"/t/{view.tenant.slug}")
    try:
        await step_up_service.confirm(
            rt,
            actor_id=view.principal.impersonator_id or view.principal.id,
            session_id=view.viewer.session.id,
            password=str(form.get("password") or ""),
            tenant_id=view.tenant.id,
            actor=_actor(view),
        )
    except AtriumError as exc:
        flash(request, "That password is not right." if exc.status_code == 401 else exc.detail, "error")
        return await render(request, "console/access_step_up.html", exc.status_code, tenant=view.tenant, next=back)
    flash(request, "Thank you: privileged pages are open to you for the next few minutes.", "success")
    return redirect(back)


# -- shared ---------------------------------------------------------------------------------------


async def _change(
    request: Request,
    change: Callable[[AsyncSession], Awaitable[object]],
    *,
    back_to: str,
    done: str,
) -> Response:
    """A form's change in one platform transaction; the refusal (the service's words) flashed."""
    try:
        async with _runtime(request).db.platform_session() as session, session.begin():
            await change(session)
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
    else:
        flash(request, done, "success")
    return redirect(back_to)


async def _queued_change(
    request: Request, view: TenantView, action: str, payload: dict[str, Any], summary: str, *, back_to: str, done: str
) -> Response:
    try:
        result = await perform(request, view, action, payload, summary)
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
    else:
        if result is not None:
            flash(request, done, "success")
    return redirect(back_to)


async def _pending(session: AsyncSession, tenant_id: str) -> int:
    return len(await repo.approvals(session, tenant_id, "pending"))


async def _holder(request: Request, tenant_id: str, user_id: str | None, group_id: str | None = None) -> str:
    """A member's email or a group's name for an approval's summary (the id when unknown: the
    service refuses it later with its own words)."""
    async with _runtime(request).db.platform_session() as session:
        if user_id is not None:
            user = await session.get(User, user_id)
            known = user is not None and await repo.membership(session, tenant_id, user_id) is not None
            return user.email if known and user is not None else user_id
        group = await repo.group(session, tenant_id, group_id) if group_id else None
        return f"the group {group.display_name}" if group is not None else str(group_id)


def _role_url(tenant: TenantRef, name: str) -> str:
    return f"/t/{tenant.slug}/roles/{quote(name, safe='')}"


# -- row conditions: the builder and a readable summary ------------------------------------------


@dataclass
class Builder:
    """The common conditions as form fields; anything else is edited as JSON."""

    combine: str = "all"
    owner: bool = False
    mine: bool = False
    department: str = ""
    department_children: bool = True
    manager: bool = False
    amount_below: str = ""
    attr: str = ""
    attr_mode: str = "value"  # value: equals attr_value; mine: equals the asker's same attribute
    attr_value: str = ""

    def condition(self) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if self.owner:
            parts.append({"op": "owner"})
        if self.mine:
            parts.append({"op": "in_department", "department": "mine", "children": True})
        if self.department:
            parts.append({"op": "in_department", "department": self.department, "children": self.department_children})
        if self.manager:
            parts.append({"op": "manager_of_owner"})
        if self.amount_below:
            parts.append({"op": "lt", "attr": "amount", "value": self.amount_below})
        if self.attr and self.attr_mode == "mine":
            parts.append({"op": "matches_subject", "attr": self.attr, "subject_attr": self.attr})
        elif self.attr and self.attr_value:
            parts.append({"op": "eq", "attr": self.attr, "value": self.attr_value})
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return {"op": "any" if self.combine == "any" else "all", "of": parts}

    @classmethod
    def from_form(cls, form: FormData) -> Builder:
        return cls(
            combine="any" if form_text(form, "cond_combine") == "any" else "all",
            owner=form_checked(form, "cond_owner"),
            mine=form_checked(form, "cond_mine"),
            department=form_text(form, "cond_department"),
            department_children=form_checked(form, "cond_department_children"),
            manager=form_checked(form, "cond_manager"),
            amount_below=form_text(form, "cond_amount_below"),
            attr=form_text(form, "cond_attr"),
            attr_mode="mine" if form_text(form, "cond_attr_mode") == "mine" else "value",
            attr_value=form_text(form, "cond_attr_value"),
        )

    @classmethod
    def from_condition(cls, condition: dict[str, Any] | None) -> Builder | None:
        """The builder showing ``condition``, or None when the builder cannot express it."""
        if condition is None:
            return cls()
        op = condition.get("op")
        parts = condition.get("of") if op in ("all", "any") else [condition]
        if not isinstance(parts, list):
            return None
        if not parts:
            return None
        built = cls(combine="any" if op == "any" else "all")
        for part in parts:
            if not isinstance(part, dict) or not built._take(part):
                return None
        return built

    def _take(self, part: dict[str, Any]) -> bool:
        op = part.get("op")
        if op == "owner" and not self.owner:
            self.owner = True
        elif op == "in_department" and part.get("department") == "mine" and part.get("children", True):
            if self.mine:
                return False
            self.mine = True
        elif op == "in_department" and part.get("department") != "mine" and not self.department:
            self.department, self.department_children = str(part["department"]), bool(part.get("children", True))
        elif op == "manager_of_owner" and not self.manager:
            self.manager = True
        elif op == "lt" and part.get("attr") == "amount" and not self.amount_below:
            self.amount_below = str(part["value"])
        elif op == "eq" and not self.attr:
            self.attr, self.attr_mode, self.attr_value = str(part["attr"]), "value", str(part["value"])
        elif op == "matches_subject" and not self.attr and part.get("attr") == part.get("subject_attr"):
            self.attr, self.attr_mode = str(part["attr"]), "mine"
        else:
            return False
        return True


_COMPARE = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def describe(condition: dict[str, Any] | None, departments: dict[str, str]) -> str:
    """A condition in words, for the roles list and the editor."""
    if condition is None:
        return "every record"
    op = condition.get("op")
    if op in ("all", "any"):
        joined = f" {'and' if op == 'all' else 'or'} ".join(describe(c, departments) for c in condition.get("of", []))
        return f"({joined})" if joined else ("every record" if op == "all" else "no record")
    if op == "not":
        return f"not {describe(condition.get('of'), departments)}"
    if op == "owner":
        return "own records"
    if op == "manager_of_owner":
        return "records of people I manage"
    if op == "in_department":
        department = condition.get("department", "")
        name = "my department" if department == "mine" else departments.get(department, department)
        return f"{name} and its sub-departments" if condition.get("children", True) else f"{name} only"
    if op == "eq":
        return f"{condition.get('attr')} = {condition.get('value')}"
    if op == "in":
        return f"{condition.get('attr')} in {', '.join(str(v) for v in condition.get('values', []))}"
    if op == "matches_subject":
        return f"{condition.get('attr')} = my {condition.get('subject_attr')}"
    if op in _COMPARE:
        return f"{condition.get('attr')} {_COMPARE[op]} {condition.get('value')}"
    return json.dumps(condition)


@dataclass
class RoleForm:
    """What the role form shows: a role's values, or what was typed before a refusal."""

    name: str = ""
    description: str = ""
    permission_sets: list[str] = field(default_factory=list)
    builder: Builder = field(default_factory=Builder)
    advanced: str = ""
    require_mfa: bool = False
    session_minutes: str = ""
    step_up: bool = False

    @classmethod
    def of(cls, role: RoleRead, department_ids: set[str]) -> RoleForm:
        """The role's values; its condition in the builder when the builder's fields can show
        all of it, else as JSON (so saving unchanged keeps it)."""
        builder = Builder.from_condition(role.condition)
        if builder is not None and (
            (builder.department and builder.department not in department_ids)
            or (builder.attr and builder.attr not in _attribute_choices()["text"])
            or (builder.amount_below and not _attribute_choices()["amount"])
        ):
            builder = None
        return cls(
            name=role.name,
            description=role.description,
            permission_sets=list(role.permission_sets),
            builder=builder or Builder(),
            advanced="" if builder is not None else json.dumps(role.condition, indent=2),
            require_mfa=role.require_mfa,
            session_minutes=str(role.session_minutes or ""),
            step_up=role.step_up,
        )

    @classmethod
    def from_form(cls, form: FormData) -> RoleForm:
        return cls(
            name=form_text(form, "name"),
            description=form_text(form, "description"),
            permission_sets=[str(v) for v in form.getlist("permission_sets")],
            builder=Builder.from_form(form),
            advanced=form_text(form, "condition_json"),
            require_mfa=form_checked(form, "require_mfa"),
            session_minutes=form_text(form, "session_minutes"),
            step_up=form_checked(form, "step_up"),
        )

    def condition(self) -> dict[str, Any] | None:
        """The advanced JSON when filled (it wins), else the builder's condition."""
        if not self.advanced:
            return self.builder.condition()
        try:
            parsed = json.loads(self.advanced)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                f"condition: not valid JSON ({exc.msg}, line {exc.lineno})", field="condition"
            ) from None
        if parsed is not None and not isinstance(parsed, dict):
            raise ValidationFailed('condition: give a JSON object such as {"op": "owner"}', field="condition")
        return parsed

    def values(self) -> dict[str, Any]:
        minutes = self.session_minutes
        if minutes and not minutes.isdigit():
            raise ValidationFailed("session minutes: give a whole number, or leave it empty", field="session_minutes")
        return {
            "name": self.name,
            "description": self.description,
            "permission_sets": self.permission_sets,
            "condition": self.condition(),
            "require_mfa": self.require_mfa,
            "session_minutes": int(minutes) if minutes else None,
            "step_up": self.step_up,
        }


def _attribute_choices() -> dict[str, list[str]]:
    """Record attributes the builder offers: text ones for "= value", numbers for "below"."""
    text = sorted(a for a, kind in predicates.ATTRIBUTES.items() if kind == "string")
    return {"text": text, "amount": ["amount"] if predicates.ATTRIBUTES.get("amount") == "number" else []}


# -- roles ----------------------------------------------------------------------------------------


def _tree(departments: list[Any]) -> list[tuple[Any, int]]:
    """Departments in tree order with their depth (roots first, children under their parent)."""
    ids = {d.id for d in departments}
    children: dict[str | None, list[Any]] = {}
    for d in departments:
        children.setdefault(d.parent_id if d.parent_id in ids else None, []).append(d)
    ordered: list[tuple[Any, int]] = []
    seen: set[str] = set()

    def visit(parent: str | None, depth: int) -> None:
        for d in sorted(children.get(parent, []), key=lambda d: d.name.lower()):
            if d.id not in seen:
                seen.add(d.id)
                ordered.append((d, depth))
                visit(d.id, depth + 1)

    visit(None, 0)
    return ordered


async def _roles_page(
    request: Request, view: TenantView, status_code: int = 200, new_role: RoleForm | None = None
) -> HTMLResponse:
    async with _runtime(request).db.platform_session() as session:
        roles = await service.list_roles(session, view.tenant.id)
        departments = {d.id: d.name for d in await repo.departments(session, view.tenant.id)}
        tree = _tree(list(await repo.departments(session, view.tenant.id)))
        pending = await _pending(session, view.tenant.id)
    return await render(
        request,
        "console/access_roles.html",
        status_code,
        tenant=view.tenant,
        view=view,
        roles=[r for r in roles if not r.platform_wide],
        summaries={r.name: describe(r.condition, departments) for r in roles},
        can_manage=_can(view, MANAGE_ROLES),
        form=new_role or RoleForm(),
        sets=catalog.PERMISSION_SETS,
        departments=tree,
        attributes=_attribute_choices(),
        pending=pending,
    )


@router.get("/t/{slug}/roles")
async def roles_page(request: Request, view: RoleReader) -> HTMLResponse:
    return await _roles_page(request, view)


@router.post("/t/{slug}/roles", dependencies=[Csrf])
async def create_role(request: Request, view: RoleManager) -> Response:
    form = RoleForm.from_form(await request.form())
    try:
        data = RoleCreate.model_validate(form.values())
        done = await perform(
            request, view, actions.ROLE_CREATE, data.model_dump(mode="json"), f"Create role {data.name!r}"
        )
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _roles_page(request, view, error_status(exc), new_role=form)
    if done is None:
        return redirect(f"/t/{view.tenant.slug}/roles")
    flash(request, f"The role {done['role']} is created.", "success")
    return redirect(_role_url(view.tenant, str(done["role"])))


async def _role_page(
    request: Request, view: TenantView, name: str, status_code: int = 200, typed: RoleForm | None = None
) -> HTMLResponse:
    async with _runtime(request).db.platform_session() as session:
        role = await service.get_role(session, view.tenant.id, name)
        if role.platform_wide:
            raise NotFound(f"no role {name!r}", field="role")
        department_rows = list(await repo.departments(session, view.tenant.id))
        held = await repo.holders(session, view.tenant.id, role.name) if not role.system else None
        pending = await _pending(session, view.tenant.id)
    return await render(
        request,
        "console/access_role.html",
        status_code,
        tenant=view.tenant,
        view=view,
        role=role,
        summary=describe(role.condition, {d.id: d.name for d in department_rows}),
        can_manage=_can(view, MANAGE_ROLES) and not role.system,
        form=typed or RoleForm.of(role, {d.id for d in department_rows}),
        sets=catalog.PERMISSION_SETS,
        departments=_tree(department_rows),
        attributes=_attribute_choices(),
        permissions=[catalog.PERMISSIONS[p] for p in role.permissions if p in catalog.PERMISSIONS],
        held=held,
        pending=pending,
    )


@router.get("/t/{slug}/roles/{name:path}")
async def role_page(request: Request, name: str, view: RoleReader) -> HTMLResponse:
    return await _role_page(request, view, name)


@router.post("/t/{slug}/roles/{name:path}/save", dependencies=[Csrf])
async def save_role(request: Request, name: str, view: RoleManager) -> Response:
    form = RoleForm.from_form(await request.form())
    try:
        data = RoleUpdate.model_validate(form.values())
        payload = {"role": name, "changes": data.model_dump(mode="json", exclude_unset=True)}
        done = await perform(request, view, actions.ROLE_UPDATE, payload, f"Change role {name!r}")
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _role_page(request, view, name, error_status(exc), typed=form)
    if done is None:
        return redirect(_role_url(view.tenant, name))
    flash(request, f"The role {done['role']} is saved (version {done['version']}).", "success")
    return redirect(_role_url(view.tenant, str(done["role"])))


@router.post("/t/{slug}/roles/{name:path}/delete", dependencies=[Csrf])
async def delete_role(request: Request, name: str, view: RoleManager) -> Response:
    try:
        done = await perform(request, view, actions.ROLE_DELETE, {"role": name}, f"Delete role {name!r}")
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(
            _role_url(view.tenant, name) if not isinstance(exc, NotFound) else f"/t/{view.tenant.slug}/roles"
        )
    if done is not None:
        flash(request, f"The role {name} is deleted.", "success")
    return redirect(f"/t/{view.tenant.slug}/roles")


@router.get("/t/{slug}/permission-sets")
async def permission_sets_page(request: Request, view: RoleReader) -> HTMLResponse:
    """Each set with the permissions it expands to (and which are privileged), and the system
    roles built from it."""
    used_by = {
        key: [r.name for r in catalog.SYSTEM_ROLES.values() if key in r.permission_sets and not r.platform_wide]
        for key in catalog.PERMISSION_SETS
    }
    return await render(
        request,
        "console/access_permission_sets.html",
        tenant=view.tenant,
        view=view,
        sets=service.permission_sets(),
        permissions=catalog.PERMISSIONS,
        used_by=used_by,
    )


# -- people and their roles -----------------------------------------------------------------------


def _people_url(tenant: TenantRef, anchor: str = "") -> str:
    return f"/t/{tenant.slug}/access/people" + (f"#{anchor}" if anchor else "")


@router.get("/t/{slug}/access/people")
async def people_page(request: Request, view: RoleReader) -> HTMLResponse:
    """Members with their primary role, extra roles and groups; groups with members and roles."""
    async with _runtime(request).db.platform_session() as session:
        people = await members.list_members(session, view.tenant.id)
        held = await repo.member_roles(session, view.tenant.id)
        assignments = await service.list_assignments(session, view.tenant.id)
        groups = await service.list_groups(session, view.tenant.id) if view.may(READ_MEMBERS) else []
        offered = await service.roles_offered(session, view.tenant.id)
        pending = await _pending(session, view.tenant.id)
    ids = {p.email: p.user_id for p in people}
    return await render(
        request,
        "console/access_people.html",
        tenant=view.tenant,
        view=view,
        people=people,
        held=held,
        direct={p.user_id: [a for a in assignments if a.user_id == p.user_id] for p in people},
        group_roles={g.id: [a for a in assignments if a.group_id == g.id] for g in groups},
        member_groups={p.user_id: [g.display_name for g in groups if p.email in g.members] for p in people},
        groups=groups,
        ids=ids,
        roles=offered,
        can_assign=_can(view, ASSIGN_ROLES),
        can_groups=_can(view, MANAGE_MEMBERS),
        can_impersonate=_can(view, IMPERSONATE),
        me=view.principal.id,
        pending=pending,
    )


@router.post("/t/{slug}/access/people/{user_id}/role", dependencies=[Csrf])
async def set_primary_role(request: Request, user_id: str, view: Assigner) -> Response:
    role = form_text(await request.form(), "role")
    return await _queued_change(
        request,
        view,
        actions.MEMBER_ROLE,
        {"user_id": user_id, "role": role},
        f"Make {await _holder(request, view.tenant.id, user_id)} a {role}",
        back_to=_people_url(view.tenant, "members"),
        done=f"The primary role is now {role}.",
    )


@router.post("/t/{slug}/access/assignments", dependencies=[Csrf])
async def assign_role(request: Request, view: Assigner) -> Response:
    form = await request.form()
    user_id, group_id = form_text(form, "user_id") or None, form_text(form, "group_id") or None
    try:
        data = AssignmentCreate(role=form_text(form, "role"), user_id=user_id, group_id=group_id)
    except ValidationError as exc:
        flash(request, problem_text(exc), "error")
        return redirect(_people_url(view.tenant))
    return await _queued_change(
        request,
        view,
        actions.ASSIGN,
        data.model_dump(mode="json"),
        f"Give {data.role!r} to {await _holder(request, view.tenant.id, user_id, group_id)}",
        back_to=_people_url(view.tenant, "groups" if group_id else "members"),
        done=f"{data.role} is assigned.",
    )


@router.post("/t/{slug}/access/assignments/{assignment_id}/delete", dependencies=[Csrf])
async def unassign_role(request: Request, assignment_id: str, view: Assigner) -> Response:
    async with _runtime(request).db.platform_session() as session:
        found = await repo.assignment(session, view.tenant.id, assignment_id)
    if found is None:
        raise NotFound(f"no role assignment {assignment_id!r}", field="assignment_id")
    return await _queued_change(
        request,
        view,
        actions.UNASSIGN,
        {"assignment_id": assignment_id},
        f"Take {found.role!r} away from {await _holder(request, view.tenant.id, found.user_id, found.group_id)}",
        back_to=_people_url(view.tenant, "groups" if found.group_id else "members"),
        done=f"{found.role} is taken away.",
    )


@router.post("/t/{slug}/access/groups", dependencies=[Csrf])
async def create_group(request: Request, view: GroupManager) -> Response:
    name = form_text(await request.form(), "display_name")
    tenant_id, actor = view.tenant.id, _actor(view)

    async def change(session: AsyncSession) -> None:
        data = GroupCreate(display_name=name)
        await service.create_group(session, tenant_id, data.display_name, actor=actor)

    return await _change(
        request, change, back_to=_people_url(view.tenant, "groups"), done=f"The group {name} is created."
    )


@router.post("/t/{slug}/access/groups/{group_id}/members", dependencies=[Csrf])
async def add_group_member(request: Request, group_id: str, view: GroupManager) -> Response:
    user_id = form_text(await request.form(), "user_id")
    return await _change(
        request,
        lambda session: service.add_to_group(
            session, view.tenant.id, group_id, user_id, actor=_actor(view), grantor=view.subject
        ),
        back_to=_people_url(view.tenant, "groups"),
        done="The member is added to the group.",
    )


@router.post("/t/{slug}/access/groups/{group_id}/members/{user_id}/remove", dependencies=[Csrf])
async def remove_group_member(request: Request, group_id: str, user_id: str, view: GroupManager) -> Response:
    return await _change(
        request,
        lambda session: service.remove_from_group(session, view.tenant.id, group_id, user_id, actor=_actor(view)),
        back_to=_people_url(view.tenant, "groups"),
        done="The member is taken out of the group.",
    )


# -- impersonation ("test as") --------------------------------------------------------------------


@router.post("/t/{slug}/impersonation", dependencies=[Csrf])
async def start_impersonation(request: Request, view: Impersonator) -> Response:
    """View the tenant as another member, with a reason; bound to this browser session."""
    form = await request.form()
    try:
        async with _runtime(request).db.platform_session() as session, session.begin():
            record = await impersonation.start(
                session,
                tenant_id=view.tenant.id,
                actor=view.principal,
                actor_subject=view.subject,
                subject_id=form_text(form, "user_id"),
                reason=form_text(form, "reason"),
            )
            seen = await subjects.load(session, view.tenant.id, record.subject_id)
            subject = await session.get(User, record.subject_id)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(_people_url(view.tenant, "members"))
    request.session[impersonation.SESSION_KEY] = record.id
    email = subject.email if subject is not None else record.subject_id
    flash(request, f"You now see {view.tenant.name} as {email}. Stop with the button in the banner.", "info")
    return redirect(f"/t/{view.tenant.slug}/notes" if seen.allows(NOTE_READ) else f"/t/{view.tenant.slug}")


@router.post("/t/{slug}/impersonation/stop", dependencies=[Csrf])
async def stop_impersonation(request: Request, view: MemberView) -> Response:
    """Back to being oneself; open to whoever is viewed as, whatever their roles."""
    principal = view.principal
    request.session.pop(impersonation.SESSION_KEY, None)
    if principal.impersonation_id is None or principal.impersonator_id is None:
        flash(request, "You are not viewing as another member.")
        return redirect(f"/t/{view.tenant.slug}")
    async with _runtime(request).db.platform_session() as session, session.begin():
        await impersonation.stop(session, principal.impersonation_id, principal.impersonator_id)
    flash(request, f"You no longer view {view.tenant.name} as {principal.email}.", "success")
    return redirect(_people_url(view.tenant, "members"))


# -- organisation ---------------------------------------------------------------------------------


def _organisation_url(tenant: TenantRef, anchor: str = "") -> str:
    return f"/t/{tenant.slug}/organisation" + (f"#{anchor}" if anchor else "")


def _attributes(text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines skipped); the service checks the keys."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(
                f"attributes: write one key=value per line, not {line.strip()!r}", field="attributes"
            )
        found[key.strip()] = value.strip()
    return found


@router.get("/t/{slug}/organisation")
async def organisation_page(request: Request, view: RoleReader) -> HTMLResponse:
    async with _runtime(request).db.platform_session() as session:
        departments = list(await repo.departments(session, view.tenant.id))
        people = await service.list_people(session, view.tenant.id)
    names = {d.id: d.name for d in departments}
    return await render(
        request,
        "console/access_organisation.html",
        tenant=view.tenant,
        view=view,
        departments=_tree(departments),
        names=names,
        people=people,
        emails={p.user_id: p.email for p in people},
        can_manage=_can(view, MANAGE_DEPARTMENTS),
    )


@router.post("/t/{slug}/organisation/departments", dependencies=[Csrf])
async def create_department(request: Request, view: DepartmentManager) -> Response:
    form = await request.form()
    name, parent = form_text(form, "name"), form_text(form, "parent_id") or None

    async def change(session: AsyncSession) -> None:
        data = DepartmentCreate(name=name, parent_id=parent)
        await service.create_department(session, view.tenant.id, data, actor=_actor(view))

    return await _change(
        request, change, back_to=_organisation_url(view.tenant, "departments"), done=f"{name} is created."
    )


@router.post("/t/{slug}/organisation/departments/{department_id}", dependencies=[Csrf])
async def update_department(request: Request, department_id: str, view: DepartmentManager) -> Response:
    """Rename and move; a parent below the department itself is refused by the service."""
    form = await request.form()
    name, parent = form_text(form, "name"), form_text(form, "parent_id") or None

    async def change(session: AsyncSession) -> None:
        data = DepartmentUpdate(name=name or None, parent_id=parent)
        await service.update_department(session, view.tenant.id, department_id, data, actor=_actor(view))

    return await _change(
        request, change, back_to=_organisation_url(view.tenant, "departments"), done="The department is saved."
    )


@router.post("/t/{slug}/organisation/departments/{department_id}/delete", dependencies=[Csrf])
async def delete_department(request: Request, department_id: str, view: DepartmentManager) -> Response:
    return await _change(
        request,
        lambda session: service.delete_department(session, view.tenant.id, department_id, actor=_actor(view)),
        back_to=_organisation_url(view.tenant, "departments"),
        done="The department is deleted.",
    )


@router.post("/t/{slug}/organisation/people/{user_id}", dependencies=[Csrf])
async def place_person(request: Request, user_id: str, view: DepartmentManager) -> Response:
    form = await request.form()

    async def change(session: AsyncSession) -> None:
        data = PersonUpdate(
            department_id=form_text(form, "department_id") or None,
            manager_id=form_text(form, "manager_id") or None,
            attributes=_attributes(str(form.get("attributes") or "")),
        )
        await service.place_person(session, view.tenant.id, user_id, data, actor=_actor(view), grantor=view.subject)

    return await _change(request, change, back_to=_organisation_url(view.tenant, "people"), done="Saved.")


# -- approvals ------------------------------------------------------------------------------------


@router.get("/t/{slug}/approvals")
async def approvals_page(request: Request, view: ApprovalReader) -> HTMLResponse:
    """The inbox: pending requests first (oldest first), then the history; and the rules."""
    async with _runtime(request).db.platform_session() as session:
        listed = list(await repo.approvals(session, view.tenant.id))
        rules = await approvals.rules(session, view.tenant.id)
    pending = sorted((a for a in listed if a.status == "pending"), key=lambda a: a.created_at)
    return await render(
        request,
        "console/access_approvals.html",
        tenant=view.tenant,
        view=view,
        pending=pending,
        history=[a for a in listed if a.status != "pending"],
        rules=rules,
        can_decide=_can(view, DECIDE_APPROVALS),
        can_rule=_can(view, MANAGE_ROLES),
        me=view.principal.id,
        pretty=lambda value: json.dumps(value, indent=2, sort_keys=True, default=str),
    )


async def _decide(request: Request, view: TenantView, approval_id: str, approve: bool) -> Response:
    note = form_text(await request.form(), "note")[:500]
    try:
        async with _runtime(request).db.platform_session() as session, session.begin():
            decided = await approvals.decide(
                session,
                view.tenant.id,
                approval_id,
                approve=approve,
                approver=view.subject,
                approver_email=view.principal.email,
                note=note,
            )
    except NotFound:
        raise
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/t/{view.tenant.slug}/approvals")
    if decided.status == "failed":
        error = (decided.result or {}).get("error", "it failed")
        flash(request, f"Approved, but the change could not be made: {error}", "error")
    else:
        flash(request, f"{decided.summary}: {decided.status}.", "success")
    return redirect(f"/t/{view.tenant.slug}/approvals")


@router.post("/t/{slug}/approvals/{approval_id}/approve", dependencies=[Csrf])
async def approve(request: Request, approval_id: str, view: ApprovalDecider) -> Response:
    """Someone else's request runs now, in this transaction."""
    return await _decide(request, view, approval_id, True)


@router.post("/t/{slug}/approvals/{approval_id}/reject", dependencies=[Csrf])
async def reject(request: Request, approval_id: str, view: ApprovalDecider) -> Response:
    return await _decide(request, view, approval_id, False)


@router.post("/t/{slug}/approvals/rules", dependencies=[Csrf])
async def save_approval_rules(request: Request, view: RoleManager) -> Response:
    chosen = [str(a) for a in (await request.form()).getlist("actions")]
    async with _runtime(request).db.platform_session() as session:
        current = await repo.approval_rules(session, view.tenant.id)
    try:  # taking a rule away needs a second person too
        done = await perform(
            request,
            view,
            actions.RULES,
            {"actions": chosen},
            "Change the approval rules",
            force=bool(current - set(chosen)),
        )
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        if done is not None:
            flash(request, "The approval rules are saved.", "success")
    return redirect(f"/t/{view.tenant.slug}/approvals#rules")


# -- notes, as the access service filters them ----------------------------------------------------


async def _notes_open(rt: Runtime, tenant: TenantRef) -> None:
    """As the notes API: an active tenant whose plan includes the notes module."""
    if tenant.status != "active":
        raise TenantInactive(tenant.slug, tenant.status)
    if (await entitlements.current(rt.db, tenant.id)).values.get("module.notes") is not True:
        raise EntitlementMissing("module.notes", tenant.slug)


async def _notes_page(
    request: Request, view: TenantView, status_code: int = 200, typed: dict[str, str] | None = None
) -> HTMLResponse:
    rt = _runtime(request)
    await _notes_open(rt, view.tenant)
    async with rt.db.tenant_unit_of_work(view.tenant) as (session, platform):
        access = Access(TenantContext(view.tenant, session, platform), view.principal, view.subject)
        listed = list(await notes.list_notes(access, limit=200))
    async with rt.db.platform_session() as session:
        department_rows = list(await repo.departments(session, view.tenant.id))
    return await render(
        request,
        "console/notes.html",
        status_code,
        tenant=view.tenant,
        view=view,
        notes=listed,
        names={d.id: d.name for d in department_rows},
        departments=_tree(department_rows),
        can_write=_can(view, NOTE_CREATE),
        typed=typed or {"title": "", "body": "", "department_id": view.subject.department_id or ""},
    )


@router.get("/t/{slug}/notes")
async def notes_page(request: Request, view: NoteReader) -> HTMLResponse:
    """The notes this person may read: their roles' row conditions apply, as in the API."""
    return await _notes_page(request, view)


@router.post("/t/{slug}/notes", dependencies=[Csrf])
async def create_note(request: Request, view: NoteWriter) -> Response:
    rt = _runtime(request)
    await _notes_open(rt, view.tenant)
    form = await request.form()
    typed = {
        "title": form_text(form, "title"),
        "body": str(form.get("body") or ""),
        "department_id": form_text(form, "department_id"),
    }
    try:
        data = NoteCreate(title=typed["title"], body=typed["body"], department_id=typed["department_id"] or None)
        async with rt.db.tenant_unit_of_work(view.tenant) as (session, platform):
            access = Access(TenantContext(view.tenant, session, platform), view.principal, view.subject)
            note = await notes.create(access, data)
            await rt.db.commit_unit_of_work(session, platform)
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _notes_page(request, view, error_status(exc), typed=typed)
    flash(request, f"The note {note.title!r} is saved.", "success")
    return redirect(f"/t/{view.tenant.slug}/notes")
