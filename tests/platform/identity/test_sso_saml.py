"""SAML 2.0 sign-in against a real, independent IdP: pysaml2's own ``saml2.server.Server``, in process,
with its own key and certificate made at test time. Atrium gets the IdP's metadata; the IdP gets
Atrium's SP metadata from the metadata route, parses the AuthnRequest Atrium sent and signs its answer.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml  # type: ignore[import-untyped]
from saml2.assertion import Policy  # type: ignore[import-untyped]
from saml2.config import IdPConfig  # type: ignore[import-untyped]
from saml2.metadata import create_metadata_string  # type: ignore[import-untyped]
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT  # type: ignore[import-untyped]
from saml2.server import Server  # type: ignore[import-untyped]
from saml2.time_util import a_while_ago  # type: ignore[import-untyped]
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.core.errors import BadRequest
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.service import MEMBER
from atrium.platform.identity.sso import saml as atrium_saml
from atrium.platform.identity.sso import service as atrium_sso
from atrium.platform.identity.sso.models import SsoConnection, SsoIdentity, SsoLoginState
from atrium.platform.identity.sso.service import set_domains
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink

FOUNDER = SIGNUP["email"].lower()
IDP_ENTITY_ID = "https://idp.example.net/saml2/idp"
IDP_SSO_URL = "https://idp.example.net/saml2/sso"


def _key_and_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA key and self-signed certificate for an IdP, written where pysaml2 reads them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@dataclass
class Idp:
    """pysaml2's IdP with its own key pair."""

    key_file: Path
    cert_file: Path
    entity_id: str = IDP_ENTITY_ID
    sso_binding: str = BINDING_HTTP_REDIRECT

    def config(self, sp_metadata: str | None = None) -> Any:
        settings: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(IDP_SSO_URL, self.sso_binding)]},
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT],
                    "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                }
            },
        }
        if sp_metadata:
            settings["metadata"] = {"inline": [sp_metadata]}
        return IdPConfig().load(settings)

    def metadata(self) -> str:
        xml = create_metadata_string(None, config=self.config())
        return xml.decode() if isinstance(xml, bytes) else str(xml)

    def answer(
        self,
        login_url: str,
        sp_metadata: str,
        email: str,
        *,
        sign_assertion: bool = True,
        sign_response: bool = False,
        name_id: Any = None,
        attributes: dict[str, list[str]] | None = None,
        policy: Any = None,
        posted_request: str | None = None,
    ) -> str:
        """The base64 SAMLResponse the IdP posts back for the AuthnRequest in ``login_url`` (HTTP-Redirect)
        or, with ``posted_request``, for one that came by HTTP-POST."""
        server = Server(config=self.config(sp_metadata))
        if posted_request:
            request = server.parse_authn_request(posted_request, BINDING_HTTP_POST).message
        else:
            assert login_url.startswith(IDP_SSO_URL + "?")
            saml_request = parse_qs(urlsplit(login_url).query)["SAMLRequest"][0]
            request = server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT).message
        binding_info = server.response_args(request)
        xml = server.create_authn_response(
            identity=attributes if attributes is not None else {"mail": [email], "givenName": ["Ada"]},
            in_response_to=request.id,
            destination=binding_info["destination"],
            sp_entity_id=request.issuer.text,
            name_id=name_id or saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            release_policy=policy,
        )
        return base64.b64encode(str(xml).encode()).decode()


class ShiftedClock(Policy):  # type: ignore[misc]
    """The IdP's clock is an hour behind: its assertion expired before it was sent."""

    def conditions(self, sp_entity_id: str) -> Any:
        conditions = super().conditions(sp_entity_id)
        conditions.not_before = a_while_ago(minutes=65)
        conditions.not_on_or_after = a_while_ago(minutes=60)
        return conditions

    def not_on_or_after(self, sp_entity_id: str) -> str:
        return str(a_while_ago(minutes=60))


