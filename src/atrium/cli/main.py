"""The operator's CLI: `atrium serve | worker | migrate | tenant … | audit … | events … | user … | access …`."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from atrium.cli.access import access_app
from atrium.cli.finance import finance_app
from atrium.core import context
from atrium.core.errors import AtriumError
from atrium.core.settings import get_settings
from atrium.platform.tenancy.models import Isolation
from atrium.runtime import Runtime

app = typer.Typer(help="Atrium: run and operate the platform.", no_args_is_help=True)
tenant_app = typer.Typer(help="Create and manage tenants.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
events_app = typer.Typer(help="The event outbox and dead letters.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")
app.add_typer(user_app, name="user")
app.add_typer(access_app, name="access")
app.add_typer(finance_app, name="finance")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one command with its own runtime; problems become a message and exit code 1."""
    context.actor.set(f"cli:{getpass.getuser()}")

    async def main() -> T:
        rt = Runtime(get_settings())
        try:
            return await work(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except AtriumError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from None


def tenant_dict(t: Any) -> dict[str, Any]:
    from atrium.platform.tenancy.schemas import TenantRead

    return TenantRead.model_validate(t).model_dump(mode="json")


# -- serving ------------------------------------------------------------------------------------


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API and the console."""
    import uvicorn

    get_settings().check()
    uvicorn.run("atrium.api.asgi:app", host=host, port=port, workers=workers, log_level="warning", access_log=False)


@app.command()
def worker() -> None:
    """Run the outbox relay, event consumers and periodic jobs."""
    from atrium.core.process import settle_heap
    from atrium.worker import run_worker

    runtime = Runtime(get_settings())
    settle_heap()
    asyncio.run(run_worker(runtime))


@app.command()
def migrate(
    continue_on_error: Annotated[bool, typer.Option(help="Migrate the other tenants when one fails.")] = False,
) -> None:
    """Bring the platform database and every tenant to the latest revision. Safe to re-run: a run
    after a failure resumes where it stopped."""
    from atrium.cli.migrate import migrate_all

    report = run(lambda rt: migrate_all(rt, stop_on_error=not continue_on_error))
    out.print(f"migrated {report.migrated}, already current {report.up_to_date}, failed {len(report.failed)}")
    for slug, error in report.failed:
        err.print(f"[red]{escape(slug)}[/red]: {escape(error)}")
    if report.failed:
        raise typer.Exit(1)


# -- tenants -------------------------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    isolation: Annotated[Isolation, typer.Option(help="pooled, schema or database.")] = Isolation.pooled,
    region: Annotated[str | None, typer.Option(help="Region of the tenant's stores.")] = None,
    sample_data: Annotated[bool, typer.Option(help="Load sample records.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create and provision a tenant."""
    from pydantic import ValidationError

    from atrium.platform.tenancy import service
    from atrium.platform.tenancy.schemas import TenantCreate

    try:
        data = TenantCreate(slug=slug, name=name, isolation=isolation, region=region, sample_data=sample_data)
    except ValidationError as exc:
        err.print(f"[red]error:[/red] {escape(exc.errors()[0]['msg'])}")
        raise typer.Exit(2) from None
    tenant = run(lambda rt: service.create(rt, data))
    _print_tenant(tenant, as_json)
    if tenant.status != "active":
        err.print(f"[red]provisioning incomplete:[/red] {escape(tenant.provisioning_error or '')}")
        err.print(f"finish it with: atrium tenant resume-provisioning {tenant.slug}")
        raise typer.Exit(1)


def _print_tenant(tenant: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(tenant_dict(tenant)))
    else:
        out.print(f"{tenant.slug}  {tenant.status}  {tenant.isolation}  region={tenant.region}  id={tenant.id}")


@tenant_app.command("list")
def tenant_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    include_deleted: Annotated[bool, typer.Option(help="Show tombstones too.")] = False,
) -> None:
    """List tenants."""
    from atrium.platform.tenancy import repository

    async def work(rt: Runtime) -> list[Any]:
        async with rt.db.platform_session() as session:
            rows, _ = await repository.list_tenants(session, include_deleted=include_deleted, limit=100_000)
            return list(rows)

    rows = run(work)
    if as_json:
        out.print_json(json.dumps([tenant_dict(t) for t in rows]))
        return
    table = Table("slug", "name", "isolation", "region", "status", "id")
    for t in rows:
        table.add_row(t.slug, t.name, t.isolation, t.region, t.status, t.id)
    out.print(table)


