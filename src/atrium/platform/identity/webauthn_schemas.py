"""API shapes of WebAuthn: the browser's credentials travel as the JSON of the WebAuthn Level 3
``toJSON()`` form (binary fields base64url), options go out in the same form."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CredentialName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CREDENTIAL_JSON = "The PublicKeyCredential as JSON: id, rawId, type, response (binary fields base64url)."


class WebAuthnRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any] = Field(description=CREDENTIAL_JSON)
    name: CredentialName = Field("Security key", description="How the key is shown in the list, e.g. 'YubiKey 5C'.")


class WebAuthnRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CredentialName


class WebAuthnCredentialRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    credential_id: str = Field(description="The authenticator's credential id (base64url).")
    aaguid: str = Field(description="The authenticator model; all zeros when it does not say.")
    transports: list[str]
    device_type: str = Field(description="`multi_device` for a synced passkey, `single_device` for a hardware key.")
    backed_up: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class SignInChallenge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge: str = Field(min_length=10, max_length=200, description="The challenge from a 202 answer of /login.")


class SecondFactorAssertion(SignInChallenge):
    credential: dict[str, Any] = Field(description=CREDENTIAL_JSON)


class PasskeyAssertion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any] = Field(description=CREDENTIAL_JSON)
