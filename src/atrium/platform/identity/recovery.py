"""Forgotten passwords: a single-use reset token that expires in 15 minutes. A reset signs out
every session and signs nobody in, so it never bypasses a second factor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from atrium.core.db import utcnow
from atrium.core.mail import compose, make_mailer
from atrium.platform.identity import events, policies, trusted
from atrium.platform.identity.exceptions import InvalidToken
from atrium.platform.identity.models import User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.service import issue_token, usable_token
from atrium.platform.identity.sessions import revoke

if TYPE_CHECKING:
    from atrium.runtime import Runtime

PASSWORD_RESET = "password_reset"


async def request_reset(rt: Runtime, email: str) -> None:
    """Mail a reset link to a verified account; say nothing either way."""
    email = email.strip().lower()
    async with rt.db.platform_session() as session, session.begin():
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is None or user.email_verified_at is None:
            return
        token = await issue_token(session, user, PASSWORD_RESET, rt.settings.password_reset_ttl_minutes)
        await events.record(session, "user.password_reset_requested", user_id=user.id)
    message = compose(
        rt.settings,
        to=email,
        subject="Reset your Atrium password",
        body="Choose a new password:\n\n"
        f"{rt.settings.public_url}/reset-password?token={token}\n\nReset code: {token}\n\n"
        f"The link works once and expires in {rt.settings.password_reset_ttl_minutes} minutes. "
        "If you did not ask for it, ignore this mail.",
    )
    await make_mailer(rt.settings).send(message)


async def reset_password(rt: Runtime, token: str, new_password: str) -> int:
    """Set the new password, use the token up and end every session; returns how many ended."""
    async with rt.db.platform_session() as session, session.begin():
        claimed = (await session.execute(usable_token(token, PASSWORD_RESET).with_for_update())).scalar_one_or_none()
        if claimed is None:
            raise InvalidToken()
        user = await session.get(User, claimed.user_id)
        assert user is not None
        await policies.check_new_password(session, new_password, user_id=user.id, email=user.email)
        claimed.used_at = utcnow()
        user.password_hash = await hash_password(new_password)
        ended = await revoke(session, user_id=user.id)
        await trusted.forget(session, user)
        await events.record(session, "user.password_reset", user_id=user.id, data={"sessions_ended": ended})
    return ended
