"""/api/v1/auth (public: signup, verification, sign-in, reset) and /api/v1/me (the signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, status
from fastapi.responses import JSONResponse

from atrium.api.deps import RuntimeDep, check_cookie_csrf
from atrium.api.routing import APIRouter
from atrium.core.db import utcnow
from atrium.core.errors import NotFound
from atrium.platform.access import step_up
from atrium.platform.identity import api_keys, mfa, recovery, service, sessions, trusted
from atrium.platform.identity.models import User, UserSession
from atrium.platform.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginRequest,
    MeRead,
    MfaAnswer,
    MfaChallenge,
    PasswordResetConfirm,
    PasswordResetRequest,
    RecoveryCodes,
    SessionRead,
    SignupAccepted,
    SignupRequest,
    TotpConfirm,
    TotpEnrolment,
    TrustedDeviceRead,
    VerifiedSignup,
    VerifyEmailRequest,
)
from atrium.platform.tenancy import repository as tenant_repo

router = APIRouter(tags=["auth"])


async def signed_in(request: Request, rt: RuntimeDep) -> tuple[User, UserSession]:
    check_cookie_csrf(request)
    return await sessions.authenticate(rt, request.cookies.get(sessions.COOKIE))


SignedInUser = Annotated[tuple[User, UserSession], Depends(signed_in)]


@router.post("/api/v1/auth/signup", status_code=status.HTTP_202_ACCEPTED, response_model=SignupAccepted)
async def signup(data: SignupRequest, rt: RuntimeDep) -> SignupAccepted:
    """Start a self-serve signup; the same answer whether or not the address is already known."""
    await service.signup(rt, data)
    return SignupAccepted()


@router.post("/api/v1/auth/verify-email", response_model=VerifiedSignup)
async def verify_email(data: VerifyEmailRequest, rt: RuntimeDep) -> VerifiedSignup:
    """Verify the address with the mailed token; creates the tenant and makes the user its admin."""
    return await service.verify_email(rt, data.token)


async def _me(rt: RuntimeDep, user: User) -> MeRead:
    async with rt.db.platform_session() as session:
        tenants = await service.memberships(session, user.id)
    return MeRead(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        marketing_opt_in=user.marketing_opt_in,
        memberships=tenants,
    )


def _set_session_cookie(response: Response, rt: RuntimeDep, result: sessions.SignedIn) -> None:
    response.set_cookie(
        sessions.COOKIE,
        result.cookie_value,
        max_age=max(0, int((result.expires_at - utcnow()).total_seconds())),
        httponly=True,
        secure=rt.settings.env == "production",
        samesite="lax",
        path="/",
    )


@router.post("/api/v1/auth/login", response_model=MeRead, responses={202: {"model": MfaChallenge}})
async def login(data: LoginRequest, request: Request, response: Response, rt: RuntimeDep) -> MeRead | JSONResponse:
    """Sign in with email and password. Without a second factor: a new HttpOnly session cookie (a new
    id every time). With one: 202 and a challenge to answer at /api/v1/auth/mfa."""
    ip = request.client.host if request.client else None
    result = await mfa.sign_in(
        rt,
        data.email,
        data.password,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        trusted_device=request.cookies.get(trusted.COOKIE),
    )
    if isinstance(result, str):
        return JSONResponse(MfaChallenge(challenge=result).model_dump(), status_code=status.HTTP_202_ACCEPTED)
    _set_session_cookie(response, rt, result)
    return await _me(rt, result.user)


@router.post("/api/v1/auth/mfa", response_model=MeRead)
async def answer_mfa(data: MfaAnswer, request: Request, response: Response, rt: RuntimeDep) -> MeRead:
    """Answer the sign-in challenge with a TOTP code or a recovery code; starts the session."""
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    result = await mfa.answer(rt, data.challenge, data.code, ip=ip, user_agent=agent)
    return await second_factor_passed(response, rt, result, remember=data.remember_device, user_agent=agent)


async def second_factor_passed(
    response: Response, rt: RuntimeDep, result: sessions.SignedIn, *, remember: bool, user_agent: str | None
) -> MeRead:
    """Whatever the factor: the session cookie, the trusted-device cookie if asked, and who signed in."""
    _set_session_cookie(response, rt, result)
    if remember:
        await remember_device(response, rt, result.user, user_agent)
    return await _me(rt, result.user)


async def remember_device(response: Response, rt: RuntimeDep, user: User, user_agent: str | None) -> bool:
    """Set the trusted-device cookie when the person's tenants allow it; False when they do not."""
    remembered = await trusted.remember(rt, user, user_agent=user_agent)
    if remembered is None:
        return False
    value, expires_at = remembered
    response.set_cookie(
        trusted.COOKIE,
        value,
        max_age=max(0, int((expires_at - utcnow()).total_seconds())),
        httponly=True,
        secure=rt.settings.env == "production",
        samesite="lax",
        path="/",
    )
    return True


