"""`atrium access …`: what a member may do in a tenant, and why (their roles and conditions)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select

from atrium.core.errors import NotFound
from atrium.platform.access import catalog, predicates
from atrium.platform.access import subject as subjects
from atrium.platform.identity.models import User
from atrium.runtime import Runtime

access_app = typer.Typer(help="Roles and permissions.", no_args_is_help=True)


@access_app.command("explain")
def explain(
    tenant: str,
    email: str,
    permission: Annotated[str | None, typer.Option(help="Only this permission.")] = None,
) -> None:
    """A member's roles in a tenant and each permission they hold, with its row conditions."""
    from atrium.cli.main import out, run

    async def work(rt: Runtime) -> None:
        ref = await rt.tenants.resolve(tenant)
        if ref is None:
            raise NotFound(f"no tenant {tenant!r}")
        async with rt.db.platform_session() as session:
            user = await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
            if user is None:
                raise NotFound(f"no user {email!r}")
            subject = (
                subjects.everything(user.id, ref.id)
                if user.is_platform_admin
                else await subjects.load(session, ref.id, user.id)
            )
        out.print(f"{user.email} in {ref.slug}: roles {', '.join(subject.roles) or '(none)'}")
        table = Table("permission", "rows", "privileged")
        for name in sorted(subject.grants):
            if permission and name != permission:
                continue
            conditions = subject.grants[name]
            rows = (
                "all"
                if None in conditions
                else " OR ".join(str(predicates.dump(c)) for c in conditions if c is not None)
            )
            table.add_row(name, rows, "yes" if catalog.is_privileged(name) else "")
        out.print(table)
        if permission and permission not in subject.grants:
            out.print(f"[yellow]{permission} is not granted[/yellow]")

    run(work)
