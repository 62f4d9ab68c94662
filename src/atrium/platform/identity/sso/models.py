"""Control-plane tables of single sign-on.

A connection belongs to one tenant (its company IdP) or, with ``tenant_id`` NULL, to the platform
(a social login a Platform Admin configures). Email domains route to at most one tenant connection.
A linked identity is keyed by (connection, the IdP's subject), never by email alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, Timestamped, UTCDateTime, new_id, utcnow


class SsoConnection(ControlBase, Timestamped):
    __tablename__ = "sso_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(10))  # "oidc" | "saml"
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    jit_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Non-secret protocol settings: OIDC discovery URL, client id, scopes; SAML IdP metadata, entity id.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Secrets (an OIDC client secret), Fernet-encrypted with a key derived from the platform secret.
    secret_encrypted: Mapped[str | None] = mapped_column(String(1000), default=None)


class SsoDomain(ControlBase):
    """An email domain whose users sign in through one tenant connection."""

    __tablename__ = "sso_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True)


class SsoIdentity(ControlBase):
    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("connection_id", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class SsoLoginState(ControlBase):
    """One sign-in round trip to an IdP: OIDC state + nonce + PKCE verifier, or the SAML
    AuthnRequest id (InResponseTo). Used once; expires after a few minutes."""

    __tablename__ = "sso_login_states"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # OIDC `state` / SAML request id
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str | None] = mapped_column(String(128), default=None)
    code_verifier: Mapped[str | None] = mapped_column(String(128), default=None)
    return_to: Mapped[str | None] = mapped_column(String(500), default=None)
    # SHA-256 of the binding cookie of the browser that started the round trip: only that browser
    # may finish it, so nobody can sign someone else in with their own IdP answer (login CSRF).
    browser_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # SAML: the IdP's verified answer (subject, email), kept between the ACS, which the IdP's
    # cross-site POST reaches without the browser's cookies, and the same-browser finish.
    verified: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class SsoSeenAssertion(ControlBase):
    """SAML assertion ids already accepted: the replay cache, shared by every process because it
    is a primary key in the database. Rows may be purged once ``expires_at`` has passed."""

    __tablename__ = "sso_seen_assertions"

    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
