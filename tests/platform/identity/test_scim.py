"""SCIM 2.0 provisioning: the token routes, scim2-tester's compliance checks over the real ASGI app,
filters, PATCH of members, errors that change nothing, tenant isolation and deactivation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from scim2_client import BaseSyncSCIMClient
from scim2_tester import Status, check_server
from sqlalchemy import func, select

from atrium.api.app import create_app
from atrium.core.audit.models import AuditEvent
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.passwords import verify_password
from atrium.platform.identity.scim.models import Group, ScimToken, ScimUser
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Tenant:
    slug: str
    id: str
    admin: httpx.AsyncClient  # signed in as the Tenant Admin
    scim: httpx.AsyncClient  # bearing the tenant's SCIM token
    token: str


@dataclass
class Env:
    rt: Runtime
    sink: Sink
    app: Any

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.rt.settings.public_url, headers=headers
        )

    async def signed_up(self, email: str, organization: str) -> tuple[httpx.AsyncClient, dict[str, Any]]:
        """A new account with its own tenant, signed in."""
        client = self.client()
        payload = {**SIGNUP, "email": email, "organization_name": organization}
        assert (await client.post("/api/v1/auth/signup", json=payload)).status_code == 202
        verified = await client.post("/api/v1/auth/verify-email", json={"token": self.sink.last_token()})
        assert verified.status_code == 200, verified.text
        await self.sign_in(client, email, str(SIGNUP["password"]))
        return client, verified.json()

    @staticmethod
    async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text

    async def tenant(self, email: str, organization: str) -> Tenant:
        admin, verified = await self.signed_up(email, organization)
        created = await admin.post(f"/api/v1/tenants/{verified['tenant_slug']}/scim/token")
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        scim = self.client(Authorization=f"Bearer {token}")
        scim.base_url = httpx.URL(self.rt.settings.public_url + "/scim/v2/")
        return Tenant(verified["tenant_slug"], verified["tenant_id"], admin, scim, token)


@pytest.fixture
async def env(auth: Any) -> AsyncIterator[Env]:
    _client, sink, rt = auth
    yield Env(rt, sink, create_app(runtime=rt, embedded_worker=False))


def user_payload(user_name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name, **extra}


async def create_user(tenant: Tenant, user_name: str, **extra: Any) -> dict[str, Any]:
    extra.setdefault("emails", [{"value": user_name}])
    response = await tenant.scim.post("Users", json=user_payload(user_name, **extra))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body: dict[str, Any] = response.json()
    return body


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status), body
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body


async def count(rt: Runtime, model: Any) -> int:
    async with rt.db.platform_session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# ------------------------------------------------------------------------------------ the token


async def test_a_tenant_admin_creates_rotates_and_revokes_the_token(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    path = f"/api/v1/tenants/{tenant.slug}/scim/token"
    status = (await tenant.admin.get(path)).json()
    assert status["exists"] is True and status["prefix"] == tenant.token[:13] and "token" not in status
    assert tenant.token.startswith("scim_") and status["last_used_at"] is None
    async with env.rt.db.platform_session() as session:
        stored = (await session.execute(select(ScimToken))).scalar_one()
    assert stored.token_hash != tenant.token and len(stored.token_hash) == 64

    assert (await tenant.scim.get("ServiceProviderConfig")).status_code == 200
    assert (await tenant.admin.get(path)).json()["last_used_at"] is not None

    rotated = (await tenant.admin.post(path)).json()["token"]
    assert rotated != tenant.token
    assert_scim_error(await tenant.scim.get("Users"), 401)
    fresh = env.client(Authorization=f"Bearer {rotated}")
    assert (await fresh.get("/scim/v2/Users")).status_code == 200

    assert (await tenant.admin.delete(path)).status_code == 204
    assert (await tenant.admin.get(path)).json()["exists"] is False
    assert_scim_error(await fresh.get("/scim/v2/Users"), 401)
    assert (await tenant.admin.delete(path)).status_code == 404
    async with env.rt.db.platform_session() as session:
        actions = (await session.execute(select(AuditEvent.action).where(AuditEvent.tenant_id == tenant.id))).scalars()
        recorded = list(actions)
    assert recorded.count("scim.token.created") == 2 and recorded.count("scim.token.revoked") == 1


async def test_token_routes_refuse_strangers_404_and_plain_members_403(env: Env) -> None:
    acme = await env.tenant("admin@acme.example.com", "Acme")
    stranger, _ = await env.signed_up("other@globex.example.com", "Globex")
    path = f"/api/v1/tenants/{acme.slug}/scim/token"
    for method in ("GET", "POST", "DELETE"):
        assert (await stranger.request(method, path)).status_code == 404, method
    # a plain member: provisioned into Acme by SCIM, then signed in with their own password
    await create_user(acme, "other@globex.example.com")
    for method in ("GET", "POST", "DELETE"):
        assert (await stranger.request(method, path)).status_code == 403, method
    assert (await acme.admin.get(path)).json()["exists"] is True


async def test_a_missing_or_wrong_token_is_a_scim_401(env: Env) -> None:
    anonymous = env.client()
    assert_scim_error(await anonymous.get("/scim/v2/Users"), 401)
    wrong = env.client(Authorization="Bearer scim_not-a-real-token")
    response = await wrong.get("/scim/v2/Users")
    assert_scim_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


# --------------------------------------------------------------------------- scim2-tester compliance


class _AppTransport(httpx.BaseTransport):
    """Carries the requests of a synchronous httpx client to the ASGI app, on the test's event loop
    (scim2-tester drives a synchronous scim2-client; it runs in a worker thread meanwhile)."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._app, self._loop = httpx.ASGITransport(app=app), loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._app.handle_async_request(request)
            return response.status_code, response.headers.raw, await response.aread()

        status, headers, content = asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=120)
        return httpx.Response(status, headers=headers, content=content, request=request)


