"""A tenant's SSO connections, as its administrators manage them (the API and the console call these).

The caller owns the transaction: these functions flush, record their events in the same session,
and raise before anything is written when the input is bad (an unreachable discovery document, a
domain another connection routes), so a failed save leaves nothing behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from atrium.core.errors import BadRequest
from atrium.platform.identity import events
from atrium.platform.identity.sso import oidc
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection
from atrium.platform.identity.sso.schemas import (
    OidcRead,
    OidcSettings,
    OidcSettingsUpdate,
    SsoConnectionCreate,
    SsoConnectionRead,
    SsoConnectionUpdate,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.runtime import Runtime

_HIDDEN = ("secret", "private", "password")


class Actor(Protocol):
    """Who makes the change (a request's principal fits)."""

    @property
    def id(self) -> str: ...

    @property
    def email(self) -> str: ...


def login_path(connection_id: str) -> str:
    return f"/api/v1/auth/sso/{connection_id}/login"


async def oidc_config(
    rt: Runtime, data: OidcSettings | OidcSettingsUpdate, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The stored OIDC settings: what was given over what was there, with the IdP's endpoints as
    its discovery document says now (fetched whenever a discovery URL is given)."""
    current = current or {}
    discovery_url = data.discovery_url or current.get("discovery_url")
    client_id = data.client_id or current.get("client_id")
    scopes = " ".join((data.scopes or current.get("scopes") or "").split())
    if not discovery_url:
        raise BadRequest("a discovery URL is required", field="oidc.discovery_url")
    if not client_id:
        raise BadRequest("a client id is required", field="oidc.client_id")
    if "openid" not in scopes.split():
        raise BadRequest("the scopes must include 'openid'", field="oidc.scopes")
    if data.discovery_url or "issuer" not in current:
        metadata = await oidc.fetch_metadata(rt.settings, discovery_url, field="oidc.discovery_url")
    else:
        metadata = {k: v for k, v in current.items() if k not in ("discovery_url", "client_id", "scopes")}
    return {**metadata, "discovery_url": discovery_url, "client_id": client_id, "scopes": scopes}


async def _saml_config(rt: Runtime, given: dict[str, Any]) -> dict[str, Any]:
    from atrium.platform.identity.sso import saml  # built alongside; imported when first needed

    return await saml.prepare_config(rt, given)


async def to_read(rt: Runtime, session: AsyncSession, connection: SsoConnection) -> SsoConnectionRead:
    """The connection as administrators see it: never a secret."""
    config = connection.config
    is_oidc = connection.protocol == "oidc"
    return SsoConnectionRead(
        id=connection.id,
        tenant_id=connection.tenant_id,
        name=connection.name,
        protocol=connection.protocol,
        enabled=connection.enabled,
        jit_enabled=connection.jit_enabled,
        domains=await sso.domains_of(session, connection.id),
        oidc=OidcRead(
            discovery_url=config.get("discovery_url", ""),
            client_id=config.get("client_id", ""),
            scopes=config.get("scopes", ""),
            issuer=config.get("issuer", ""),
            client_secret_set=connection.secret_encrypted is not None,
        )
        if is_oidc
        else None,
        saml=None if is_oidc else {k: v for k, v in config.items() if not any(h in k.lower() for h in _HIDDEN)},
        login_url=login_path(connection.id),
        redirect_uri=oidc.callback_url(rt, connection.id) if is_oidc else None,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


async def list_connections(rt: Runtime, session: AsyncSession, tenant_id: str) -> list[SsoConnectionRead]:
    rows = await session.execute(
        select(SsoConnection).where(SsoConnection.tenant_id == tenant_id).order_by(SsoConnection.name)
    )
    return [await to_read(rt, session, c) for c in rows.scalars()]


async def get(rt: Runtime, session: AsyncSession, tenant_id: str, connection_id: str) -> SsoConnectionRead:
    """One of the tenant's connections; another tenant's is not found."""
    return await to_read(rt, session, await sso.get_connection(session, connection_id, tenant_id=tenant_id))


def _summary(connection: SsoConnection, domains: list[str], changed: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": connection.name,
        "protocol": connection.protocol,
        "enabled": connection.enabled,
        "jit_enabled": connection.jit_enabled,
        "domains": domains,
    }
    if changed is not None:
        data["changed"] = changed
    return data


async def create_connection(
    rt: Runtime, session: AsyncSession, tenant_id: str, data: SsoConnectionCreate, actor: Actor
) -> SsoConnectionRead:
    """A new connection for the tenant, its IdP checked before anything is written."""
    secret: str | None = None
    if data.oidc is not None:
        config = await oidc_config(rt, data.oidc)
        secret = data.oidc.client_secret
    else:
        assert data.saml is not None  # the schema requires one of them
        config = await _saml_config(rt, data.saml)
    connection = SsoConnection(
        tenant_id=tenant_id,
        protocol=data.protocol,
        name=data.name,
        enabled=data.enabled,
        jit_enabled=data.jit_enabled,
        config=config,
        secret_encrypted=sso.encrypt_secret(rt, secret) if secret else None,
    )
    session.add(connection)
    await session.flush()
    domains = await sso.set_domains(session, connection, data.domains)
    await events.record(
        session,
        "sso.connection.created",
        user_id=actor.id,
        tenant_id=tenant_id,
        object_type="sso_connection",
        object_id=connection.id,
        data=_summary(connection, domains),
        actor=actor.email,
    )
    await session.flush()
    return await to_read(rt, session, connection)


async def update_connection(
    rt: Runtime, session: AsyncSession, tenant_id: str, connection_id: str, data: SsoConnectionUpdate, actor: Actor
) -> SsoConnectionRead:
    """Change what was given; the protocol settings must belong to the connection's protocol."""
    connection = await sso.get_connection(session, connection_id, tenant_id=tenant_id)
    given = data.model_dump(exclude_unset=True)
    if data.oidc is not None and connection.protocol != "oidc":
        raise BadRequest("this connection is not an OIDC connection", field="oidc")
    if data.saml is not None and connection.protocol != "saml":
        raise BadRequest("this connection is not a SAML connection", field="saml")
    for name in ("name", "enabled", "jit_enabled"):
        if given.get(name) is None and name in given:
            raise BadRequest(f"{name} cannot be null", field=name)
    if data.oidc is not None:
        connection.config = await oidc_config(rt, data.oidc, dict(connection.config))
        if data.oidc.client_secret:
            connection.secret_encrypted = sso.encrypt_secret(rt, data.oidc.client_secret)
    if data.saml is not None:
        # A partial change (the email attribute, say) keeps the stored metadata; a new URL is fetched.
        merged = {**connection.config, **data.saml}
        if "idp_metadata_url" not in data.saml:
            merged.pop("idp_metadata_url", None)
        connection.config = await _saml_config(rt, merged)
    if data.name is not None:
        connection.name = data.name
    if data.enabled is not None:
        connection.enabled = data.enabled
    if data.jit_enabled is not None:
        connection.jit_enabled = data.jit_enabled
    if data.domains is not None:
        domains = await sso.set_domains(session, connection, data.domains)
    else:
        domains = await sso.domains_of(session, connection.id)
    await session.flush()
    await events.record(
        session,
        "sso.connection.updated",
        user_id=actor.id,
        tenant_id=tenant_id,
        object_type="sso_connection",
        object_id=connection.id,
        data=_summary(connection, domains, sorted(given)),
        actor=actor.email,
    )
    return await to_read(rt, session, connection)


async def delete_connection(session: AsyncSession, tenant_id: str, connection_id: str, actor: Actor) -> None:
    """Remove the connection with its domains and linked identities (the accounts stay)."""
    connection = await sso.get_connection(session, connection_id, tenant_id=tenant_id)
    domains = await sso.domains_of(session, connection.id)
    await events.record(
        session,
        "sso.connection.deleted",
        user_id=actor.id,
        tenant_id=tenant_id,
        object_type="sso_connection",
        object_id=connection.id,
        data=_summary(connection, domains),
        actor=actor.email,
    )
    await session.delete(connection)
    await session.flush()