@router.post("/api/v1/me/mfa/recovery-codes", response_model=RecoveryCodes)
async def regenerate_recovery_codes(current: SignedInUser, rt: RuntimeDep) -> RecoveryCodes:
    """Ten new recovery codes; the unused old ones stop working. Shown this once."""
    return RecoveryCodes(recovery_codes=await mfa.regenerate_recovery_codes(rt, current[0]))


@router.get("/api/v1/me/trusted-devices", response_model=list[TrustedDeviceRead])
async def list_trusted_devices(current: SignedInUser, rt: RuntimeDep) -> list[TrustedDeviceRead]:
    async with rt.db.platform_session() as session:
        return [TrustedDeviceRead.model_validate(d) for d in await trusted.list_own(session, current[0].id)]


@router.delete("/api/v1/me/trusted-devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def forget_trusted_device(device_id: str, current: SignedInUser, rt: RuntimeDep) -> Response:
    """Ask for the second factor again on that browser."""
    async with rt.db.platform_session() as session, session.begin():
        await trusted.forget(session, current[0], device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/me/mfa/totp", response_model=TotpEnrolment)
async def begin_totp(current: SignedInUser, rt: RuntimeDep) -> TotpEnrolment:
    """Start enrolling an authenticator app: scan the URI, then confirm with a code."""
    secret, uri = await mfa.begin_enrolment(rt, current[0])
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@router.post("/api/v1/me/mfa/totp/confirm", response_model=RecoveryCodes)
async def confirm_totp(data: TotpConfirm, current: SignedInUser, rt: RuntimeDep) -> RecoveryCodes:
    """Finish enrolment with the app's current code; returns one-time recovery codes."""
    return RecoveryCodes(recovery_codes=await mfa.confirm_enrolment(rt, current[0], data.code))


@router.post("/api/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(current: SignedInUser, rt: RuntimeDep) -> Response:
    user, record = current
    await sessions.sign_out(rt, user, record.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.post("/api/v1/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=SignupAccepted)
async def request_password_reset(data: PasswordResetRequest, rt: RuntimeDep) -> SignupAccepted:
    """Mail a reset link if the account exists; the answer never tells."""
    await recovery.request_reset(rt, data.email)
    return SignupAccepted(detail="If the address has an account, a reset link is on its way.")


@router.post("/api/v1/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(data: PasswordResetConfirm, rt: RuntimeDep) -> Response:
    """Set a new password with the mailed token; every session of the account ends."""
    await recovery.reset_password(rt, data.token, data.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/me", response_model=MeRead)
async def me(current: SignedInUser, rt: RuntimeDep) -> MeRead:
    """The signed-in user and the tenants they belong to."""
    return await _me(rt, current[0])


@router.post("/api/v1/me/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(data: ApiKeyCreate, current: SignedInUser, rt: RuntimeDep) -> ApiKeyCreated:
    """A key for one of your tenants; the response is the only time the key is shown. A key that
    could use privileged permissions needs a recent password check when a role asks for step-up,
    or it would be a way around it."""
    user, browser = current
    async with rt.db.platform_session() as session, session.begin():
        tenant = await tenant_repo.get_by_key(session, data.tenant)
        if tenant is None:
            raise NotFound("no such tenant among yours", field="tenant")
        await step_up.before_privileged_key(session, tenant.id, user, browser, data.scopes)
        record, key = await api_keys.create(
            session, user, tenant.id, name=data.name, scopes=data.scopes, expires_in_days=data.expires_in_days
        )
    return ApiKeyCreated(**ApiKeyRead.model_validate(record).model_dump(), key=key)


@router.get("/api/v1/me/api-keys", response_model=list[ApiKeyRead])
async def list_api_keys(current: SignedInUser, rt: RuntimeDep) -> list[ApiKeyRead]:
    async with rt.db.platform_session() as session:
        return [ApiKeyRead.model_validate(k) for k in await api_keys.list_own(session, current[0])]


@router.delete("/api/v1/me/api-keys/{key_id}", response_model=ApiKeyRead)
async def revoke_api_key(key_id: str, current: SignedInUser, rt: RuntimeDep) -> ApiKeyRead:
    """Revoke one of your keys; it stops working at once."""
    async with rt.db.platform_session() as session, session.begin():
        return ApiKeyRead.model_validate(await api_keys.revoke(session, current[0], key_id))


@router.get("/api/v1/me/sessions", response_model=list[SessionRead])
async def list_sessions(current: SignedInUser, rt: RuntimeDep) -> list[SessionRead]:
    """Your sessions that are still alive; ``current`` marks the one making this request."""
    user, this = current
    return [
        SessionRead.model_validate(s).model_copy(update={"current": s.id == this.id})
        for s in await sessions.list_active(rt, user)
    ]


@router.delete("/api/v1/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: str, current: SignedInUser, rt: RuntimeDep) -> Response:
    """Sign out one of your sessions (another device, say)."""
    await sessions.revoke_own(rt, current[0], session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
