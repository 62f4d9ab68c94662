"""Step-up: the person at the keyboard proves it is still them before privileged actions. One
function for the API and the console, throttled like sign-in, every outcome an event."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import Unauthorized
from atrium.platform.access import catalog
from atrium.platform.access import subject as subjects
from atrium.platform.access.exceptions import StepUpRequired
from atrium.platform.identity import events
from atrium.platform.identity.models import User, UserSession
from atrium.platform.identity.passwords import verify_password
from atrium.platform.identity.sessions import TooManyAttempts
from atrium.runtime import Runtime

STEP_UP_MINUTES = 10


async def confirm(
    rt: Runtime, *, actor_id: str, session_id: str, password: str, tenant_id: str | None, actor: str
) -> None:
    """Check ``actor_id``'s password (the administrator's, while viewing as someone) and mark the
    browser session as recently confirmed; 401 when wrong, 429 after repeated failures."""
    keys = (f"step-up:{actor_id}",)
    wait = await rt.login_throttle.retry_after(*keys)
    if wait > 0:
        raise TooManyAttempts(f"too many wrong passwords; try again in {int(wait) + 1} s", retry_after=int(wait) + 1)
    async with rt.db.platform_session() as session, session.begin():
        user = await session.get(User, actor_id)
        ok = user is not None and bool(password) and await verify_password(password, user.password_hash)
        if ok:
            record = await session.get(UserSession, session_id)
            if record is not None:
                record.reauthenticated_at = utcnow()
        await events.record(
            session,
            "user.step_up.confirmed" if ok else "user.step_up.failed",
            user_id=actor_id,
            tenant_id=tenant_id,
            actor=actor,
        )
    if not ok:
        await rt.login_throttle.failed(*keys)
        raise Unauthorized("that password is not right")
    await rt.login_throttle.succeeded(*keys)


async def before_privileged_key(
    session: AsyncSession, tenant_id: str, user: User, browser: UserSession, scopes: list[str]
) -> None:
    """A key that could use privileged permissions needs a recent password check when one of the
    person's roles asks for step-up; otherwise minting a key would be a way around it."""
    if user.is_platform_admin:
        return
    subject = await subjects.load(session, tenant_id, user.id)
    privileged = [p for p in sorted(catalog.expand(scopes)) if catalog.is_privileged(p) and subject.allows(p)]
    confirmed = browser.reauthenticated_at or browser.created_at
    if subject.policy.step_up and privileged and utcnow() - confirmed > dt.timedelta(minutes=STEP_UP_MINUTES):
        raise StepUpRequired(
            f"confirm your password first: the key could use {privileged[0]!r}", permission=privileged[0]
        )
