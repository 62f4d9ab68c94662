"""`atrium finance generate` gives a company a ledger (through the service or as a bulk load) and
`atrium finance verify` checks the companies' chains: exit 0 when intact, 1 naming the first entry
whose line was changed behind the ledger's back."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from atrium.cli.main import app
from atrium.core.db import async_url
from atrium.core.settings import get_settings
from tests.cli.test_user_cli import cli_env  # noqa: F401 - the fixture


def _invoke(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _sql(database_url: str, *statements: str, **params: Any) -> list[Any]:
    """Run statements in one transaction on the test database; the rows of the last."""

    async def run() -> list[Any]:
        engine = create_async_engine(async_url(database_url), poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                rows: list[Any] = []
                for statement in statements:
                    result = await conn.execute(text(statement), params)
                    rows = list(result.all()) if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def acme(cli_env: Path) -> None:  # noqa: F811
    assert _invoke("migrate")[0] == 0
    code, output = _invoke("tenant", "create", "acme")
    assert code == 0, output


def test_generate_through_the_service_and_in_bulk_then_verify(acme: None) -> None:
    code, output = _invoke("finance", "generate", "acme", "--entries", "120", "--months", "2", "--seed", "2")
    assert code == 0, output
    assert re.search(r"Demo Company \(.+\): 120 entries, [\d,]+ lines .*through the service", output), output
    assert "sale" in output and "receipt" in output and "in a foreign currency" in output
    code, output = _invoke(
        "finance", "generate", "acme", "--company", "Bulk Co", "--template", "uk", "--entries", "300",
        "--lines-per-entry", "6", "--start", "2026-01-01", "--months", "3", "--fast",
    )  # fmt: skip
    assert code == 0, output
    assert "Bulk Co" in output and "300 entries" in output and "bulk" in output

    code, output = _invoke("finance", "verify", "acme")
    assert code == 0, output
    assert re.search(r"Bulk Co\s.*300\s.*intact", output) and re.search(r"Demo Company\s.*120\s.*intact", output)
    code, output = _invoke("finance", "verify", "acme", "--company", "bulk co")
    assert code == 0 and "Bulk Co" in output and "Demo Company" not in output

    code, output = _invoke("finance", "verify", "acme", "--company", "Initech")
    assert code == 1 and "no company 'Initech'" in output
    code, output = _invoke("finance", "verify", "nobody")
    assert code == 1 and "no tenant 'nobody'" in output
    code, output = _invoke("finance", "generate", "acme", "--entries", "0")
    assert code == 1 and "at least one entry" in output
    code, output = _invoke("finance", "generate", "acme", "--start", "2026-02-30")
    assert code == 2 and "not a date" in output


def test_a_changed_line_makes_verify_fail_naming_the_entry(acme: None, database_url: str) -> None:
    code, output = _invoke("finance", "generate", "acme", "--entries", "40", "--months", "1", "--fast")
    assert code == 0, output
    code, output = _invoke("finance", "generate", "acme", "--company", "Other Ltd", "--entries", "10", "--months", "1")
    assert code == 0, output
    [(number, entry_id)] = _sql(
        database_url,
        "SELECT e.number, e.id FROM finance_entries e JOIN finance_companies c ON c.id = e.company_id "
        "WHERE c.name = 'Demo Company' AND e.chain_index = 7",
    )
    tamper = "UPDATE finance_lines SET debit = debit + 1 WHERE entry_id = :entry AND line_no = 1"
    if database_url.startswith("postgresql"):
        # posted lines refuse changes; only a tenant purge may touch them, which is what tampering takes
        _sql(database_url, "SELECT set_config('atrium.purge', 'on', true)", tamper, entry=entry_id)
    else:
        _sql(database_url, tamper, entry=entry_id)

    code, output = _invoke("finance", "verify", "acme")
    assert code == 1, output
    assert f"BROKEN Demo Company: first broken entry {number}: its content no longer matches its hash" in output
    assert re.search(r"Other Ltd\s.*10\s.*intact", output), output
    code, output = _invoke("finance", "verify", "acme", "--company", "Other Ltd")
    assert code == 0, output
