"""API shapes of single sign-on: connection administration, sign-in discovery and social login."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

DEFAULT_SCOPES = "openid email profile"
SocialProviderName = Literal["google", "microsoft", "github", "generic"]

_DISCOVERY = "The IdP's OpenID Connect discovery document (`…/.well-known/openid-configuration`); fetched and checked."
_SECRET = "Write-only: stored encrypted and never returned."


class OidcSettings(BaseModel):
    """A tenant's OpenID Connect IdP, as its administrator registers Atrium there."""

    model_config = ConfigDict(extra="forbid")

    discovery_url: str = Field(min_length=8, max_length=500, description=_DISCOVERY)
    client_id: str = Field(min_length=1, max_length=255, description="The client id the IdP gave Atrium.")
    client_secret: str | None = Field(None, min_length=1, max_length=500, description=_SECRET)
    scopes: str = Field(DEFAULT_SCOPES, min_length=6, max_length=300, description="Space-separated; needs `openid`.")

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("the scopes must include 'openid'")
        return " ".join(value.split())


class OidcSettingsUpdate(BaseModel):
    """Only the fields given change; a client secret left out is kept."""

    model_config = ConfigDict(extra="forbid")

    discovery_url: str | None = Field(None, min_length=8, max_length=500, description=_DISCOVERY)
    client_id: str | None = Field(None, min_length=1, max_length=255)
    client_secret: str | None = Field(None, min_length=1, max_length=500, description=_SECRET)
    scopes: str | None = Field(None, min_length=6, max_length=300)


class SsoConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Shown on the sign-in page.")
    protocol: Literal["oidc", "saml"]
    enabled: bool = Field(True, description="A disabled connection takes no sign-ins.")
    jit_enabled: bool = Field(False, description="Create an account at first sign-in for an address in the domains.")
    domains: list[str] = Field(
        default_factory=list, max_length=50, description="Email domains whose people sign in here."
    )
    oidc: OidcSettings | None = Field(None, description="Required when the protocol is `oidc`.")
    saml: dict[str, Any] | None = Field(None, description="Required when the protocol is `saml` (IdP metadata).")

    @model_validator(mode="after")
    def _protocol_settings(self) -> SsoConnectionCreate:
        if self.protocol == "oidc" and (self.oidc is None or self.saml is not None):
            raise ValueError("an oidc connection takes the 'oidc' settings (and no 'saml')")
        if self.protocol == "saml" and (self.saml is None or self.oidc is not None):
            raise ValueError("a saml connection takes the 'saml' settings (and no 'oidc')")
        return self


class SsoConnectionUpdate(BaseModel):
    """Only the fields given change; the protocol is fixed once created."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    jit_enabled: bool | None = None
    domains: list[str] | None = Field(None, max_length=50)
    oidc: OidcSettingsUpdate | None = None
    saml: dict[str, Any] | None = None


class OidcRead(BaseModel):
    discovery_url: str
    client_id: str
    scopes: str
    issuer: str
    client_secret_set: bool = Field(description="Whether a client secret is stored (it is never shown).")


class SsoConnectionRead(BaseModel):
    id: str
    tenant_id: str | None
    name: str
    protocol: str
    enabled: bool
    jit_enabled: bool
    domains: list[str]
    oidc: OidcRead | None = None
    saml: dict[str, Any] | None = None
    login_url: str = Field(description="Where the sign-in page sends the browser.")
    redirect_uri: str | None = Field(None, description="OIDC: register this callback at the IdP.")
    created_at: dt.datetime
    updated_at: dt.datetime


class SsoDiscoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(description="The address the person typed on the sign-in page.")
    return_to: str | None = Field(None, max_length=500, description="A path on this site to land on afterwards.")


class SsoDiscovered(BaseModel):
    connection_id: str
    protocol: str
    name: str
    login_url: str


class SocialConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: SocialProviderName
    name: str | None = Field(None, min_length=1, max_length=100, description="Default: the provider's name.")
    enabled: bool = True
    allow_signup: bool = Field(True, description="People without an account may sign up through this provider.")
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=500, description=_SECRET)
    discovery_url: str | None = Field(
        None, min_length=8, max_length=500, description="`generic` only (the others are known)."
    )
    scopes: str | None = Field(None, max_length=300, description="Default: what the provider needs for the email.")

    @model_validator(mode="after")
    def _discovery(self) -> SocialConnectionCreate:
        if (self.provider == "generic") != (self.discovery_url is not None):
            raise ValueError("discovery_url is required for 'generic' and only for it")
        return self


class SocialConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    allow_signup: bool | None = None
    client_id: str | None = Field(None, min_length=1, max_length=255)
    client_secret: str | None = Field(None, min_length=1, max_length=500, description=_SECRET)
    discovery_url: str | None = Field(None, min_length=8, max_length=500)
    scopes: str | None = Field(None, max_length=300)


class SocialConnectionRead(BaseModel):
    id: str
    provider: str
    name: str
    enabled: bool
    allow_signup: bool
    client_id: str
    scopes: str
    discovery_url: str | None
    client_secret_set: bool
    login_url: str
    redirect_uri: str = Field(description="Register this callback at the provider.")


class SocialProvider(BaseModel):
    """One button on the sign-in page."""

    id: str
    provider: str
    name: str
    login_url: str


class SocialSignupComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=2000, description="From the redirect after the provider's sign-in.")
    accept_terms: bool = Field(description="The terms and the data-processing agreement; must be true.")
    marketing_opt_in: bool = Field(False, description="Product news by mail.")
    organization_name: str | None = Field(
        None, min_length=1, max_length=200, description="Name of the tenant to create."
    )

    @field_validator("accept_terms")
    @classmethod
    def _terms(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the terms and the data-processing agreement must be accepted")
        return value


class SsoLinkConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200, description="The token from the confirmation mail.")


class SsoLinked(BaseModel):
    status: Literal["linked"] = "linked"
    email: str
    connection_id: str
    provider: str = Field(description="The provider's name; sign in through it from now on.")
