"""The console's door into a tenant: the same access service as the API decides what a person
sees and may press. While an administrator "views as" a member, the tenant's pages are rendered
for that member (with a banner and a stop button), and privileged pages stay closed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from atrium.api.deps import Principal
from atrium.core.tenancy import TenantRef
from atrium.platform.access import approvals, impersonation
from atrium.platform.access import auth as access_auth
from atrium.platform.access.models import Approval
from atrium.platform.access.subject import Subject
from atrium.platform.identity import policies
from atrium.platform.tenancy.exceptions import TenantNotFound
from atrium.runtime import Runtime
from atrium.web.console import CurrentViewer, Viewer, flash


@dataclass(frozen=True)
class TenantView:
    """The viewer inside one tenant: who the tenant sees (the impersonated member while viewing
    as them) and what that person may do."""

    tenant: TenantRef
    principal: Principal
    subject: Subject
    viewer: Viewer

    @property
    def impersonating(self) -> bool:
        return self.principal.impersonator_id is not None

    def nav(self) -> dict[str, bool]:
        """Which of the tenant's pages the navigation offers this person."""
        return {
            "notes": self.may("notes.note.read"),
            "people": self.may("identity.member.read"),
            "security": self.may("identity.security.manage"),
            "access": self.may("access.role.read"),
            "approvals": self.may("access.approval.read"),
            "finance": self.may("finance.account.read"),
        }

    def banner(self) -> dict[str, str] | None:
        if self.principal.impersonator_email is None:
            return None
        return {"slug": self.tenant.slug, "subject": self.principal.email, "actor": self.principal.impersonator_email}

    def may(self, permission: str) -> bool:
        return self.subject.allows(permission)

    def demand(self, permission: str) -> None:
        access_auth.demand(self.principal, self.subject, permission)


def viewer_principal(viewer: Viewer) -> Principal:
    return Principal(
        viewer.user.id,
        viewer.user.email,
        platform_admin=viewer.is_platform_admin,
        tenant_ids=frozenset(m.tenant_id for m in viewer.memberships),
        via="session",
        mfa=viewer.session.mfa,
        session_id=viewer.session.id,
        signed_in_at=viewer.session.created_at,
        reauthenticated_at=viewer.session.reauthenticated_at or viewer.session.created_at,
    )


async def tenant_view(request: Request, slug: str, viewer: CurrentViewer) -> TenantView:
    """Resolve the tenant for a console page; a tenant the viewer may not enter is not found."""
    rt: Runtime = request.app.state.runtime
    ref = await rt.tenants.resolve(slug)
    if ref is None or ref.status == "deleted" or not (viewer.is_platform_admin or viewer.role_in(ref.id)):
        raise TenantNotFound(slug)
    request.session["tenant"] = ref.slug
    principal = viewer_principal(viewer)
    if request.session.get(impersonation.SESSION_KEY):
        principal = await impersonation.apply(rt, request, principal)
    subject = await access_auth.load_subject(rt, principal, ref.id)
    view = TenantView(ref, principal, subject, viewer)
    request.state.tenant_view = view
    return view


MemberView = Annotated[TenantView, Depends(tenant_view)]


def requiring(permission: str) -> Callable[..., Awaitable[TenantView]]:
    """A page or form for holders of ``permission``. Others get "not found", so a member does not
    learn which pages exist for administrators; the tenant's IP allowlist and forced MFA and the
    roles' own rules apply as in the API."""

    async def dependency(request: Request, view: MemberView) -> TenantView:
        if not view.may(permission):
            raise TenantNotFound(view.tenant.slug)
        view.demand(permission)
        if not view.viewer.is_platform_admin:  # an impersonating administrator is held to the tenant's rules too
            ip = request.client.host if request.client else None
            await policies.enforce(
                request.app.state.runtime, view.tenant.id, ip=ip, mfa=view.principal.mfa, interactive=True
            )
            access_auth.enforce_role_policy(view.principal, view.subject)
        return view

    return dependency


async def perform(
    request: Request, view: TenantView, action: str, payload: dict[str, Any], summary: str, *, force: bool = False
) -> dict[str, Any] | None:
    """Run a privileged change as the API does, or queue it when the tenant requires approval
    (flashed; ``None`` is returned). Refusals propagate to the caller."""
    rt: Runtime = request.app.state.runtime
    async with rt.db.platform_session() as session, session.begin():
        done = await approvals.perform(
            session,
            view.tenant.id,
            action,
            payload,
            summary=summary,
            requester=view.subject,
            requested_by=view.principal.id,
            requested_by_email=view.principal.email,
            force=force,
        )
    if isinstance(done, Approval):
        inbox = " in the approvals inbox" if view.may("access.approval.read") else ""
        flash(request, f"Sent for approval: {summary}. Another administrator decides it{inbox}.", "info")
        return None
    return done
