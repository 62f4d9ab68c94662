"""Seats: a tenant whose seats are all taken refuses one more active member (409 naming
``seats``), through an invitation and through SCIM; nothing of the refused join is kept."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from atrium.platform.entitlements import service
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.scim import tokens as scim_tokens
from atrium.platform.identity.security_models import Invitation
from atrium.runtime import Runtime
from tests.platform.entitlements.conftest import World

NEW_PASSWORD = "seven tidy otters paddle home"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def _members(rt: Runtime, tenant_id: str) -> int:
    async with rt.db.platform_session() as session:
        stmt = select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id)
        return int((await session.execute(stmt)).scalar_one())


async def _seats(world: World, value: int | None) -> None:
    response = await world.operator.put("/api/v1/tenants/acme/entitlements/seats", json={"value": value})
    assert response.status_code == 200, response.text


async def _accept(world: World, token: str) -> httpx.Response:
    async with world.client() as newcomer:
        return await newcomer.post(
            "/api/v1/auth/invitations/accept", json={"token": token, "password": NEW_PASSWORD, "accept_terms": True}
        )


async def test_an_invitation_is_refused_when_the_seats_are_taken_and_works_once_one_is_added(world: World) -> None:
    invited = await world.acme_admin.post(
        "/api/v1/tenants/acme/invitations", json={"email": "new@acme.example", "role": "Member"}
    )
    assert invited.status_code == 201, invited.text
    token = world.sink.last_token()
    await _seats(world, 2)  # the admin and the member hold both

    refused = await _accept(world, token)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "seat-limit-reached" and body["entitlement"] == "seats" and body["field"] == "seats"
    assert body["seats"] == 2 and body["seats_used"] == 2 and "seat" in body["detail"]
    assert await _members(world.rt, world.acme_id) == 2
    async with world.rt.db.platform_session() as session:
        assert (await session.execute(select(User).where(User.email == "new@acme.example"))).first() is None
        invitation = (await session.execute(select(Invitation))).scalar_one()
        assert invitation.accepted_at is None  # still usable

    await _seats(world, 3)
    accepted = await _accept(world, token)
    assert accepted.status_code == 200, accepted.text
    assert await _members(world.rt, world.acme_id) == 3


async def test_without_a_limit_the_check_adds_nothing(world: World) -> None:
    async with world.rt.db.platform_session() as session, session.begin():
        await service.check_seat_available(session, world.acme_id)  # unlimited by default
    await _seats(world, 0)
    async with world.rt.db.platform_session() as session, session.begin():
        try:
            await service.check_seat_available(session, world.acme_id)
        except Exception as exc:
            assert getattr(exc, "code", None) == "seat-limit-reached"
        else:
            raise AssertionError("0 seats must refuse a member")


async def test_scim_provisioning_is_refused_past_the_seats_and_so_is_a_reactivation(world: World) -> None:
    async with world.rt.db.platform_session() as session, session.begin():
        token = await scim_tokens.create_token(session, world.acme_id, "test")
    await _seats(world, 3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),
        base_url="http://atrium.test/scim/v2/",
        headers={"Authorization": f"Bearer {token}"},
    ) as scim:

        def user(name: str, active: bool = True) -> dict[str, object]:
            return {"schemas": [SCIM_USER], "userName": name, "emails": [{"value": name}], "active": active}

        assert (await scim.post("Users", json=user("ada@acme.example"))).status_code == 201  # the third seat
        refused = await scim.post("Users", json=user("alan@acme.example"))
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/scim+json")
        assert "seat" in refused.json()["detail"]
        assert await _members(world.rt, world.acme_id) == 3

        parked = await scim.post("Users", json=user("grace@acme.example", active=False))  # takes no seat
        assert parked.status_code == 201, parked.text
        wake = {"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]}
        assert (await scim.patch(f"Users/{parked.json()['id']}", json=wake)).status_code == 409
