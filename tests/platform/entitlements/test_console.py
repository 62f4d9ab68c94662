"""The console's entitlements page over HTTP: members see what their tenant may use; Platform Admins
change it there. Forms are posted as a browser does: the page first, its CSRF token, then the form."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import select

from atrium.platform.entitlements import service
from atrium.platform.entitlements.models import TenantEntitlement
from tests.platform.entitlements.conftest import World

PAGE = "/t/acme/entitlements"


async def _page(client: httpx.AsyncClient, path: str = PAGE) -> tuple[str, str]:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token, response.text
    return response.text, token.group(1)


def _flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page)]


def _row(page: str, key: str) -> str:
    found = re.search(rf'<tr id="entitlement-{re.escape(key)}">(.*?)</tr>', page, re.S)
    assert found, key
    return found.group(1)


async def _overrides(world: World) -> dict[str, object]:
    async with world.rt.db.platform_session() as session:
        return {r.key: r.value for r in (await session.execute(select(TenantEntitlement))).scalars()}


async def test_a_member_sees_the_tenants_entitlements_without_forms(world: World) -> None:
    home = await world.acme_member.get("/t/acme")
    assert 'href="/t/acme/entitlements"' in home.text
    page, _ = await _page(world.acme_member)
    assert "Entitlements" in page and "Modules" in page and "Quotas" in page
    notes = _row(page, "module.notes")
    assert "Notes" in notes and ">on<" in notes and ">default<" in notes
    assert ">off<" in _row(page, "feature.ai_copilot") and "unlimited" in _row(page, "seats")
    assert 'action="/t/acme/entitlements/' not in page


async def test_another_tenants_page_is_not_found(world: World) -> None:
    assert (await world.acme_member.get("/t/globex/entitlements")).status_code == 404
    assert (await world.globex_admin.get(PAGE)).status_code == 404


async def test_a_platform_admin_overrides_and_resets_from_the_page(world: World) -> None:
    page, csrf = await _page(world.operator)
    assert 'action="/t/acme/entitlements/module.finance"' in page

    saved = await world.operator.post(f"{PAGE}/module.finance", data={"csrf_token": csrf, "value": "off"})
    assert saved.status_code == 303 and saved.headers["location"] == PAGE
    page, csrf = await _page(world.operator)
    assert _flashes(page) == ["Finance is set for Acme Ltd."]
    finance = _row(page, "module.finance")
    assert ">off<" in finance and ">override<" in finance and "operator@atrium.example" in finance
    assert not (await service.current(world.rt.db, world.acme_id)).enabled("module.finance")

    await world.operator.post(f"{PAGE}/seats", data={"csrf_token": csrf, "value": "12"})
    page, csrf = await _page(world.operator)
    assert "12" in _row(page, "seats") and await _overrides(world) == {"module.finance": False, "seats": 12}

    reset = await world.operator.post(f"{PAGE}/module.finance/reset", data={"csrf_token": csrf})
    assert reset.status_code == 303
    page, _ = await _page(world.operator)
    assert _flashes(page) == ["Finance is back to the default."]
    assert ">default<" in _row(page, "module.finance") and await _overrides(world) == {"seats": 12}


async def test_bad_values_are_flashed_and_nothing_is_written(world: World) -> None:
    _, csrf = await _page(world.operator)
    for key, value, message in (
        ("seats", "a dozen", "seats takes a whole number; leave it empty for unlimited"),
        ("seats", "-3", "seats must not be negative"),
        ("module.crm", "maybe", "module.crm takes on or off"),
    ):
        response = await world.operator.post(f"{PAGE}/{key}", data={"csrf_token": csrf, "value": value})
        assert response.status_code == 303
        page, csrf = await _page(world.operator)
        assert _flashes(page) == [message]
    assert await _overrides(world) == {}


async def test_only_platform_admins_may_post(world: World) -> None:
    for client in (world.acme_admin, world.acme_member):
        _, csrf = await _page(client)
        refused = await client.post(f"{PAGE}/module.notes", data={"csrf_token": csrf, "value": "off"})
        assert refused.status_code == 403
        assert (await client.post(f"{PAGE}/module.notes/reset", data={"csrf_token": csrf})).status_code == 403
    assert await _overrides(world) == {}
    without_token = await world.operator.post(f"{PAGE}/module.notes", data={"value": "off"})
    assert without_token.status_code == 403 and await _overrides(world) == {}
