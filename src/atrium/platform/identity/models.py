"""Control-plane tables of identity: users, their tenant memberships and single-use email tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, LargeBinary, String, true
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, Timestamped, UTCDateTime, new_id, utcnow


class User(ControlBase, Timestamped):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    terms_version: Mapped[str] = mapped_column(String(40))
    terms_accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(ControlBase, Timestamped):
    """A user's place in a tenant; the role is a placeholder name until access control."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(100))
    # False while the tenant's IdP has the user deactivated (SCIM): no access to that tenant.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class EmailToken(ControlBase):
    """A token sent by mail; only its SHA-256 is stored, and it works once before it expires."""

    __tablename__ = "email_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class UserSession(ControlBase):
    """A server-side browser session; the cookie holds a 256-bit secret, the table only its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Whether a second factor (or an IdP) vouched for this session; tenants that force MFA refuse it otherwise.
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    # The strictest idle lifetime among the user's tenants' policies when the session began.
    idle_minutes: Mapped[int | None] = mapped_column(default=None)
    # The last time the person proved it was them (sign-in or step-up), for privileged actions.
    reauthenticated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ApiKey(ControlBase):
    """A key for the public API, bound to one tenant the owner belongs to (or, for a platform
    administrator, to no tenant: a platform key). Shown once; only its SHA-256 is kept; the prefix
    (``atk_`` + 8 characters) lets people recognise it."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class TotpFactor(ControlBase):
    """A TOTP authenticator. The secret is encrypted at rest; ``last_step`` stops a code being
    used twice within its step."""

    __tablename__ = "totp_factors"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(300))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_step: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecoveryCode(ControlBase):
    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebAuthnCredential(ControlBase):
    """A security key or passkey. Only public material is kept: the COSE public key, and the
    signature counter that exposes a cloned authenticator when it fails to grow."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as browsers send it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    aaguid: Mapped[str] = mapped_column(String(36))
    device_type: Mapped[str] = mapped_column(String(20))  # single_device | multi_device (synced passkey)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebAuthnChallenge(ControlBase):
    """A ceremony challenge handed to the browser: only its SHA-256 is kept, it expires after five
    minutes and works once. ``answers`` ties a second-factor ceremony to its sign-in challenge."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(20))  # registration | second_factor | passkey
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True)
    answers: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
