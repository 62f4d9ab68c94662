"""The second factor: TOTP (pyotp) with one-time recovery codes.

Enrolment is two-step (a secret to scan, then a code to prove it works). Once confirmed, a
password sign-in yields only a short single-use challenge; the session starts when a current TOTP
code (each step usable once) or an unused recovery code answers it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import TYPE_CHECKING

import pyotp
from cryptography.fernet import Fernet
from sqlalchemy import delete, select

from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Conflict, Unauthorized
from atrium.platform.identity import events
from atrium.platform.identity.exceptions import InvalidToken
from atrium.platform.identity.models import RecoveryCode, TotpFactor, User, WebAuthnCredential
from atrium.platform.identity.service import issue_token, usable_token
from atrium.platform.identity.sessions import SignedIn, TooManyAttempts, check_password, start_session
from atrium.platform.identity.sms_models import SmsFactor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.runtime import Runtime

MFA_CHALLENGE = "mfa_challenge"
CHALLENGE_MINUTES = 5
RECOVERY_CODES = 10
ISSUER = "Atrium"


def _cipher(rt: Runtime) -> Fernet:
    key = hashlib.sha256(b"atrium-totp|" + rt.settings.secret_key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


async def confirmed_factor(session: AsyncSession, user_id: str) -> TotpFactor | None:
    factor = await session.get(TotpFactor, user_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


async def has_second_factor(session: AsyncSession, user_id: str) -> bool:
    """True when a password alone must not start a session: a confirmed TOTP, a confirmed SMS phone
    (even while SMS is turned off: recovery codes answer then) or any WebAuthn credential."""
    if await confirmed_factor(session, user_id) is not None:
        return True
    sms = await session.get(SmsFactor, user_id)
    if sms is not None and sms.confirmed_at is not None:
        return True
    keys = await session.execute(select(WebAuthnCredential.id).where(WebAuthnCredential.user_id == user_id).limit(1))
    return keys.first() is not None


async def begin_enrolment(rt: Runtime, user: User) -> tuple[str, str]:
    """A new secret for the user's authenticator app: (secret, otpauth URI for a QR code)."""
    secret = pyotp.random_base32()
    async with rt.db.platform_session() as session, session.begin():
        if await confirmed_factor(session, user.id) is not None:
            raise Conflict("a TOTP authenticator is already enrolled; remove it first", field="totp")
        factor = await session.get(TotpFactor, user.id)
        if factor is None:
            factor = TotpFactor(user_id=user.id, secret_encrypted="")
            session.add(factor)
        factor.secret_encrypted = _cipher(rt).encrypt(secret.encode()).decode()
        factor.last_step = 0
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _accept_totp(rt: Runtime, factor: TotpFactor, code: str) -> bool:
    """True for a current code (±1 step for clock drift) whose step has not been used yet."""
    totp = pyotp.TOTP(_cipher(rt).decrypt(factor.secret_encrypted.encode()).decode())
    now = time.time()
    for drift in (0, -1, 1):
        step = int(now // totp.interval) + drift
        if step > factor.last_step and secrets.compare_digest(totp.at(step * totp.interval), code.strip()):
            factor.last_step = step
            return True
    return False


async def confirm_enrolment(rt: Runtime, user: User, code: str) -> list[str]:
    """Prove the authenticator works; returns the recovery codes, shown this once."""
    async with rt.db.platform_session() as session, session.begin():
        factor = await session.get(TotpFactor, user.id)
        if factor is None or factor.confirmed_at is not None:
            raise BadRequest("start the enrolment first", field="totp")
        if not _accept_totp(rt, factor, code):
            raise BadRequest("that code is not the authenticator's current code", field="code")
        factor.confirmed_at = utcnow()
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        session.add_all(RecoveryCode(user_id=user.id, code_hash=_code_hash(c)) for c in codes)
        await events.record(session, "user.mfa.enrolled", user_id=user.id, data={"kind": "totp"})
    return codes


async def challenge(rt: Runtime, user: User) -> str:
    """A single-use token standing for "password checked, second factor pending"."""
    async with rt.db.platform_session() as session, session.begin():
        return await issue_token(session, user, MFA_CHALLENGE, CHALLENGE_MINUTES)


async def answer(rt: Runtime, token: str, code: str, *, ip: str | None, user_agent: str | None) -> SignedIn:
    """Answer a challenge with a TOTP or a recovery code; starts the session."""
    async with rt.db.platform_session() as session, session.begin():
        pending = (await session.execute(usable_token(token, MFA_CHALLENGE).with_for_update())).scalar_one_or_none()
        if pending is None:
            raise InvalidToken()
        user = await session.get(User, pending.user_id)
        assert user is not None
        keys = (f"mfa:{user.id}",)
        if await rt.login_throttle.retry_after(*keys) > 0:
            raise TooManyAttempts("too many wrong codes; wait and sign in again")
        factor = await confirmed_factor(session, user.id)
        accepted, via = factor is not None and _accept_totp(rt, factor, code), "totp"
        if not accepted:
            recovery = (
                await session.execute(
                    select(RecoveryCode).where(
                        RecoveryCode.user_id == user.id,
                        RecoveryCode.code_hash == _code_hash(code),
                        RecoveryCode.used_at.is_(None),
                    )
                )
            ).scalar_one_or_none()
            if recovery is not None:
                recovery.used_at, accepted, via = utcnow(), True, "recovery_code"
        if accepted:
            pending.used_at = utcnow()
            await rt.login_throttle.succeeded(*keys)
    if not accepted:
        await rt.login_throttle.failed(*keys)
        async with rt.db.platform_session() as session, session.begin():
            await events.record(session, "user.mfa.failed", user_id=user.id, actor=user.email)
        raise Unauthorized("that code is not valid")
    signed = await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=True)
    if via == "recovery_code":
        async with rt.db.platform_session() as session, session.begin():
            await events.record(session, "user.mfa.recovery_code_used", user_id=user.id, actor=user.email)
    return signed


async def sign_in(
    rt: Runtime,
    email: str,
    password: str,
    *,
    ip: str | None,
    user_agent: str | None,
    trusted_device: str | None = None,
) -> SignedIn | str:
    """The password first; then a session, or (with a second factor enrolled) a challenge token,
    unless this browser is a trusted device of the user."""
    from atrium.platform.identity import policies, trusted

    user = await check_password(rt, email, password, ip=ip)
    async with rt.db.platform_session() as session:
        enrolled = await has_second_factor(session, user.id)
        if enrolled and trusted_device:
            days = (await policies.account_rules(session, rt.settings, user.id)).trusted_device_days
            if days > 0 and await trusted.is_trusted(session, days, user.id, trusted_device):
                return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=True)
    if enrolled:
        return await challenge(rt, user)
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=False)


async def regenerate_recovery_codes(rt: Runtime, user: User) -> list[str]:
    """New recovery codes (the old ones stop working); for anyone with a second factor, including a
    person whose only factor is a security key."""
    async with rt.db.platform_session() as session, session.begin():
        if not await has_second_factor(session, user.id):
            raise Conflict("enrol a second factor first", field="mfa")
        await session.execute(
            delete(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        session.add_all(RecoveryCode(user_id=user.id, code_hash=_code_hash(c)) for c in codes)
        await events.record(session, "user.mfa.recovery_codes_regenerated", user_id=user.id, actor=user.email)
    return codes
