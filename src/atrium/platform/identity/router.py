"""/api/v1/auth: signup and email verification (public routes)."""

from __future__ import annotations

from fastapi import APIRouter, status

from atrium.api.deps import RuntimeDep
from atrium.platform.identity import service
from atrium.platform.identity.schemas import SignupAccepted, SignupRequest, VerifiedSignup, VerifyEmailRequest

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/signup", status_code=status.HTTP_202_ACCEPTED, response_model=SignupAccepted)
async def signup(data: SignupRequest, rt: RuntimeDep) -> SignupAccepted:
    """Start a self-serve signup; the same answer whether or not the address is already known."""
    await service.signup(rt, data)
    return SignupAccepted()


@router.post("/verify-email", response_model=VerifiedSignup)
async def verify_email(data: VerifyEmailRequest, rt: RuntimeDep) -> VerifiedSignup:
    """Verify the address with the mailed token; creates the tenant and makes the user its admin."""
    return await service.verify_email(rt, data.token)
