"""API shapes of identity."""

from __future__ import annotations

from typing import Literal

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