class OtherAudience(Policy):  # type: ignore[misc]
    """An assertion the IdP made for another service provider."""

    def conditions(self, sp_entity_id: str) -> Any:
        conditions = super().conditions(sp_entity_id)
        conditions.audience_restriction[0].audience[0].text = "https://other-sp.example.org/saml"
        return conditions


@pytest.fixture(scope="session")
def idp_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _key_and_cert(tmp_path_factory.mktemp("idp"), "idp")


@pytest.fixture
def idp(idp_keys: tuple[Path, Path]) -> Idp:
    return Idp(*idp_keys)


@dataclass
class Setup:
    client: httpx.AsyncClient
    rt: Runtime
    idp: Idp
    tenant_id: str
    connection_id: str

    async def sp_metadata(self, connection_id: str | None = None) -> str:
        response = await self.client.get(f"/api/v1/auth/sso/saml/{connection_id or self.connection_id}/metadata")
        assert response.status_code == 200, response.text
        return response.text

    async def start(self, return_to: str | None = "/console") -> str:
        params = {"return_to": return_to} if return_to else {}
        response = await self.client.get(f"/api/v1/auth/sso/saml/{self.connection_id}/login", params=params)
        assert response.status_code == 303, response.text
        return response.headers["location"]

    async def post(
        self, saml_response: str, connection_id: str | None = None, *, browser: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """What a browser does with the IdP's answer: post it to the ACS and, when the ACS checked it,
        follow it to ``finish`` (with the browser's cookies; ``browser`` defaults to this client)."""
        browser = browser or self.client
        acs = await browser.post(
            f"/api/v1/auth/sso/saml/{connection_id or self.connection_id}/acs",
            data={"SAMLResponse": saml_response, "RelayState": "ignored"},
        )
        if acs.status_code != 303:
            return acs
        assert "/finish?request=" in acs.headers["location"]
        assert "atrium_sid" not in acs.cookies  # nobody is signed in by the IdP's cross-site POST
        return await browser.get(acs.headers["location"])

    async def idp_answer(self, email: str = FOUNDER, **kwargs: Any) -> str:
        login_url = await self.start()
        return await asyncio.to_thread(self.idp.answer, login_url, await self.sp_metadata(), email, **kwargs)


async def _tenant(client: httpx.AsyncClient, sink: Sink, signup: dict[str, Any] = SIGNUP) -> str:
    assert (await client.post("/api/v1/auth/signup", json=signup)).status_code == 202
    verified = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert verified.status_code == 200, verified.text
    client.cookies.clear()
    return str(verified.json()["tenant_id"])


async def _connection(
    rt: Runtime, tenant_id: str, metadata_xml: str, *, jit: bool = False, domain: str = "example.com"
) -> str:
    config = await atrium_saml.prepare_config(rt, {"idp_metadata_xml": metadata_xml})
    async with rt.db.platform_session() as session, session.begin():
        connection = SsoConnection(
            tenant_id=tenant_id, protocol="saml", name="Corp IdP", jit_enabled=jit, config=config
        )
        session.add(connection)
        await session.flush()
        await set_domains(session, connection, [domain])
        return connection.id


@pytest.fixture
async def setup(auth: Any, idp: Idp) -> Setup:
    client, sink, rt = auth
    tenant_id = await _tenant(client, sink)
    connection_id = await _connection(rt, tenant_id, await asyncio.to_thread(idp.metadata))
    return Setup(client, rt, idp, tenant_id, connection_id)


async def _failures(rt: Runtime) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.action == "user.sso.failed"))
        return list(rows.scalars())


