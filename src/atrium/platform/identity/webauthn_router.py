"""WebAuthn routes: a signed-in user's security keys and passkeys (/api/v1/me/webauthn), the
second factor after a password (/api/v1/auth/mfa/webauthn) and passwordless sign-in
(/api/v1/auth/passkey). Options are the PublicKeyCredential*Options JSON for the browser."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response, status

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.identity import webauthn
from atrium.platform.identity.router import SignedInUser, _me, _set_session_cookie
from atrium.platform.identity.schemas import MeRead
from atrium.platform.identity.webauthn_schemas import (
    PasskeyAssertion,
    SecondFactorAssertion,
    SignInChallenge,
    WebAuthnCredentialRead,
    WebAuthnRegistration,
    WebAuthnRename,
)

router = APIRouter(tags=["auth"])


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None), request.headers.get("user-agent")


@router.post("/api/v1/me/webauthn/registration/options")
async def registration_options(current: SignedInUser, rt: RuntimeDep) -> dict[str, Any]:
    """Options for navigator.credentials.create(); the challenge works once, for 5 minutes."""
    return await webauthn.registration_options(rt, current[0])


@router.post(
    "/api/v1/me/webauthn/registration", status_code=status.HTTP_201_CREATED, response_model=WebAuthnCredentialRead
)
async def register(data: WebAuthnRegistration, current: SignedInUser, rt: RuntimeDep) -> WebAuthnCredentialRead:
    """Register the browser's new credential; from now on a password alone no longer signs you in."""
    record = await webauthn.register(rt, current[0], data.credential, data.name)
    return WebAuthnCredentialRead.model_validate(record)


@router.get("/api/v1/me/webauthn/credentials", response_model=list[WebAuthnCredentialRead])
async def list_credentials(current: SignedInUser, rt: RuntimeDep) -> list[WebAuthnCredentialRead]:
    return [WebAuthnCredentialRead.model_validate(c) for c in await webauthn.list_own(rt, current[0])]


@router.patch("/api/v1/me/webauthn/credentials/{credential_id}", response_model=WebAuthnCredentialRead)
async def rename_credential(
    credential_id: str, data: WebAuthnRename, current: SignedInUser, rt: RuntimeDep
) -> WebAuthnCredentialRead:
    return WebAuthnCredentialRead.model_validate(await webauthn.rename(rt, current[0], credential_id, data.name))


@router.delete("/api/v1/me/webauthn/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_credential(credential_id: str, current: SignedInUser, rt: RuntimeDep) -> Response:
    """Remove one of your keys; it stops working at once."""
    await webauthn.remove(rt, current[0], credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/auth/mfa/webauthn/options")
async def second_factor_options(data: SignInChallenge, rt: RuntimeDep) -> dict[str, Any]:
    """Options for navigator.credentials.get() answering a password sign-in's challenge."""
    return await webauthn.second_factor_options(rt, data.challenge)


@router.post("/api/v1/auth/mfa/webauthn", response_model=MeRead)
async def answer_second_factor(
    data: SecondFactorAssertion, request: Request, response: Response, rt: RuntimeDep
) -> MeRead:
    """Answer the sign-in challenge with a security key or passkey; starts the session."""
    ip, agent = _client(request)
    result = await webauthn.answer_second_factor(rt, data.challenge, data.credential, ip=ip, user_agent=agent)
    _set_session_cookie(response, rt, result)
    return await _me(rt, result.user)


@router.post("/api/v1/auth/passkey/options")
async def passkey_options(rt: RuntimeDep) -> dict[str, Any]:
    """Options for a passwordless sign-in: any passkey of this site, with user verification."""
    return await webauthn.passkey_options(rt)


@router.post("/api/v1/auth/passkey", response_model=MeRead)
async def passkey_sign_in(data: PasskeyAssertion, request: Request, response: Response, rt: RuntimeDep) -> MeRead:
    """Sign in with a passkey alone; starts the session."""
    ip, agent = _client(request)
    result = await webauthn.passkey_sign_in(rt, data.credential, ip=ip, user_agent=agent)
    _set_session_cookie(response, rt, result)
    return await _me(rt, result.user)
