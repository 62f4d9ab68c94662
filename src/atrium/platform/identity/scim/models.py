"""Control-plane tables of SCIM provisioning and of the tenant's groups.

A person is one platform ``User`` whatever the number of tenants they belong to; what a tenant's
IdP says about them (userName, names, emails, active) is kept per tenant in ``scim_users``, so one
tenant's IdP never changes what another tenant sees. Groups belong to the tenant (access control
assigns roles to them); SCIM is only one way of filling them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, new_id, utcnow


class ScimToken(ControlBase):
    """The bearer token a tenant's IdP provisions with. Shown once; only its SHA-256 is kept; the
    prefix (``scim_`` + 8 characters) lets an administrator recognise it. One live token per tenant."""

    __tablename__ = "scim_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(254), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ScimUser(ControlBase):
    """A platform user as one tenant's IdP describes them; ``id`` is the SCIM id."""

    __tablename__ = "scim_users"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    user_name: Mapped[str] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(255), default=None)
    family_name: Mapped[str | None] = mapped_column(String(255), default=None)
    display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    # None when the IdP never said (or removed it): the person is active then.
    active: Mapped[bool | None] = mapped_column(Boolean, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


# userName is case-insensitive (RFC 7643 §4.1.1) and unique within the tenant.
Index("uq_scim_users_tenant_id_user_name", ScimUser.tenant_id, func.lower(ScimUser.user_name), unique=True)


class ScimUserEmail(ControlBase):
    """One of the addresses the IdP lists for a SCIM user, in the IdP's order (filters run on it)."""

    __tablename__ = "scim_user_emails"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    scim_user_id: Mapped[str] = mapped_column(ForeignKey("scim_users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[str] = mapped_column(String(254))
    type: Mapped[str | None] = mapped_column(String(40), default=None)
    primary: Mapped[bool | None] = mapped_column(Boolean, default=None)


class Group(ControlBase):
    """A group of the tenant's people; access control assigns roles to groups."""

    __tablename__ = "groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


# A group's name is unique within the tenant, whatever its case.
Index("uq_groups_tenant_id_display_name", Group.tenant_id, func.lower(Group.display_name), unique=True)


class GroupMember(ControlBase):
    """A platform user in a group of the tenant."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
