"""`atrium demo` gives the demo tenant an organisation and a custom role with a row condition;
`atrium access explain` shows what a member may do there and under which conditions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atrium.cli.main import app
from atrium.core.settings import get_settings
from atrium.platform.access import repository as access_repo
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.runtime import Runtime
from tests.cli.test_user_cli import cli_env  # noqa: F401 - the fixture
from tests.conftest import make_settings


def _invoke(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


async def test_demo_organisation_and_explain(cli_env: Path, database_url: str) -> None:  # noqa: F811
    code, output = await asyncio.to_thread(_invoke, "demo")
    assert code == 0, output
    rt = Runtime(make_settings(database_url, cli_env))
    try:
        ref = await rt.tenants.resolve("demo")
        assert ref is not None
        async with rt.db.platform_session() as session, session.begin():
            names = {d.name: d for d in await access_repo.departments(session, ref.id)}
            assert set(names) == {"Sales", "Sales EU", "Operations"}
            assert names["Sales EU"].parent_id == names["Sales"].id
            role = await access_repo.custom_role(session, ref.id, "sales viewer")
            assert role is not None and role.condition == {
                "op": "in_department",
                "department": names["Sales"].id,
                "children": True,
            }
            member = await identity.create_user(
                session, "rep@example.com", "a long passphrase for rep", platform_admin=False, terms_version="1"
            )
            session.add(Membership(user_id=member.id, tenant_id=ref.id, role="Sales viewer"))
    finally:
        await rt.close()

    code, output = await asyncio.to_thread(_invoke, "access", "explain", "demo", "rep@example.com")
    assert code == 0, output
    assert "roles Sales viewer" in output and "notes.note.read" in output and "in_department" in output
    assert "notes.note.create" not in output

    code, output = await asyncio.to_thread(
        _invoke, "access", "explain", "demo", "rep@example.com", "--permission", "access.role.manage"
    )
    assert code == 0 and "is not granted" in output

    code, output = await asyncio.to_thread(_invoke, "access", "explain", "demo", "nobody@example.com")
    assert code == 1 and "no user" in output


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    get_settings.cache_clear()