async def _refused(s: Setup, response: httpx.Response, reason: str, status: int = 400) -> None:
    """Refused with a problem naming the reason, no session, and an audit event in the tenant."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert reason in response.json()["detail"], response.json()
    assert "atrium_sid" not in response.cookies
    assert (await s.client.get("/api/v1/me")).status_code == 401
    failures = await _failures(s.rt)
    assert failures and failures[-1].tenant_id == s.tenant_id and failures[-1].object_id == s.connection_id


# --- the happy path ------------------------------------------------------------------------------


async def test_an_answer_posted_from_another_browser_signs_nobody_in(setup: Setup) -> None:
    """Login CSRF: someone starts a sign-in with their own IdP account and makes a victim's browser
    post the answer. The ACS checks it, but only the browser that started the sign-in may finish."""
    saml_response = await setup.idp_answer()  # started in setup.client: the attacker's browser
    async with httpx.AsyncClient(transport=setup.client._transport, base_url=setup.client.base_url) as victim:
        refused = await setup.post(saml_response, browser=victim)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "browser" and "another browser" in refused.json()["detail"]
        assert "atrium_sid" not in refused.cookies
        assert (await victim.get("/api/v1/me")).status_code == 401
        # a cookie of its own does not help: it is not the one the sign-in was started with
        await victim.get(f"/api/v1/auth/sso/saml/{setup.connection_id}/login")
        assert victim.cookies.get(atrium_sso.browser_cookie(production=False))
        again = await victim.get(refused.request.url)
        assert again.status_code == 400 and again.json()["field"] == "browser"
        assert (await victim.get("/api/v1/me")).status_code == 401
    failures = await _failures(setup.rt)
    assert failures[-1].data["reason"].startswith("this sign-in was started in another browser")


async def test_a_connection_switched_off_after_the_answer_signs_nobody_in(setup: Setup) -> None:
    saml_response = await setup.idp_answer()
    acs = await setup.client.post(
        f"/api/v1/auth/sso/saml/{setup.connection_id}/acs", data={"SAMLResponse": saml_response}
    )
    assert acs.status_code == 303, acs.text
    async with setup.rt.db.platform_session() as session, session.begin():
        connection = await session.get(SsoConnection, setup.connection_id)
        assert connection is not None
        connection.enabled = False
    await _refused(setup, await setup.client.get(acs.headers["location"]), "disabled")


async def test_a_sign_in_is_finished_once(setup: Setup) -> None:
    saml_response = await setup.idp_answer()
    finished = await setup.post(saml_response)
    assert finished.status_code == 303 and "atrium_sid" in finished.cookies
    again = await setup.client.get(finished.request.url)
    assert again.status_code == 400 and again.json()["field"] == "request"
    async with setup.rt.db.platform_session() as session:
        assert (await session.execute(select(SsoLoginState))).first() is None  # nothing left to finish


async def test_sp_metadata_names_entity_id_acs_and_email_nameid(setup: Setup) -> None:
    xml = await setup.sp_metadata()
    base = f"http://127.0.0.1:8000/api/v1/auth/sso/saml/{setup.connection_id}"
    assert f'entityID="{base}"' in xml
    assert f'Location="{base}/acs"' in xml
    assert "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" in xml
    assert NAMEID_FORMAT_EMAILADDRESS in xml
    missing = await setup.client.get("/api/v1/auth/sso/saml/no-such-connection/metadata")
    assert missing.status_code == 404


async def test_full_login_through_the_idp_links_the_existing_account(setup: Setup) -> None:
    login_url = await setup.start("/console/notes?x=1")
    saml_response = await asyncio.to_thread(setup.idp.answer, login_url, await setup.sp_metadata(), FOUNDER)
    answer = await setup.post(saml_response)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/notes?x=1"
    assert "atrium_sid" in answer.cookies
    me = await setup.client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == FOUNDER
    async with setup.rt.db.platform_session() as session:
        identity = (await session.execute(select(SsoIdentity))).scalar_one()
    assert identity.subject == FOUNDER and identity.connection_id == setup.connection_id
    assert await _failures(setup.rt) == []


async def test_a_connection_made_through_the_admin_route_signs_in(auth: Any, idp: Idp) -> None:
    """The Tenant Admin saves the IdP metadata; the generic SSO login route starts the round trip."""
    client, sink, rt = auth
    tenant_id = await _tenant(client, sink)
    signed_in = await client.post("/api/v1/auth/login", json={"email": FOUNDER, "password": SIGNUP["password"]})
    assert signed_in.status_code == 200, signed_in.text
    bad = await client.post(
        f"/api/v1/tenants/{tenant_id}/sso/connections",
        json={"name": "Corp", "protocol": "saml", "saml": {"idp_metadata_xml": "<nope"}},
    )
    assert bad.status_code == 400 and bad.json()["field"] == "idp_metadata_xml"
    created = await client.post(
        f"/api/v1/tenants/{tenant_id}/sso/connections",
        json={
            "name": "Corp",
            "protocol": "saml",
            "domains": ["example.com"],
            "saml": {"idp_metadata_xml": await asyncio.to_thread(idp.metadata)},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["saml"]["idp_entity_id"] == IDP_ENTITY_ID
    # a partial change keeps the stored metadata
    patched = await client.patch(
        f"/api/v1/tenants/{tenant_id}/sso/connections/{created.json()['id']}",
        json={"saml": {"email_attribute": "mail"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["saml"]["email_attribute"] == "mail"
    assert patched.json()["saml"]["idp_entity_id"] == IDP_ENTITY_ID
    client.cookies.clear()
    s = Setup(client, rt, idp, tenant_id, created.json()["id"])
    start = await client.get(f"/api/v1/auth/sso/{s.connection_id}/login", params={"return_to": "/console"})
    assert start.status_code in (302, 303), start.text
    saml_response = await asyncio.to_thread(idp.answer, start.headers["location"], await s.sp_metadata(), FOUNDER)
    answer = await s.post(saml_response)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    assert (await client.get("/api/v1/me")).json()["email"] == FOUNDER


async def test_an_idp_taking_http_post_only_gets_the_request_from_a_form(
    auth: Any, idp_keys: tuple[Path, Path]
) -> None:
    client, sink, rt = auth
    idp = Idp(*idp_keys, sso_binding=BINDING_HTTP_POST)
    tenant_id = await _tenant(client, sink)
    s = Setup(client, rt, idp, tenant_id, await _connection(rt, tenant_id, await asyncio.to_thread(idp.metadata)))
    page_url = await s.start("/console")
    assert page_url.startswith(f"http://127.0.0.1:8000/api/v1/auth/sso/saml/{s.connection_id}/authn-request/")
    page = await client.get(urlsplit(page_url).path)
    assert page.status_code == 200, page.text
    assert f'action="{IDP_SSO_URL}"' in page.text
    posted = re.search(r'name="SAMLRequest" value="([^"]+)"', page.text)
    assert posted is not None
    saml_response = await asyncio.to_thread(
        idp.answer, page_url, await s.sp_metadata(), FOUNDER, posted_request=posted.group(1)
    )
    answer = await s.post(saml_response)
    assert answer.status_code == 303, answer.text
    assert (await client.get("/api/v1/me")).json()["email"] == FOUNDER
    spent = await client.get(urlsplit(page_url).path)  # the request was answered: no second form
    assert spent.status_code == 400


async def test_a_signed_response_with_an_unsigned_assertion_is_accepted(setup: Setup) -> None:
    saml_response = await setup.idp_answer(sign_assertion=False, sign_response=True)
    answer = await setup.post(saml_response)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"


async def test_persistent_nameid_and_the_email_from_the_mail_attribute(setup: Setup) -> None:
    name_id = saml.NameID(format=NAMEID_FORMAT_PERSISTENT, text="emp-00042")
    answer = await setup.post(await setup.idp_answer(name_id=name_id))
    assert answer.status_code == 303, answer.text
    assert (await setup.client.get("/api/v1/me")).json()["email"] == FOUNDER
    async with setup.rt.db.platform_session() as session:
        identity = (await session.execute(select(SsoIdentity))).scalar_one()
    assert identity.subject == "emp-00042"


async def test_jit_creates_a_member_of_the_tenant(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    tenant_id = await _tenant(client, sink)
    s = Setup(client, rt, idp, tenant_id, await _connection(rt, tenant_id, await asyncio.to_thread(idp.metadata)))
    refused = await s.post(await s.idp_answer("new.hire@example.com"))
    await _refused(s, refused, "ask its administrator", status=403)  # JIT off: no account is made

    async with rt.db.platform_session() as session, session.begin():
        connection = await session.get(SsoConnection, s.connection_id)
        assert connection is not None
        connection.jit_enabled = True
    answer = await s.post(await s.idp_answer("new.hire@example.com"))
    assert answer.status_code == 303, answer.text
    assert (await client.get("/api/v1/me")).json()["email"] == "new.hire@example.com"
    async with rt.db.platform_session() as session:
        user = (await session.execute(select(User).where(User.email == "new.hire@example.com"))).scalar_one()
        member = (await session.execute(select(Membership).where(Membership.user_id == user.id))).scalar_one()
    assert member.tenant_id == tenant_id and member.role == MEMBER


async def test_parallel_sign_ins_do_not_interfere(auth: Any, idp: Idp) -> None:
    """pysaml2 runs in worker threads with its own temporary files: several at once all succeed."""
    client, sink, rt = auth
    tenant_id = await _tenant(client, sink)
    s = Setup(
        client, rt, idp, tenant_id, await _connection(rt, tenant_id, await asyncio.to_thread(idp.metadata), jit=True)
    )
    emails = [f"person{i}@example.com" for i in range(4)]
    responses = [await s.idp_answer(email) for email in emails]
    answers = await asyncio.gather(*(s.post(r) for r in responses))
    assert [a.status_code for a in answers] == [303] * 4
    async with rt.db.platform_session() as session:
        subjects = set((await session.execute(select(SsoIdentity.subject))).scalars())
    assert subjects == set(emails)


# --- refusals ------------------------------------------------------------------------------------


async def test_an_unsigned_response_is_refused(setup: Setup) -> None:
    saml_response = await setup.idp_answer(sign_assertion=False, sign_response=False)
    await _refused(setup, await setup.post(saml_response), "signature")


@pytest.mark.parametrize("sign_response", [False, True])
async def test_a_nameid_changed_after_signing_is_refused(setup: Setup, sign_response: bool) -> None:
    saml_response = await setup.idp_answer(sign_response=sign_response)
    xml = base64.b64decode(saml_response).decode()
    assert xml.count(FOUNDER) >= 1
    tampered = xml.replace(f">{FOUNDER}<", ">mallory@example.com<")
    assert tampered != xml
    await _refused(setup, await setup.post(base64.b64encode(tampered.encode()).decode()), "signature")


async def test_an_attribute_changed_after_signing_is_refused(setup: Setup) -> None:
    name_id = saml.NameID(format=NAMEID_FORMAT_PERSISTENT, text="emp-7")
    xml = base64.b64decode(await setup.idp_answer(name_id=name_id)).decode()
    tampered = xml.replace(f">{FOUNDER}<", ">other@example.com<")
    assert tampered != xml
    await _refused(setup, await setup.post(base64.b64encode(tampered.encode()).decode()), "signature")


async def test_an_expired_assertion_is_refused(setup: Setup) -> None:
    saml_response = await setup.idp_answer(policy=ShiftedClock())
    await _refused(setup, await setup.post(saml_response), "expired")


async def test_an_assertion_for_another_audience_is_refused(setup: Setup) -> None:
    saml_response = await setup.idp_answer(policy=OtherAudience())
    await _refused(setup, await setup.post(saml_response), "audience")


async def test_a_replayed_response_is_refused(setup: Setup) -> None:
    saml_response = await setup.idp_answer()
    first = await setup.post(saml_response)
    assert first.status_code == 303, first.text
    setup.client.cookies.clear()
    again = await setup.post(saml_response)
    await _refused(setup, again, "already used")
    assert again.json()["code"] == "sso-replay"


async def _idp_response(s: Setup, in_response_to: str | None) -> str:
    """A correctly signed response the IdP makes on its own initiative (no AuthnRequest parsed)."""
    server = Server(config=s.idp.config(await s.sp_metadata()))
    xml = server.create_authn_response(
        identity={"mail": [FOUNDER]},
        in_response_to=in_response_to,
        destination=atrium_saml.acs_url(s.rt, s.connection_id),
        sp_entity_id=atrium_saml.sp_entity_id(s.rt, s.connection_id),
        name_id=saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=FOUNDER),
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED},
        sign_assertion=True,
    )
    return base64.b64encode(str(xml).encode()).decode()


async def test_an_unsolicited_response_is_refused(setup: Setup) -> None:
    await setup.start()  # a sign-in is pending, but this response answers no request
    saml_response = await _idp_response(setup, None)
    await _refused(setup, await setup.post(saml_response), "unsolicited")


async def test_a_response_to_an_unknown_request_is_refused(setup: Setup) -> None:
    await setup.start()
    saml_response = await _idp_response(setup, "id-never-issued-by-atrium")
    await _refused(setup, await setup.post(saml_response), "unknown")


async def test_a_disabled_connection_refuses_sign_in(setup: Setup) -> None:
    saml_response = await setup.idp_answer()
    async with setup.rt.db.platform_session() as session, session.begin():
        connection = await session.get(SsoConnection, setup.connection_id)
        assert connection is not None
        connection.enabled = False
    await _refused(setup, await setup.post(saml_response), "disabled")
    login = await setup.client.get(f"/api/v1/auth/sso/saml/{setup.connection_id}/login")
    assert login.status_code == 400


async def test_want_assertions_signed_refuses_a_response_only_signature(setup: Setup) -> None:
    async with setup.rt.db.platform_session() as session, session.begin():
        connection = await session.get(SsoConnection, setup.connection_id)
        assert connection is not None
        connection.config = {**connection.config, "want_assertions_signed": True}
    saml_response = await setup.idp_answer(sign_assertion=False, sign_response=True)
    await _refused(setup, await setup.post(saml_response), "signature")


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0" '
    'IssueInstant="2026-01-01T00:00:00Z">&b;</samlp:Response>'
)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not base64 at all!", "not base64"),
        (base64.b64encode(b"<not-closed").decode(), "not a SAML 2.0 Response"),
        (base64.b64encode(b"<html><body>hi</body></html>").decode(), "not a SAML 2.0 Response"),
        ("", "no SAMLResponse"),
        (base64.b64encode(BOMB.encode()).decode(), "not a SAML 2.0 Response"),  # no entity expansion
    ],
)
async def test_garbage_is_refused(setup: Setup, value: str, reason: str) -> None:
    await _refused(setup, await setup.post(value), reason)


async def test_a_response_signed_by_another_key_is_refused(setup: Setup, tmp_path: Path) -> None:
    impostor = Idp(*_key_and_cert(tmp_path, "impostor"))  # same entity id, a key Atrium never saw
    login_url = await setup.start()
    saml_response = await asyncio.to_thread(impostor.answer, login_url, await setup.sp_metadata(), FOUNDER)
    await _refused(setup, await setup.post(saml_response), "signature")


async def test_a_response_for_one_connection_is_refused_at_another(setup: Setup, auth: Any) -> None:
    """Another tenant's connection to the same IdP: audience, destination and state belong elsewhere."""
    _client, sink, _rt = auth
    other_tenant = await _tenant(
        setup.client, sink, {**SIGNUP, "email": "boss@other.example", "organization_name": "Other"}
    )
    other = await _connection(
        setup.rt, other_tenant, await asyncio.to_thread(setup.idp.metadata), domain="other.example"
    )
    answer = await setup.post(await setup.idp_answer(), connection_id=other)
    assert answer.status_code == 400, answer.text
    assert "atrium_sid" not in answer.cookies
    assert (await setup.client.get("/api/v1/me")).status_code == 401
    failures = await _failures(setup.rt)
    assert failures[-1].tenant_id == other_tenant  # recorded in the tenant whose ACS was hit