@tenant_app.command("show")
def tenant_show(tenant: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a tenant and its provisioning log."""
    from atrium.platform.tenancy import repository, service
    from atrium.platform.tenancy.schemas import ProvisioningStepRead

    async def work(rt: Runtime) -> tuple[Any, list[Any]]:
        async with rt.db.platform_session() as session:
            found = await service.get(session, tenant)
            return found, list(await repository.steps(session, found.id))

    found, steps = run(work)
    if as_json:
        payload = tenant_dict(found) | {
            "provisioning": [ProvisioningStepRead.model_validate(s).model_dump(mode="json") for s in steps]
        }
        out.print_json(json.dumps(payload))
        return
    _print_tenant(found, False)
    if found.provisioning_error:
        err.print(f"[red]{escape(found.provisioning_error)}[/red]")
    table = Table("#", "step", "status", "attempts", "duration ms", "error")
    for s in steps:
        table.add_row(
            str(s.position), s.step, s.status, str(s.attempts), f"{s.duration_ms or 0:.1f}", escape(s.error or "")
        )
    out.print(table)


def _lifecycle_command(action: str) -> None:
    def command(
        tenant: str,
        reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        from atrium.platform.tenancy import service

        _print_tenant(run(lambda rt: service.change_status(rt, tenant, action, reason)), as_json)

    command.__doc__ = f"{action.capitalize()} a tenant."
    tenant_app.command(action)(command)


for _action in ("suspend", "resume", "archive"):
    _lifecycle_command(_action)


@tenant_app.command("delete")
def tenant_delete(
    tenant: str,
    reason: Annotated[str | None, typer.Option()] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete an archived tenant: drops its data, keeps a tombstone and the audit trail."""
    from atrium.platform.tenancy import service

    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete tenant {tenant} and drop all its data?", abort=True)
    _print_tenant(run(lambda rt: service.delete(rt, tenant, reason)), as_json)


@tenant_app.command("resume-provisioning")
def tenant_resume_provisioning(tenant: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Finish a provisioning that stopped at a failed step."""
    from atrium.platform.tenancy import service

    found = run(lambda rt: service.resume_provisioning(rt, tenant))
    _print_tenant(found, as_json)
    if found.status != "active":
        err.print(f"[red]provisioning incomplete:[/red] {escape(found.provisioning_error or '')}")
        raise typer.Exit(1)


# -- audit ---------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(tenant: Annotated[str | None, typer.Option(help="Only this tenant's chain.")] = None) -> None:
    """Walk the audit chains; exit 0 when intact, 1 naming the first broken event."""
    from atrium.core.audit import service as audit
    from atrium.platform.tenancy import service as tenants

    async def work(rt: Runtime) -> list[audit.ChainReport]:
        async with rt.db.platform_session() as session:
            tenant_id = (await tenants.get(session, tenant)).id if tenant and tenant != "platform" else tenant
            return [await audit.verify_chain(session, c, rt.signer) for c in await audit.chains(session, tenant_id)]

    reports = run(work)
    broken = [r for r in reports if not r.ok]
    for r in reports:
        if r.ok:
            out.print(f"[green]intact[/green] chain {r.chain}: {r.checked} events, {r.checkpoints} signed checkpoints")
        else:
            where = f"seq {r.broken_seq} (id {r.broken_id})"
            err.print(f"[red]BROKEN[/red] chain {r.chain}: first broken event {where}: {r.reason}")
    if broken:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign every chain head now (the worker does this periodically)."""
    from atrium.core.audit.service import write_checkpoints

    async def work(rt: Runtime) -> int:
        async with rt.db.platform_session() as session, session.begin():
            return await write_checkpoints(session, rt.signer)

    out.print(f"{run(work)} checkpoints signed")


# -- events --------------------------------------------------------------------------------------


@events_app.command("replay")
def events_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids; all when omitted.")] = None,
) -> None:
    """Deliver dead-lettered events to their consumers again."""
    import atrium.consumers  # noqa: F401  (registers the consumers)

    replayed, failed = run(lambda rt: rt.events.replay_dead_letters(ids or None))
    out.print(f"replayed {replayed}, failed again {failed}")
    if failed:
        raise typer.Exit(1)


SETUP_LINK_MINUTES = 24 * 60

# -- users and the demo -----------------------------------------------------------------


@user_app.command("create")
def user_create(
    email: str,
    platform_admin: Annotated[bool, typer.Option("--platform-admin", help="May administer the platform.")] = False,
    password: Annotated[
        str | None, typer.Option(help="Prompted for when omitted (or generated with --generate).")
    ] = None,
    generate: Annotated[bool, typer.Option("--generate", help="Generate a password and print it once.")] = False,
    setup_link: Annotated[
        bool, typer.Option("--setup-link", help="Print a one-time link where the person chooses their password.")
    ] = False,
) -> None:
    """Create a verified account (the first platform administrator, for instance)."""
    import secrets

    from pydantic import EmailStr, TypeAdapter, ValidationError

    from atrium.platform.identity import service as identity

    try:
        TypeAdapter(EmailStr).validate_python(email)
    except ValidationError:
        err.print(f"[red]error:[/red] {escape(email)} is not an email address")
        raise typer.Exit(2) from None
    if setup_link:
        password, shown = secrets.token_urlsafe(32), False  # unusable until the link sets one
    elif password is None:
        password = secrets.token_urlsafe(16) if generate or not sys.stdin.isatty() else getpass.getpass("Password: ")
        shown = generate or not sys.stdin.isatty()
    else:
        shown = False
    if len(password) < 12:
        err.print("[red]error:[/red] the password needs 12 characters or more")
        raise typer.Exit(2)

    async def work(rt: Runtime) -> tuple[Any, str | None]:
        async with rt.db.platform_session() as session, session.begin():
            user = await identity.create_user(
                session, email, password, platform_admin=platform_admin, terms_version=rt.settings.terms_version
            )
            link = None
            if setup_link:
                token = await identity.issue_token(session, user, recovery.PASSWORD_RESET, SETUP_LINK_MINUTES)
                link = f"{rt.settings.public_url}/reset-password?token={token}"
        return user, link

    from atrium.platform.identity import recovery

    user, link = run(work)
    out.print(f"user {user.email} ({'platform administrator' if platform_admin else 'user'}) id={user.id}")
    if shown:
        out.print(f"password: {password}  (shown once)")
    if link:
        out.print(f"set the password within {SETUP_LINK_MINUTES // 60} h at: {link}  (works once)")


async def _demo_organisation(session: Any, tenant_id: str) -> None:
    """Departments and a custom role with a row condition, so access control has something to show."""
    from atrium.platform.access import service as access
    from atrium.platform.access.schemas import DepartmentCreate, RoleCreate

    actor = "atrium demo"
    sales = await access.create_department(session, tenant_id, DepartmentCreate(name="Sales"), actor=actor)
    await access.create_department(
        session, tenant_id, DepartmentCreate(name="Sales EU", parent_id=sales.id), actor=actor
    )
    await access.create_department(session, tenant_id, DepartmentCreate(name="Operations"), actor=actor)
    condition = {"op": "in_department", "department": sales.id, "children": True}
    role = RoleCreate(
        name="Sales viewer",
        description="Reads the notes of Sales and its sub-departments",
        permission_sets=["notes.read", "tenant.basics"],
        condition=condition,
    )
    await access.create_role(session, tenant_id, role, actor=actor)


@app.command("demo")
def demo(slug: str = "demo", admin_email: str = "admin@example.com") -> None:
    """Migrate, create the first platform administrator (credentials printed once) and a demo
    tenant they administer."""
    from sqlalchemy import select

    from atrium.cli.migrate import migrate_all
    from atrium.platform.identity import service as identity
    from atrium.platform.identity.models import Membership, User
    from atrium.platform.tenancy import repository, service
    from atrium.platform.tenancy.schemas import TenantCreate

    async def work(rt: Runtime) -> None:
        await migrate_all(rt, show_progress=False)
        async with rt.db.platform_session() as session, session.begin():
            admin = (await session.execute(select(User).where(User.is_platform_admin.is_(True)))).scalars().first()
            if admin is None:
                admin, pw, key = await identity.bootstrap_platform_admin(
                    session, admin_email, password=None, terms_version=rt.settings.terms_version
                )
                out.print(f"[bold]Platform administrator[/bold] {admin_email}  password: {pw}  (shown once)")
                out.print(f"Platform API key: {key}  (shown once)")
            admin_id = admin.id
            taken = await repository.slug_taken(session, slug)
        if not taken:
            tenant = await service.create(rt, TenantCreate(slug=slug, name="Demo Company", sample_data=True))
            out.print(f"demo tenant {tenant.slug}: {tenant.status}")
            async with rt.db.platform_session() as session, session.begin():
                session.add(Membership(user_id=admin_id, tenant_id=tenant.id, role=identity.TENANT_ADMIN))
                await _demo_organisation(session, tenant.id)
            await _demo_finance(rt, tenant.slug)

    run(work)


async def _demo_finance(rt: Runtime, slug: str) -> None:
    """A company with a year of generated books, a bank account and an open invoice that the sample
    CAMT.053 statement (tests/apps/finance/files/statement.camt053.xml) pays, so importing it shows a
    suggested match at once."""
    import datetime as dt
    from decimal import Decimal

    from atrium.apps.finance import posting
    from atrium.apps.finance.banking import service as banking
    from atrium.apps.finance.charts import AccountKind
    from atrium.apps.finance.generator import LedgerSpec, generate
    from atrium.apps.finance.jobs import acting
    from atrium.apps.finance.receivables import service as receivables
    from atrium.apps.finance.receivables.schemas import PartyCreate

    made = await generate(
        rt, slug, LedgerSpec(entries=600, start=dt.date(2025, 1, 1), months=12, seed=7), company="Demo Company GmbH"
    )
    async with acting(rt, slug, "demo") as access:
        company_id = made.company_id
        await banking.create_bank_account(
            access,
            company_id,
            name="Sparkasse",
            iban="DE44500105175407324931",
            currency=None,
            account=None,
            journal=None,
        )
        party = await receivables.create_party(
            access,
            PartyCreate(company_id=company_id, name="Müller Maschinenbau GmbH", ibans=["DE89370400440532013000"]),
        )
        book = await posting.books(access.session, company_id)
        amount = Decimal("1500.00")
        await posting.post(
            access,
            posting.EntryIn(
                company_id=company_id,
                journal="SAL",
                date=dt.date(2026, 1, 2),
                reference="INV-2026-0001",
                lines=[
                    posting.LineIn(
                        account=book.account_of_kind(AccountKind.receivable).id,
                        debit=amount,
                        party_id=party.id,
                        due_date=dt.date(2026, 1, 16),
                    ),
                    posting.LineIn(account=book.account_of_kind(AccountKind.income).id, credit=amount),
                ],
            ),
        )
    out.print(f"demo finance: {made.company_name} with {made.entries} entries ({made.lines} lines)")


if __name__ == "__main__":
    app()
