"""`atrium finance …`: generate a ledger for demos and benchmarks, and check companies' hash chains."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from atrium.apps.finance import generator, integrity
from atrium.apps.finance import repository as repo
from atrium.apps.finance.jobs import acting
from atrium.core.errors import NotFound
from atrium.runtime import Runtime

finance_app = typer.Typer(help="The ledger: generate sample ledgers, verify hash chains.", no_args_is_help=True)


@finance_app.command("generate")
def generate(
    tenant: str,
    company: Annotated[
        str, typer.Option(help="Company name; created from --template when the tenant has none of that name.")
    ] = generator.DEFAULT_COMPANY,
    template: Annotated[str, typer.Option(help="Chart template of a new company.")] = generator.DEFAULT_TEMPLATE,
    entries: Annotated[int, typer.Option(help="Journal entries to write.")] = 1_000,
    lines_per_entry: Annotated[float, typer.Option(help="Average lines per entry (2 to 8).")] = 4.0,
    start: Annotated[str, typer.Option(help="First day of the range (YYYY-MM-DD).")] = "2025-01-01",
    months: Annotated[int, typer.Option(help="Length of the range in months.")] = 24,
    seed: Annotated[int, typer.Option(help="The same seed gives the same ledger.")] = 1,
    fast: Annotated[
        bool, typer.Option("--fast", help="Bulk load (millions of lines) instead of posting through the service.")
    ] = False,
) -> None:
    """Give a company a realistic sample ledger.

    Sales invoices, supplier bills, receipts and payments, salaries, depreciation, foreign-currency
    entries and a few reversals, spread over the business days of the range."""
    from atrium.cli.main import err, out, run

    try:
        first_day = dt.date.fromisoformat(start)
    except ValueError:
        err.print(f"[red]error:[/red] --start {escape(start)} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    spec = generator.LedgerSpec(
        entries=entries, lines_per_entry=lines_per_entry, start=first_day, months=months, seed=seed
    )

    async def work(rt: Runtime) -> generator.Generated:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=out,
            transient=True,
        ) as bar:
            task = bar.add_task("bulk loading" if fast else "posting", total=entries)
            return await generator.generate(
                rt,
                tenant,
                spec,
                company=company,
                template=template,
                fast=fast,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )

    made = run(work)
    rate = made.lines / made.seconds if made.seconds else 0
    out.print(
        f"{escape(made.company_name)} ({made.company_id}): {made.entries:,} entries, {made.lines:,} lines "
        f"in {made.seconds:,.1f} s ({rate:,.0f} lines/s, {'bulk' if made.fast else 'through the service'})"
    )
    table = Table("kind", "entries")
    for kind, count in sorted(made.kinds.items(), key=lambda item: -item[1]):
        table.add_row(kind, f"{count:,}")
    out.print(table)
    out.print(f"{made.foreign:,} of them in a foreign currency")


@finance_app.command("verify")
def verify(
    tenant: str,
    company: Annotated[str | None, typer.Option(help="Only this company (id or name).")] = None,
) -> None:
    """Recompute the companies' hash chains; exit 0 when intact, 1 naming the first broken entry."""
    from atrium.cli.main import err, out, run

    async def work(rt: Runtime) -> list[tuple[str, integrity.Verification]]:
        async with acting(rt, tenant) as access:
            companies = list(await repo.companies(access.session))
            if company is not None:
                wanted = company.strip().lower()
                companies = [c for c in companies if c.id == company or c.name.lower() == wanted]
                if not companies:
                    raise NotFound(f"no company {company!r} in {tenant}", field="company")
            return [(c.name, await integrity.verify(access.session, c.id)) for c in companies]

    results = run(work)
    if not results:
        out.print(f"{escape(tenant)} has no company")
        return
    table = Table("company", "entries", "chain", "first broken entry", "problem")
    for name, result in results:
        table.add_row(
            escape(name),
            f"{result.entries:,}",
            "[green]intact[/green]" if result.intact else "[red]BROKEN[/red]",
            escape(result.broken_at or ""),
            escape(result.problem or ""),
        )
    out.print(table)
    for name, result in results:
        if not result.intact:
            where = f"first broken entry {result.broken_at}" if result.broken_at else "the chain's end"
            err.print(f"[red]BROKEN[/red] {escape(name)}: {escape(where)}: {escape(result.problem or '')}")
    if any(not result.intact for _, result in results):
        raise typer.Exit(1)
