"""API shapes of OAuth clients, the token endpoint and the discovery documents."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from atrium.platform.identity.schemas import SCOPE_PATTERN


class OAuthClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the client is (shown in the audit trail).")
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN, max_length=100)]] = Field(
        min_length=1,
        max_length=50,
        description="`module.resource.action` names, or `*`: the most its tokens may carry. "
        "A token request names a subset, or gets them all.",
    )


class OAuthClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str = Field(description="Public identifier (`atc_…`), the `client_id` of token requests.")
    tenant_id: str
    name: str
    scopes: list[str]
    created_at: dt.datetime
    secret_rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None


class OAuthClientWithSecret(OAuthClientRead):
    client_secret: str = Field(description="Shown this once; only its hash is kept. Store it now.")


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str = Field(description="A signed JWT; send it as `Authorization: Bearer …`.")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    scope: str = Field(description="The granted scopes, space-separated.")


class TokenError(BaseModel):
    """RFC 6749 §5.2."""

    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"]
    error_description: str


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414, the fields a client-credentials client needs. There is no authorization
    endpoint, hence no ``response_types_supported``."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
