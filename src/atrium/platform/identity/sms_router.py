"""SMS routes: a signed-in user's phone (/api/v1/me/mfa/sms) and the second factor after a password
(/api/v1/auth/mfa/sms). With ``ATRIUM_SMS_PROVIDER=off`` every route but reading and removing a
phone answers 409 ``sms-disabled``."""

from __future__ import annotations

from fastapi import Request, Response, status

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.identity import sms
from atrium.platform.identity.router import SignedInUser, second_factor_passed
from atrium.platform.identity.schemas import MeRead
from atrium.platform.identity.sms_schemas import (
    SmsCodeSent,
    SmsConfirm,
    SmsConfirmed,
    SmsEnrolment,
    SmsFactorRead,
    SmsSignInAnswer,
)
from atrium.platform.identity.webauthn_schemas import SignInChallenge

router = APIRouter(tags=["auth"])


@router.get("/api/v1/me/mfa/sms", response_model=SmsFactorRead)
async def get_phone(current: SignedInUser, rt: RuntimeDep) -> SmsFactorRead:
    """Your enrolled (or pending) phone; 404 when there is none."""
    return SmsFactorRead.model_validate(await sms.get_own(rt, current[0]))


@router.post("/api/v1/me/mfa/sms", status_code=status.HTTP_202_ACCEPTED, response_model=SmsCodeSent)
async def begin_enrolment(data: SmsEnrolment, current: SignedInUser, rt: RuntimeDep) -> SmsCodeSent:
    """Text a code to the phone; confirm it to make the phone a second factor. SMS is the weakest
    factor offered (a SIM swap defeats it): prefer an authenticator app or a security key."""
    return SmsCodeSent(sent_to=await sms.begin_enrolment(rt, current[0], data.phone))


@router.post("/api/v1/me/mfa/sms/confirm", response_model=SmsConfirmed)
async def confirm_enrolment(data: SmsConfirm, current: SignedInUser, rt: RuntimeDep) -> SmsConfirmed:
    """Finish enrolment with the texted code; from now on a password alone no longer signs you in."""
    factor, codes = await sms.confirm_enrolment(rt, current[0], data.code)
    return SmsConfirmed(**SmsFactorRead.model_validate(factor).model_dump(), recovery_codes=codes)


@router.delete("/api/v1/me/mfa/sms", status_code=status.HTTP_204_NO_CONTENT)
async def remove_phone(current: SignedInUser, rt: RuntimeDep) -> Response:
    """Remove your phone; its pending codes stop working."""
    await sms.remove(rt, current[0])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/auth/mfa/sms/send", status_code=status.HTTP_202_ACCEPTED, response_model=SmsCodeSent)
async def send_sign_in_code(data: SignInChallenge, rt: RuntimeDep) -> SmsCodeSent:
    """Text a code answering the sign-in challenge (one per 30 s, five per challenge)."""
    return SmsCodeSent(sent_to=await sms.send_sign_in_code(rt, data.challenge))


@router.post("/api/v1/auth/mfa/sms", response_model=MeRead)
async def answer_sign_in(data: SmsSignInAnswer, request: Request, response: Response, rt: RuntimeDep) -> MeRead:
    """Answer the sign-in challenge with the texted code; starts the session."""
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    result = await sms.answer(rt, data.challenge, data.code, ip=ip, user_agent=agent)
    return await second_factor_passed(response, rt, result, remember=data.remember_device, user_agent=agent)