class _HttpxScimClient(BaseSyncSCIMClient):
    """scim2-client's synchronous client over an ``httpx.Client``."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


async def test_scim2_tester_compliance_checks_all_pass(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    loop = asyncio.get_running_loop()
    with httpx.Client(
        transport=_AppTransport(env.app, loop),
        base_url=env.rt.settings.public_url + "/scim/v2",
        headers={"Authorization": f"Bearer {tenant.token}"},
    ) as http:
        results = await asyncio.to_thread(check_server, _HttpxScimClient(http))
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not failed, "\n".join(f"{r.resource_type} {r.title}: {r.reason}" for r in failed)
    passed = [r for r in results if r.status is Status.SUCCESS]
    assert len(passed) > 40, [(r.title, r.status) for r in results]
    titles = {r.title for r in passed}
    assert {"object_creation", "object_query", "object_replacement", "object_deletion"} <= titles
    assert {"check_add_attribute", "check_remove_attribute", "check_replace_attribute"} <= titles


# ------------------------------------------------------------------------------------- filters


async def _names(tenant: Tenant, resource: str, filter_: str, **params: Any) -> list[str]:
    response = await tenant.scim.get(resource, params={"filter": filter_, **params})
    assert response.status_code == 200, (filter_, response.text)
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    key = "userName" if resource == "Users" else "displayName"
    return sorted(r[key] for r in body.get("Resources", []))


async def test_filters_run_in_the_database_on_every_supported_attribute(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    ada = await create_user(
        tenant,
        "Ada@acme.example.com",
        externalId="okta-1",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        displayName="Ada Lovelace",
        emails=[{"value": "ada@acme.example.com", "type": "work", "primary": True}, {"value": "ada@home.example.org"}],
    )
    await create_user(
        tenant,
        "grace@acme.example.com",
        externalId="okta-2",
        name={"givenName": "Grace", "familyName": "Hopper"},
        emails=[{"value": "grace@acme.example.com", "type": "work"}],
        active=False,
    )
    await create_user(tenant, "alan@other.example.net", emails=[{"value": "alan@other.example.net"}])
    everyone = ["Ada@acme.example.com", "alan@other.example.net", "grace@acme.example.com"]
    cases = {
        'userName eq "ada@ACME.example.com"': ["Ada@acme.example.com"],  # userName is case-insensitive
        'userName ne "ada@acme.example.com"': ["alan@other.example.net", "grace@acme.example.com"],
        'userName co "ACME"': ["Ada@acme.example.com", "grace@acme.example.com"],
        'userName sw "al"': ["alan@other.example.net"],
        'userName ew ".net"': ["alan@other.example.net"],
        'externalId eq "okta-2"': ["grace@acme.example.com"],
        'externalId eq "OKTA-2"': [],  # externalId is case-exact
        "externalId pr": ["Ada@acme.example.com", "grace@acme.example.com"],
        'emails.value eq "ada@home.example.org"': ["Ada@acme.example.com"],
        'emails co "@acme."': ["Ada@acme.example.com", "grace@acme.example.com"],
        'emails[type eq "work" and value sw "grace"]': ["grace@acme.example.com"],
        'displayName eq "ada lovelace"': ["Ada@acme.example.com"],
        "active eq false": ["grace@acme.example.com"],
        'name.givenName eq "Grace" or name.familyName eq "Lovelace"': [
            "Ada@acme.example.com",
            "grace@acme.example.com",
        ],
        "not (name.familyName pr)": ["alan@other.example.net"],
        'userName gt "b"': ["alan@other.example.net", "grace@acme.example.com"][1:],
        'userName le "alan@other.example.net"': ["Ada@acme.example.com", "alan@other.example.net"],
        f'meta.lastModified ge "{ada["meta"]["lastModified"]}"': everyone,
        'meta.lastModified lt "2000-01-01T00:00:00Z"': [],
        'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ada"': ["Ada@acme.example.com"],
        '(userName sw "a" and not (active eq false)) and emails.type pr': ["Ada@acme.example.com"],
    }
    for filter_, expected in cases.items():
        assert await _names(tenant, "Users", filter_) == expected, filter_

    page = (await tenant.scim.get("Users", params={"sortBy": "userName", "sortOrder": "descending", "count": 2})).json()
    assert page["totalResults"] == 3 and page["itemsPerPage"] == 2 and page["startIndex"] == 1
    assert [r["userName"] for r in page["Resources"]] == ["grace@acme.example.com", "alan@other.example.net"]
    rest = (await tenant.scim.get("Users", params={"sortBy": "userName", "startIndex": 3, "count": 2})).json()
    assert [r["userName"] for r in rest["Resources"]] == ["grace@acme.example.com"] and rest["startIndex"] == 3
    searched = await tenant.scim.post(
        "Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails.value ew "acme.example.com"',
            "attributes": ["userName"],
        },
    )
    assert searched.status_code == 200, searched.text
    assert [set(r) for r in searched.json()["Resources"]] == [{"id", "schemas", "userName"}] * 2

    engineers = await tenant.scim.post(
        "Groups",
        json={"schemas": [GROUP], "displayName": "Engineers", "externalId": "g-1", "members": [{"value": ada["id"]}]},
    )
    assert engineers.status_code == 201, engineers.text
    await tenant.scim.post("Groups", json={"schemas": [GROUP], "displayName": "Sales"})
    group_cases = {
        'displayName eq "engineers"': ["Engineers"],
        'displayName sw "S"': ["Sales"],
        'externalId eq "g-1"': ["Engineers"],
        f'members.value eq "{ada["id"]}"': ["Engineers"],
        f'members[value eq "{ada["id"]}"]': ["Engineers"],
        "not (members pr)": ["Sales"],
    }
    for filter_, expected in group_cases.items():
        assert await _names(tenant, "Groups", filter_) == expected, filter_
    assert await _names(tenant, "Users", f'groups.value eq "{engineers.json()["id"]}"') == ["Ada@acme.example.com"]


async def test_a_bad_filter_is_a_scim_invalid_filter(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    for filter_ in (
        "userName eq",
        'nickName eq "x"',
        'active co "t"',
        'userName regex "x"',
        '((userName eq "x")',
        'meta.lastModified gt "yesterday"',
        'urn:other:schema:userName eq "x"',
        'emails[nope eq "x"]',
    ):
        response = await tenant.scim.get("Users", params={"filter": filter_})
        assert_scim_error(response, 400, "invalidFilter")
    assert_scim_error(await tenant.scim.get("Groups", params={"filter": 'userName eq "x"'}), 400, "invalidFilter")
    assert_scim_error(await tenant.scim.get("Users", params={"sortBy": "emails"}), 400, "invalidValue")
    assert_scim_error(await tenant.scim.get("Users", params={"count": "many"}), 400, "invalidValue")


# --------------------------------------------------------------------------------- groups: PATCH


async def test_patch_adds_replaces_and_removes_members_by_value_filter(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    ids = [
        (await create_user(tenant, f"u{i}@acme.example.com", emails=[{"value": f"u{i}@acme.example.com"}]))["id"]
        for i in range(3)
    ]
    created = await tenant.scim.post("Groups", json={"schemas": [GROUP], "displayName": "Ops"})
    group = created.json()
    assert "members" not in group and created.headers["location"] == group["meta"]["location"]

    def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        return {"schemas": [PATCH], "Operations": list(operations)}

    async def members() -> list[str]:
        found = (await tenant.scim.get(f"Groups/{group['id']}")).json()
        return sorted(m["value"] for m in found.get("members", []))

    added = await tenant.scim.patch(
        f"Groups/{group['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]}),
    )
    assert added.status_code == 200, added.text
    assert sorted(m["value"] for m in added.json()["members"]) == sorted(ids[:2])
    assert all(m["$ref"].endswith(f"/scim/v2/Users/{m['value']}") for m in added.json()["members"])
    user = (await tenant.scim.get(f"Users/{ids[0]}")).json()
    assert [g["value"] for g in user["groups"]] == [group["id"]]

    removed = await tenant.scim.patch(
        f"Groups/{group['id']}", json=patch({"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
    )
    assert removed.status_code == 200, removed.text
    assert await members() == [ids[1]]

    # Entra ID style: capitalised op, and "remove" naming the members in its value
    await tenant.scim.patch(
        f"Groups/{group['id']}", json=patch({"op": "Add", "path": "members", "value": [{"value": ids[2]}]})
    )
    entra = await tenant.scim.patch(
        f"Groups/{group['id']}", json=patch({"op": "Remove", "path": "members", "value": [{"value": ids[1]}]})
    )
    assert entra.status_code == 200, entra.text
    assert await members() == [ids[2]]

    replaced = await tenant.scim.patch(
        f"Groups/{group['id']}",
        json=patch(
            {"op": "replace", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]},
            {"op": "replace", "path": "displayName", "value": "Operations"},
        ),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["displayName"] == "Operations" and await members() == sorted(ids[:2])
    version = replaced.json()["meta"]["version"]
    assert replaced.headers["etag"] == version

    stale = await tenant.scim.patch(
        f"Groups/{group['id']}",
        json=patch({"op": "remove", "path": "members"}),
        headers={"If-Match": 'W/"1"'},
    )
    assert_scim_error(stale, 412)
    cleared = await tenant.scim.patch(
        f"Groups/{group['id']}", json=patch({"op": "remove", "path": "members"}), headers={"If-Match": version}
    )
    assert cleared.status_code == 200 and "members" not in cleared.json()
    missing = await tenant.scim.patch(
        f"Groups/{group['id']}", json=patch({"op": "replace", "path": 'members[value eq "nobody"].value', "value": "x"})
    )
    assert_scim_error(missing, 400)
    async with env.rt.db.platform_session() as session:
        actions = list(
            (await session.execute(select(AuditEvent.action).where(AuditEvent.object_id == group["id"]))).scalars()
        )
    assert actions.count("scim.group.created") == 1 and actions.count("scim.group.updated") == 6


# -------------------------------------------------------------------------- errors change nothing


async def test_bad_requests_are_scim_errors_and_change_nothing(env: Env) -> None:
    tenant = await env.tenant("admin@acme.example.com", "Acme")
    ada = await create_user(tenant, "ada@acme.example.com", emails=[{"value": "ada@acme.example.com"}])
    group = (await tenant.scim.post("Groups", json={"schemas": [GROUP], "displayName": "Ops"})).json()
    before = {model: await count(env.rt, model) for model in (User, ScimUser, Group, Membership, AuditEvent)}
    broken, scim_json = b'{"schemas": [', {"content-type": "application/scim+json"}

    for method, path in (("POST", "Users"), ("PUT", f"Users/{ada['id']}"), ("PATCH", f"Groups/{group['id']}")):
        response = await tenant.scim.request(method, path, content=broken, headers=scim_json)
        assert_scim_error(response, 400, "invalidSyntax")
    wrong_schema = {
        "schemas": [GROUP],
        "userName": "bob@acme.example.com",
        "emails": [{"value": "bob@acme.example.com"}],
    }
    assert_scim_error(await tenant.scim.post("Users", json=wrong_schema), 400, "invalidSyntax")
    no_schema = {"userName": "bob@acme.example.com", "emails": [{"value": "bob@acme.example.com"}]}
    assert_scim_error(await tenant.scim.post("Users", json=no_schema), 400, "invalidSyntax")
    assert_scim_error(await tenant.scim.post("Users", json=user_payload("bob@acme.example.com")), 400, "invalidValue")
    bad_email = user_payload("bob@acme.example.com", emails=[{"value": "not an address"}])
    assert_scim_error(await tenant.scim.post("Users", json=bad_email), 400, "invalidValue")
    duplicate = user_payload("ADA@acme.example.com", emails=[{"value": "other@acme.example.com"}])
    assert_scim_error(await tenant.scim.post("Users", json=duplicate), 409, "uniqueness")
    same_person = user_payload("ada2@acme.example.com", emails=[{"value": "ada@acme.example.com"}])
    assert_scim_error(await tenant.scim.post("Users", json=same_person), 409, "uniqueness")
    assert_scim_error(
        await tenant.scim.post("Groups", json={"schemas": [GROUP], "displayName": "OPS"}), 409, "uniqueness"
    )
    stranger = {"schemas": [GROUP], "displayName": "New", "members": [{"value": "no-such-user"}]}
    assert_scim_error(await tenant.scim.post("Groups", json=stranger), 400, "invalidValue")
    not_a_patch = {"schemas": [USER], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert_scim_error(await tenant.scim.patch(f"Users/{ada['id']}", json=not_a_patch), 400, "invalidSyntax")
    half_bad = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "userName", "value": None},
        ],
    }
    assert (await tenant.scim.patch(f"Users/{ada['id']}", json=half_bad)).status_code == 400
    read_only = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "mine"}]}
    assert_scim_error(await tenant.scim.patch(f"Users/{ada['id']}", json=read_only), 400)
    renamed = await tenant.scim.put(
        f"Users/{ada['id']}", json=user_payload("ada@acme.example.com", emails=[{"value": "x"}], displayName="X")
    )
    assert_scim_error(renamed, 400, "invalidValue")
    member_to_stranger = {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "nope"}]}],
    }
    assert_scim_error(await tenant.scim.patch(f"Groups/{group['id']}", json=member_to_stranger), 400, "invalidValue")
    assert_scim_error(await tenant.scim.get("Users/unknown"), 404)
    assert_scim_error(await tenant.scim.delete("Groups/unknown"), 404)
    assert_scim_error(await tenant.scim.get("Nothing/here"), 404)
    assert_scim_error(await tenant.scim.delete("Schemas"), 405)

    after = {model: await count(env.rt, model) for model in before}
    assert after == before
    unchanged = (await tenant.scim.get(f"Users/{ada['id']}")).json()
    assert unchanged["meta"]["version"] == ada["meta"]["version"] and "displayName" not in unchanged


# ------------------------------------------------------------------- tenants, accounts, access


async def test_one_tenants_token_cannot_see_or_touch_anothers_users_and_groups(env: Env) -> None:
    acme = await env.tenant("admin@acme.example.com", "Acme")
    globex = await env.tenant("admin@globex.example.com", "Globex")
    ada = await create_user(acme, "ada@acme.example.com")
    ops = (await acme.scim.post("Groups", json={"schemas": [GROUP], "displayName": "Ops"})).json()
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Mine"}]}
    put_user = user_payload("ada@acme.example.com", emails=[{"value": "ada@acme.example.com"}])
    for method, path, body in (
        ("GET", f"Users/{ada['id']}", None),
        ("PUT", f"Users/{ada['id']}", put_user),
        ("PATCH", f"Users/{ada['id']}", patch),
        ("DELETE", f"Users/{ada['id']}", None),
        ("GET", f"Groups/{ops['id']}", None),
        ("PUT", f"Groups/{ops['id']}", {"schemas": [GROUP], "displayName": "Mine"}),
        ("PATCH", f"Groups/{ops['id']}", patch),
        ("DELETE", f"Groups/{ops['id']}", None),
    ):
        assert_scim_error(await globex.scim.request(method, path, json=body), 404)
    assert (await globex.scim.get("Users")).json()["totalResults"] == 0
    assert (await globex.scim.get("Groups", params={"filter": 'displayName eq "Ops"'})).json()["totalResults"] == 0
    foreign_member = {"schemas": [GROUP], "displayName": "Spies", "members": [{"value": ada["id"]}]}
    assert_scim_error(await globex.scim.post("Groups", json=foreign_member), 400, "invalidValue")

    # the same person in both tenants: each IdP sees and changes only its own view of them
    also = await create_user(
        globex, "A.Lovelace@globex.example.com", emails=[{"value": "ada@acme.example.com"}], displayName="Globex Ada"
    )
    assert also["id"] != ada["id"]
    await globex.scim.patch(
        f"Users/{also['id']}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    )
    mine = (await acme.scim.get(f"Users/{ada['id']}")).json()
    assert mine["userName"] == "ada@acme.example.com" and "displayName" not in mine and mine.get("active") is not False
    assert (await acme.scim.get(f"Groups/{ops['id']}")).json()["displayName"] == "Ops"


async def test_provisioning_links_or_creates_the_account_and_deactivation_cuts_tenant_access(env: Env) -> None:
    acme = await env.tenant("admin@acme.example.com", "Acme")
    bob_client, bob_home = await env.signed_up("bob@globex.example.com", "Bob's")
    bob = await create_user(
        acme,
        "bob@acme.example.com",
        emails=[
            {"value": "bob@acme.example.com", "type": "work"},
            {"value": "Bob@Globex.example.com", "primary": True},
        ],
    )
    new = await create_user(acme, "carol@acme.example.com", name={"givenName": "Carol"}, active=True)
    async with env.rt.db.platform_session() as session:
        accounts = {u.email: u for u in (await session.execute(select(User))).scalars()}
        bob_member = await session.get(Membership, (accounts["bob@globex.example.com"].id, acme.id))
    assert set(accounts) == {"admin@acme.example.com", "bob@globex.example.com", "carol@acme.example.com"}
    carol = accounts["carol@acme.example.com"]  # created: verified address, no usable password
    assert carol.email_verified_at is not None and not await verify_password("", carol.password_hash)
    assert bob_member is not None and bob_member.role == "Member" and bob_member.active

    assert (await bob_client.get(f"/api/v1/tenants/{acme.slug}")).status_code == 200
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
    patched = await acme.scim.patch(f"Users/{bob['id']}", json=deactivate)
    assert patched.status_code == 200 and patched.json()["active"] is False, patched.text
    assert (await bob_client.get(f"/api/v1/tenants/{acme.slug}")).status_code == 404
    assert (await bob_client.get(f"/api/v1/tenants/{bob_home['tenant_slug']}")).status_code == 200
    me = (await bob_client.get("/api/v1/me")).json()  # still signed in: only Acme's door closed
    assert [m["tenant_slug"] for m in me["memberships"]] == [bob_home["tenant_slug"]]

    back = user_payload("bob@acme.example.com", emails=[{"value": "bob@acme.example.com"}], active=True)
    assert (await acme.scim.put(f"Users/{bob['id']}", json=back)).status_code == 200
    assert (await bob_client.get(f"/api/v1/tenants/{acme.slug}")).status_code == 200

    assert (await acme.scim.delete(f"Users/{bob['id']}")).status_code == 204
    assert_scim_error(await acme.scim.get(f"Users/{bob['id']}"), 404)
    assert (await bob_client.get(f"/api/v1/tenants/{acme.slug}")).status_code == 404
    async with env.rt.db.platform_session() as session:
        assert await session.get(User, accounts["bob@globex.example.com"].id) is not None
        assert await session.get(Membership, (accounts["bob@globex.example.com"].id, acme.id)) is None
        actions = list(
            (await session.execute(select(AuditEvent.action).where(AuditEvent.tenant_id == acme.id))).scalars()
        )
    for action in ("scim.user.created", "scim.user.deactivated", "scim.user.reactivated", "scim.user.deleted"):
        assert action in actions, action
    assert new["name"] == {"givenName": "Carol"} and new["active"] is True