async def test_login_refuses_an_absolute_return_to(setup: Setup) -> None:
    for target in ("https://evil.example.org/", "//evil.example.org/x"):
        response = await setup.client.get(
            f"/api/v1/auth/sso/saml/{setup.connection_id}/login", params={"return_to": target}
        )
        assert response.status_code == 400
        assert response.json()["field"] == "return_to"


# --- saving a connection -------------------------------------------------------------------------


async def test_prepare_config_extracts_the_entity_id(runtime: Runtime, idp: Idp) -> None:
    config = await atrium_saml.prepare_config(
        runtime, {"idp_metadata_xml": await asyncio.to_thread(idp.metadata), "email_attribute": " mail "}
    )
    assert config["idp_entity_id"] == IDP_ENTITY_ID
    assert config["email_attribute"] == "mail"
    assert config["want_assertions_signed"] is False


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        ({}, "idp_metadata_xml", "give the IdP metadata"),
        ({"idp_metadata_xml": "<md:EntityDescriptor"}, "idp_metadata_xml", "not readable"),
        ({"idp_metadata_xml": "<foo/>"}, "idp_metadata_xml", "no SAML 2.0 identity provider"),
        ({"idp_metadata_url": "ftp://idp.example.net/md"}, "idp_metadata_url", "https"),
        ({"idp_metadata_url": "http://127.0.0.1:9/metadata"}, "idp_metadata_url", "unreachable"),
    ],
)
async def test_prepare_config_refuses_bad_metadata(
    runtime: Runtime, config: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        await atrium_saml.prepare_config(runtime, config)
    assert refused.value.extra["field"] == field
    assert reason in refused.value.detail


async def test_prepare_config_refuses_metadata_without_a_certificate(runtime: Runtime, idp: Idp) -> None:
    xml = await asyncio.to_thread(idp.metadata)
    without_keys = re.sub(r"<(\w+:)?KeyDescriptor.*?</(\w+:)?KeyDescriptor>", "", xml, flags=re.S)
    assert "X509Certificate" in xml and "X509Certificate" not in without_keys
    with pytest.raises(BadRequest) as refused:
        await atrium_saml.prepare_config(runtime, {"idp_metadata_xml": without_keys})
    assert refused.value.extra["field"] == "idp_metadata_xml"
    assert "no signing certificate" in refused.value.detail


@pytest.fixture
def metadata_server(idp: Idp) -> Iterator[str]:
    """The IdP's metadata published over real HTTP on loopback."""
    body = idp.metadata().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metadata" else 404)
            self.send_header("content-type", "application/samlmetadata+xml")
            self.end_headers()
            self.wfile.write(body if self.path == "/metadata" else b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_prepare_config_fetches_metadata_from_a_url(runtime: Runtime, metadata_server: str) -> None:
    config = await atrium_saml.prepare_config(runtime, {"idp_metadata_url": f"{metadata_server}/metadata"})
    assert config["idp_entity_id"] == IDP_ENTITY_ID
    assert config["idp_metadata_url"] == f"{metadata_server}/metadata"
    assert "X509Certificate" in config["idp_metadata_xml"]
    with pytest.raises(BadRequest) as refused:
        await atrium_saml.prepare_config(runtime, {"idp_metadata_url": f"{metadata_server}/missing"})
    assert "HTTP 404" in refused.value.detail
