"""API shapes of identity."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(description="Becomes the sign-in name; a verification link is mailed to it.")
    password: str = Field(
        min_length=12, max_length=1024, description="12 characters or more; never truncated; no composition rules."
    )
    tenant_kind: Literal["organization", "personal"] = Field(
        "organization", description="What to create on verification."
    )
    organization_name: str | None = Field(None, min_length=1, max_length=200, description="For an organization tenant.")
    region: str | None = Field(None, description="Region of the new tenant's data (default: `default`).")
    accept_terms: bool = Field(description="The terms and the data-processing agreement; must be true.")
    marketing_opt_in: bool = Field(False, description="Product news by mail.")

    @field_validator("accept_terms")
    @classmethod
    def _terms(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the terms and the data-processing agreement must be accepted")
        return value


class SignupAccepted(BaseModel):
    status: Literal["verification_sent"] = "verification_sent"
    detail: str = "If the address can sign up, a verification link is on its way."


class VerifyEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200, description="The token from the verification mail.")


class VerifiedSignup(BaseModel):
    user_id: str
    email: str
    tenant_id: str
    tenant_slug: str
    role: str


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class MembershipRead(BaseModel):
    tenant_id: str
    tenant_slug: str
    tenant_name: str
    role: str


class MeRead(BaseModel):
    id: str
    email: str
    email_verified: bool
    marketing_opt_in: bool
    memberships: list[MembershipRead]


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=12, max_length=1024, description="The new password; 12 characters or more.")


SCOPE_PATTERN = r"^(\*|[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*){0,2}(\.\*)?)$"


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(description="Id or slug of one of your tenants; the key works there only.")
    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN, max_length=100)]] = Field(
        default_factory=lambda: ["*"], max_length=50, description="`module.resource.action` names, or `*`."
    )
    expires_in_days: int | None = Field(90, ge=1, le=3650, description="Days until it stops working; null: never.")


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself: shown this once, store it now.")


class MfaChallenge(BaseModel):
    mfa_required: Literal[True] = True
    challenge: str = Field(description="Answer it at POST /api/v1/auth/mfa within 5 minutes.")


class MfaAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge: str = Field(min_length=10, max_length=200)
    code: str = Field(min_length=6, max_length=20, description="A TOTP code or an unused recovery code.")
    remember_device: bool = Field(
        False, description="Skip the second factor on this browser for as long as your tenants' policies allow."
    )


class TrustedDeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_agent: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


class TotpEnrolment(BaseModel):
    secret: str = Field(description="Base32 secret, for manual entry.")
    otpauth_uri: str = Field(description="Encode as a QR code for the authenticator app.")


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=8, pattern=r"^[0-9]+$")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once; shown this once.")


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ip: str | None
    user_agent: str | None
    current: bool = False


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: str = Field("Member", min_length=1, max_length=100, description="A system or custom role of the tenant.")


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: str
    invited_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


class InvitationToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)


class InvitationAccept(InvitationToken):
    password: str | None = Field(None, max_length=1024, description="Only when the invitation creates your account.")
    accept_terms: bool = False


class InvitationPreview(BaseModel):
    tenant_slug: str
    tenant_name: str
    email: str
    role: str
    account_exists: bool


class MemberRead(BaseModel):
    user_id: str
    email: str
    role: str
    mfa_enrolled: bool
    joined_at: dt.datetime


class SecurityPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    session_idle_minutes: int | None
    session_absolute_hours: int | None
    password_min_length: int
    password_block_common: bool
    mfa_required: bool
    ip_allowlist: list[str]
    trusted_device_days: int


class TenantSessionRead(SessionRead):
    user_id: str
    email: str
